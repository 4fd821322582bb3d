package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/lenient"
)

// props builds a minimal Event Hubs record around the given properties
// members (without braces), with a tenant and envelope time.
func props(members string) string {
	return `{"time":"2025-06-01T10:00:00.0000000Z","tenantId":"` + tenant + `","properties":{` + members + `}}`
}

// core holds the members every record below needs.
const core = `"id":"rec-1","activityDisplayName":"Delete user","activityDateTime":"2025-06-01T10:00:00.1234567+00:00"`

func mustNormalize(t *testing.T, record string) Event {
	t.Helper()
	ev, err := Normalize(json.RawMessage(record))
	if err != nil {
		t.Fatalf("Normalize: %v\n%s", err, record)
	}
	return ev
}

// TestVariance feeds each documented variation on its own and checks that
// it decodes, and to what.
func TestVariance(t *testing.T) {
	wantTime := time.Date(2025, 6, 1, 10, 0, 0, 123456700, time.UTC)
	tests := []struct {
		name   string
		record string
		check  func(t *testing.T, ev Event)
	}{
		{"Level as int", `{"Level":4,"tenantId":"t","properties":{` + core + `}}`, nil},
		{"Level as string", `{"Level":"4","tenantId":"t","properties":{` + core + `}}`, nil},
		{"Level as name", `{"Level":"Informational","tenantId":"t","properties":{` + core + `}}`, nil},
		{"level in lower case", `{"level":"Informational","tenantId":"t","properties":{` + core + `}}`, nil},
		{"Level as object is ignored", `{"Level":{"x":1},"tenantId":"t","properties":{` + core + `}}`, nil},

		{"result success", props(core + `,"result":"success"`), wantResult(statusSuccess)},
		{"result failure", props(core + `,"result":"failure"`), wantResult(statusFailure)},
		{"result capitalised", props(core + `,"result":"Success"`), wantResult(statusSuccess)},
		{"result upper case", props(core + `,"result":"FAILURE"`), wantResult(statusFailure)},
		{"result 0", props(core + `,"result":0`), wantResult(statusSuccess)},
		{"result 1", props(core + `,"result":1`), wantResult(statusFailure)},
		{"result 2", props(core + `,"result":2`), wantResult("timeout")},
		{"result 3", props(core + `,"result":3`), wantResult("unknownFutureValue")},
		{"result unknownFutureValue keeps its case", props(core + `,"result":"unknownfuturevalue"`), wantResult("unknownFutureValue")},
		{"result unknown name is lower-cased", props(core + `,"result":"Partial"`), wantResult("partial")},
		{"result as numeric string", props(core + `,"result":"1"`), wantResult(statusFailure)},
		{"result null", props(core + `,"result":null`), wantResult("")},
		{"result from a flattened top level", `{"result":"failure","properties":{` + core + `}}`, wantResult(statusFailure)},

		{"groupType string", props(core + `,"targetResources":[{"id":"g","type":"Group","groupType":"unifiedGroups"}]`), wantGroupType("unifiedGroups")},
		{"groupType int", props(core + `,"targetResources":[{"id":"g","type":"Group","groupType":1}]`), wantGroupType("1")},
		{"groupType null", props(core + `,"targetResources":[{"id":"g","type":"Group","groupType":null}]`), wantGroupType("")},

		{"tenantId at top level", `{"tenantId":"top","properties":{` + core + `,"tenantId":"inner"}}`, wantTenant("top")},
		{"tenantId only in properties", `{"properties":{` + core + `,"tenantId":"inner"}}`, wantTenant("inner")},
		{"tenantId from resourceId", `{"resourceId":"/tenants/` + tenant + `/providers/Microsoft.aadiam","properties":{` + core + `}}`, wantTenant(tenant)},
		{"tenantId from resourceId in other case", `{"resourceId":"/TENANTS/` + tenant + `/PROVIDERS/MICROSOFT.AADIAM","properties":{` + core + `}}`, wantTenant(tenant)},
		{"resourceId of another shape", `{"resourceId":"/subscriptions/x/providers/y","properties":{` + core + `}}`, wantTenant("")},
		{"no tenant at all (Graph)", `{` + core + `}`, wantTenant("")},

		{"target type key lower case", props(core + `,"targetResources":[{"id":"u","type":"User"}]`), wantTargetType(TargetUser)},
		{"target type key capitalised", props(core + `,"targetResources":[{"id":"u","Type":"User"}]`), wantTargetType(TargetUser)},

		{"activityDateTime with Z", props(`"id":"r","activityDisplayName":"a","activityDateTime":"2025-06-01T10:00:00.1234567Z"`), wantAt(wantTime)},
		{"activityDateTime with +00:00", props(core), wantAt(wantTime)},
		{"activityDateTime with another offset becomes UTC",
			props(`"id":"r","activityDisplayName":"a","activityDateTime":"2025-06-01T12:00:00.1234567+02:00"`), wantAt(wantTime)},
		{"activityDateTime preferred over time",
			`{"time":"2030-01-01T00:00:00Z","properties":{` + core + `}}`, wantAt(wantTime)},
		{"time when activityDateTime is missing",
			`{"time":"2025-06-01T10:00:00.1234567Z","properties":{"id":"r","activityDisplayName":"a"}}`, wantAt(wantTime)},
		{"time with +00:00 when activityDateTime is missing",
			`{"time":"2025-06-01T10:00:00.1234567+00:00","properties":{"id":"r","activityDisplayName":"a"}}`, wantAt(wantTime)},
		{"time when activityDateTime is unparseable",
			`{"time":"2025-06-01T10:00:00.1234567Z","properties":{"id":"r","activityDisplayName":"a","activityDateTime":"soon"}}`, wantAt(wantTime)},

		{"resultDescription top level and in properties",
			`{"resultDescription":"Failed to add member to role","properties":{` + core + `,"resultDescription":"","resultReason":"quota"}}`,
			func(t *testing.T, ev Event) {
				if ev.ResultReason != "quota" {
					t.Errorf("resultReason = %q, want quota", ev.ResultReason)
				}
			}},
		{"durationMs as int", `{"durationMs":0,"properties":{` + core + `}}`, nil},
		{"durationMs as string", `{"durationMs":"-1","properties":{` + core + `}}`, nil},
		{"callerIpAddress <null>", `{"callerIpAddress":"<null>","properties":{` + core + `}}`, nil},
		{"resultReason empty", props(core + `,"resultReason":""`), wantReason("")},
		{"resultReason null", props(core + `,"resultReason":null`), wantReason("")},
		{"userAgent null", props(core + `,"userAgent":null`), nil},
		{"app initiator with appId null",
			props(core + `,"initiatedBy":{"app":{"appId":null,"displayName":"Managed Service Identity","servicePrincipalId":"sp-9","servicePrincipalName":null}}`),
			wantInitiator(Initiator{Type: InitiatorApp, ID: "sp-9", ServicePrincipalID: "sp-9", DisplayName: "Managed Service Identity"})},
		{"additionalDetails of any shape", props(core + `,"additionalDetails":"None"`), nil},
		{"unknown extra fields", props(core + `,"tenantGeo":"EU","identity":"","performedBy":{"x":[1,2]}`), nil},

		{"2018 record with category Audit and an id",
			`{"time":"2018-03-17T00:14:31.2585575Z","operationName":"Delete user","category":"Audit","tenantId":"` + tenant + `",` +
				`"resultType":"Success","durationMs":"-1","Level":"Informational","properties":{"id":"Directory_OLD_1","result":0,` +
				`"operationType":"Delete","additionalDetails":{},"targetResourceName":"x__User"}}`,
			func(t *testing.T, ev Event) {
				if ev.ID != "Directory_OLD_1" || ev.Activity != "Delete user" || ev.Result != statusSuccess ||
					!ev.Time.Equal(time.Date(2018, 3, 17, 0, 14, 31, 258557500, time.UTC)) || ev.Category != "" || ev.Deletion != DeletionSoft {
					t.Errorf("got %+v", ev)
				}
			}},
		{"flattened record without properties",
			`{"id":"flat-1","time":"2018-05-09T00:28:23.3040000Z","operationName":"Update user","category":"Audit"}`,
			func(t *testing.T, ev Event) {
				if ev.ID != "flat-1" || ev.Activity != "Update user" || ev.Time.IsZero() {
					t.Errorf("got %+v", ev)
				}
			}},
		{"activity from properties.operationName",
			`{"time":"2025-06-01T10:00:00Z","operationName":"Outer","properties":{"id":"r","operationName":"Delete group"}}`,
			func(t *testing.T, ev Event) {
				if ev.Activity != "Delete group" {
					t.Errorf("activity = %q, want Delete group", ev.Activity)
				}
			}},
		{"activity from top-level operationName",
			`{"time":"2025-06-01T10:00:00Z","operationName":"Delete group","properties":{"id":"r"}}`,
			func(t *testing.T, ev Event) {
				if ev.Activity != "Delete group" {
					t.Errorf("activity = %q, want Delete group", ev.Activity)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := mustNormalize(t, tt.record)
			if ev.Targets == nil {
				t.Error("Targets is nil; it must marshal as []")
			}
			if tt.check != nil {
				tt.check(t, ev)
			}
		})
	}
}

func wantResult(want string) func(*testing.T, Event) {
	return func(t *testing.T, ev Event) {
		if ev.Result != want {
			t.Errorf("result = %q, want %q", ev.Result, want)
		}
	}
}

func wantReason(want string) func(*testing.T, Event) {
	return func(t *testing.T, ev Event) {
		if ev.ResultReason != want {
			t.Errorf("resultReason = %q, want %q", ev.ResultReason, want)
		}
	}
}

func wantGroupType(want string) func(*testing.T, Event) {
	return func(t *testing.T, ev Event) {
		if len(ev.Targets) != 1 || ev.Targets[0].GroupType != want {
			t.Errorf("targets = %+v, want groupType %q", ev.Targets, want)
		}
	}
}

func wantTenant(want string) func(*testing.T, Event) {
	return func(t *testing.T, ev Event) {
		if ev.TenantID != want {
			t.Errorf("tenantId = %q, want %q", ev.TenantID, want)
		}
	}
}

func wantTargetType(want TargetType) func(*testing.T, Event) {
	return func(t *testing.T, ev Event) {
		if len(ev.Targets) != 1 || ev.Targets[0].Type != want {
			t.Errorf("targets = %+v, want type %q", ev.Targets, want)
		}
	}
}

func wantAt(want time.Time) func(*testing.T, Event) {
	return func(t *testing.T, ev Event) {
		if !ev.Time.Equal(want) || ev.Time.Location() != time.UTC {
			t.Errorf("time = %v, want %v in UTC", ev.Time, want)
		}
	}
}

func wantInitiator(want Initiator) func(*testing.T, Event) {
	return func(t *testing.T, ev Event) {
		if ev.Initiator != want {
			t.Errorf("initiator = %+v, want %+v", ev.Initiator, want)
		}
	}
}

// TestVarianceFixture checks what the variance fixture's records are there
// for; TestDecodeFixtures covers its last two.
func TestVarianceFixture(t *testing.T) {
	res, err := Decode(readFixture(t, "eventhubs/variance.json"))
	if err != nil || len(res.Events) != 6 || len(res.Skipped) != 0 {
		t.Fatalf("err %v, %d events, skips %v", err, len(res.Events), res.Skipped)
	}
	ev := res.Events
	if ev[0].Result != statusSuccess { // "Success", Level "4"
		t.Errorf("record 0 result = %q", ev[0].Result)
	}
	if ev[1].Result != statusSuccess || ev[1].Deletion != DeletionSoft { // result 0, Level "Informational"
		t.Errorf("record 1 = %q %q", ev[1].Result, ev[1].Deletion)
	}
	if ev[2].TenantID != tenant || ev[2].Targets[0].GroupType != "1" { // no tenantId, groupType 1, level
		t.Errorf("record 2 tenant %q groupType %q", ev[2].TenantID, ev[2].Targets[0].GroupType)
	}
	if ev[3].Targets[0].Type != TargetApplication || // "Type"
		!ev[3].Time.Equal(time.Date(2025, 5, 21, 10, 0, 4, 400000400, time.UTC)) || ev[3].Deletion != DeletionHard {
		t.Errorf("record 3 = %+v", ev[3])
	}
	if ev[4].Initiator.AppID != "" || ev[4].Initiator.Type != InitiatorApp || ev[4].ResultReason != "" {
		t.Errorf("record 4 = %+v", ev[4])
	}
}

// TestModifiedPropertyValues checks the second decoding of old and new values.
func TestModifiedPropertyValues(t *testing.T) {
	caPolicy := `{"id":"7c9e","displayName":"Require MFA for admins","state":"enabled","conditions":{"users":{"includeRoles":["62e9"]}}}`
	quoted, _ := json.Marshal(caPolicy)
	tests := []struct {
		name    string
		value   string
		want    string // compact JSON; "" for absent
		wantStr bool   // the result must still be a JSON string
	}{
		{"double-encoded string", `"\"False\""`, `"False"`, true},
		{"double-encoded array", `"[\"a\"]"`, `["a"]`, false},
		{"policy object in a string", string(quoted), caPolicy, false},
		{"plain string stays a string", `"DirectorySync"`, `"DirectorySync"`, true},
		{"empty string stays a string", `""`, `""`, true},
		{"string with spaces stays", `"Managed Service Identity"`, `"Managed Service Identity"`, true},
		{"null is absent", `null`, "", false},
		{"already an array", `["x",1]`, `["x",1]`, false},
		{"already a boolean", `true`, `true`, false},
		{"unwrapped once only", `"\"[\\\"a\\\"]\""`, `"[\"a\"]"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := mustNormalize(t, props(core+`,"targetResources":[{"id":"x","type":"Policy","modifiedProperties":[`+
				`{"displayName":"P","oldValue":`+tt.value+`,"newValue":`+tt.value+`}]}]`))
			mp := ev.Targets[0].ModifiedProperties[0]
			for _, got := range []json.RawMessage{mp.OldValue, mp.NewValue} {
				if tt.want == "" {
					if got != nil {
						t.Errorf("value = %s, want absent", got)
					}
					continue
				}
				if string(got) != tt.want {
					t.Errorf("value = %s, want %s", got, tt.want)
				}
				if isStr := len(got) > 0 && got[0] == '"'; isStr != tt.wantStr {
					t.Errorf("value %s: is string = %v, want %v", got, isStr, tt.wantStr)
				}
			}
			out, err := json.Marshal(mp)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" && strings.Contains(string(out), "Value") {
				t.Errorf("null value was not omitted: %s", out)
			}
		})
	}
	// The CA policy arrives as an object a caller can decode.
	ev := mustNormalize(t, props(core+`,"targetResources":[{"id":"x","type":"Policy","modifiedProperties":[{"displayName":"ConditionalAccessPolicy","oldValue":`+string(quoted)+`,"newValue":null}]}]`))
	var policy struct {
		State      string
		Conditions struct {
			Users struct{ IncludeRoles []string }
		}
	}
	if err := json.Unmarshal(ev.Targets[0].ModifiedProperties[0].OldValue, &policy); err != nil ||
		policy.State != "enabled" || len(policy.Conditions.Users.IncludeRoles) != 1 {
		t.Errorf("policy = %+v, %v", policy, err)
	}
}

func TestTargetTypes(t *testing.T) {
	tests := []struct {
		logged, activity, service string
		want                      TargetType
	}{
		{"User", "Delete user", coreDirectory, TargetUser},
		{"user", "Update user", coreDirectory, TargetUser},
		{"Group", "Delete group", coreDirectory, TargetGroup},
		{"GROUP", "Add member to group", coreDirectory, TargetGroup},
		{"Application", "Delete application", coreDirectory, TargetApplication},
		{"ServicePrincipal", "Remove service principal", coreDirectory, TargetServicePrincipal},
		{"servicePrincipal", "Hard delete service principal", coreDirectory, TargetServicePrincipal},
		{"AdministrativeUnit", "Delete administrative unit", coreDirectory, TargetAdministrativeUnit},
		{"Device", "Delete device", "Device Registration Service", TargetDevice},
		{"Policy", "Delete conditional access policy", condAccess, TargetConditionalAccessPolicy},
		{"Policy", "Delete Conditional Access policy", coreDirectory, TargetConditionalAccessPolicy},
		{"Policy", "Update policy", condAccess, TargetConditionalAccessPolicy}, // by service
		{"Policy", "Delete named location", condAccess, TargetNamedLocation},
		{"Policy", "Add named location", coreDirectory, TargetNamedLocation},
		{"Other", "Delete named location", condAccess, TargetNamedLocation},
		{"", "Update named location", condAccess, TargetNamedLocation},
		{"Policy", "Delete policy", coreDirectory, TargetOther}, // a directory policy
		{"Policy", "Update policy", coreDirectory, TargetOther},
		{"Other", "Delete conditional access policy", condAccess, TargetOther}, // only "Policy" is a CA policy
		{"Other", "Update user", coreDirectory, TargetOther},
		{"Role", "Add member to role", coreDirectory, TargetOther},
		{"User", "Delete named location", condAccess, TargetUser}, // a known type wins
	}
	for _, tt := range tests {
		t.Run(tt.logged+"/"+tt.activity, func(t *testing.T) {
			ev := mustNormalize(t, props(`"id":"r","activityDateTime":"2025-06-01T10:00:00Z",`+
				`"activityDisplayName":"`+tt.activity+`","loggedByService":"`+tt.service+`",`+
				`"targetResources":[{"id":"x","type":"`+tt.logged+`"}]`))
			if got := ev.Targets[0].Type; got != tt.want {
				t.Errorf("type = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDeletion(t *testing.T) {
	marker := func(v string) string {
		return `,"targetResources":[{"id":"x","type":"User","modifiedProperties":[{"displayName":"Is Hard Deleted","oldValue":null,"newValue":` + v + `}]}]`
	}
	tests := []struct {
		activity string
		extra    string
		want     Deletion
	}{
		{"Delete user", "", DeletionSoft},
		{"delete USER", "", DeletionSoft},
		{"Delete group", "", DeletionSoft},
		{"Delete application", "", DeletionSoft},
		{"Delete administrative unit", "", DeletionSoft},
		{"Delete conditional access policy", "", DeletionSoft},
		{"Delete Conditional Access policy", "", DeletionSoft},
		{"Delete named location", "", DeletionSoft},
		{"Remove service principal", "", DeletionSoft},
		{"remove Service Principal", "", DeletionSoft},
		{"Hard Delete user", "", DeletionHard},
		{"Hard delete user", "", DeletionHard},
		{"Hard Delete group", "", DeletionHard},
		{"Hard Delete application", "", DeletionHard},
		{"Hard delete service principal", "", DeletionHard},
		{"Hard Delete administrative unit", "", DeletionHard},
		{"HARD DELETE user", "", DeletionHard},
		{"Restore user", "", DeletionNone},
		{"Restore service principal", "", DeletionNone},
		{"Add member to group", "", DeletionNone},
		{"Update user", "", DeletionNone},
		{"Remove member from group", "", DeletionNone},
		{"Remove service principal credentials", "", DeletionNone},
		{"Bulk delete users - finished (bulk)", "", DeletionNone},
		{"Delete", "", DeletionNone},
		{"Delete user", marker(`"\"False\""`), DeletionSoft},
		{"Delete user", marker(`"\"True\""`), DeletionHard},
		{"Delete group", marker(`"True"`), DeletionHard},
		{"Delete group", marker(`true`), DeletionHard},
		{"Hard Delete user", marker(`"\"False\""`), DeletionHard}, // the activity decides first
		{"Delete user", strings.Replace(marker(`"\"true\""`), "Is Hard Deleted", "is hard deleted", 1), DeletionHard},
		{"Delete user", strings.Replace(marker(`null`), `"oldValue":null`, `"oldValue":"\"True\""`, 1), DeletionSoft}, // only newValue counts
	}
	for _, tt := range tests {
		t.Run(tt.activity+tt.extra, func(t *testing.T) {
			ev := mustNormalize(t, props(`"id":"r","activityDateTime":"2025-06-01T10:00:00Z","activityDisplayName":"`+tt.activity+`"`+tt.extra))
			if ev.Deletion != tt.want {
				t.Errorf("deletion = %q, want %q", ev.Deletion, tt.want)
			}
		})
	}
	// A failed delete is still a delete; Result tells it failed.
	ev := mustNormalize(t, props(`"id":"r","activityDateTime":"2025-06-01T10:00:00Z","activityDisplayName":"Delete user","result":"failure","resultReason":"Insufficient privileges"`))
	if ev.Deletion != DeletionSoft || ev.Result != statusFailure || ev.ResultReason != "Insufficient privileges" {
		t.Errorf("failed delete = %q %q %q", ev.Deletion, ev.Result, ev.ResultReason)
	}
}

func TestInitiator(t *testing.T) {
	tests := []struct {
		name        string
		initiatedBy string // "" leaves the member out
		want        Initiator
	}{
		{"user with id and UPN", `{"user":{"id":"u1","displayName":"Ann","userPrincipalName":"ann@contoso.com","ipAddress":"1.2.3.4","roles":[]},"app":null}`,
			Initiator{Type: InitiatorUser, ID: "u1", UserPrincipalName: "ann@contoso.com", DisplayName: "Ann"}},
		{"user with only a UPN", `{"user":{"userPrincipalName":"ann@contoso.com"}}`,
			Initiator{Type: InitiatorUser, UserPrincipalName: "ann@contoso.com"}},
		{"user with only an id", `{"user":{"id":"u1","displayName":null,"userPrincipalName":null}}`,
			Initiator{Type: InitiatorUser, ID: "u1"}},
		{"app with all ids", `{"user":null,"app":{"appId":"a1","displayName":"Sync","servicePrincipalId":"sp1","servicePrincipalName":"Sync SPN"}}`,
			Initiator{Type: InitiatorApp, ID: "sp1", AppID: "a1", ServicePrincipalID: "sp1", DisplayName: "Sync"}},
		{"app with appId null", `{"app":{"appId":null,"displayName":"Managed Service Identity","servicePrincipalId":"sp1"}}`,
			Initiator{Type: InitiatorApp, ID: "sp1", ServicePrincipalID: "sp1", DisplayName: "Managed Service Identity"}},
		{"app with only a display name", `{"app":{"displayName":"Azure AD Cloud Sync"}}`,
			Initiator{Type: InitiatorApp, DisplayName: "Azure AD Cloud Sync"}},
		{"app with only appId", `{"app":{"appId":"a1"}}`, Initiator{Type: InitiatorApp, AppID: "a1"}},
		{"empty user falls through to app", `{"user":{"displayName":"x"},"app":{"appId":"a1","displayName":"Sync"}}`,
			Initiator{Type: InitiatorApp, AppID: "a1", DisplayName: "Sync"}},
		{"both null", `{"user":null,"app":null}`, Initiator{Type: InitiatorUnknown}},
		{"empty object (2018)", `{}`, Initiator{Type: InitiatorUnknown}},
		{"null", `null`, Initiator{Type: InitiatorUnknown}},
		{"missing", "", Initiator{Type: InitiatorUnknown}},
		{"app with only servicePrincipalName", `{"app":{"servicePrincipalName":"x"}}`, Initiator{Type: InitiatorUnknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			members := core
			if tt.initiatedBy != "" {
				members += `,"initiatedBy":` + tt.initiatedBy
			}
			if got := mustNormalize(t, props(members)).Initiator; got != tt.want {
				t.Errorf("initiator = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestFieldErrors checks that each unusable record names the field at fault.
func TestFieldErrors(t *testing.T) {
	tests := []struct {
		name   string
		record string
		field  string
		reason string
	}{
		{"missing id", props(`"activityDisplayName":"Delete user","activityDateTime":"2025-06-01T10:00:00Z"`), "properties.id", "missing"},
		{"missing id, bare", `{"activityDisplayName":"Delete user","activityDateTime":"2025-06-01T10:00:00Z"}`, "id", "missing"},
		{"missing activity", props(`"id":"r","activityDateTime":"2025-06-01T10:00:00Z"`), "properties.activityDisplayName", "missing"},
		{"missing time", `{"properties":{"id":"r","activityDisplayName":"a"}}`, "properties.activityDateTime", "missing"},
		{"unparseable activityDateTime, no time", `{"properties":{"id":"r","activityDisplayName":"a","activityDateTime":"x"}}`,
			"properties.activityDateTime", `cannot parse "x" as a time`},
		{"unparseable time", `{"time":"later","properties":{"id":"r","activityDisplayName":"a"}}`, "time", `cannot parse "later" as a time`},
		{"zero time", `{"properties":{"id":"r","activityDisplayName":"a","activityDateTime":"0001-01-01T00:00:00Z"}}`,
			"properties.activityDateTime", "out of range"},
		{"time beyond year 9999 in UTC", `{"properties":{"id":"r","activityDisplayName":"a","activityDateTime":"9999-12-31T23:30:00-01:00"}}`,
			"properties.activityDateTime", "out of range"},
		{"activityDateTime is a number", props(`"id":"r","activityDisplayName":"a","activityDateTime":5`), "properties.activityDateTime", "expected a string, got a number"},
		{"targetResources is a string", props(core + `,"targetResources":"x"`), "properties.targetResources", "expected an array, got a string"},
		{"targetResources is a string, bare", `{` + core + `,"targetResources":"x"}`, "targetResources", "expected an array, got a string"},
		{"initiatedBy is a number", props(core + `,"initiatedBy":5`), "properties.initiatedBy", "expected an object, got a number"},
		{"initiatedBy.user is a string", props(core + `,"initiatedBy":{"user":"x"}`), "properties.initiatedBy.user", "expected an object, got a string"},
		{"target is not an object", props(core + `,"targetResources":[{"id":"a"},7]`), "properties.targetResources[1]", "expected an object, got a number"},
		{"target type is a number", props(core + `,"targetResources":[{"id":"a","type":"User"},{"id":"b","type":5}]`),
			"properties.targetResources[1].type", "expected a string, got a number"},
		{"modified property name is a number", props(core + `,"targetResources":[{"id":"a","modifiedProperties":[{"displayName":"x"},{"displayName":7}]}]`),
			"properties.targetResources[0].modifiedProperties[1].displayName", "expected a string, got a number"},
		{"modifiedProperties is an object", props(core + `,"targetResources":[{"id":"a"},{"id":"b","modifiedProperties":{}}]`),
			"properties.targetResources[1].modifiedProperties", "expected an array, got an object"},
		{"groupType is an object", props(core + `,"targetResources":[{"id":"a"},{"id":"g","groupType":{"x":1}}]`),
			"properties.targetResources[1].groupType", "got an object"},
		{"result is an array", props(core + `,"result":["success"]`), "properties.result", "got an array"},
		{"properties is a string", `{"time":"2025-06-01T10:00:00Z","properties":"x"}`, "properties", "expected an object, got a string"},
		{"id is a number", props(`"id":5,"activityDisplayName":"a","activityDateTime":"2025-06-01T10:00:00Z"`), "properties.id", "expected a string, got a number"},
		{"record is an array", `[1]`, "", "must be a JSON object, not an array"},
		{"not JSON", `{"id":`, "", "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Normalize(json.RawMessage(tt.record))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FieldError", err)
			}
			if fe.Field != tt.field {
				t.Errorf("field = %q, want %q", fe.Field, tt.field)
			}
			if !strings.Contains(fe.Reason, tt.reason) {
				t.Errorf("reason = %q, want it to contain %q", fe.Reason, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("Error() = %q does not name the field", err)
			}
		})
	}
}

// TestEventJSON pins the parts of the JSON contract the decoder controls.
func TestEventJSON(t *testing.T) {
	ev := mustNormalize(t, `{`+core+`}`)
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"targets":[]`, `"deletion":"soft"`, `"initiator":{"type":"unknown"}`, `"time":"2025-06-01T10:00:00.1234567Z"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("%s does not contain %s", out, want)
		}
	}
}

// FuzzUnwrapShortcut checks that unwrap, which skips lenient.Unwrap for
// strings that cannot hold JSON, answers exactly as lenient.Unwrap does.
func FuzzUnwrapShortcut(f *testing.F) {
	for _, s := range []string{`"success"`, `"DirectorySync"`, `"\"False\""`, `"[\"a\"]"`, `" {}"`,
		"\"\u00a0{}\"", `"\u0020[1]"`, `"4"`, `"-1"`, `"true"`, `"nope"`, `""`, `"x" `, `5`, `null`, `"\t{}"`, `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if got, want := unwrap(raw), lenient.Unwrap(raw); !bytes.Equal(got, want) {
			t.Fatalf("unwrap(%q) = %q, lenient.Unwrap = %q", raw, got, want)
		}
	})
}

func TestValidObjectID(t *testing.T) {
	tests := map[string]bool{
		"c1e3a5c7-e9a1-4c3e-85c7-e9a1c3e5a7c9": true,
		"C1E3A5C7-E9A1-4C3E-85C7-E9A1C3E5A7C9": true,
		"c1e3a5c7e9a14c3e85c7e9a1c3e5a7c9":     false,
		"c1e3a5c7-e9a1-4c3e-85c7-e9a1c3e5a7c":  false,
		"c1e3a5c7-e9a1-4c3e-85c7-e9a1c3e5a7cg": false,
		"../../../users/x?$filter=1-2-3-4-5-6": false,
		"":                                     false,
	}
	for id, want := range tests {
		if got := ValidObjectID(id); got != want {
			t.Errorf("ValidObjectID(%q) = %v, want %v", id, got, want)
		}
	}
}
