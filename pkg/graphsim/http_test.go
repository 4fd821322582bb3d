package graphsim

import (
	"fmt"
	"strings"
	"testing"
)

func TestGetLiveObjects(t *testing.T) {
	e := newEnv(t, nil, Options{})
	tests := []struct {
		name, path, token string
		status            int
		context           string // suffix of @odata.context
		field, value      string
	}{
		{"user by id", "/v1.0/users/" + adeleID, readerTok, 200, "/v1.0/$metadata#users/$entity", "displayName", "Adele Vance"},
		{"user by UPN", "/v1.0/users/adele.vance@contoso.com", readerTok, 200, "/v1.0/$metadata#users/$entity", "id", adeleID},
		{"user by UPN, other case, beta", "/beta/users/ADELE.VANCE@contoso.com", readerTok, 200, "/beta/$metadata#users/$entity", "id", adeleID},
		{"group", "/v1.0/groups/" + paymentsID, readerTok, 200, "/v1.0/$metadata#groups/$entity", "displayName", "sec-prod-payments"},
		{"application", "/beta/applications/" + payrollAppID, readerTok, 200, "/beta/$metadata#applications/$entity", "appId", payrollAppKey},
		{"application by appId key", "/v1.0/applications(appId='" + payrollAppKey + "')", readerTok, 200, "#applications/$entity", "id", payrollAppID},
		{"service principal", "/v1.0/servicePrincipals/" + payrollSPID, readerTok, 200, "#servicePrincipals/$entity", "displayName", "Payroll Connector"},
		{"administrative unit", "/v1.0/directory/administrativeUnits/" + auID, readerTok, 200, "#directory/administrativeUnits/$entity", "displayName", "AU Finance EMEA"},
		{"CA policy", "/v1.0/identity/conditionalAccess/policies/" + caPolicyID, readerTok, 200, "#identity/conditionalAccess/policies/$entity", "state", "enabled"},
		{"named location keeps its type", "/beta/identity/conditionalAccess/namedLocations/" + namedLocID, readerTok, 200, "#identity/conditionalAccess/namedLocations/$entity", "@odata.type", "#microsoft.graph.ipNamedLocation"},
		{"unknown id", "/v1.0/groups/00000000-0000-0000-0000-000000000000", readerTok, 404, "", "", ""},
		{"deleted object is not live", "/v1.0/groups/" + deletedOrion, readerTok, 404, "", "", ""},
		{"user id as group", "/v1.0/groups/" + adeleID, readerTok, 404, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.mustStatus(e.do("GET", tt.path, tt.token, nil), tt.status)
			if tt.status == 404 {
				if r.errCode(t) != "Request_ResourceNotFound" || !strings.Contains(r.errMessage(t), "does not exist or one of its queried reference-property objects are not present") {
					t.Fatalf("404 body %s", r.body)
				}
				return
			}
			m := r.json(t)
			ctx, _ := m["@odata.context"].(string)
			if !strings.HasPrefix(ctx, e.http.URL) || !strings.HasSuffix(ctx, tt.context) {
				t.Errorf("@odata.context %q, want %s…%s", ctx, e.http.URL, tt.context)
			}
			if got := fmt.Sprint(m[tt.field]); got != tt.value {
				t.Errorf("%s = %q, want %q", tt.field, got, tt.value)
			}
			if _, leaked := m["owners"]; leaked {
				t.Error("owners must stay hidden")
			}
			if r.header.Get("Content-Type") == "" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
			}
		})
	}
	t.Run("$select", func(t *testing.T) {
		m := e.mustStatus(e.do("GET", "/v1.0/users/"+adeleID+"?$select=displayName", readerTok, nil), 200).json(t)
		if len(m) != 3 || m["displayName"] != "Adele Vance" || m["id"] != adeleID {
			t.Fatalf("selected body %v", m)
		}
	})
	t.Run("unsupported query option is refused, not ignored", func(t *testing.T) {
		r := e.mustStatus(e.do("GET", "/v1.0/users/"+adeleID+"?$expand=manager", readerTok, nil), 400)
		if r.errCode(t) != "Request_UnsupportedQuery" {
			t.Fatalf("code %s", r.errCode(t))
		}
	})
}

func TestRequestIDsAndErrorShape(t *testing.T) {
	e := newEnv(t, nil, Options{})
	r := e.do("GET", "/v1.0/users/nobody", readerTok, nil, withHeader("client-request-id", "my-correlation-1"))
	if r.header.Get("client-request-id") != "my-correlation-1" {
		t.Errorf("client-request-id %q not echoed", r.header.Get("client-request-id"))
	}
	reqID := r.header.Get("request-id")
	if reqID == "" {
		t.Fatal("no request-id header")
	}
	inner := r.json(t)["error"].(map[string]any)["innerError"].(map[string]any)
	if inner["request-id"] != reqID || inner["client-request-id"] != "my-correlation-1" || inner["date"] == "" {
		t.Errorf("innerError %v", inner)
	}
	// Without a client-request-id, Graph returns one equal to request-id.
	r = e.do("GET", "/v1.0/users/"+adeleID, readerTok, nil)
	if r.header.Get("client-request-id") == "" || r.header.Get("client-request-id") != r.header.Get("request-id") {
		t.Errorf("request-id %q client-request-id %q", r.header.Get("request-id"), r.header.Get("client-request-id"))
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, nil, Options{})
	tests := []struct {
		name, auth string
		status     int
		code, msg  string
	}{
		{"no header", "", 401, "InvalidAuthenticationToken", "Access token is empty."},
		{"empty bearer", "Bearer ", 401, "InvalidAuthenticationToken", "Access token is empty."},
		{"unknown token", "Bearer not-a-token", 401, "InvalidAuthenticationToken", "CompactToken parsing failed"},
		{"not bearer", "Basic " + readerTok, 401, "InvalidAuthenticationToken", "CompactToken parsing failed"},
		{"valid", "Bearer " + readerTok, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []reqOpt
			if tt.auth != "" {
				opts = append(opts, withHeader("Authorization", tt.auth))
			}
			r := e.mustStatus(e.do("GET", "/v1.0/users/"+adeleID, "", nil, opts...), tt.status)
			if tt.status != 401 {
				return
			}
			if r.errCode(t) != tt.code || !strings.HasPrefix(r.errMessage(t), tt.msg) {
				t.Fatalf("got %s %q", r.errCode(t), r.errMessage(t))
			}
			if r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	t.Run("auth comes before routing", func(t *testing.T) {
		e.mustStatus(e.do("GET", "/v1.0/nonsense", "", nil), 401)
	})
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t, nil, Options{})
	tests := []struct {
		name, method, path string
		status             int
		code, msg          string
	}{
		{"unknown segment", "GET", "/v1.0/widgets/1", 400, "BadRequest", "Resource not found for the segment 'widgets'."},
		{"unknown nested segment", "GET", "/v1.0/users/" + adeleID + "/manager", 400, "BadRequest", "Resource not found for the segment 'manager'."},
		{"unknown version", "GET", "/v2.0/users/" + adeleID, 400, "BadRequest", "Invalid version: v2.0"},
		{"method not allowed on object", "PUT", "/v1.0/users/" + adeleID, 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."},
		{"method not allowed on restore", "GET", "/v1.0/directory/deletedItems/" + deletedOrion + "/restore", 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."},
		{"method not allowed on batch", "GET", "/v1.0/$batch", 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."},
		{"restore on a live path does not exist", "POST", "/v1.0/groups/" + deletedOrion + "/restore", 404, "Request_ResourceNotFound", "Resource '" + deletedOrion + "' does not exist"},
		{"deletedItems without cast", "GET", "/v1.0/directory/deletedItems", 400, "Request_UnsupportedQuery", "Searches against this resource are not supported. Only specific instances can be queried."},
		{"deletedItems with unknown cast", "GET", "/v1.0/directory/deletedItems/microsoft.graph.device", 400, "BadRequest", "Resource not found for the segment 'microsoft.graph.device'."},
		{"CA bin under v1.0", "GET", "/v1.0/identity/conditionalAccess/deletedItems/policies", 404, "NotFound", "No HTTP resource was found that matches the request URI"},
		{"CA bin restore under v1.0", "POST", "/v1.0/identity/conditionalAccess/deletedItems/policies/" + caPolicyID + "/restore", 404, "NotFound", "No HTTP resource was found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.mustStatus(e.do(tt.method, tt.path, adminTok, nil), tt.status)
			if r.errCode(t) != tt.code || !strings.HasPrefix(r.errMessage(t), tt.msg) {
				t.Fatalf("got %s %q, want %s %q", r.errCode(t), r.errMessage(t), tt.code, tt.msg)
			}
		})
	}
}

// deleteCase describes where DELETE sends an object.
func TestDeleteWhereObjectsGo(t *testing.T) {
	tests := []struct {
		name, path, id string
		status         int
		bin            string // "directory", "ca", "" (refused, still live)
		castList       string // deletedItems list that must show it
	}{
		{"user", "/v1.0/users/" + adeleID, adeleID, 204, "directory", "/v1.0/directory/deletedItems/microsoft.graph.user"},
		{"Microsoft 365 group", "/v1.0/groups/" + falconID, falconID, 204, "directory", "/v1.0/directory/deletedItems/microsoft.graph.group"},
		{"critical cloud security group", "/v1.0/groups/" + paymentsID, paymentsID, 204, "directory", "/v1.0/directory/deletedItems/microsoft.graph.group"},
		{"non-critical cloud security group, beta", "/beta/groups/" + printersID, printersID, 204, "directory", "/beta/directory/deletedItems/microsoft.graph.group"},
		{"service principal", "/v1.0/servicePrincipals/" + payrollSPID, payrollSPID, 204, "directory", "/v1.0/directory/deletedItems/microsoft.graph.servicePrincipal"},
		{"administrative unit", "/v1.0/directory/administrativeUnits/" + auID, auID, 204, "directory", "/v1.0/directory/deletedItems/microsoft.graph.administrativeUnit"},
		{"CA policy", "/v1.0/identity/conditionalAccess/policies/" + caPolicyID, caPolicyID, 204, "ca", "/beta/identity/conditionalAccess/deletedItems/policies"},
		{"named location", "/beta/identity/conditionalAccess/namedLocations/" + namedLocID, namedLocID, 204, "ca", "/beta/identity/conditionalAccess/deletedItems/namedLocations"},
		{"synced group is refused by Graph", "/v1.0/groups/" + financeID, financeID, 400, "", ""},
		{"mail-enabled security group is read-only in Graph", "/v1.0/groups/" + hrNoticesID, hrNoticesID, 400, "", ""},
		{"synced user is refused by Graph", "/v1.0/users/" + nestorID, nestorID, 400, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil, Options{})
			r := e.mustStatus(e.do("DELETE", tt.path, adminTok, nil), tt.status)
			if tt.status == 204 && len(r.body) != 0 {
				t.Errorf("204 with a body: %s", r.body)
			}
			live := e.do("GET", tt.path, adminTok, nil)
			if tt.bin == "" {
				if r.errCode(t) != "Request_BadRequest" {
					t.Errorf("refusal code %s", r.errCode(t))
				}
				e.mustStatus(live, 200)
				return
			}
			e.mustStatus(live, 404)
			if got := ids(values(t, e.mustStatus(e.do("GET", tt.castList, adminTok, nil), 200))); !contains(got, tt.id) {
				t.Fatalf("%s lists %v, want %s", tt.castList, got, tt.id)
			}
			get := "/v1.0/directory/deletedItems/" + tt.id
			if tt.bin == "ca" {
				get = tt.castList + "/" + tt.id
			}
			m := e.mustStatus(e.do("GET", get, adminTok, nil), 200).json(t)
			if m["deletedDateTime"] != "2025-06-10T12:00:00Z" {
				t.Errorf("deletedDateTime %v, want the pinned clock", m["deletedDateTime"])
			}
			if _, ok := m["@odata.type"].(string); !ok {
				t.Errorf("deleted item without @odata.type: %v", m)
			}
		})
	}
}

func TestExternalDeleteOfObjectsGraphCannotDelete(t *testing.T) {
	tests := []struct {
		name, id, path string
		inBin          bool
	}{
		{"synced group is hard-deleted at once", financeID, "/v1.0/groups/", false},
		{"mail-enabled security group is hard-deleted at once", hrNoticesID, "/v1.0/groups/", false},
		{"synced user goes to the bin", nestorID, "/v1.0/users/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil, Options{})
			e.mustStatus(e.do("POST", "/_sim/external-delete/"+tt.id, "", nil), 200)
			e.mustStatus(e.do("GET", tt.path+tt.id, adminTok, nil), 404)
			bin := e.do("GET", "/v1.0/directory/deletedItems/"+tt.id, adminTok, nil)
			if tt.inBin {
				e.mustStatus(bin, 200)
			} else {
				e.mustStatus(bin, 404)
				e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+tt.id+"/restore", adminTok, nil), 404)
			}
			recs := e.srv.AuditRecords()
			if len(recs) != 1 || !strings.Contains(string(recs[0]), `"activityDisplayName":"Delete `) {
				t.Fatalf("audit records %s", recs)
			}
		})
	}
	t.Run("ordinary objects are deleted through Graph", func(t *testing.T) {
		e := newEnv(t, nil, Options{})
		e.mustStatus(e.do("POST", "/_sim/external-delete/"+paymentsID, "", nil), 400)
	})
}

func TestApplicationDeleteAlsoDeletesItsServicePrincipal(t *testing.T) {
	e := newEnv(t, nil, Options{})
	e.mustStatus(e.do("DELETE", "/v1.0/applications/"+payrollAppID, adminTok, nil), 204)
	e.mustStatus(e.do("GET", "/v1.0/servicePrincipals/"+payrollSPID, adminTok, nil), 404)
	e.mustStatus(e.do("GET", "/v1.0/directory/deletedItems/"+payrollSPID, adminTok, nil), 200)
	// Other service principals are untouched.
	e.mustStatus(e.do("GET", "/v1.0/servicePrincipals/"+reinstateSPID, adminTok, nil), 200)

	// Restoring the application does not restore its service principal
	// (Learn graph/api/directory-deleteditems-restore).
	r := e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+payrollAppID+"/restore", reinstateTok, nil), 200)
	m := r.json(t)
	if m["@odata.type"] != "#microsoft.graph.application" || m["id"] != payrollAppID || m["deletedDateTime"] != nil {
		t.Fatalf("restore body %v", m)
	}
	e.mustStatus(e.do("GET", "/v1.0/applications/"+payrollAppID, adminTok, nil), 200)
	e.mustStatus(e.do("GET", "/v1.0/servicePrincipals/"+payrollSPID, adminTok, nil), 404)
	sp := e.mustStatus(e.do("GET", "/v1.0/directory/deletedItems/"+payrollSPID, adminTok, nil), 200).json(t)
	if sp["@odata.type"] != "#microsoft.graph.servicePrincipal" {
		t.Fatalf("SP in bin: %v", sp)
	}
	// And it can be restored separately.
	e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+payrollSPID+"/restore", reinstateTok, nil), 200)
	e.mustStatus(e.do("GET", "/v1.0/servicePrincipals/"+payrollSPID, adminTok, nil), 200)

	var activities []string
	for _, rec := range e.srv.AuditRecords() {
		var d directoryAudit
		if err := jsonUnmarshal(rec, &d); err != nil {
			t.Fatal(err)
		}
		activities = append(activities, d.ActivityDisplayName)
	}
	want := []string{"Delete application", "Remove service principal", "Restore application", "Restore service principal"}
	if strings.Join(activities, "|") != strings.Join(want, "|") {
		t.Fatalf("activities %v, want %v", activities, want)
	}
}

func TestUserSoftDeleteRewritesAndRestoresUPN(t *testing.T) {
	e := newEnv(t, nil, Options{})
	// Deleting by UPN, as Graph allows.
	e.mustStatus(e.do("DELETE", "/v1.0/users/adele.vance@contoso.com", adminTok, nil), 204)
	m := e.mustStatus(e.do("GET", "/v1.0/directory/deletedItems/"+adeleID, reinstateTok, nil), 200).json(t)
	if want := "a1c3e5f72b4d4c6e8a0b1d3f5a7c9e21adele.vance@contoso.com"; m["userPrincipalName"] != want {
		t.Fatalf("UPN in bin %v, want %s", m["userPrincipalName"], want)
	}
	if !strings.HasSuffix(m["@odata.context"].(string), "/v1.0/$metadata#directoryObjects/$entity") || m["@odata.type"] != "#microsoft.graph.user" {
		t.Fatalf("annotations %v %v", m["@odata.context"], m["@odata.type"])
	}
	r := e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+adeleID+"/restore", reinstateTok, nil), 200).json(t)
	if r["userPrincipalName"] != "adele.vance@contoso.com" || r["@odata.type"] != "#microsoft.graph.user" {
		t.Fatalf("restored %v", r)
	}
	e.mustStatus(e.do("GET", "/v1.0/users/adele.vance@contoso.com", readerTok, nil), 200)
}

func TestRestoreConflicts(t *testing.T) {
	tests := []struct {
		name     string
		id       string
		body     any
		status   int
		target   string   // error detail target
		upn      string   // restored UPN
		proxies  []string // restored proxyAddresses
		noProxys []string // addresses that must be gone
	}{
		{name: "UPN taken by a live user", id: deletedMegan, status: 400, target: "userPrincipalName"},
		{name: "UPN taken, autoReconcile does not help", id: deletedMegan, body: map[string]any{"autoReconcileProxyConflict": true}, status: 400, target: "userPrincipalName"},
		{name: "newUserPrincipalName that is free", id: deletedMegan, body: map[string]any{"newUserPrincipalName": "megan.bowen.contractor@contoso.com"}, status: 200, upn: "megan.bowen.contractor@contoso.com"},
		{name: "newUserPrincipalName that is taken", id: deletedMegan, body: map[string]any{"newUserPrincipalName": "ADELE.VANCE@contoso.com"}, status: 400, target: "userPrincipalName"},
		{name: "newUserPrincipalName that is not a UPN", id: deletedMegan, body: map[string]any{"newUserPrincipalName": "megan"}, status: 400},
		{name: "proxyAddresses overlap a live user's (ignoring case)", id: deletedLeeGu, status: 400, target: "proxyAddresses"},
		{name: "autoReconcileProxyConflict false", id: deletedLeeGu, body: map[string]any{"autoReconcileProxyConflict": false}, status: 400, target: "proxyAddresses"},
		{name: "autoReconcileProxyConflict removes the conflicting address", id: deletedLeeGu, body: map[string]any{"autoReconcileProxyConflict": true}, status: 200,
			upn: "lee.gu@contoso.com", proxies: []string{"smtp:lgu@contoso.com"}, noProxys: []string{"SMTP:lee.gu@contoso.com"}},
		{name: "unknown body property", id: deletedLeeGu, body: map[string]any{"autoReconcileProxyConflicts": true}, status: 400},
		{name: "group restores with no body", id: deletedOrion, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil, Options{})
			r := e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+tt.id+"/restore", reinstateTok, tt.body), tt.status)
			if tt.status == 400 {
				if tt.target != "" {
					wantMsg := "Another object with the same value for property " + tt.target + " already exists."
					m := r.json(t)["error"].(map[string]any)
					det, _ := m["details"].([]any)
					if m["code"] != "Request_BadRequest" || m["message"] != wantMsg || len(det) != 1 ||
						det[0].(map[string]any)["target"] != tt.target || det[0].(map[string]any)["code"] != "ObjectConflict" {
						t.Fatalf("conflict body %s", r.body)
					}
				}
				// A refused restore leaves the object in the bin.
				e.mustStatus(e.do("GET", "/v1.0/directory/deletedItems/"+tt.id, reinstateTok, nil), 200)
				if n := len(e.srv.AuditRecords()); n != 0 {
					t.Fatalf("%d audit records for a refused restore", n)
				}
				return
			}
			m := r.json(t)
			if tt.upn != "" && m["userPrincipalName"] != tt.upn {
				t.Errorf("UPN %v, want %s", m["userPrincipalName"], tt.upn)
			}
			var got []string
			for _, p := range m["proxyAddresses"].([]any) {
				got = append(got, p.(string))
			}
			for _, p := range tt.proxies {
				if !contains(got, p) {
					t.Errorf("proxyAddresses %v lack %s", got, p)
				}
			}
			for _, p := range tt.noProxys {
				for _, g := range got {
					if g == p {
						t.Errorf("proxyAddresses %v still hold %s", got, p)
					}
				}
			}
			e.mustStatus(e.do("GET", "/v1.0/directory/deletedItems/"+tt.id, reinstateTok, nil), 404)
		})
	}
	t.Run("not in the bin", func(t *testing.T) {
		e := newEnv(t, nil, Options{})
		for _, id := range []string{adeleID, "00000000-0000-0000-0000-000000000000"} {
			r := e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+id+"/restore", reinstateTok, nil), 404)
			if r.errCode(t) != "Request_ResourceNotFound" || r.errMessage(t) != "Resource '"+id+"' does not exist or one of its queried reference-property objects are not present." {
				t.Fatalf("body %s", r.body)
			}
		}
	})
	t.Run("namespace-qualified action name", func(t *testing.T) {
		e := newEnv(t, nil, Options{})
		e.mustStatus(e.do("POST", "/beta/directory/deletedItems/"+deletedOrion+"/microsoft.graph.restore", reinstateTok, nil), 200)
	})
}

func TestGzipRequestBody(t *testing.T) {
	e := newEnv(t, nil, Options{})
	body := gzipped(t, `{"autoReconcileProxyConflict": true}`)
	r := e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+deletedLeeGu+"/restore", reinstateTok, body, withHeader("Content-Encoding", "gzip")), 200)
	if strings.Contains(string(r.body), `"SMTP:lee.gu@contoso.com"`) {
		t.Fatalf("gzip body was not applied: %s", r.body)
	}
	t.Run("other encodings get 415 so the SDK resends uncompressed", func(t *testing.T) {
		r := e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+deletedOrion+"/restore", reinstateTok, []byte("xx"), withHeader("Content-Encoding", "br")), 415)
		if r.errCode(t) != "UnsupportedMediaType" {
			t.Fatalf("code %s", r.errCode(t))
		}
	})
	t.Run("corrupt gzip", func(t *testing.T) {
		e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+deletedOrion+"/restore", reinstateTok, []byte("not gzip"), withHeader("Content-Encoding", "gzip")), 400)
	})
}

func TestDeletedItemsPaging(t *testing.T) {
	e := newEnv(t, nil, Options{})
	// Put five groups in the bin: Orion (seeded) and four deleted now.
	for _, id := range []string{paymentsID, falconID, printersID} {
		e.mustStatus(e.do("DELETE", "/v1.0/groups/"+id, adminTok, nil), 204)
	}
	for _, version := range []string{"v1.0", "beta"} {
		t.Run(version, func(t *testing.T) {
			url := "/" + version + "/directory/deletedItems/microsoft.graph.group?$top=2"
			var got []string
			pages := 0
			for url != "" {
				r := e.mustStatus(e.do("GET", url, reinstateTok, nil), 200)
				m := r.json(t)
				if !strings.HasSuffix(m["@odata.context"].(string), "/"+version+"/$metadata#groups") {
					t.Errorf("@odata.context %v", m["@odata.context"])
				}
				page := values(t, r)
				if len(page) > 2 {
					t.Fatalf("page of %d items with $top=2", len(page))
				}
				got = append(got, ids(page)...)
				pages++
				url, _ = m["@odata.nextLink"].(string)
				if url != "" && (!strings.HasPrefix(url, e.http.URL+"/"+version+"/directory/deletedItems/microsoft.graph.group?") || !strings.Contains(url, "%24skiptoken=") || strings.Contains(url, `\u0026`)) {
					t.Fatalf("nextLink %q", url)
				}
			}
			if pages != 2 || len(got) != 4 {
				t.Fatalf("%d pages, ids %v", pages, got)
			}
			for _, id := range []string{deletedOrion, paymentsID, falconID, printersID} {
				if !contains(got, id) {
					t.Errorf("missing %s in %v", id, got)
				}
			}
		})
	}
	t.Run("default page size is 100", func(t *testing.T) {
		r := e.mustStatus(e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.group", reinstateTok, nil), 200)
		if _, has := r.json(t)["@odata.nextLink"]; has || len(values(t, r)) != 4 {
			t.Fatalf("body %s", r.body)
		}
	})
	for _, top := range []string{"0", "1000", "x"} {
		t.Run("$top="+top, func(t *testing.T) {
			e.mustStatus(e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.group?$top="+top, reinstateTok, nil), 400)
		})
	}
	t.Run("bad skip token", func(t *testing.T) {
		e.mustStatus(e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.group?$skiptoken=abc", reinstateTok, nil), 400)
	})
	t.Run("the namespace alias graph.group, as msgraph-sdk-go sends it", func(t *testing.T) {
		if got := ids(values(t, e.mustStatus(e.do("GET", "/v1.0/directory/deletedItems/graph.group", reinstateTok, nil), 200))); len(got) != 4 {
			t.Fatalf("alias listed %v", got)
		}
	})
	t.Run("only the cast type is listed", func(t *testing.T) {
		got := ids(values(t, e.mustStatus(e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user", reinstateTok, nil), 200)))
		if len(got) != 2 || !contains(got, deletedMegan) || !contains(got, deletedLeeGu) {
			t.Fatalf("users in bin %v", got)
		}
	})
}

func TestHardDelete(t *testing.T) {
	tests := []struct {
		name, id, token string
		status          int
		code            string
	}{
		{"application by app", payrollAppID, reinstateTok, 204, ""},
		{"group by app: Not supported", deletedOrion, reinstateTok, 403, "Authorization_RequestDenied"},
		{"group by user", deletedOrion, adminTok, 204, ""},
		{"user by app: Not supported", deletedLeeGu, reinstateTok, 403, "Authorization_RequestDenied"},
		{"user by user", deletedLeeGu, adminTok, 204, ""},
		{"administrative unit cannot be hard-deleted", auID, adminTok, 400, "Request_BadRequest"},
		{"not in the bin", adeleID, adminTok, 404, "Request_ResourceNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil, Options{})
			// Put the live ones in the bin first.
			e.do("DELETE", "/v1.0/applications/"+payrollAppID, adminTok, nil)
			e.do("DELETE", "/v1.0/directory/administrativeUnits/"+auID, adminTok, nil)
			r := e.mustStatus(e.do("DELETE", "/v1.0/directory/deletedItems/"+tt.id, tt.token, nil), tt.status)
			if tt.status != 204 {
				if r.errCode(t) != tt.code {
					t.Fatalf("code %s, want %s", r.errCode(t), tt.code)
				}
				return
			}
			e.mustStatus(e.do("GET", "/v1.0/directory/deletedItems/"+tt.id, adminTok, nil), 404)
			e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+tt.id+"/restore", adminTok, nil), 404)
		})
	}
}

func TestConditionalAccessRecycleBin(t *testing.T) {
	for _, tc := range []struct {
		name, live, bin, id, typ, activity string
	}{
		{"policy", "/v1.0/identity/conditionalAccess/policies/", "/beta/identity/conditionalAccess/deletedItems/policies", caPolicyID, "#microsoft.graph.conditionalAccessPolicy", "Delete conditional access policy"},
		{"named location", "/v1.0/identity/conditionalAccess/namedLocations/", "/beta/identity/conditionalAccess/deletedItems/namedLocations", namedLocID, "#microsoft.graph.ipNamedLocation", "Delete named location"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, Options{})
			e.mustStatus(e.do("DELETE", tc.live+tc.id, adminTok, nil), 204)
			// Not in the directory bin.
			e.mustStatus(e.do("GET", "/v1.0/directory/deletedItems/"+tc.id, adminTok, nil), 404)
			list := values(t, e.mustStatus(e.do("GET", tc.bin, reinstateTok, nil), 200))
			if len(list) != 1 || list[0]["id"] != tc.id {
				t.Fatalf("bin list %v", list)
			}
			got := e.mustStatus(e.do("GET", tc.bin+"/"+tc.id, reinstateTok, nil), 200).json(t)
			if got["@odata.type"] != tc.typ || got["deletedDateTime"] != "2025-06-10T12:00:00Z" {
				t.Fatalf("bin item %v", got)
			}
			// Restore: no body, 200, the object as deleted, deletedDateTime null.
			r := e.mustStatus(e.do("POST", tc.bin+"/"+tc.id+"/restore", reinstateTok, nil), 200).json(t)
			if r["id"] != tc.id || r["deletedDateTime"] != nil || r["@odata.type"] != tc.typ {
				t.Fatalf("restored %v", r)
			}
			if tc.name == "policy" && r["state"] != "enabled" {
				t.Fatalf("policy restored in state %v, want the state it was deleted in", r["state"])
			}
			e.mustStatus(e.do("GET", tc.live+tc.id, readerTok, nil), 200)
			e.mustStatus(e.do("GET", tc.bin+"/"+tc.id, reinstateTok, nil), 404)
			// Delete again and purge: gone for good.
			e.mustStatus(e.do("DELETE", tc.live+tc.id, adminTok, nil), 204)
			e.mustStatus(e.do("DELETE", tc.bin+"/"+tc.id, reinstateTok, nil), 204)
			e.mustStatus(e.do("GET", tc.bin+"/"+tc.id, reinstateTok, nil), 404)
			e.mustStatus(e.do("POST", tc.bin+"/"+tc.id+"/restore", reinstateTok, nil), 404)
			// The delete record carries the object's JSON as oldValue.
			var first directoryAudit
			if err := jsonUnmarshal(e.srv.AuditRecords()[0], &first); err != nil {
				t.Fatal(err)
			}
			if first.ActivityDisplayName != tc.activity || first.LoggedByService != "Conditional Access" || first.Category != "Policy" ||
				first.TargetResources[0].Type != "Policy" || first.TargetResources[0].ModifiedProperties[0].OldValue == nil ||
				!strings.Contains(*first.TargetResources[0].ModifiedProperties[0].OldValue, tc.id) {
				t.Fatalf("delete record %+v", first)
			}
		})
	}
	t.Run("reader cannot restore", func(t *testing.T) {
		e := newEnv(t, nil, Options{})
		e.mustStatus(e.do("DELETE", "/v1.0/identity/conditionalAccess/policies/"+caPolicyID, adminTok, nil), 204)
		e.mustStatus(e.do("GET", "/beta/identity/conditionalAccess/deletedItems/policies/"+caPolicyID, readerTok, nil), 200)
		e.mustStatus(e.do("POST", "/beta/identity/conditionalAccess/deletedItems/policies/"+caPolicyID+"/restore", readerTok, nil), 403)
	})
}

func TestListLive(t *testing.T) {
	e := newEnv(t, nil, Options{})
	r := e.mustStatus(e.do("GET", "/v1.0/groups?$top=3&$select=displayName", readerTok, nil), 200)
	m := r.json(t)
	if len(values(t, r)) != 3 || m["@odata.nextLink"] == nil || !strings.HasSuffix(m["@odata.context"].(string), "#groups(displayName)") {
		t.Fatalf("body %s", r.body)
	}
	e.mustStatus(e.do("GET", "/v1.0/groups?$filter=displayName eq 'x'", readerTok, nil), 400)
	e.mustStatus(e.do("POST", "/v1.0/groups", adminTok, map[string]any{}), 405)
}
