package graphsim

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadSampleSeed(t *testing.T) {
	seed := loadSeed(t)
	if seed.TenantID != tenantID {
		t.Fatalf("tenantId %q", seed.TenantID)
	}
	srv, err := New(seed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := srv.State()
	for key, want := range map[string]int{"users": 5, "groups": 5, "applications": 2, "servicePrincipals": 3, "administrativeUnits": 1, "conditionalAccessPolicies": 1, "namedLocations": 1} {
		if got := len(st.Live[key]); got != want {
			t.Errorf("%s: %d live, want %d", key, got, want)
		}
	}
	if got := len(st.DeletedItems.Directory); got != 3 {
		t.Errorf("%d deleted directory objects, want 3", got)
	}
	// owners are hidden from output.
	for _, raw := range st.Live["applications"] {
		if strings.Contains(string(raw), "owners") {
			t.Errorf("owners leaked: %s", raw)
		}
	}
	// A deleted user seeded with its original UPN is stored rewritten.
	found := false
	for _, raw := range st.DeletedItems.Directory {
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		if m["id"] == deletedLeeGu {
			found = true
			if m["userPrincipalName"] != "f8b0d2e49a1c4b3d9f7a8c0e2a4c6d98lee.gu@contoso.com" {
				t.Errorf("deleted UPN %v, want the rewritten form", m["userPrincipalName"])
			}
		}
	}
	if !found {
		t.Fatal("Lee Gu not in the bin")
	}
}

func TestNewSeedValidation(t *testing.T) {
	obj := func(s string) json.RawMessage { return json.RawMessage(s) }
	tests := []struct {
		name   string
		mutate func(*Seed)
		want   string // substring of the error
		key    string
		index  int
		field  string
	}{
		{"bad tenant", func(s *Seed) { s.TenantID = "contoso" }, `tenantId: must be a GUID`, "tenantId", -1, ""},
		{"missing id", func(s *Seed) { s.Groups = append(s.Groups, obj(`{"displayName":"x"}`)) }, "groups[5].id: missing", "groups", 5, "id"},
		{"empty id", func(s *Seed) { s.Users[1] = obj(`{"id":"  ","userPrincipalName":"a@b"}`) }, "users[1].id", "users", 1, "id"},
		{"duplicate id across collections", func(s *Seed) {
			s.Applications = append(s.Applications, obj(`{"id":"`+strings.ToUpper(paymentsID)+`","appId":"x"}`))
		}, "applications[2].id: duplicate id", "applications", 2, "id"},
		{"duplicate id in bin", func(s *Seed) {
			s.DeletedItems = append(s.DeletedItems, obj(`{"@odata.type":"#microsoft.graph.user","id":"`+adeleID+`","userPrincipalName":"a@b","deletedDateTime":"2025-01-01T00:00:00Z"}`))
		}, "deletedItems[3].id: duplicate id", "deletedItems", 3, "id"},
		{"not an object", func(s *Seed) { s.Groups[0] = obj(`[1]`) }, "groups[0]: not a JSON object", "groups", 0, ""},
		{"user without UPN", func(s *Seed) { s.Users = append(s.Users, obj(`{"id":"u9"}`)) }, "users[5].userPrincipalName", "users", 5, "userPrincipalName"},
		{"duplicate UPN", func(s *Seed) {
			s.Users = append(s.Users, obj(`{"id":"u9","userPrincipalName":"ADELE.vance@contoso.com"}`))
		}, "users[5].userPrincipalName", "users", 5, "userPrincipalName"},
		{"deleted item without type", func(s *Seed) {
			s.DeletedItems = append(s.DeletedItems, obj(`{"id":"d9","deletedDateTime":"2025-01-01T00:00:00Z"}`))
		}, "deletedItems[3].@odata.type: missing", "deletedItems", 3, "@odata.type"},
		{"deleted item of unknown type", func(s *Seed) {
			s.DeletedItems = append(s.DeletedItems, obj(`{"@odata.type":"#microsoft.graph.device","id":"d9","deletedDateTime":"2025-01-01T00:00:00Z"}`))
		}, "deletedItems[3].@odata.type", "deletedItems", 3, "@odata.type"},
		{"deleted item without time", func(s *Seed) {
			s.DeletedItems = append(s.DeletedItems, obj(`{"@odata.type":"#microsoft.graph.group","id":"d9"}`))
		}, "deletedItems[3].deletedDateTime", "deletedItems", 3, "deletedDateTime"},
		{"owners not ids", func(s *Seed) { s.Applications[0] = obj(`{"id":"a9","owners":"me"}`) }, "applications[0].owners", "applications", 0, "owners"},
		{"identity bad type", func(s *Seed) { s.Identities[1].Type = "robot" }, `identities[1].type`, "identities", 1, "type"},
		{"identity duplicate token", func(s *Seed) { s.Identities[2].Token = s.Identities[0].Token }, "identities[2].token: same token as identities[0]", "identities", 2, "token"},
		{"app without appId", func(s *Seed) { s.Identities[0].AppID = "" }, "identities[0].appId", "identities", 0, "appId"},
		{"unknown permission", func(s *Seed) { s.Identities[2].Permissions = []string{"User.Read.All", "Group.Raed.All"} }, `identities[2].permissions[1]: unknown permission "Group.Raed.All"`, "identities", 2, "permissions[1]"},
		{"member that is not in the seed", func(s *Seed) {
			s.Groups = append(s.Groups, obj(`{"id":"g9","members":["`+adeleID+`","nobody"]}`))
		}, `groups[5].members: "nobody" is not the id of an object in the seed`, "groups", 5, "members"},
		{"members not ids", func(s *Seed) { s.Groups = append(s.Groups, obj(`{"id":"g9","members":"all"}`)) }, "groups[5].members", "groups", 5, "members"},
		{"members on a user", func(s *Seed) {
			s.Users = append(s.Users, obj(`{"id":"u9","userPrincipalName":"u9@contoso.com","members":[]}`))
		}, "users[5].members: only groups", "users", 5, "members"},
		{"unknown directory role", func(s *Seed) {
			s.Users = append(s.Users, obj(`{"id":"u9","userPrincipalName":"u9@contoso.com","directoryRoles":["Backup Operator"]}`))
		}, `users[5].directoryRoles[0]: unknown role "Backup Operator"`, "users", 5, "directoryRoles[0]"},
		{"directory roles on a group", func(s *Seed) {
			s.Groups = append(s.Groups, obj(`{"id":"g9","directoryRoles":["Global Administrator"]}`))
		}, "groups[5].directoryRoles", "groups", 5, "directoryRoles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seed := loadSeed(t)
			tt.mutate(&seed)
			_, err := New(seed, Options{})
			if err == nil {
				t.Fatal("New accepted an invalid seed")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
			var se *SeedError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SeedError", err)
			}
			if se.Key != tt.key || se.Index != tt.index || se.Field != tt.field {
				t.Fatalf("SeedError{Key:%q Index:%d Field:%q}, want {%q %d %q}", se.Key, se.Index, se.Field, tt.key, tt.index, tt.field)
			}
		})
	}
}

func TestLoadSeedErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          []string
	}{
		{"syntax error names file and line", "{\n \"tenantId\": \"" + tenantID + "\",\n \"users\": [ {\"id\": } ]\n}", []string{"bad.json", "line 3"}},
		{"unknown key", `{"tenantId":"` + tenantID + `","user":[]}`, []string{"bad.json", `user: unknown key`}},
		{"wrong element type names index", `{"tenantId":"` + tenantID + `","groups":[{"id":"g1"}, 7]}`, []string{"bad.json", "groups[1]"}},
		{"validation error names file", `{"tenantId":"` + tenantID + `","groups":[{"id":"g1"},{"displayName":"no id"}]}`, []string{"bad.json: groups[1].id: missing"}},
		{"identity field unknown", `{"tenantId":"` + tenantID + `","identities":[{"token":"t","type":"app","appId":"a","id":"i","scopes":[]}]}`, []string{"bad.json", "scopes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "bad.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadSeed(path)
			if err == nil {
				t.Fatal("LoadSeed accepted a bad file")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := LoadSeed(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("missing file: %v", err)
	}
}
