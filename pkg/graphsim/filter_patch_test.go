package graphsim

import (
	"net/url"
	"testing"
)

func TestAppIDFilterFindsServicePrincipalsLiveAndDeleted(t *testing.T) {
	e := newEnv(t, nil, Options{})
	filter := "?$filter=" + url.QueryEscape("appId eq '"+payrollAppKey+"'")

	live := ids(values(t, e.mustStatus(e.do("GET", "/v1.0/servicePrincipals"+filter, "admin-token", nil), 200)))
	if len(live) != 1 || live[0] != payrollSPID {
		t.Fatalf("live service principals with the payroll appId = %v, want [%s]", live, payrollSPID)
	}
	// Deleting the application deletes its service principal too.
	e.mustStatus(e.do("DELETE", "/v1.0/applications/"+payrollAppID, "admin-token", nil), 204)
	if live := values(t, e.mustStatus(e.do("GET", "/v1.0/servicePrincipals"+filter, "admin-token", nil), 200)); len(live) != 0 {
		t.Fatalf("live service principals after the app's delete = %v, want none", ids(live))
	}
	deleted := ids(values(t, e.mustStatus(e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.servicePrincipal"+filter, "admin-token", nil), 200)))
	if len(deleted) != 1 || deleted[0] != payrollSPID {
		t.Fatalf("deleted service principals with the payroll appId = %v, want [%s]", deleted, payrollSPID)
	}

	for _, path := range []string{
		"/v1.0/servicePrincipals?$filter=" + url.QueryEscape("displayName eq 'x'"),
		"/v1.0/directory/deletedItems/microsoft.graph.group" + filter,
	} {
		if code := e.mustStatus(e.do("GET", path, "admin-token", nil), 400).errCode(t); code != "Request_UnsupportedQuery" {
			t.Errorf("%s: code %q, want an explicit refusal", path, code)
		}
	}
}

func TestPatchConditionalAccessPolicyState(t *testing.T) {
	tests := []struct {
		name   string
		token  string
		body   string
		status int
		state  string
	}{
		{"report-only", "reinstate-token", `{"state":"enabledForReportingButNotEnforced"}`, 204, "enabledForReportingButNotEnforced"},
		{"reader may not", "reader-token", `{"state":"disabled"}`, 403, "enabled"},
		{"unknown state", "reinstate-token", `{"state":"off"}`, 400, "enabled"},
		{"other property", "reinstate-token", `{"displayName":"x"}`, 400, "enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil, Options{})
			before := len(e.srv.AuditRecords())
			e.mustStatus(e.do("PATCH", "/v1.0/identity/conditionalAccess/policies/"+caPolicyID, tt.token, tt.body), tt.status)
			got := e.mustStatus(e.do("GET", "/v1.0/identity/conditionalAccess/policies/"+caPolicyID, "admin-token", nil), 200).json(t)["state"]
			if got != tt.state {
				t.Errorf("state = %v, want %s", got, tt.state)
			}
			wantAudits := 0
			if tt.status == 204 {
				wantAudits = 1
			}
			if n := len(e.srv.AuditRecords()) - before; n != wantAudits {
				t.Errorf("%d audit records, want %d", n, wantAudits)
			}
		})
	}
}
