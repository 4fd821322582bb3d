package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/reinstate/reinstate/pkg/graphapi"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
)

// Object ids used across the tests.
const (
	graphTestUser  = "52330fde-895a-4a99-ae59-1c35c2a263e9" // reference §1.5 example
	graphTestGroup = "04181a71-a18d-4eee-94da-a77e7eb6520b" // reference §1.5 example
	graphTestJob   = "3f4a6b60-7c1e-4e7c-9c7b-13f8d44b20c4" // reference §1.4 example
	graphTestSnap  = "MjAyNC0wOC0yNlQwMjozMDowMFo="         // reference §1.3 example
)

// graphTestClient is a Client over a Graph nobody listens on: for tests
// that must not reach the network.
func graphTestClient(t *testing.T, version Version) *Client {
	t.Helper()
	g, err := graphapi.New(graphapi.Config{BaseURL: "http://127.0.0.1:4100", Auth: graphapi.AuthNone, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(g, version)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewClientVersion(t *testing.T) {
	g, err := graphapi.New(graphapi.Config{BaseURL: "http://127.0.0.1:4100", Auth: graphapi.AuthNone})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		version Version
		ok      bool
	}{{VersionBeta, true}, {VersionV1, true}, {"v2.0", false}, {"", false}, {"BETA", false}} {
		c, err := NewClient(g, tt.version)
		if (err == nil) != tt.ok {
			t.Errorf("NewClient(%q): %v, want ok=%v", tt.version, err, tt.ok)
		}
		if err == nil && c.Version() != tt.version {
			t.Errorf("Version() = %q", c.Version())
		}
	}
	if _, err := NewClient(nil, VersionBeta); err == nil {
		t.Error("NewClient(nil) succeeded")
	}
}

func TestFilterValidate(t *testing.T) {
	tests := []struct {
		name    string
		f       Filter
		wantErr string // "" for valid
	}{
		{"types", Filter{EntityTypes: []string{"user", "group"}}, ""},
		{"every documented type", Filter{EntityTypes: slices.Clone(recoveryResourceTypes)}, ""},
		{"types in another case", Filter{EntityTypes: []string{"USER", "ConditionalAccessPolicy"}}, ""},
		{"ids", Filter{ByType: map[string][]string{"user": {graphTestUser}, "group": {graphTestGroup}}}, ""},
		{"empty", Filter{}, "empty"},
		{"empty map and slice", Filter{EntityTypes: []string{}, ByType: map[string][]string{}}, "empty"},
		{"both kinds", Filter{EntityTypes: []string{"user"}, ByType: map[string][]string{"group": {graphTestGroup}}}, "not both"},
		{"unknown type", Filter{EntityTypes: []string{"device"}}, "not a resourceTypeName"},
		{"administrative unit", Filter{EntityTypes: []string{"administrativeUnit"}}, "administrative units"},
		{"administrative unit by id", Filter{ByType: map[string][]string{"administrativeUnit": {graphTestUser}}}, "administrative units"},
		{"unknownFutureValue", Filter{EntityTypes: []string{"unknownFutureValue"}}, "not a resourceTypeName"},
		{"repeated type", Filter{EntityTypes: []string{"user", "group", "user"}}, "twice"},
		{"repeated type in another case", Filter{EntityTypes: []string{"user", "User"}}, "twice"},
		{"repeated type by id", Filter{ByType: map[string][]string{"user": {graphTestUser}, "User": {graphTestGroup}}}, "twice"},
		{"type without ids", Filter{ByType: map[string][]string{"user": nil}}, "no ids"},
		{"id not a GUID", Filter{ByType: map[string][]string{"user": {"adele@contoso.com"}}}, "not a GUID"},
		{"id in braces", Filter{ByType: map[string][]string{"user": {"{" + graphTestUser + "}"}}}, "not a GUID"},
		{"repeated id", Filter{ByType: map[string][]string{"user": {graphTestUser, strings.ToUpper(graphTestUser)}}}, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate: %v, want an error about %q", err, tt.wantErr)
			case tt.wantErr != "" && !errors.Is(err, ErrInvalid):
				t.Fatalf("Validate: %v is not ErrInvalid", err)
			}
			if _, merr := json.Marshal(tt.f); (merr == nil) != (tt.wantErr == "") {
				t.Errorf("Marshal error %v, Validate %v", merr, err)
			}
		})
	}
}

func TestFilterMarshal(t *testing.T) {
	const (
		names = `{"@odata.type":"#microsoft.graph.entraRecoveryServices.recoveryJobEntityNamesFilter","entityTypes":`
		ids   = `{"@odata.type":"#microsoft.graph.entraRecoveryServices.recoveryJobEntityNameAndIdsFilter","filterValues":`
	)
	tests := []struct {
		name string
		f    *Filter
		body string // the create POST's body
	}{
		{"nil: every entity, no body", nil, ""},
		// Reference §1.5, first example.
		{"one type", &Filter{EntityTypes: []string{"user"}},
			`{"filteringCriteria":` + names + `["user"]}}`},
		{"types sorted, spelled as the enum", &Filter{EntityTypes: []string{"servicePrincipal", "GROUP", "oauth2permissiongrant", "application"}},
			`{"filteringCriteria":` + names + `["application","group","oAuth2PermissionGrant","servicePrincipal"]}}`},
		// Reference §1.5, second example (types sorted).
		{"ids", &Filter{ByType: map[string][]string{"user": {graphTestUser}, "group": {graphTestGroup}}},
			`{"filteringCriteria":` + ids + `[{"entityType":"group","entityIds":["` + graphTestGroup + `"]},{"entityType":"user","entityIds":["` + graphTestUser + `"]}]}}`},
		{"ids lower-cased and sorted", &Filter{ByType: map[string][]string{"User": {strings.ToUpper(graphTestUser), graphTestGroup}}},
			`{"filteringCriteria":` + ids + `[{"entityType":"user","entityIds":["` + graphTestGroup + `","` + graphTestUser + `"]}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 { // map order must not show
				body, err := requestBody(tt.f)
				if err != nil {
					t.Fatal(err)
				}
				if string(body) != tt.body {
					t.Fatalf("body\n got %s\nwant %s", body, tt.body)
				}
			}
		})
	}
}

func TestJobStatusTerminal(t *testing.T) {
	tests := []struct {
		status   JobStatus
		terminal bool
	}{
		{StatusInitialized, false},
		{StatusRunning, false},
		{StatusSuccessful, true},
		{StatusFailed, true},
		{StatusAbandoned, true},
		// Without the Prefer header, calculating and loadingData arrive as
		// unknownFutureValue: a poller must keep going (reference §1.4).
		{StatusUnknownFutureValue, false},
		{StatusCalculating, false},
		{StatusLoadingData, false},
		// The value Microsoft's sample scripts poll for is not in the enum.
		{"succeeded", false},
		{"someFutureStatus", false},
		{"Successful", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := tt.status.Terminal(); got != tt.terminal {
			t.Errorf("%q.Terminal() = %v, want %v", tt.status, got, tt.terminal)
		}
	}
}

func TestLatestBefore(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 6, d, 2, 30, 0, 0, time.UTC) }
	snaps := []Snapshot{{ID: "c", CreatedAt: day(3)}, {ID: "a", CreatedAt: day(1)}, {ID: "e", CreatedAt: day(5)}, {ID: "b", CreatedAt: day(2)}}
	tests := []struct {
		name  string
		snaps []Snapshot
		t     time.Time
		want  string // "" for none
	}{
		{"between two", snaps, day(3).Add(time.Hour), "c"},
		{"exactly at one", snaps, day(3), "c"},
		{"just before one", snaps, day(3).Add(-time.Nanosecond), "b"},
		{"after all", snaps, day(9), "e"},
		{"before all", snaps, day(1).Add(-time.Second), ""},
		{"none", nil, day(3), ""},
		{"same time: lower id", []Snapshot{{ID: "y", CreatedAt: day(2)}, {ID: "x", CreatedAt: day(2)}}, day(3), "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := LatestBefore(tt.snaps, tt.t)
			if ok != (tt.want != "") || got.ID != tt.want {
				t.Errorf("LatestBefore = %q, %v; want %q", got.ID, ok, tt.want)
			}
		})
	}
}

func TestSnapshotDecodeAndSort(t *testing.T) {
	// Reference §1.3's example, with two more snapshots out of order.
	page := `{"@odata.context":"https://graph.microsoft.com/beta/$metadata#directory/recovery/snapshots",
	 "value":[{"@odata.type":"#microsoft.graph.entraRecoveryServices.snapshot",
	   "id":"MjAyNC0wOC0yNlQwMjozMDowMFo=","createdDateTime":"2024-08-26T02:30:00Z","totalChangedObjects":1000000},
	   {"id":"MjAyNC0wOC0yNFQwMjozMDowMFo=","createdDateTime":"2024-08-24T02:30:00Z","totalChangedObjects":null},
	   {"id":"MjAyNC0wOC0yNVQwMjozMDowMFo=","createdDateTime":"2024-08-25T02:30:00.1234567Z"}]}`
	var list struct{ Value []Snapshot }
	if err := json.Unmarshal([]byte(page), &list); err != nil {
		t.Fatal(err)
	}
	sortSnapshots(list.Value)
	want := []Snapshot{
		{ID: graphTestSnap, CreatedAt: time.Date(2024, 8, 26, 2, 30, 0, 0, time.UTC), TotalChangedObjects: 1000000},
		{ID: "MjAyNC0wOC0yNVQwMjozMDowMFo=", CreatedAt: time.Date(2024, 8, 25, 2, 30, 0, 123456700, time.UTC)},
		{ID: "MjAyNC0wOC0yNFQwMjozMDowMFo=", CreatedAt: time.Date(2024, 8, 24, 2, 30, 0, 0, time.UTC)},
	}
	if !reflect.DeepEqual(list.Value, want) {
		t.Errorf("snapshots\n got %+v\nwant %+v", list.Value, want)
	}
	// A stored snapshot reads back the same.
	b, _ := json.Marshal(want[1])
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, want[1]) {
		t.Errorf("round trip %s: %+v, %v", b, back, err)
	}
}

func TestParseJobURL(t *testing.T) {
	c := graphTestClient(t, VersionBeta)
	request, _ := url.Parse("http://127.0.0.1:4100/beta/directory/recovery/snapshots/" + graphTestSnap + "/recoveryPreviewJobs")
	base := "http://127.0.0.1:4100"
	tests := []struct {
		name     string
		location string
		snapshot string
		kind     JobKind
		wantErr  string
	}{
		// Reference §1.4's polling pattern.
		{"preview on beta", base + "/beta/directory/recovery/snapshots/" + graphTestSnap + "/recoveryPreviewJobs/" + graphTestJob, graphTestSnap, KindPreview, ""},
		{"recovery on v1.0", base + "/v1.0/directory/recovery/snapshots/" + graphTestSnap + "/recoveryJobs/" + graphTestJob, graphTestSnap, KindRecovery, ""},
		// The cancel action's Location (§1.2).
		{"jobs collection", base + "/beta/directory/recovery/jobs/" + graphTestJob, "", "", ""},
		{"OData key syntax", base + "/beta/directory/recovery/snapshots('" + graphTestSnap + "')/recoveryPreviewJobs('" + graphTestJob + "')", graphTestSnap, KindPreview, ""},
		{"relative", "/beta/directory/recovery/snapshots/" + graphTestSnap + "/recoveryPreviewJobs/" + graphTestJob, graphTestSnap, KindPreview, ""},
		{"escaped snapshot id", base + "/beta/directory/recovery/snapshots/YWJj%2BZA%3D%3D/recoveryJobs/" + graphTestJob, "YWJj+ZA==", KindRecovery, ""},
		{"upper-case host", "http://127.0.0.1:4100/beta/directory/recovery/jobs/" + strings.ToUpper(graphTestJob), "", "", ""},
		{"another host", "http://127.0.0.2:4100/beta/directory/recovery/jobs/" + graphTestJob, "", "", "not on the configured Graph"},
		{"another port", "http://127.0.0.1:4101/beta/directory/recovery/jobs/" + graphTestJob, "", "", "not on the configured Graph"},
		{"https for http", "https://127.0.0.1:4100/beta/directory/recovery/jobs/" + graphTestJob, "", "", "not on the configured Graph"},
		{"real Graph", "https://graph.microsoft.com/beta/directory/recovery/jobs/" + graphTestJob, "", "", "not on the configured Graph"},
		{"credentials", "http://u:p@127.0.0.1:4100/beta/directory/recovery/jobs/" + graphTestJob, "", "", "not on the configured Graph"},
		{"no version", base + "/directory/recovery/jobs/" + graphTestJob, "", "", "not under"},
		{"scheme-relative elsewhere", "//evil.example/beta/directory/recovery/jobs/" + graphTestJob, "", "", "not on the configured Graph"},
		{"not a job", base + "/beta/directory/recovery/snapshots/" + graphTestSnap, "", "", "not a recovery job URL"},
		{"other collection", base + "/beta/users/" + graphTestJob, "", "", "not a recovery job URL"},
		{"id not a GUID", base + "/beta/directory/recovery/jobs/42", "", "", "not a GUID"},
		{"empty snapshot", base + "/beta/directory/recovery/snapshots//recoveryJobs/" + graphTestJob, "", "", "empty snapshot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.parseJobURL(request, tt.location)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseJobURL: %+v, %v; want an error about %q", got, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "p@") {
					t.Errorf("the error shows credentials: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(got.id, graphTestJob) || got.snapshotID != tt.snapshot || got.kind != tt.kind {
				t.Errorf("parseJobURL = id %q snapshot %q kind %q", got.id, got.snapshotID, got.kind)
			}
			if got.url.Host != "127.0.0.1:4100" {
				t.Errorf("url %s", got.url)
			}
		})
	}
}

func TestJobURLsAndFunctions(t *testing.T) {
	tests := []struct {
		version Version
		job     Job
		want    string
	}{
		{VersionBeta, Job{ID: graphTestJob, SnapshotID: graphTestSnap, Kind: KindPreview}, "/beta/directory/recovery/snapshots/" + graphTestSnap + "/recoveryPreviewJobs/" + graphTestJob},
		{VersionV1, Job{ID: graphTestJob, SnapshotID: graphTestSnap, Kind: KindRecovery}, "/v1.0/directory/recovery/snapshots/" + graphTestSnap + "/recoveryJobs/" + graphTestJob},
		{VersionBeta, Job{ID: graphTestJob, Kind: KindPreview}, "/beta/directory/recovery/jobs/" + graphTestJob},
		{VersionV1, Job{ID: graphTestJob}, "/v1.0/directory/recovery/jobs/" + graphTestJob},
		{VersionV1, Job{ID: graphTestJob, URL: "http://127.0.0.1:4100/beta/directory/recovery/jobs/" + graphTestJob}, "/beta/directory/recovery/jobs/" + graphTestJob},
	}
	for _, tt := range tests {
		loc, err := graphTestClient(t, tt.version).jobLocation(tt.job)
		if err != nil {
			t.Errorf("%+v: %v", tt.job, err)
			continue
		}
		if loc.url.String() != "http://127.0.0.1:4100"+tt.want {
			t.Errorf("%s %+v: %s, want %s", tt.version, tt.job, loc.url, tt.want)
		}
	}
	for _, job := range []Job{{ID: "nope"}, {}, {ID: graphTestJob, URL: "https://graph.microsoft.com/beta/directory/recovery/jobs/" + graphTestJob},
		{ID: "11111111-1111-1111-1111-111111111111", URL: "http://127.0.0.1:4100/beta/directory/recovery/jobs/" + graphTestJob}} {
		if _, err := graphTestClient(t, VersionBeta).jobLocation(job); !errors.Is(err, ErrInvalid) {
			t.Errorf("jobLocation(%+v): %v, want ErrInvalid", job, err)
		}
	}
	// Bound functions and actions are namespace-qualified on v1.0 only
	// (reference §1.2).
	beta, v1 := graphTestClient(t, VersionBeta), graphTestClient(t, VersionV1)
	for _, fn := range []string{"getChanges", "getFailedChanges", "cancel"} {
		if got := beta.function(fn); got != fn {
			t.Errorf("beta %s: %s", fn, got)
		}
		if got := v1.function(fn); got != "microsoft.graph.entraRecoveryServices."+fn {
			t.Errorf("v1.0 %s: %s", fn, got)
		}
	}
}

func TestDecodeJob(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want Job
	}{
		// [MGD] entrarecoveryservices-recoveryjob-get.md (reference §1.4).
		{"recovery job running", `{"@odata.type":"#microsoft.graph.entraRecoveryServices.recoveryJob","id":"3f4a6b60-7c1e-4e7c-9c7b-13f8d44b20c4",
		 "status":"running","targetStateDateTime":"2024-08-26T02:30:00Z","jobStartDateTime":"2024-08-26T08:30:00Z",
		 "jobCompletionDateTime":null,"filteringCriteria":null,"totalObjectsModified":2000,"totalLinksModified":300,"totalFailedChanges":null}`,
			Job{ID: graphTestJob, Kind: KindRecovery, Status: StatusRunning,
				TargetStateAt: time.Date(2024, 8, 26, 2, 30, 0, 0, time.UTC), StartedAt: time.Date(2024, 8, 26, 8, 30, 0, 0, time.UTC),
				TotalObjectsModified: graphTestInt(2000), TotalLinksModified: graphTestInt(300)}},
		{"preview job done", `{"@odata.type":"#microsoft.graph.entraRecoveryServices.recoveryPreviewJob","id":"3f4a6b60-7c1e-4e7c-9c7b-13f8d44b20c4",
		 "status":"successful","targetStateDateTime":"2024-08-26T02:30:00Z","jobStartDateTime":"2024-08-26T08:30:00.5Z",
		 "jobCompletionDateTime":"2024-08-26T09:30:00.1234567Z",
		 "filteringCriteria":{"@odata.type":"#microsoft.graph.entraRecoveryServices.recoveryJobEntityNamesFilter","entityTypes":["user"]},
		 "totalChangedObjectsCalculated":12,"totalChangedLinksCalculated":0}`,
			Job{ID: graphTestJob, Kind: KindPreview, Status: StatusSuccessful,
				TargetStateAt: time.Date(2024, 8, 26, 2, 30, 0, 0, time.UTC), StartedAt: time.Date(2024, 8, 26, 8, 30, 0, 5e8, time.UTC),
				CompletedAt:         graphTestTime(time.Date(2024, 8, 26, 9, 30, 0, 123456700, time.UTC)),
				Filter:              json.RawMessage(`{"@odata.type":"#microsoft.graph.entraRecoveryServices.recoveryJobEntityNamesFilter","entityTypes":["user"]}`),
				TotalChangedObjects: graphTestInt(12), TotalChangedLinks: graphTestInt(0)}},
		{"status without the Prefer header", `{"@odata.type":"#microsoft.graph.entraRecoveryServices.recoveryPreviewJob","id":"3f4a6b60-7c1e-4e7c-9c7b-13f8d44b20c4","status":"unknownFutureValue"}`,
			Job{ID: graphTestJob, Kind: KindPreview, Status: StatusUnknownFutureValue}},
		{"unknown type", `{"@odata.type":"#microsoft.graph.entraRecoveryServices.somethingNew","id":"3f4a6b60-7c1e-4e7c-9c7b-13f8d44b20c4","status":"loadingData"}`,
			Job{ID: graphTestJob, Status: StatusLoadingData}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeJob([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decodeJob\n got %+v\nwant %+v", got, tt.want)
			}
			// A stored Job reads back the same.
			b, _ := json.Marshal(got)
			var back Job
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, got) {
				t.Errorf("round trip %s\n got %+v (%v)", b, back, err)
			}
		})
	}
	for _, bad := range []string{`{"status":"running"}`, `[]`, `{"id":"x","jobStartDateTime":"yesterday"}`} {
		if _, err := decodeJob([]byte(bad)); err == nil {
			t.Errorf("decodeJob(%s) succeeded", bad)
		}
	}
}

func graphTestInt(n int) *int              { return &n }
func graphTestTime(t time.Time) *time.Time { return &t }
func graphTestPage(t *testing.T, raw string) []Change {
	t.Helper()
	var page struct{ Value []Change }
	if err := json.Unmarshal([]byte(raw), &page); err != nil {
		t.Fatal(err)
	}
	return page.Value
}

// graphTestGetChanges is the response of [MGD]
// entrarecoveryservices-recoverypreviewjob-getchanges.md, example 1, with
// the long states shortened.
const graphTestGetChanges = `{
  "@odata.context": "https://graph.microsoft.com/beta/$metadata#directory/recovery/snapshots/MjAyNC0wOC0yNlQwMjozMDowMFo=/recoveryPreviewJobs/d3f8e7e8-7e87-4a7f-9d2c-c1c2d7e8e1f1/getChanges",
  "@odata.nextLink": "https://graph.microsoft.com/beta/directory/recovery/snapshots/MjAyNC0wOC0yNlQwMjozMDowMFo=/recoveryPreviewJobs/d3f8e7e8-7e87-4a7f-9d2c-c1c2d7e8e1f1/getChanges?$skiptoken=RFNwdAIAAQAAACA6X1NNVFBfYnJhemlsc291dGhAbWl",
  "value": [
    {"entityTypeName": "user", "id": "36e07e06-72c1-4b2c-b547-c5084413b88b", "displayName": "JD", "recoveryAction": "update",
     "deltaFromCurrent": {"@odata.type": "#microsoft.graph.user", "displayName": "John Doe", "accountEnabled": true},
     "currentState": {"@odata.type": "#microsoft.graph.user", "displayName": "JD", "accountEnabled": false}},
    {"entityTypeName": "user", "id": "36e07e06-72c1-4b2c-b547-c5084413b88b", "displayName": "Test Display Name2", "recoveryAction": "restore",
     "deltaFromCurrent": {"@odata.type": "#microsoft.graph.user", "displayName": "Test Display Name1", "deletedDateTime": null},
     "currentState": {"@odata.type": "#microsoft.graph.user", "displayName": "Test Display Name2", "deletedDateTime": "2024-08-20T00:00:00Z"}},
    {"entityTypeName": "user", "id": "36e07e06-72c1-4b2c-b547-c5084413b88b", "displayName": "Test Display Name2", "recoveryAction": "softDelete",
     "deltaFromCurrent": {"@odata.type": "#microsoft.graph.user", "displayName": "Test Display Name1", "@removed": {"reason": "changed"}, "deletedDateTime": "2024-08-26T00:00:00Z"},
     "currentState": {"@odata.type": "#microsoft.graph.user", "displayName": "Test Display Name2", "deletedDateTime": null}},
    {"entityTypeName": "user", "id": "36e07e06-72c1-4b2c-b547-c5084413b88b", "displayName": "testUser", "recoveryAction": "softDelete",
     "deltaFromCurrent": {"@odata.type": "#microsoft.graph.user", "@removed": {"reason": "changed"}, "deletedDateTime": "2024-08-26T00:00:00Z"},
     "currentState": {"@odata.type": "#microsoft.graph.user", "deletedDateTime": null}},
    {"entityTypeName": "group", "id": "ef043007-ea2e-44ba-a8ff-59c1cfc08dac", "displayName": "Engineering Team", "recoveryAction": "update",
     "deltaFromCurrent": {
        "@odata.type": "#microsoft.graph.group", "displayName": "Management Team", "securityEnabled": true,
        "members@delta": [
          {"@odata.type": "user", "id": "632f6bb2-3ec8-4c1f-9073-0027a8c6859", "@removed": {"reason": "changed"}},
          {"@odata.type": "user", "id": "37de1ae3-408f-4702-8636-20824abda004"}],
        "owners@delta": [{"id": "34567890-3456-3456-3456-3456789012cd", "displayName": "John Miler", "userPrincipalName": "johnmiller@example.com"}]},
     "currentState": {"@odata.type": "#microsoft.graph.group", "displayName": "Engineering Team", "securityEnabled": false}},
    {"entityTypeName": "conditionalAccessPolicy", "id": "863f9620-8b90-4296-b8dc-6ff480da5c8b", "displayName": "Require MFA for Admins", "recoveryAction": "update",
     "deltaFromCurrent": {"@odata.type": "#microsoft.graph.conditionalAccessPolicy", "state": "enabled"},
     "currentState": {"@odata.type": "#microsoft.graph.conditionalAccessPolicy", "state": "disabled"}}
  ]
}`

// graphTestFailedChanges is [MGD]
// entrarecoveryservices-recoveryjob-getfailedchanges.md, example 2: "objectId"
// where example 1 has "id" (reference §1.6).
const graphTestFailedChanges = `{
  "@odata.context": "https://graph.microsoft.com/beta/$metadata#Collection(microsoft.graph.entraRecoveryServices.recoveryChangeObjectBase)",
  "@odata.count": 5,
  "value": [{
      "@odata.type": "#microsoft.graph.entraRecoveryServices.recoveryChangeObjectBase",
      "objectId": "9c4f2e1d-7a3b-4f8e-9c2d-3e4f5a6b7c8d",
      "entityTypeName": "servicePrincipal",
      "recoveryAction": "update",
      "deltaFromCurrent": {"appRoleAssignmentRequired": false},
      "currentState": {"appRoleAssignmentRequired": true},
      "failureMessage": "Update failed: Service principal is managed by another service."
  }]
}`

func TestDecodeChange(t *testing.T) {
	changes := graphTestPage(t, graphTestGetChanges)
	if len(changes) != 6 {
		t.Fatalf("%d changes", len(changes))
	}
	group := changes[4]
	wantMembers := []LinkDelta{
		{Type: "user", ID: "632f6bb2-3ec8-4c1f-9073-0027a8c6859", Removed: true},
		{Type: "user", ID: "37de1ae3-408f-4702-8636-20824abda004"},
	}
	if group.ID != "ef043007-ea2e-44ba-a8ff-59c1cfc08dac" || group.EntityType != "group" || group.Action != "update" || group.DisplayName != "Engineering Team" {
		t.Errorf("group change %+v", group)
	}
	if !reflect.DeepEqual(group.MembersDelta, wantMembers) {
		t.Errorf("members@delta %+v", group.MembersDelta)
	}
	if want := []LinkDelta{{ID: "34567890-3456-3456-3456-3456789012cd"}}; !reflect.DeepEqual(group.OwnersDelta, want) {
		t.Errorf("owners@delta %+v", group.OwnersDelta)
	}
	if !strings.Contains(string(group.DeltaFromCurrent), `"Management Team"`) || !strings.Contains(string(group.CurrentState), `"Engineering Team"`) {
		t.Errorf("states %s / %s", group.DeltaFromCurrent, group.CurrentState)
	}
	if !strings.Contains(string(group.Raw), `"entityTypeName"`) {
		t.Errorf("raw %s", group.Raw)
	}
	if changes[0].MembersDelta != nil || changes[2].Action != "softDelete" || changes[5].EntityType != "conditionalAccessPolicy" {
		t.Errorf("changes %+v", changes)
	}

	failed := graphTestPage(t, graphTestFailedChanges)
	if len(failed) != 1 || failed[0].ID != "9c4f2e1d-7a3b-4f8e-9c2d-3e4f5a6b7c8d" || failed[0].EntityType != "servicePrincipal" ||
		failed[0].FailureMessage != "Update failed: Service principal is managed by another service." {
		t.Errorf("failed change %+v", failed)
	}

	tests := []struct {
		name string
		raw  string
		want Change
	}{
		{"id wins over objectId", `{"id":"a","objectId":"b"}`, Change{ID: "a"}},
		{"links beside the delta", `{"id":"g","members@delta":[{"@odata.type":"#microsoft.graph.user","id":"u","@removed":{}}]}`,
			Change{ID: "g", MembersDelta: []LinkDelta{{Type: "user", ID: "u", Removed: true}}}},
		{"@removed null is not removed", `{"id":"g","deltaFromCurrent":{"members@delta":[{"id":"u","@removed":null}]}}`,
			Change{ID: "g", DeltaFromCurrent: json.RawMessage(`{"members@delta":[{"id":"u","@removed":null}]}`), MembersDelta: []LinkDelta{{ID: "u"}}}},
		{"null states", `{"id":"x","deltaFromCurrent":null,"currentState":null}`, Change{ID: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Change
			if err := json.Unmarshal([]byte(tt.raw), &got); err != nil {
				t.Fatal(err)
			}
			got.Raw = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	var bad Change
	if err := json.Unmarshal([]byte(`{"id":"g","deltaFromCurrent":{"members@delta":"nope"}}`), &bad); err == nil {
		t.Error("a malformed members@delta decoded")
	}
}

// TestChangeRoundTrip: a stored Change (the orchestrator keeps failed ones)
// reads back equal, whether it came from Graph or was built in code.
func TestChangeRoundTrip(t *testing.T) {
	from := graphTestPage(t, graphTestGetChanges)
	built := Change{ID: "g", DisplayName: "G", EntityType: "group", Action: "update", FailureMessage: "no",
		DeltaFromCurrent: json.RawMessage(`{"displayName":"G0"}`), CurrentState: json.RawMessage(`{"displayName":"G"}`),
		MembersDelta: []LinkDelta{{Type: "user", ID: "u1", Removed: true}, {ID: "u2"}}, OwnersDelta: []LinkDelta{{ID: "o"}}}
	for i, ch := range append(from, built) {
		b, err := json.Marshal(ch)
		if err != nil {
			t.Fatal(err)
		}
		var back Change
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		want := ch
		if i == len(from) { // built: compare what the fields carry
			back.Raw, back.DeltaFromCurrent = nil, nil
			want.DeltaFromCurrent = nil
		}
		if back, want := graphTestCompact(t, back), graphTestCompact(t, want); !reflect.DeepEqual(back, want) {
			t.Errorf("change %d\n got %+v\nwant %+v", i, back, want)
		}
	}
}

// graphTestCompact is ch with its JSON compacted, as strings, for
// comparisons and readable failures.
func graphTestCompact(t *testing.T, ch Change) map[string]any {
	t.Helper()
	compact := func(raw json.RawMessage) string {
		if raw == nil {
			return ""
		}
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	return map[string]any{"id": ch.ID, "displayName": ch.DisplayName, "type": ch.EntityType, "action": ch.Action,
		"failure": ch.FailureMessage, "delta": compact(ch.DeltaFromCurrent), "current": compact(ch.CurrentState),
		"members": ch.MembersDelta, "owners": ch.OwnersDelta, "raw": compact(ch.Raw)}
}

func TestSummarize(t *testing.T) {
	changes := graphTestPage(t, graphTestGetChanges)
	tests := []struct {
		firstN    int
		wantFirst int
	}{{0, 0}, {2, 2}, {10, 6}}
	for _, tt := range tests {
		s := Summarize(slices.Values(changes), tt.firstN)
		want := map[string]map[string]int{
			"user":                    {"update": 1, "restore": 1, "softDelete": 2},
			"group":                   {"update": 1},
			"conditionalAccessPolicy": {"update": 1},
		}
		if s.Total != 6 || !reflect.DeepEqual(s.ByTypeAction, want) || len(s.First) != tt.wantFirst {
			t.Errorf("Summarize(%d) = %+v", tt.firstN, s)
		}
		// One member removed since the snapshot (the recovery adds it
		// back), one added since (it removes it); owners are not counted.
		if s.LinksRemoved != 1 || s.LinksAdded != 1 {
			t.Errorf("links removed %d added %d", s.LinksRemoved, s.LinksAdded)
		}
		if tt.wantFirst > 0 && s.First[0].DisplayName != "JD" {
			t.Errorf("first %+v", s.First[0])
		}
	}
	// Summarizer.Add is a ready callback for Changes; an empty summary has
	// a map to range over.
	var z Summarizer
	if s := z.Summary(); s.Total != 0 || s.ByTypeAction == nil {
		t.Errorf("empty summary %+v", s)
	}
	var each func(Change) bool = (&Summarizer{FirstN: 1}).Add
	if !each(changes[0]) {
		t.Error("Add stopped paging")
	}
}

func TestClassifyGraphError(t *testing.T) {
	odata := func(status int, code string, headers map[string]string) error {
		e := odataerrors.NewODataError()
		e.ResponseStatusCode = status
		h := abstractions.NewResponseHeaders()
		for k, v := range headers {
			h.Add(k, v)
		}
		e.SetResponseHeaders(h)
		main := odataerrors.NewMainError()
		main.SetCode(&code)
		msg := "message for " + code
		main.SetMessage(&msg)
		e.SetErrorEscaped(main)
		return e
	}
	tests := []struct {
		name      string
		err       error
		on400     error
		kind      error // nil: no kind
		retry     bool
		after     time.Duration
		hasAfter  bool
		wantInMsg string
	}{
		{"409 another job", odata(409, "Conflict", nil), ErrInvalid, ErrJobRunning, false, 0, false, "409"},
		{"403 app-only", odata(403, "Authorization_RequestDenied", nil), ErrInvalid, ErrForbidden, false, 0, false, "Authorization_RequestDenied"},
		{"404 snapshot", odata(404, "NotFound", nil), ErrInvalid, ErrNotFound, false, 0, false, "404"},
		{"400 getChanges early", odata(400, "BadRequest", nil), ErrNotReady, ErrNotReady, false, 0, false, "400"},
		{"400 elsewhere", odata(400, "BadRequest", nil), ErrInvalid, ErrInvalid, false, 0, false, "400"},
		{"401", odata(401, "InvalidAuthenticationToken", nil), ErrInvalid, nil, false, 0, false, "401"},
		{"429 with Retry-After", odata(429, "TooManyRequests", map[string]string{"Retry-After": "17"}), ErrInvalid, nil, true, 17 * time.Second, true, "retry after 17s"},
		{"503 without", odata(503, "ServiceUnavailable", nil), ErrInvalid, nil, true, 0, false, "retry later"},
		{"no answer", errors.New("connection reset"), ErrInvalid, nil, true, 0, false, "unreachable"},
		{"api error 500", &abstractions.ApiError{ResponseStatusCode: 500, Message: "boom"}, ErrInvalid, nil, true, 0, false, "500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classifyGraphError(context.Background(), "an op", tt.err, tt.on400)
			var re *RetryError
			if errors.As(err, &re) != tt.retry {
				t.Fatalf("%v: retry error %v, want %v", err, re != nil, tt.retry)
			}
			if re != nil && (re.After != tt.after || re.HasAfter != tt.hasAfter) {
				t.Errorf("retry after %v (%v), want %v (%v)", re.After, re.HasAfter, tt.after, tt.hasAfter)
			}
			for _, k := range []error{ErrJobRunning, ErrForbidden, ErrNotFound, ErrNotReady, ErrInvalid} {
				if errors.Is(err, k) != (k == tt.kind) {
					t.Errorf("%v: errors.Is(%v) = %v", err, k, !(k == tt.kind))
				}
			}
			var ge *graphapi.Error
			if !errors.As(err, &ge) {
				t.Errorf("%v does not reach a graphapi.Error", err)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) || !strings.HasPrefix(err.Error(), "backup: an op: ") {
				t.Errorf("message %q, want %q in it", err, tt.wantInMsg)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := classifyGraphError(ctx, "an op", errors.New("request canceled"), ErrInvalid)
	var re *RetryError
	if !errors.Is(err, context.Canceled) || errors.As(err, &re) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestLocalRefusals: calls the docs say cannot succeed are refused before
// any request (the client's Graph does not listen).
func TestLocalRefusals(t *testing.T) {
	c := graphTestClient(t, VersionBeta)
	ctx := context.Background()
	none := func(Change) bool { t.Error("a change was handed over"); return true }
	preview := Job{ID: graphTestJob, SnapshotID: graphTestSnap, Kind: KindPreview}
	recovery := Job{ID: graphTestJob, SnapshotID: graphTestSnap, Kind: KindRecovery}
	withStatus := func(j Job, s JobStatus) Job { j.Status = s; return j }
	zero := 0
	doneNoFailures := withStatus(recovery, StatusSuccessful)
	doneNoFailures.TotalFailedChanges = &zero
	tests := []struct {
		name string
		call func() error
		want error // nil: no error and no request
	}{
		{"changes of a running preview", func() error { return c.Changes(ctx, withStatus(preview, StatusRunning), none) }, ErrNotReady},
		{"changes of an unknownFutureValue preview", func() error { return c.Changes(ctx, withStatus(preview, StatusUnknownFutureValue), none) }, ErrNotReady},
		{"changes of a failed preview", func() error { return c.Changes(ctx, withStatus(preview, StatusFailed), none) }, ErrNotReady},
		{"changes of a recovery job", func() error { return c.Changes(ctx, recovery, none) }, ErrInvalid},
		{"changes without a snapshot", func() error { return c.Changes(ctx, Job{ID: graphTestJob, Kind: KindPreview}, none) }, ErrInvalid},
		{"changes of a bad id", func() error { return c.Changes(ctx, Job{ID: "x", SnapshotID: graphTestSnap}, none) }, ErrInvalid},
		{"failed changes of a running job", func() error { return c.FailedChanges(ctx, withStatus(recovery, StatusRunning), none) }, ErrNotReady},
		{"failed changes of a preview", func() error { return c.FailedChanges(ctx, preview, none) }, ErrInvalid},
		{"failed changes, none failed", func() error { return c.FailedChanges(ctx, doneNoFailures, none) }, nil},
		{"cancel a bad id", func() error { return c.Cancel(ctx, "x") }, ErrInvalid},
		{"create without snapshot", func() error { _, err := c.CreatePreview(ctx, " ", nil); return err }, ErrInvalid},
		{"create with an empty filter", func() error { _, err := c.CreateRecovery(ctx, graphTestSnap, &Filter{}); return err }, ErrInvalid},
		{"create for an administrative unit", func() error {
			_, err := c.CreatePreview(ctx, graphTestSnap, &Filter{EntityTypes: []string{"administrativeUnit"}})
			return err
		}, ErrInvalid},
		{"get a job without id", func() error { _, err := c.Job(ctx, Job{}); return err }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var re *RetryError
			if errors.As(err, &re) {
				t.Fatalf("a request was sent: %v", err)
			}
			if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("%v, want %v", err, tt.want)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// End to end: through msgraph-sdk-go (graphapi's adapter) against graphsim's
// Entra Backup and Recovery on loopback, with a pinned clock.

const graphTestSeed = "../../testdata/graphsim/seed.json"

// Seed objects and identities (testdata/graphsim/seed.json).
const (
	graphTestAdmin    = "admin-token"     // delegated: IT Admin, Entra Backup Administrator, EntraBackup.ReadWrite.*
	graphTestApp      = "reinstate-token" // app-only: EntraBackup.Read.All
	graphTestReader   = "reader-token"    // app-only: no EntraBackup permission
	graphTestAdminID  = "3b1f7c2a-8d4e-4f6a-9c0b-5e7d1a2f3c4b"
	graphTestAdeleID  = "a1c3e5f7-2b4d-4c6e-8a0b-1d3f5a7c9e21"
	graphTestIsaiahID = "c3e5a7b9-4d6f-4e8a-8c2d-3f5b7d9f1a43"
	graphTestNestorID = "d4f6b8c0-5e7a-4f9b-9d3e-4a6c8e0a2b54" // synced from on-premises
	graphTestPrinters = "a7c9e1f3-8b0d-4c2e-8a6b-7d9f1b3d5e87" // sec-lab-printers: Isaiah is its member
	graphTestNewGroup = "0e0e0e0e-1111-4222-8333-444455556666"
)

// graphTestStart is graphsim with a pinned clock and its first snapshot an
// hour old.
func graphTestStart(t *testing.T, withIssuer bool, cfg graphsim.BackupConfig) (*simtest.Tenant, *simtest.Clock) {
	t.Helper()
	clock := simtest.NewClock(time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC))
	if cfg.FirstSnapshotAge == 0 {
		cfg.FirstSnapshotAge = time.Hour
	}
	start := simtest.Start
	if withIssuer {
		start = simtest.StartWithIssuer
	}
	return start(t, graphTestSeed, simtest.WithClock(clock), simtest.WithBackup(cfg)), clock
}

// graphTestClientFor is a Client calling tn with token.
func graphTestClientFor(t *testing.T, tn *simtest.Tenant, token string, version Version) *Client {
	t.Helper()
	g, err := graphapi.New(graphapi.Config{BaseURL: tn.URL, Auth: graphapi.AuthStatic, Token: token, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(g, version)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// graphTestScenario changes the tenant after the first snapshot: Adele
// soft-deleted, Isaiah's jobTitle changed and Isaiah removed from
// sec-lab-printers, a group created.
func graphTestScenario(t *testing.T, tn *simtest.Tenant) {
	t.Helper()
	tn.DeleteAs(t, graphTestAdmin, "users", graphTestAdeleID)
	if _, err := tn.Sim.UpdateObject("users", graphTestIsaiahID, json.RawMessage(`{"jobTitle":"Sales Director"}`)); err != nil {
		t.Fatal(err)
	}
	if err := tn.Sim.RemoveMember(graphTestPrinters, graphTestIsaiahID); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Sim.CreateObject("groups", json.RawMessage(`{"id":"`+graphTestNewGroup+`","displayName":"sec-new","groupTypes":[],
		"mailEnabled":false,"mailNickname":"sec-new","securityEnabled":true}`)); err != nil {
		t.Fatal(err)
	}
}

var graphTestVersions = []Version{VersionBeta, VersionV1}

func TestGraphSimSnapshots(t *testing.T) {
	for _, v := range graphTestVersions {
		t.Run(string(v), func(t *testing.T) {
			tn, clock := graphTestStart(t, false, graphsim.BackupConfig{})
			ctx := context.Background()
			clock.Advance(24 * time.Hour) // the next daily snapshot falls due
			clock.Advance(30 * time.Minute)
			now := tn.Snapshot()
			want := tn.Sim.Backups().Snapshots // oldest first
			if len(want) != 3 || want[2].ID != now.ID {
				t.Fatalf("graphsim snapshots %+v", want)
			}
			// Reads are open to the app's EntraBackup.Read.All (reference §1.8).
			got, err := graphTestClientFor(t, tn, graphTestApp, v).Snapshots(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d snapshots, want %d", len(got), len(want))
			}
			for i, s := range got {
				w := want[len(want)-1-i]
				if s.ID != w.ID || !s.CreatedAt.Equal(w.CreatedDateTime) || s.TotalChangedObjects != w.TotalChangedObjects {
					t.Errorf("snapshot %d: %+v, want %+v", i, s, w)
				}
			}
			if s, ok := LatestBefore(got, now.CreatedDateTime.Add(-time.Second)); !ok || s.ID != want[1].ID {
				t.Errorf("LatestBefore: %+v %v, want %s", s, ok, want[1].ID)
			}
			// No EntraBackup permission: 403.
			if _, err := graphTestClientFor(t, tn, graphTestReader, v).Snapshots(ctx); !errors.Is(err, ErrForbidden) {
				t.Errorf("reader: %v, want ErrForbidden", err)
			}
		})
	}
}

// TestGraphSimPreview follows a preview job from creation to its changes:
// app-only creation refused, delegated creation accepted, polled through
// every status to successful, a second job refused while it runs, changes
// read and summarized.
func TestGraphSimPreview(t *testing.T) {
	for _, v := range graphTestVersions {
		t.Run(string(v), func(t *testing.T) {
			tn, clock := graphTestStart(t, false, graphsim.BackupConfig{JobDuration: 8 * time.Minute})
			ctx := context.Background()
			admin := graphTestClientFor(t, tn, graphTestAdmin, v)
			snaps, err := admin.Snapshots(ctx)
			if err != nil || len(snaps) != 1 {
				t.Fatalf("snapshots %v, %v", snaps, err)
			}
			snap := snaps[0]
			graphTestScenario(t, tn)

			// App-only creation is documented as not supported (§1.8).
			_, err = graphTestClientFor(t, tn, graphTestApp, v).CreatePreview(ctx, snap.ID, nil)
			var ge *Error
			if !errors.Is(err, ErrForbidden) || !errors.As(err, &ge) || ge.Status != 403 {
				t.Fatalf("app-only create: %v, want ErrForbidden", err)
			}
			if _, err := admin.CreatePreview(ctx, "MjAyNi0wMS0wMVQwMDowMDowMFo=", nil); !errors.Is(err, ErrNotFound) {
				t.Fatalf("unknown snapshot: %v, want ErrNotFound", err)
			}

			job, err := admin.CreatePreview(ctx, snap.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !looksLikeGUID(job.ID) || job.SnapshotID != snap.ID || job.Kind != KindPreview || job.Filter != nil ||
				job.URL != tn.URL+"/"+string(v)+"/directory/recovery/snapshots/"+url.PathEscape(snap.ID)+"/recoveryPreviewJobs/"+job.ID {
				t.Fatalf("created %+v", job)
			}
			if sim := tn.Job(t, job.ID); sim.Type != "recoveryPreviewJob" || sim.SnapshotID != snap.ID {
				t.Fatalf("graphsim has %+v", sim)
			}

			// One job per tenant (§1.4, §1.9).
			if _, err := admin.CreateRecovery(ctx, snap.ID, nil); !errors.Is(err, ErrJobRunning) {
				t.Fatalf("second job: %v, want ErrJobRunning", err)
			}

			// Poll, as the orchestrator does, until terminal.
			var seen []JobStatus
			var withoutPrefer []JobStatus
			for range 20 {
				if job, err = admin.Job(ctx, job); err != nil {
					t.Fatal(err)
				}
				if len(seen) == 0 || seen[len(seen)-1] != job.Status {
					seen = append(seen, job.Status)
				}
				withoutPrefer = append(withoutPrefer, graphTestStatusWithoutPrefer(t, tn, job.URL))
				if job.Status.Terminal() {
					break
				}
				if job.Status == StatusRunning {
					// Before success, getChanges is refused: locally when the
					// Job says so, by Graph (400) when it does not.
					if err := admin.Changes(ctx, job, func(Change) bool { return true }); !errors.Is(err, ErrNotReady) {
						t.Errorf("changes while running: %v", err)
					}
					unknown := job
					unknown.Status = ""
					if err := admin.Changes(ctx, unknown, func(Change) bool { return true }); !errors.Is(err, ErrNotReady) || !errors.As(err, &ge) || ge.Status != 400 {
						t.Errorf("changes while running, asked of Graph: %v", err)
					}
				}
				clock.Advance(time.Minute)
			}
			wantSeen := []JobStatus{StatusInitialized, StatusLoadingData, StatusCalculating, StatusRunning, StatusSuccessful}
			if !slices.Equal(seen, wantSeen) {
				t.Errorf("statuses %v, want %v", seen, wantSeen)
			}
			// Without the Prefer header the two newer statuses arrive as
			// unknownFutureValue, which is not terminal (§1.4).
			if !slices.Contains(withoutPrefer, StatusUnknownFutureValue) || slices.Contains(withoutPrefer, StatusCalculating) {
				t.Errorf("statuses without Prefer: %v", withoutPrefer)
			}
			if job.CompletedAt == nil || job.TotalChangedObjects == nil || !job.TargetStateAt.Equal(snap.CreatedAt) || job.StartedAt.IsZero() {
				t.Errorf("finished job %+v", job)
			}

			z := Summarizer{FirstN: 2}
			byID := map[string]Change{}
			err = admin.Changes(ctx, job, func(ch Change) bool {
				byID[ch.ID] = ch
				return z.Add(ch)
			})
			if err != nil {
				t.Fatal(err)
			}
			for id, action := range map[string]string{graphTestAdeleID: "restore", graphTestIsaiahID: "update", graphTestPrinters: "update", graphTestNewGroup: "softDelete"} {
				if byID[id].Action != action {
					t.Errorf("change of %s: %+v, want %s", id, byID[id], action)
				}
			}
			printers := byID[graphTestPrinters]
			if !slices.Contains(printers.MembersDelta, LinkDelta{Type: "user", ID: graphTestIsaiahID}) && !slices.Contains(printers.MembersDelta, LinkDelta{ID: graphTestIsaiahID}) {
				t.Errorf("sec-lab-printers members@delta %+v, want Isaiah to be added back", printers.MembersDelta)
			}
			s := z.Summary()
			if s.Total != len(byID) || s.Total != *job.TotalChangedObjects || len(s.First) != 2 || s.LinksRemoved < 1 ||
				s.ByTypeAction["user"]["restore"] != 1 || s.ByTypeAction["group"]["softDelete"] != 1 {
				t.Errorf("summary %+v (job %d objects)", s, *job.TotalChangedObjects)
			}

			// The slot is free again.
			again, err := admin.CreatePreview(ctx, snap.ID, &Filter{EntityTypes: []string{"group"}})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(again.Filter), "recoveryJobEntityNamesFilter") {
				t.Errorf("filter %s", again.Filter)
			}
			tn.FinishJobs()
			if again, err = admin.Job(ctx, again); err != nil || again.Status != StatusSuccessful || !strings.Contains(string(again.Filter), `"group"`) {
				t.Fatalf("filtered job %+v, %v", again, err)
			}
			var types []string
			if err := admin.Changes(ctx, again, func(ch Change) bool { types = append(types, ch.EntityType); return true }); err != nil {
				t.Fatal(err)
			}
			if len(types) == 0 || slices.ContainsFunc(types, func(s string) bool { return s != "group" }) {
				t.Errorf("changes of a group-only preview: %v", types)
			}
		})
	}
}

// graphTestStatusWithoutPrefer GETs a job as a client that does not send
// "Prefer: include-unknown-enum-members" and decodes its status.
func graphTestStatusWithoutPrefer(t *testing.T, tn *simtest.Tenant, jobURL string) JobStatus {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, jobURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+graphTestAdmin)
	resp, err := tn.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	job, err := decodeJob(body)
	if err != nil {
		t.Fatalf("%d %s: %v", resp.StatusCode, body, err)
	}
	if job.Status == StatusUnknownFutureValue && job.Status.Terminal() {
		t.Error("unknownFutureValue is terminal")
	}
	return job.Status
}

// TestGraphSimChangesPaging reads more changes than one page holds ($top
// 999) and stops early when asked to.
func TestGraphSimChangesPaging(t *testing.T) {
	tn, _ := graphTestStart(t, false, graphsim.BackupConfig{})
	ctx := context.Background()
	const added = 1200
	for i := range added {
		u := fmt.Sprintf(`{"displayName":"Bulk %[1]d","userPrincipalName":"bulk%[1]d@contoso.com","accountEnabled":true}`, i)
		if _, err := tn.Sim.CreateObject("users", json.RawMessage(u)); err != nil {
			t.Fatal(err)
		}
	}
	admin := graphTestClientFor(t, tn, graphTestAdmin, VersionBeta)
	snaps, err := admin.Snapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	job, err := admin.CreatePreview(ctx, snaps[0].ID, &Filter{EntityTypes: []string{"user"}})
	if err != nil {
		t.Fatal(err)
	}
	tn.FinishJobs()
	if job, err = admin.Job(ctx, job); err != nil || job.Status != StatusSuccessful {
		t.Fatalf("job %+v, %v", job, err)
	}
	reads := tn.Reads(graphTestAdmin)
	seen := map[string]bool{}
	z := Summarizer{FirstN: 3}
	err = admin.Changes(ctx, job, func(ch Change) bool {
		if seen[ch.ID] {
			t.Errorf("change %s twice", ch.ID)
		}
		seen[ch.ID] = true
		return z.Add(ch)
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages := tn.Reads(graphTestAdmin) - reads; pages != 2 {
		t.Errorf("%d pages for %d changes, want 2 of at most 999", pages, len(seen))
	}
	if s := z.Summary(); s.Total != added || s.ByTypeAction["user"]["softDelete"] != added || len(s.First) != 3 {
		t.Errorf("summary: total %d, %v, first %d", s.Total, s.ByTypeAction, len(s.First))
	}
	// Stopping early reads one page only.
	reads = tn.Reads(graphTestAdmin)
	n := 0
	if err := admin.Changes(ctx, job, func(Change) bool { n++; return n < 5 }); err != nil || n != 5 {
		t.Errorf("early stop: %d changes, %v", n, err)
	}
	if pages := tn.Reads(graphTestAdmin) - reads; pages != 1 {
		t.Errorf("early stop read %d pages", pages)
	}
}

// TestGraphSimRecovery runs a recovery job scoped by ids: the deleted user
// comes back, the change to a synced user fails and is listed by
// FailedChanges; Jobs tells both kinds apart.
func TestGraphSimRecovery(t *testing.T) {
	for _, v := range graphTestVersions {
		t.Run(string(v), func(t *testing.T) {
			tn, clock := graphTestStart(t, false, graphsim.BackupConfig{})
			ctx := context.Background()
			admin := graphTestClientFor(t, tn, graphTestAdmin, v)
			snaps, err := admin.Snapshots(ctx)
			if err != nil {
				t.Fatal(err)
			}
			graphTestScenario(t, tn)
			if _, err := tn.Sim.UpdateObject("users", graphTestNestorID, json.RawMessage(`{"jobTitle":"Synced change"}`)); err != nil {
				t.Fatal(err)
			}
			scope := &Filter{ByType: map[string][]string{"user": {graphTestAdeleID, graphTestNestorID}}}

			preview, err := admin.CreatePreview(ctx, snaps[0].ID, scope)
			if err != nil {
				t.Fatal(err)
			}
			tn.FinishJobs()
			clock.Advance(time.Second)
			if _, err := graphTestClientFor(t, tn, graphTestApp, v).CreateRecovery(ctx, snaps[0].ID, scope); !errors.Is(err, ErrForbidden) {
				t.Fatalf("app-only recovery: %v, want ErrForbidden", err)
			}
			job, err := admin.CreateRecovery(ctx, snaps[0].ID, scope)
			if err != nil {
				t.Fatal(err)
			}
			if job.Kind != KindRecovery || !strings.Contains(job.URL, "/recoveryJobs/"+job.ID) {
				t.Fatalf("created %+v", job)
			}
			// FailedChanges before the end: refused locally, and by Graph.
			if job, err = admin.Job(ctx, job); err != nil || job.Status.Terminal() {
				t.Fatalf("job %+v, %v", job, err)
			}
			if err := admin.FailedChanges(ctx, job, func(Change) bool { return true }); !errors.Is(err, ErrNotReady) {
				t.Errorf("failed changes while running: %v", err)
			}
			for !job.Status.Terminal() {
				clock.Advance(time.Minute)
				if job, err = admin.Job(ctx, job); err != nil {
					t.Fatal(err)
				}
			}
			if job.Status != StatusSuccessful || job.TotalFailedChanges == nil || *job.TotalFailedChanges != 1 || job.TotalObjectsModified == nil {
				t.Fatalf("recovery job %+v", job)
			}
			if !tn.Live(t, graphTestAdmin, "users", graphTestAdeleID) {
				t.Error("Adele is not live after the recovery")
			}
			var failed []Change
			if err := admin.FailedChanges(ctx, job, func(ch Change) bool { failed = append(failed, ch); return true }); err != nil {
				t.Fatal(err)
			}
			if len(failed) != 1 || failed[0].ID != graphTestNestorID || failed[0].FailureMessage == "" || failed[0].Action != "update" {
				t.Errorf("failed changes %+v", failed)
			}

			jobs, err := admin.Jobs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]JobKind{}
			for _, j := range jobs {
				kinds[j.ID] = j.Kind
				if j.SnapshotID != "" || !strings.HasSuffix(j.URL, "/directory/recovery/jobs/"+j.ID) {
					t.Errorf("listed job %+v", j)
				}
			}
			if len(jobs) != 2 || kinds[preview.ID] != KindPreview || kinds[job.ID] != KindRecovery {
				t.Errorf("jobs %+v", jobs)
			}
			// A listed job reads through /directory/recovery/jobs/{id}.
			again, err := admin.Job(ctx, Job{ID: job.ID})
			if err != nil || again.Kind != KindRecovery || again.Status != StatusSuccessful {
				t.Errorf("job by id: %+v, %v", again, err)
			}
		})
	}
}

func TestGraphSimCancel(t *testing.T) {
	for _, v := range graphTestVersions {
		t.Run(string(v), func(t *testing.T) {
			tn, _ := graphTestStart(t, false, graphsim.BackupConfig{})
			ctx := context.Background()
			admin := graphTestClientFor(t, tn, graphTestAdmin, v)
			snaps, err := admin.Snapshots(ctx)
			if err != nil {
				t.Fatal(err)
			}
			job, err := admin.CreatePreview(ctx, snaps[0].ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := graphTestClientFor(t, tn, graphTestApp, v).Cancel(ctx, job.ID); !errors.Is(err, ErrForbidden) {
				t.Errorf("app-only cancel: %v, want ErrForbidden", err)
			}
			if err := admin.Cancel(ctx, "11111111-2222-4333-8444-555555555555"); !errors.Is(err, ErrNotFound) {
				t.Errorf("cancel an unknown job: %v, want ErrNotFound", err)
			}
			if err := admin.Cancel(ctx, job.ID); err != nil {
				t.Fatal(err)
			}
			if job, err = admin.Job(ctx, job); err != nil || job.Status != StatusAbandoned || !job.Status.Terminal() {
				t.Fatalf("cancelled job %+v, %v", job, err)
			}
			if err := admin.Changes(ctx, job, func(Change) bool { return true }); !errors.Is(err, ErrNotReady) {
				t.Errorf("changes of an abandoned preview: %v", err)
			}
			// The tenant's slot is free.
			if _, err := admin.CreatePreview(ctx, snaps[0].ID, nil); err != nil {
				t.Errorf("a job after the cancel: %v", err)
			}
		})
	}
}

// TestGraphSimFailedJob: a job that ends failed is terminal and has no
// changes to read.
func TestGraphSimFailedJob(t *testing.T) {
	tn, _ := graphTestStart(t, false, graphsim.BackupConfig{})
	ctx := context.Background()
	admin := graphTestClientFor(t, tn, graphTestAdmin, VersionBeta)
	snaps, err := admin.Snapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.Sim.SetFaults(graphsim.FaultConfig{FailNextBackupJob: true}); err != nil {
		t.Fatal(err)
	}
	job, err := admin.CreatePreview(ctx, snaps[0].ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	tn.FinishJobs()
	if job, err = admin.Job(ctx, job); err != nil || job.Status != StatusFailed || !job.Status.Terminal() {
		t.Fatalf("job %+v, %v", job, err)
	}
	job.Status = "" // as if unknown: Graph answers the documented 400
	if err := admin.Changes(ctx, job, func(Change) bool { return true }); !errors.Is(err, ErrNotReady) {
		t.Errorf("changes of a failed preview: %v, want ErrNotReady", err)
	}
}

// TestGraphSimTokens: with graphsim told that Microsoft opened job creation
// to apps, an app-only token with the write permission creates a preview;
// without the switch it is refused; a delegated token (what an on-behalf-of
// exchange yields) works either way.
func TestGraphSimTokens(t *testing.T) {
	const appID = "4e6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c2e" // Reinstate's app in the seed
	tests := []struct {
		name      string
		allowApps bool
		app       bool
		want      error
	}{
		{"app-only, documented", false, true, ErrForbidden},
		{"app-only, opened to apps", true, true, nil},
		{"delegated", false, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn, _ := graphTestStart(t, true, graphsim.BackupConfig{AllowAppWrites: tt.allowApps})
			ctx := context.Background()
			token := tn.GraphToken(t, graphTestAdminID, "EntraBackup.Read.All", "EntraBackup.ReadWrite.Preview")
			if tt.app {
				token = tn.AppGraphToken(t, appID, "EntraBackup.Read.All", "EntraBackup.ReadWrite.Preview")
			}
			c := graphTestClientFor(t, tn, token, VersionV1)
			snaps, err := c.Snapshots(ctx)
			if err != nil {
				t.Fatal(err)
			}
			job, err := c.CreatePreview(ctx, snaps[0].ID, nil)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("create: %v, want %v", err, tt.want)
				}
				if strings.Contains(err.Error(), token) {
					t.Error("the error shows the token")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tn.FinishJobs()
			if job, err = c.Job(ctx, job); err != nil || job.Status != StatusSuccessful {
				t.Fatalf("job %+v, %v", job, err)
			}
		})
	}
}

// TestGraphSimRetry: throttling and server faults come back as RetryError
// with Graph's Retry-After.
func TestGraphSimRetry(t *testing.T) {
	tn, _ := graphTestStart(t, false, graphsim.BackupConfig{})
	ctx := context.Background()
	c := graphTestClientFor(t, tn, graphTestAdmin, VersionBeta)
	tests := []struct {
		name   string
		faults graphsim.FaultConfig
		status int
		after  time.Duration // with HasAfter; 0: any
	}{
		{"429 storm", graphsim.FaultConfig{StormFor: graphsim.Duration(40 * time.Second)}, 429, 40 * time.Second},
		{"5xx", graphsim.FaultConfig{ErrorRate: 1}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tn.Sim.SetFaults(tt.faults); err != nil {
				t.Fatal(err)
			}
			defer tn.Sim.SetFaults(graphsim.FaultConfig{})
			_, err := c.Snapshots(ctx)
			var re *RetryError
			if !errors.As(err, &re) {
				t.Fatalf("%v, want a RetryError", err)
			}
			if tt.status != 0 && re.Err.Status != tt.status {
				t.Errorf("status %d, want %d", re.Err.Status, tt.status)
			}
			if tt.status == 0 && re.Err.Status < 500 {
				t.Errorf("status %d, want 5xx", re.Err.Status)
			}
			if tt.after > 0 && (!re.HasAfter || re.After != tt.after) {
				t.Errorf("retry after %v (%v), want %v", re.After, re.HasAfter, tt.after)
			}
			if errors.Is(err, ErrForbidden) || errors.Is(err, ErrInvalid) {
				t.Errorf("%v also matches a final kind", err)
			}
		})
	}
	if _, err := c.Snapshots(ctx); err != nil {
		t.Errorf("after the faults: %v", err)
	}
}
