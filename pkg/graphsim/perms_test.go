package graphsim

import (
	"testing"
)

// TestPermissionRows exercises each row of the permission table with the
// least permission that should pass and a near miss that should not.
func TestPermissionRows(t *testing.T) {
	const ownerSP = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
	tests := []struct {
		name     string
		typ      string // "app" or "user"
		perms    []string
		method   string
		path     string
		prepare  func(e *testEnv)
		status   int
		ownsApps bool
	}{
		// Reads.
		{name: "read user: User.Read.All", typ: "app", perms: []string{"User.Read.All"}, method: "GET", path: "/v1.0/users/" + adeleID, status: 200},
		{name: "read user: Directory.Read.All", typ: "app", perms: []string{"Directory.Read.All"}, method: "GET", path: "/v1.0/users/" + adeleID, status: 200},
		{name: "read user: Group.Read.All is not enough", typ: "app", perms: []string{"Group.Read.All"}, method: "GET", path: "/v1.0/users/" + adeleID, status: 403},
		{name: "read user: User.DeleteRestore.All is not a read permission", typ: "app", perms: []string{"User.DeleteRestore.All"}, method: "GET", path: "/v1.0/directory/deletedItems/microsoft.graph.user", status: 403},
		{name: "list deleted groups: Group.Read.All", typ: "app", perms: []string{"Group.Read.All"}, method: "GET", path: "/v1.0/directory/deletedItems/microsoft.graph.group", status: 200},
		{name: "list deleted groups: Group.ReadWrite.All", typ: "app", perms: []string{"Group.ReadWrite.All"}, method: "GET", path: "/v1.0/directory/deletedItems/microsoft.graph.group", status: 200},
		{name: "list deleted apps: User.Read.All is not enough", typ: "app", perms: []string{"User.Read.All"}, method: "GET", path: "/v1.0/directory/deletedItems/microsoft.graph.application", status: 403},
		{name: "read AU: AdministrativeUnit.Read.All", typ: "app", perms: []string{"AdministrativeUnit.Read.All"}, method: "GET", path: "/v1.0/directory/administrativeUnits/" + auID, status: 200},
		{name: "read CA policy: Policy.Read.All", typ: "app", perms: []string{"Policy.Read.All"}, method: "GET", path: "/v1.0/identity/conditionalAccess/policies/" + caPolicyID, status: 200},
		{name: "read CA policy: Policy.Read.ConditionalAccess", typ: "app", perms: []string{"Policy.Read.ConditionalAccess"}, method: "GET", path: "/v1.0/identity/conditionalAccess/policies/" + caPolicyID, status: 200},
		{name: "read CA policy: Directory.Read.All is not enough", typ: "app", perms: []string{"Directory.Read.All"}, method: "GET", path: "/v1.0/identity/conditionalAccess/policies/" + caPolicyID, status: 403},
		{name: "audit logs: AuditLog.Read.All and Directory.Read.All", typ: "app", perms: []string{"AuditLog.Read.All", "Directory.Read.All"}, method: "GET", path: "/v1.0/auditLogs/directoryAudits", status: 200},
		{name: "audit logs: AuditLog.Read.All alone", typ: "app", perms: []string{"AuditLog.Read.All"}, method: "GET", path: "/v1.0/auditLogs/directoryAudits", status: 403},

		// Deletes.
		{name: "delete user: User.ReadWrite.All", typ: "app", perms: []string{"User.ReadWrite.All"}, method: "DELETE", path: "/v1.0/users/" + adeleID, status: 204},
		{name: "delete user: User.Read.All is not enough", typ: "app", perms: []string{"User.Read.All"}, method: "DELETE", path: "/v1.0/users/" + adeleID, status: 403},
		{name: "delete group: Group.ReadWrite.All", typ: "app", perms: []string{"Group.ReadWrite.All"}, method: "DELETE", path: "/v1.0/groups/" + printersID, status: 204},
		{name: "delete group: Directory.ReadWrite.All is not listed", typ: "app", perms: []string{"Directory.ReadWrite.All"}, method: "DELETE", path: "/v1.0/groups/" + printersID, status: 403},
		{name: "delete SP: Directory.ReadWrite.All", typ: "app", perms: []string{"Directory.ReadWrite.All"}, method: "DELETE", path: "/v1.0/servicePrincipals/" + reinstateSPID, status: 204},
		{name: "delete AU: AdministrativeUnit.ReadWrite.All", typ: "app", perms: []string{"AdministrativeUnit.ReadWrite.All"}, method: "DELETE", path: "/v1.0/directory/administrativeUnits/" + auID, status: 204},
		{name: "delete CA policy: both permissions", typ: "app", perms: []string{"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"}, method: "DELETE", path: "/v1.0/identity/conditionalAccess/policies/" + caPolicyID, status: 204},
		{name: "delete CA policy: Policy.ReadWrite.ConditionalAccess alone", typ: "app", perms: []string{"Policy.ReadWrite.ConditionalAccess"}, method: "DELETE", path: "/v1.0/identity/conditionalAccess/policies/" + caPolicyID, status: 403},

		// Restores.
		{name: "restore user: User.DeleteRestore.All", typ: "app", perms: []string{"User.DeleteRestore.All"}, method: "POST", path: "/v1.0/directory/deletedItems/" + deletedLeeGu + "/restore", status: 400 /* proxy conflict: authorized */},
		{name: "restore user: User.ReadWrite.All", typ: "app", perms: []string{"User.ReadWrite.All"}, method: "POST", path: "/v1.0/directory/deletedItems/" + deletedLeeGu + "/restore", status: 400},
		{name: "restore user: Group.ReadWrite.All is not enough", typ: "app", perms: []string{"Group.ReadWrite.All"}, method: "POST", path: "/v1.0/directory/deletedItems/" + deletedLeeGu + "/restore", status: 403},
		{name: "restore group: Group.ReadWrite.All", typ: "app", perms: []string{"Group.ReadWrite.All"}, method: "POST", path: "/v1.0/directory/deletedItems/" + deletedOrion + "/restore", status: 200},
		{name: "restore group: Group.Read.All is not enough", typ: "app", perms: []string{"Group.Read.All"}, method: "POST", path: "/v1.0/directory/deletedItems/" + deletedOrion + "/restore", status: 403},
		{name: "restore AU: AdministrativeUnit.ReadWrite.All", typ: "app", perms: []string{"AdministrativeUnit.ReadWrite.All"}, method: "POST", path: "/v1.0/directory/deletedItems/" + auID + "/restore",
			prepare: func(e *testEnv) {
				e.mustStatus(e.do("DELETE", "/v1.0/directory/administrativeUnits/"+auID, adminTok, nil), 204)
			}, status: 200},
		{name: "restore app: Application.ReadWrite.All", typ: "app", perms: []string{"Application.ReadWrite.All"}, method: "POST", path: "/v1.0/directory/deletedItems/" + payrollAppID + "/restore",
			prepare: deletePayroll, status: 200},
		{name: "restore app: OwnedBy, owned", typ: "app", perms: []string{"Application.ReadWrite.OwnedBy"}, ownsApps: true, method: "POST", path: "/v1.0/directory/deletedItems/" + payrollAppID + "/restore",
			prepare: deletePayroll, status: 200},
		{name: "restore app: OwnedBy, not owned", typ: "app", perms: []string{"Application.ReadWrite.OwnedBy"}, method: "POST", path: "/v1.0/directory/deletedItems/" + payrollAppID + "/restore",
			prepare: deletePayroll, status: 403},
		{name: "restore SP: OwnedBy, owned", typ: "app", perms: []string{"Application.ReadWrite.OwnedBy"}, ownsApps: true, method: "POST", path: "/v1.0/directory/deletedItems/" + payrollSPID + "/restore",
			prepare: deletePayroll, status: 200},
		{name: "delete app: OwnedBy, owned", typ: "app", perms: []string{"Application.ReadWrite.OwnedBy"}, ownsApps: true, method: "DELETE", path: "/v1.0/applications/" + payrollAppID, status: 204},
		{name: "delete app: OwnedBy, not owned", typ: "app", perms: []string{"Application.ReadWrite.OwnedBy"}, method: "DELETE", path: "/v1.0/applications/" + payrollAppID, status: 403},
		{name: "read app: OwnedBy, owned", typ: "app", perms: []string{"Application.ReadWrite.OwnedBy"}, ownsApps: true, method: "GET", path: "/v1.0/applications/" + payrollAppID, status: 200},
		{name: "OwnedBy is an application permission only", typ: "user", perms: []string{"Application.ReadWrite.OwnedBy"}, ownsApps: true, method: "DELETE", path: "/v1.0/applications/" + payrollAppID, status: 403},
		{name: "restore CA policy: both permissions", typ: "app", perms: []string{"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"}, method: "POST", path: "/beta/identity/conditionalAccess/deletedItems/policies/" + caPolicyID + "/restore",
			prepare: func(e *testEnv) {
				e.mustStatus(e.do("DELETE", "/v1.0/identity/conditionalAccess/policies/"+caPolicyID, adminTok, nil), 204)
			}, status: 200},
		{name: "restore CA policy: Policy.Read.All alone", typ: "app", perms: []string{"Policy.Read.All"}, method: "POST", path: "/beta/identity/conditionalAccess/deletedItems/policies/" + caPolicyID + "/restore",
			prepare: func(e *testEnv) {
				e.mustStatus(e.do("DELETE", "/v1.0/identity/conditionalAccess/policies/"+caPolicyID, adminTok, nil), 204)
			}, status: 403},

		// Permanent deletes.
		{name: "hard delete app: OwnedBy, owned", typ: "app", perms: []string{"Application.ReadWrite.OwnedBy"}, ownsApps: true, method: "DELETE", path: "/v1.0/directory/deletedItems/" + payrollAppID,
			prepare: deletePayroll, status: 204},
		{name: "hard delete group: delegated Group.ReadWrite.All", typ: "user", perms: []string{"Group.ReadWrite.All"}, method: "DELETE", path: "/v1.0/directory/deletedItems/" + deletedOrion, status: 204},
		{name: "hard delete group: application Group.ReadWrite.All is Not supported", typ: "app", perms: []string{"Group.ReadWrite.All", "Directory.ReadWrite.All"}, method: "DELETE", path: "/v1.0/directory/deletedItems/" + deletedOrion, status: 403},
		{name: "hard delete user: delegated User.ReadWrite.All", typ: "user", perms: []string{"User.ReadWrite.All"}, method: "DELETE", path: "/v1.0/directory/deletedItems/" + deletedLeeGu, status: 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mutate := addIdentity("tester", tt.typ, ownerSP, tt.perms...)
			if tt.ownsApps {
				mutate = chain(mutate, func(s *Seed) {
					s.Applications[0] = setOwners(t, s.Applications[0], ownerSP)
					s.ServicePrincipals[0] = setOwners(t, s.ServicePrincipals[0], ownerSP)
				})
			}
			e := newEnv(t, mutate, Options{})
			if tt.prepare != nil {
				tt.prepare(e)
			}
			r := e.mustStatus(e.do(tt.method, tt.path, "tester", nil), tt.status)
			if tt.status == 403 {
				if r.errCode(t) != "Authorization_RequestDenied" || r.errMessage(t) != "Insufficient privileges to complete the operation." {
					t.Fatalf("403 body %s", r.body)
				}
			}
		})
	}
	t.Run("reader identity cannot write", func(t *testing.T) {
		e := newEnv(t, nil, Options{})
		e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+deletedOrion+"/restore", readerTok, nil), 403)
		e.mustStatus(e.do("DELETE", "/v1.0/groups/"+printersID, readerTok, nil), 403)
	})
	t.Run("every row names its source", func(t *testing.T) {
		for _, row := range PermissionTable() {
			if row.Source == "" || len(row.Types) == 0 {
				t.Errorf("row %+v", row)
			}
		}
	})
}

func deletePayroll(e *testEnv) {
	e.mustStatus(e.do("DELETE", "/v1.0/applications/"+payrollAppID, adminTok, nil), 204)
}

func setOwners(t *testing.T, raw []byte, owner string) []byte {
	t.Helper()
	o, err := parseJSONObject(raw)
	if err != nil {
		t.Fatal(err)
	}
	o.set("owners", []string{owner})
	b, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
