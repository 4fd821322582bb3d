package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/idpsim"
)

// newGroupID is the group the backup scenario creates after the snapshot.
const newGroupID = "0d0d0d0d-1111-4222-8333-444455556666"

// The clock of newEnv starts at 2025-06-10T12:00:00Z; backup tests date the
// first snapshot an hour earlier.
const firstSnapshotTime = "2025-06-10T11:00:00Z"

var firstSnapshotID = base64.StdEncoding.EncodeToString([]byte(firstSnapshotTime))

func newBackupEnv(t *testing.T, mutate func(*Seed), opts Options) *testEnv {
	t.Helper()
	if opts.Backup.FirstSnapshotAge == 0 {
		opts.Backup.FirstSnapshotAge = time.Hour
	}
	return newEnv(t, mutate, opts)
}

// scenario changes the tenant after the first snapshot in every way a
// difference report distinguishes: Adele soft-deleted, Isaiah's jobTitle
// changed, a group added, Isaiah removed from sec-lab-printers, Megan
// permanently deleted, and the synced Nestor deleted by sync.
func (e *testEnv) scenario() {
	e.t.Helper()
	e.mustStatus(e.do("DELETE", "/v1.0/users/"+adeleID, adminTok, nil), 204)
	e.mustStatus(e.do("PATCH", "/_sim/objects/users/"+isaiahID, "", map[string]any{"jobTitle": "Sales Director"}), 200)
	e.mustStatus(e.do("POST", "/_sim/objects/groups", "", map[string]any{"id": newGroupID, "displayName": "sec-new", "groupTypes": []string{},
		"mailEnabled": false, "mailNickname": "sec-new", "securityEnabled": true}), 201)
	e.mustStatus(e.do("DELETE", "/_sim/objects/groups/"+printersID+"/members/"+isaiahID, "", nil), 204)
	e.mustStatus(e.do("DELETE", "/v1.0/users/"+meganID, adminTok, nil), 204)
	e.mustStatus(e.do("DELETE", "/v1.0/directory/deletedItems/"+meganID, adminTok, nil), 204)
	e.mustStatus(e.do("POST", "/_sim/external-delete/"+nestorID, "", nil), 200)
}

// createJob posts a job and returns its Location, failing unless the answer
// is 202 with an absolute Location and no body.
func (e *testEnv) createJob(token, version, kind, sid string, body any, opts ...reqOpt) string {
	e.t.Helper()
	r := e.mustStatus(e.do("POST", "/"+version+"/directory/recovery/snapshots/"+sid+"/"+kind, token, body, opts...), 202)
	loc := r.header.Get("Location")
	want := regexp.MustCompile(`^` + regexp.QuoteMeta(e.http.URL+"/"+version+"/directory/recovery/snapshots/"+sid+"/"+kind+"/") + `[0-9a-f-]{36}$`)
	if !want.MatchString(loc) {
		e.t.Fatalf("Location %q, want %s", loc, want)
	}
	if len(r.body) != 0 {
		e.t.Fatalf("202 with body %s", r.body)
	}
	return loc
}

func jobIDOf(loc string) string { return loc[strings.LastIndexByte(loc, '/')+1:] }

// allPages follows @odata.nextLink and returns every value.
func (e *testEnv) allPages(url, token string) (items []map[string]any, pages int) {
	e.t.Helper()
	for url != "" {
		r := e.mustStatus(e.do("GET", url, token, nil), 200)
		items = append(items, values(e.t, r)...)
		pages++
		url, _ = r.json(e.t)["@odata.nextLink"].(string)
	}
	return items, pages
}

func byID(items []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, it := range items {
		out[it["id"].(string)] = it
	}
	return out
}

func obj(t *testing.T, v any, what string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: not an object: %v", what, v)
	}
	return m
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestBackupSnapshots(t *testing.T) {
	e := newBackupEnv(t, nil, Options{})
	list := func(query string) []map[string]any {
		return values(t, e.mustStatus(e.do("GET", "/beta/directory/recovery/snapshots"+query, reinstateTok, nil), 200))
	}
	first := list("")
	if len(first) != 1 || first[0]["id"] != firstSnapshotID || first[0]["createdDateTime"] != firstSnapshotTime ||
		first[0]["@odata.type"] != "#microsoft.graph.entraRecoveryServices.snapshot" {
		t.Fatalf("snapshots at start: %v", first)
	}
	// The first snapshot holds every backed-up live object (users, groups,
	// apps, service principals, CA policy, named location; not the AU).
	if n := first[0]["totalChangedObjects"].(float64); n != 5+5+2+3+1+1 {
		t.Errorf("totalChangedObjects %v, want 17", n)
	}

	// A day later one more; then six more days: the newest five remain.
	e.clock.Advance(24 * time.Hour)
	if got := list(""); len(got) != 2 || got[1]["createdDateTime"] != "2025-06-11T11:00:00Z" || got[1]["totalChangedObjects"].(float64) != 0 {
		t.Fatalf("after a day: %v", got)
	}
	e.mustStatus(e.do("PATCH", "/_sim/objects/users/"+adeleID, "", map[string]any{"jobTitle": "Retail Director"}), 200)
	e.clock.Advance(6 * 24 * time.Hour)
	all := list("")
	if len(all) != 5 {
		t.Fatalf("retention: %d snapshots, want 5", len(all))
	}
	for i, sn := range all {
		raw, err := base64.StdEncoding.DecodeString(sn["id"].(string))
		if err != nil || string(raw) != sn["createdDateTime"] {
			t.Errorf("snapshot %d: id %v decodes to %q, createdDateTime %v", i, sn["id"], raw, sn["createdDateTime"])
		}
	}
	if all[0]["createdDateTime"] != "2025-06-13T11:00:00Z" || all[4]["createdDateTime"] != "2025-06-17T11:00:00Z" {
		t.Errorf("retained %v .. %v, want 06-13 .. 06-17", all[0]["createdDateTime"], all[4]["createdDateTime"])
	}
	if all[0]["totalChangedObjects"].(float64) != 1 {
		t.Errorf("the snapshot after Adele's change counts %v changes, want 1", all[0]["totalChangedObjects"])
	}

	desc := list("?$orderby=createdDateTime%20desc")
	if desc[0]["createdDateTime"] != "2025-06-17T11:00:00Z" {
		t.Errorf("$orderby desc starts at %v", desc[0]["createdDateTime"])
	}
	items, pages := e.allPages("/v1.0/directory/recovery/snapshots?$top=2", reinstateTok)
	if len(items) != 5 || pages != 3 {
		t.Errorf("$top=2: %d items in %d pages, want 5 in 3", len(items), pages)
	}
	e.mustStatus(e.do("GET", "/v1.0/directory/recovery/snapshots?$top=1000", reinstateTok, nil), 400)
	e.mustStatus(e.do("GET", "/v1.0/directory/recovery/snapshots?$orderby=totalChangedObjects", reinstateTok, nil), 400)

	// POST /_sim/backup/snapshot takes one now.
	var taken Snapshot
	r := e.mustStatus(e.do("POST", "/_sim/backup/snapshot", "", nil), 200)
	if err := json.Unmarshal(r.body, &taken); err != nil || !taken.CreatedDateTime.Equal(e.clock.Now()) {
		t.Fatalf("snapshot now: %s (%v)", r.body, err)
	}
	got := e.mustStatus(e.do("GET", "/v1.0/directory/recovery/snapshots/"+taken.ID, reinstateTok, nil), 200).json(t)
	if got["createdDateTime"] != "2025-06-17T12:00:00Z" || got["id"] != taken.ID {
		t.Errorf("GET snapshot: %v", got)
	}
	if got := e.mustStatus(e.do("GET", "/v1.0/directory/recovery/snapshots('"+taken.ID+"')", reinstateTok, nil), 200).json(t); got["id"] != taken.ID {
		t.Errorf("GET snapshots('id'): %v", got)
	}

	for _, bad := range []string{firstSnapshotID /* expired */, "bm90LWEtdGltZQ==", "x"} {
		r := e.mustStatus(e.do("GET", "/v1.0/directory/recovery/snapshots/"+bad, reinstateTok, nil), 404)
		if r.errMessage(t) != "This isn't a valid timestamp for recovery. The provided timestamp should be in the list of available backups." {
			t.Errorf("%s: %s", bad, r.body)
		}
	}
}

func TestBackupSnapshotIntervalIsScaled(t *testing.T) {
	e := newBackupEnv(t, nil, Options{TimeScale: 24, Backup: BackupConfig{FirstSnapshotAge: time.Second}})
	e.clock.Advance(59 * time.Minute)
	if n := len(e.srv.Backups().Snapshots); n != 1 {
		t.Fatalf("%d snapshots before the scaled hour, want 1", n)
	}
	e.clock.Advance(time.Minute)
	if n := len(e.srv.Backups().Snapshots); n != 2 {
		t.Fatalf("%d snapshots after 24h/24, want 2", n)
	}
}

// TestPreviewJobLifecycle follows a preview job through its phases, with and
// without "Prefer: include-unknown-enum-members".
func TestPreviewJobLifecycle(t *testing.T) {
	tests := []struct {
		name   string
		prefer bool
		want   []string // status at 0, 2, 4, 6, 8 minutes
	}{
		{"without Prefer", false, []string{"initialized", "unknownFutureValue", "unknownFutureValue", "running", "successful"}},
		{"with Prefer", true, []string{"initialized", "loadingData", "calculating", "running", "successful"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newBackupEnv(t, nil, Options{})
			var opts []reqOpt
			if tt.prefer {
				opts = append(opts, withHeader("Prefer", "include-unknown-enum-members"))
			}
			loc := e.createJob(adminTok, "beta", "recoveryPreviewJobs", firstSnapshotID, nil)
			start := e.clock.Now()
			for i, want := range tt.want {
				job := e.mustStatus(e.do("GET", loc, adminTok, nil, opts...), 200).json(t)
				if job["status"] != want {
					t.Fatalf("minute %d: status %v, want %s", 2*i, job["status"], want)
				}
				if job["@odata.type"] != "#microsoft.graph.entraRecoveryServices.recoveryPreviewJob" || job["id"] != jobIDOf(loc) ||
					job["targetStateDateTime"] != firstSnapshotTime || job["jobStartDateTime"] != formatGraphTime(start) ||
					job["filteringCriteria"] != nil {
					t.Fatalf("job %v", job)
				}
				if _, has := job["totalObjectsModified"]; has {
					t.Fatalf("a preview job has recoveryJob totals: %v", job)
				}
				terminal := want == "successful"
				if (job["jobCompletionDateTime"] != nil) != terminal || (job["totalChangedObjectsCalculated"] != nil) != terminal || (job["totalChangedLinksCalculated"] != nil) != terminal {
					t.Fatalf("minute %d: completion/totals set too early or too late: %v", 2*i, job)
				}
				if !terminal {
					r := e.mustStatus(e.do("GET", loc+"/getChanges", adminTok, nil), 400)
					if r.errMessage(t) != "Job with identifier "+jobIDOf(loc)+" must have completed successfully prior to enumerating changes." {
						t.Fatalf("getChanges early: %s", r.body)
					}
				}
				e.clock.Advance(2 * time.Minute)
			}
			e.mustStatus(e.do("GET", loc+"/getChanges", adminTok, nil), 200)
		})
	}
}

// TestGetChanges lists what a preview job found after the scenario, paged,
// in full and through each kind of filter.
func TestGetChanges(t *testing.T) {
	e := newBackupEnv(t, nil, Options{})
	e.scenario()
	loc := e.createJob(adminTok, "beta", "recoveryPreviewJobs", firstSnapshotID, nil)
	e.clock.Advance(8 * time.Minute)
	job := e.mustStatus(e.do("GET", loc, adminTok, nil), 200).json(t)
	items, pages := e.allPages(loc+"/getChanges?$top=2", adminTok)
	if len(items) != 6 || pages != 3 {
		t.Fatalf("%d changes in %d pages, want 6 in 3: %v", len(items), pages, items)
	}
	if job["totalChangedObjectsCalculated"].(float64) != 6 || job["totalChangedLinksCalculated"].(float64) != 1 {
		t.Errorf("totals %v / %v, want 6 / 1", job["totalChangedObjectsCalculated"], job["totalChangedLinksCalculated"])
	}
	skipped := values(t, e.mustStatus(e.do("GET", loc+"/getChanges?$skip=5", adminTok, nil), 200))
	if len(skipped) != 1 || skipped[0]["id"] != items[5]["id"] {
		t.Errorf("$skip=5: %v", skipped)
	}
	ch := byID(items)

	adele := ch[adeleID]
	if adele["recoveryAction"] != "restore" || adele["entityTypeName"] != "user" || adele["displayName"] != "Adele Vance" {
		t.Errorf("Adele: %v", adele)
	}
	delta, cur := obj(t, adele["deltaFromCurrent"], "delta"), obj(t, adele["currentState"], "current")
	if got := keys(delta); !slices.Equal(got, []string{"@odata.type", "deletedDateTime"}) || delta["deletedDateTime"] != nil || delta["@odata.type"] != "#microsoft.graph.user" {
		t.Errorf("Adele delta %v", delta)
	}
	if cur["deletedDateTime"] != "2025-06-10T12:00:00Z" {
		t.Errorf("Adele currentState %v", cur)
	}

	isaiah := ch[isaiahID]
	delta, cur = obj(t, isaiah["deltaFromCurrent"], "delta"), obj(t, isaiah["currentState"], "current")
	if isaiah["recoveryAction"] != "update" || !slices.Equal(keys(delta), []string{"@odata.type", "jobTitle"}) ||
		delta["jobTitle"] != "Sales Representative" || cur["jobTitle"] != "Sales Director" {
		t.Errorf("Isaiah: %v", isaiah)
	}

	added := ch[newGroupID]
	delta = obj(t, added["deltaFromCurrent"], "delta")
	removed := obj(t, delta["@removed"], "@removed")
	if added["recoveryAction"] != "softDelete" || added["entityTypeName"] != "group" || removed["reason"] != "changed" ||
		delta["deletedDateTime"] != "2025-06-10T12:08:00Z" || obj(t, added["currentState"], "current")["deletedDateTime"] != nil {
		t.Errorf("added group: %v", added)
	}

	printers := ch[printersID]
	delta = obj(t, printers["deltaFromCurrent"], "delta")
	links, _ := delta["members@delta"].([]any)
	if printers["recoveryAction"] != "update" || len(links) != 1 {
		t.Fatalf("printers: %v", printers)
	}
	link := obj(t, links[0], "link")
	if link["id"] != isaiahID || link["@odata.type"] != "user" || link["@removed"] != nil {
		t.Errorf("member link to add back: %v", link)
	}

	megan := ch[meganID]
	if megan["recoveryAction"] != "restore" || megan["currentState"] != nil || obj(t, megan["deltaFromCurrent"], "delta")["userPrincipalName"] != "megan.bowen@contoso.com" {
		t.Errorf("hard-deleted Megan: %v", megan)
	}
	if nestor := ch[nestorID]; nestor["recoveryAction"] != "restore" {
		t.Errorf("synced Nestor appears in the diff: %v", nestor)
	}
	// Order: by type (users, then groups), then id.
	var order []string
	for _, it := range items {
		order = append(order, it["id"].(string))
	}
	if want := []string{adeleID, meganID, isaiahID, nestorID, newGroupID, printersID}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	// $select keeps only the named fields.
	sel := values(t, e.mustStatus(e.do("GET", loc+"/getChanges?$select=id,recoveryAction&$top=1", adminTok, nil), 200))
	if !slices.Equal(keys(sel[0]), []string{"id", "recoveryAction"}) {
		t.Errorf("$select: %v", sel[0])
	}
}

func TestPreviewFilters(t *testing.T) {
	namesFilter := func(types ...string) map[string]any {
		return map[string]any{"filteringCriteria": map[string]any{"@odata.type": namesFilterType, "entityTypes": types}}
	}
	idsFilter := func(values ...map[string]any) map[string]any {
		return map[string]any{"filteringCriteria": map[string]any{"@odata.type": nameAndIDsFilterTy, "filterValues": values}}
	}
	tests := []struct {
		name   string
		body   any
		prefer bool
		status int
		want   []string // change ids
	}{
		{name: "no body: everything", body: nil, status: 202, want: []string{adeleID, meganID, isaiahID, nestorID, newGroupID, printersID}},
		{name: "entity types: group", body: namesFilter("group"), status: 202, want: []string{newGroupID, printersID}},
		{name: "entity types: CA policy only", body: namesFilter("conditionalAccessPolicy"), status: 202, want: nil},
		{name: "ids: one user", body: idsFilter(map[string]any{"entityType": "user", "entityIds": []string{adeleID}}), status: 202, want: []string{adeleID}},
		{name: "ids: a user and a group", body: idsFilter(map[string]any{"entityType": "user", "entityIds": []string{isaiahID}}, map[string]any{"entityType": "group", "entityIds": []string{printersID, falconID}}),
			status: 202, want: []string{isaiahID, printersID}},
		{name: "ids: repeated entity type", body: idsFilter(map[string]any{"entityType": "user", "entityIds": []string{adeleID}}, map[string]any{"entityType": "user", "entityIds": []string{isaiahID}}), status: 400},
		{name: "unknown resourceTypeName", body: namesFilter("administrativeUnit"), status: 400},
		{name: "member after unknownFutureValue without Prefer", body: namesFilter("appRoleAssignment"), status: 400},
		{name: "member after unknownFutureValue with Prefer", body: namesFilter("appRoleAssignment"), prefer: true, status: 202, want: nil},
		{name: "unknown filter type", body: map[string]any{"filteringCriteria": map[string]any{"@odata.type": "#microsoft.graph.entraRecoveryServices.recoveryJobFilteringCriteriaBase"}}, status: 400},
		{name: "unknown body property", body: map[string]any{"filter": nil}, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newBackupEnv(t, nil, Options{})
			e.scenario()
			var opts []reqOpt
			if tt.prefer {
				opts = append(opts, withHeader("Prefer", "include-unknown-enum-members"))
			}
			if tt.status != 202 {
				r := e.mustStatus(e.do("POST", "/beta/directory/recovery/snapshots/"+firstSnapshotID+"/recoveryPreviewJobs", adminTok, tt.body, opts...), tt.status)
				if r.errCode(t) != "BadRequest" {
					t.Errorf("code %s", r.errCode(t))
				}
				if len(e.srv.Backups().Jobs) != 0 {
					t.Errorf("a refused create made a job")
				}
				return
			}
			loc := e.createJob(adminTok, "beta", "recoveryPreviewJobs", firstSnapshotID, tt.body, opts...)
			e.clock.Advance(8 * time.Minute)
			job := e.mustStatus(e.do("GET", loc, adminTok, nil), 200).json(t)
			if tt.body != nil {
				fc := obj(t, job["filteringCriteria"], "filteringCriteria")
				if fc["@odata.type"] != obj(t, tt.body.(map[string]any)["filteringCriteria"], "body")["@odata.type"] {
					t.Errorf("filteringCriteria echoed as %v", fc)
				}
			}
			var got []string
			for _, it := range values(t, e.mustStatus(e.do("GET", loc+"/getChanges", adminTok, nil), 200)) {
				got = append(got, it["id"].(string))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("changes %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRecoveryJobApplies runs a recovery job after the scenario: the
// deleted user is restored, the property reverted, the added group
// soft-deleted, the member back; the hard-deleted and the synced users are
// failed changes.
func TestRecoveryJobApplies(t *testing.T) {
	e := newBackupEnv(t, nil, Options{})
	e.scenario()
	auditsBefore := len(e.srv.AuditRecords())
	loc := e.createJob(adminTok, "beta", "recoveryJobs", firstSnapshotID, nil)
	e.clock.Advance(7 * time.Minute)
	r := e.mustStatus(e.do("GET", loc+"/getFailedChanges", adminTok, nil), 400)
	if !strings.Contains(r.errMessage(t), "must have completed") {
		t.Errorf("getFailedChanges while running: %s", r.body)
	}
	running := e.mustStatus(e.do("GET", loc, adminTok, nil), 200).json(t)
	if running["status"] != "running" || running["totalObjectsModified"] != nil || running["totalFailedChanges"] != nil {
		t.Fatalf("running job %v", running)
	}
	e.mustStatus(e.do("GET", "/v1.0/users/"+adeleID, adminTok, nil), 404) // nothing applied yet
	e.clock.Advance(time.Minute)

	job := e.mustStatus(e.do("GET", loc, adminTok, nil), 200).json(t)
	if job["status"] != "successful" || job["@odata.type"] != "#microsoft.graph.entraRecoveryServices.recoveryJob" ||
		job["totalObjectsModified"].(float64) != 4 || job["totalLinksModified"].(float64) != 1 || job["totalFailedChanges"].(float64) != 2 ||
		job["jobCompletionDateTime"] != "2025-06-10T12:08:00Z" {
		t.Fatalf("job %v", job)
	}
	adele := e.mustStatus(e.do("GET", "/v1.0/users/"+adeleID, adminTok, nil), 200).json(t)
	if adele["userPrincipalName"] != "adele.vance@contoso.com" || adele["deletedDateTime"] != nil {
		t.Errorf("Adele restored as %v", adele)
	}
	if isaiah := e.mustStatus(e.do("GET", "/v1.0/users/"+isaiahID, adminTok, nil), 200).json(t); isaiah["jobTitle"] != "Sales Representative" {
		t.Errorf("Isaiah's jobTitle is %v, want it reverted", isaiah["jobTitle"])
	}
	e.mustStatus(e.do("GET", "/v1.0/groups/"+newGroupID, adminTok, nil), 404)
	e.mustStatus(e.do("GET", "/v1.0/directory/deletedItems/"+newGroupID, adminTok, nil), 200)
	members, err := e.srv.Members(printersID)
	if err != nil || !slices.Contains(members, isaiahID) {
		t.Errorf("printers members %v (%v), want Isaiah back", members, err)
	}
	e.mustStatus(e.do("GET", "/v1.0/directory/deletedItems/"+nestorID, adminTok, nil), 200) // synced: left alone

	failed, _ := e.allPages(loc+"/getFailedChanges", adminTok)
	f := byID(failed)
	if len(failed) != 2 || f[meganID] == nil || f[nestorID] == nil {
		t.Fatalf("failed changes %v", failed)
	}
	if msg, _ := f[meganID]["failureMessage"].(string); !strings.HasPrefix(msg, "Restore failed: ") || !strings.Contains(msg, "permanently deleted") {
		t.Errorf("Megan: %q", msg)
	}
	if msg, _ := f[nestorID]["failureMessage"].(string); !strings.Contains(msg, "on-premises") {
		t.Errorf("Nestor: %q", msg)
	}
	if f[meganID]["recoveryAction"] != "restore" || f[meganID]["entityTypeName"] != "user" {
		t.Errorf("failed change shape %v", f[meganID])
	}

	var activities []string
	for _, raw := range e.srv.AuditRecords()[auditsBefore:] {
		var rec directoryAudit
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		activities = append(activities, rec.ActivityDisplayName+" "+rec.TargetResources[0].ID)
		if rec.InitiatedBy.User == nil || rec.InitiatedBy.User.ID != adminID {
			t.Errorf("%s initiated by %+v, want the job's creator", rec.ActivityDisplayName, rec.InitiatedBy)
		}
	}
	for _, want := range []string{"Restore user " + adeleID, "Update user " + isaiahID, "Add member to group " + printersID, "Delete group " + newGroupID} {
		if !slices.Contains(activities, want) {
			t.Errorf("no audit record %q in %v", want, activities)
		}
	}

	// A preview now finds only what recovery could not do.
	loc = e.createJob(adminTok, "beta", "recoveryPreviewJobs", firstSnapshotID, nil)
	e.clock.Advance(8 * time.Minute)
	var left []string
	for _, it := range values(t, e.mustStatus(e.do("GET", loc+"/getChanges", adminTok, nil), 200)) {
		left = append(left, it["id"].(string))
	}
	if !slices.Equal(left, []string{meganID, nestorID}) {
		t.Errorf("after recovery the diff is %v, want Megan and Nestor only", left)
	}
}

func TestOneJobAtATime(t *testing.T) {
	tests := []struct{ first, second string }{
		{"recoveryPreviewJobs", "recoveryPreviewJobs"},
		{"recoveryPreviewJobs", "recoveryJobs"},
		{"recoveryJobs", "recoveryPreviewJobs"},
	}
	for _, tt := range tests {
		t.Run(tt.first+" then "+tt.second, func(t *testing.T) {
			e := newBackupEnv(t, nil, Options{})
			e.createJob(adminTok, "beta", tt.first, firstSnapshotID, nil)
			e.clock.Advance(7 * time.Minute)
			r := e.mustStatus(e.do("POST", "/beta/directory/recovery/snapshots/"+firstSnapshotID+"/"+tt.second, adminTok, nil), 409)
			if r.errMessage(t) != "A recovery job is currently in progress. Wait for it to complete before initiating a new job." {
				t.Errorf("409: %s", r.body)
			}
			e.clock.Advance(time.Minute)
			e.createJob(adminTok, "beta", tt.second, firstSnapshotID, nil)
		})
	}
}

func TestCancelJob(t *testing.T) {
	for _, version := range []string{"beta", "v1.0"} {
		t.Run(version, func(t *testing.T) {
			e := newBackupEnv(t, nil, Options{})
			e.scenario()
			loc := e.createJob(adminTok, version, "recoveryJobs", firstSnapshotID, nil)
			id := jobIDOf(loc)
			cancel := "/" + version + "/directory/recovery/jobs/" + id + "/cancel"
			if version == "v1.0" {
				cancel = "/v1.0/directory/recovery/jobs/" + id + "/microsoft.graph.entraRecoveryServices.cancel"
			}
			e.clock.Advance(3 * time.Minute)
			r := e.mustStatus(e.do("POST", cancel, adminTok, nil), 202)
			if want := e.http.URL + "/" + version + "/directory/recovery/jobs/" + id; r.header.Get("Location") != want {
				t.Fatalf("Location %q, want %q", r.header.Get("Location"), want)
			}
			job := e.mustStatus(e.do("GET", r.header.Get("Location"), adminTok, nil), 200).json(t)
			if job["status"] != "abandoned" || job["jobCompletionDateTime"] != "2025-06-10T12:03:00Z" {
				t.Fatalf("cancelled job %v", job)
			}
			e.clock.Advance(10 * time.Minute)
			e.mustStatus(e.do("GET", "/v1.0/users/"+adeleID, adminTok, nil), 404) // nothing recovered
			e.mustStatus(e.do("POST", cancel, adminTok, nil), 400)                // terminal
			e.mustStatus(e.do("POST", strings.Replace(cancel, id, "00000000-0000-4000-8000-000000000000", 1), adminTok, nil), 404)
			e.createJob(adminTok, version, "recoveryPreviewJobs", firstSnapshotID, nil) // no 409 after abandonment
		})
	}
}

func TestFailNextBackupJob(t *testing.T) {
	e := newBackupEnv(t, nil, Options{})
	e.scenario()
	e.mustStatus(e.do("POST", "/_sim/faults", "", map[string]any{"failNextBackupJob": true}), 200)
	loc := e.createJob(adminTok, "beta", "recoveryJobs", firstSnapshotID, nil)
	if f := e.mustStatus(e.do("GET", "/_sim/faults", "", nil), 200).json(t); f["failNextBackupJob"] != nil {
		t.Errorf("the switch was not consumed: %v", f)
	}
	e.clock.Advance(8 * time.Minute)
	job := e.mustStatus(e.do("GET", loc, adminTok, nil), 200).json(t)
	if job["status"] != "failed" || job["jobCompletionDateTime"] == nil || job["totalObjectsModified"] != nil {
		t.Fatalf("job %v", job)
	}
	e.mustStatus(e.do("GET", "/v1.0/users/"+adeleID, adminTok, nil), 404) // nothing applied
	loc = e.createJob(adminTok, "beta", "recoveryPreviewJobs", firstSnapshotID, nil)
	e.clock.Advance(8 * time.Minute)
	e.mustStatus(e.do("GET", loc+"/getChanges", adminTok, nil), 200) // the next job succeeds
}

func TestListAllJobs(t *testing.T) {
	e := newBackupEnv(t, nil, Options{})
	preview := jobIDOf(e.createJob(adminTok, "beta", "recoveryPreviewJobs", firstSnapshotID, nil))
	e.clock.Advance(8 * time.Minute)
	recovery := jobIDOf(e.createJob(adminTok, "beta", "recoveryJobs", firstSnapshotID, nil))
	all, pages := e.allPages("/beta/directory/recovery/jobs?$top=1", reinstateTok)
	if len(all) != 2 || pages != 2 {
		t.Fatalf("%d jobs in %d pages", len(all), pages)
	}
	types := map[string]string{}
	for _, j := range all {
		types[j["id"].(string)] = j["@odata.type"].(string)
	}
	if types[preview] != "#microsoft.graph.entraRecoveryServices.recoveryPreviewJob" || types[recovery] != "#microsoft.graph.entraRecoveryServices.recoveryJob" {
		t.Errorf("types %v", types)
	}
	if got := values(t, e.mustStatus(e.do("GET", "/beta/directory/recovery/jobs?$filter=status%20eq%20'successful'", reinstateTok, nil), 200)); len(got) != 1 || got[0]["id"] != preview {
		t.Errorf("$filter status: %v", got)
	}
	if got := values(t, e.mustStatus(e.do("GET", "/beta/directory/recovery/jobs?$orderby=jobStartDateTime%20desc", reinstateTok, nil), 200)); got[0]["id"] != recovery {
		t.Errorf("$orderby desc: %v", got)
	}
	if got := values(t, e.mustStatus(e.do("GET", "/beta/directory/recovery/snapshots/"+firstSnapshotID+"/recoveryJobs", reinstateTok, nil), 200)); len(got) != 1 || got[0]["id"] != recovery {
		t.Errorf("recovery jobs of the snapshot: %v", got)
	}
	if got := e.mustStatus(e.do("GET", "/beta/directory/recovery/jobs/"+recovery, reinstateTok, nil), 200).json(t); got["id"] != recovery {
		t.Errorf("jobs/{id}: %v", got)
	}
	// A preview job is not found as a recovery job, nor an unknown id.
	e.mustStatus(e.do("GET", "/beta/directory/recovery/snapshots/"+firstSnapshotID+"/recoveryJobs/"+preview, reinstateTok, nil), 404)
	e.mustStatus(e.do("GET", "/beta/directory/recovery/jobs/00000000-0000-4000-8000-000000000000", reinstateTok, nil), 404)
	// Finished jobs are kept seven days.
	e.clock.Advance(7*24*time.Hour + time.Second)
	if got := values(t, e.mustStatus(e.do("GET", "/beta/directory/recovery/jobs", reinstateTok, nil), 200)); len(got) != 1 || got[0]["id"] != recovery {
		t.Errorf("after seven days: %v", got)
	}
}

// TestRecoveryFunctionNames: v1.0 takes the namespace-qualified names; beta
// the bare ones, and the qualified ones too.
func TestRecoveryFunctionNames(t *testing.T) {
	e := newBackupEnv(t, nil, Options{})
	pv := "/directory/recovery/snapshots/" + firstSnapshotID + "/recoveryPreviewJobs/"
	id := jobIDOf(e.createJob(adminTok, "v1.0", "recoveryPreviewJobs", firstSnapshotID, nil))
	e.clock.Advance(8 * time.Minute)
	tests := []struct {
		path   string
		status int
	}{
		{"/v1.0" + pv + id + "/microsoft.graph.entraRecoveryServices.getChanges", 200},
		{"/v1.0" + pv + id + "/microsoft.graph.entraRecoveryServices.getChanges()", 200},
		{"/v1.0" + pv + id + "/getChanges", 400},
		{"/beta" + pv + id + "/getChanges", 200},
		{"/beta" + pv + id + "/microsoft.graph.entraRecoveryServices.getChanges", 200},
		{"/beta" + pv + id + "/getFailedChanges", 400},
	}
	for _, tt := range tests {
		r := e.mustStatus(e.do("GET", tt.path, adminTok, nil), tt.status)
		if tt.status == 400 && !strings.HasPrefix(r.errMessage(t), "Resource not found for the segment") {
			t.Errorf("%s: %s", tt.path, r.body)
		}
	}
	rid := jobIDOf(e.createJob(adminTok, "v1.0", "recoveryJobs", firstSnapshotID, nil))
	e.clock.Advance(8 * time.Minute)
	rj := "/directory/recovery/snapshots/" + firstSnapshotID + "/recoveryJobs/" + rid
	e.mustStatus(e.do("GET", "/v1.0"+rj+"/microsoft.graph.entraRecoveryServices.getFailedChanges", adminTok, nil), 200)
	e.mustStatus(e.do("GET", "/v1.0"+rj+"/getFailedChanges", adminTok, nil), 400)
	e.mustStatus(e.do("GET", "/beta"+rj+"/getFailedChanges", adminTok, nil), 200)
	e.mustStatus(e.do("POST", "/v1.0/directory/recovery/jobs/"+rid+"/cancel", adminTok, nil), 400)
}

// TestBackupPermissions covers the permission rows and roles of the API,
// for static tokens and for JWTs from the issuer.
func TestBackupPermissions(t *testing.T) {
	const (
		writerApp     = "backup-app-token"
		userNoRole    = "user-no-role"
		readerUserTok = "backup-reader-user"
		readerUserID  = "5a5a5a5a-0000-4000-8000-000000000001"
	)
	seed := chain(
		addIdentity(writerApp, "app", "5a5a5a5a-0000-4000-8000-000000000099", "EntraBackup.Read.All", "EntraBackup.ReadWrite.Preview", "EntraBackup.ReadWrite.Recovery"),
		addIdentity(userNoRole, "user", adeleID, "EntraBackup.Read.All", "EntraBackup.ReadWrite.Preview"),
		func(s *Seed) {
			s.Users = append(s.Users, json.RawMessage(`{"id":"`+readerUserID+`","displayName":"Backup Reader","userPrincipalName":"reader@contoso.com","directoryRoles":["Backup Reader"]}`))
		},
		addIdentity(readerUserTok, "user", readerUserID, "EntraBackup.Read.All", "EntraBackup.ReadWrite.Preview"),
	)
	list := "/beta/directory/recovery/snapshots"
	preview := list + "/" + firstSnapshotID + "/recoveryPreviewJobs"
	recovery := list + "/" + firstSnapshotID + "/recoveryJobs"
	tests := []struct {
		name      string
		appWrites bool
		token     string
		method    string
		path      string
		status    int
	}{
		{name: "app read: EntraBackup.Read.All", token: reinstateTok, method: "GET", path: list, status: 200},
		{name: "app read: without EntraBackup.Read.All", token: readerTok, method: "GET", path: list, status: 403},
		{name: "app create preview: not supported", token: writerApp, method: "POST", path: preview, status: 403},
		{name: "app create recovery: not supported", token: writerApp, method: "POST", path: recovery, status: 403},
		{name: "app create preview: allowed by the switch", appWrites: true, token: writerApp, method: "POST", path: preview, status: 202},
		{name: "app create recovery: allowed by the switch", appWrites: true, token: writerApp, method: "POST", path: recovery, status: 202},
		{name: "app create with the switch but no write permission", appWrites: true, token: reinstateTok, method: "POST", path: preview, status: 403},
		{name: "delegated read: Backup Administrator", token: adminTok, method: "GET", path: list, status: 200},
		{name: "delegated read: Backup Reader", token: readerUserTok, method: "GET", path: list, status: 200},
		{name: "delegated read: no role", token: userNoRole, method: "GET", path: list, status: 403},
		{name: "delegated create preview: Backup Reader is not enough", token: readerUserTok, method: "POST", path: preview, status: 403},
		{name: "delegated create preview: no role", token: userNoRole, method: "POST", path: preview, status: 403},
		{name: "delegated create preview: Backup Administrator", token: adminTok, method: "POST", path: preview, status: 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newBackupEnv(t, seed, Options{Backup: BackupConfig{AllowAppWrites: tt.appWrites}})
			r := e.mustStatus(e.do(tt.method, tt.path, tt.token, nil), tt.status)
			if tt.status == 403 && r.errMessage(t) != "Authorization has been denied for this request. Check your credentials." {
				t.Errorf("403 message: %s", r.body)
			}
		})
	}
}

func TestBackupJWTIdentities(t *testing.T) {
	iss, err := idpsim.New(tenantID)
	if err != nil {
		t.Fatal(err)
	}
	other, err := idpsim.New(tenantID)
	if err != nil {
		t.Fatal(err)
	}
	e := newBackupEnv(t, nil, Options{Issuer: iss})
	mint := func(from *idpsim.Issuer, req idpsim.TokenRequest) string {
		t.Helper()
		if req.BaseURL == "" {
			req.BaseURL = e.http.URL
		}
		if req.Audience == "" {
			req.Audience = "https://graph.microsoft.com"
		}
		if req.IssuedAt.IsZero() {
			req.IssuedAt = e.clock.Now()
		}
		tok, err := from.Token(req)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	delegated := func(oid, scp string) idpsim.TokenRequest {
		return idpsim.TokenRequest{ObjectID: oid, Extra: map[string]any{"scp": scp}}
	}
	list := "/beta/directory/recovery/snapshots"
	preview := list + "/" + firstSnapshotID + "/recoveryPreviewJobs"
	tests := []struct {
		name   string
		token  string
		method string
		path   string
		status int
		msg    string
	}{
		{"delegated admin with scp and role reads", mint(iss, delegated(adminID, "EntraBackup.Read.All")), "GET", list, 200, ""},
		{"delegated admin with the Graph app id as audience", mint(iss, idpsim.TokenRequest{Audience: "00000003-0000-0000-c000-000000000000", ObjectID: adminID, Extra: map[string]any{"scp": "EntraBackup.Read.All"}}), "GET", list, 200, ""},
		{"v1.0 token", mint(iss, idpsim.TokenRequest{Version: "1.0", ObjectID: adminID, Extra: map[string]any{"scp": "EntraBackup.Read.All"}}), "GET", list, 200, ""},
		{"delegated admin creates a preview", mint(iss, delegated(adminID, "EntraBackup.Read.All EntraBackup.ReadWrite.Preview")), "POST", preview, 202, ""},
		{"delegated admin without the scope", mint(iss, delegated(adminID, "User.Read")), "GET", list, 403, ""},
		{"delegated user without the role", mint(iss, delegated(adeleID, "EntraBackup.Read.All EntraBackup.ReadWrite.Preview")), "POST", preview, 403, ""},
		{"delegated user who is not in the tenant", mint(iss, delegated("5a5a5a5a-0000-4000-8000-00000000dead", "EntraBackup.Read.All")), "GET", list, 401, ""},
		{"app token with the role", mint(iss, idpsim.TokenRequest{App: true, AppID: "4e6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c2e", Roles: []string{"EntraBackup.Read.All"}}), "GET", list, 200, ""},
		{"app token cannot create", mint(iss, idpsim.TokenRequest{App: true, Roles: []string{"EntraBackup.ReadWrite.Preview"}}), "POST", preview, 403, ""},
		{"app token for other APIs", mint(iss, idpsim.TokenRequest{App: true, Roles: []string{"User.Read.All"}}), "GET", "/v1.0/users/" + adeleID, 200, ""},
		{"another audience", mint(iss, idpsim.TokenRequest{Audience: "api://reinstate", ObjectID: adminID, Extra: map[string]any{"scp": "EntraBackup.Read.All"}}), "GET", list, 401, "CompactToken parsing failed with error code: 80049217"},
		{"another issuer's key", mint(other, delegated(adminID, "EntraBackup.Read.All")), "GET", list, 401, "CompactToken parsing failed with error code: 80049217"},
		{"another tenant", mint(iss, idpsim.TokenRequest{ObjectID: adminID, Extra: map[string]any{"scp": "EntraBackup.Read.All", "tid": "00000000-0000-4000-8000-000000000000"}}), "GET", list, 401, ""},
		{"another iss", mint(iss, idpsim.TokenRequest{BaseURL: "http://127.0.0.1:1", ObjectID: adminID, Extra: map[string]any{"scp": "EntraBackup.Read.All"}}), "GET", list, 401, ""},
		{"expired by the server's clock", mint(iss, idpsim.TokenRequest{ObjectID: adminID, IssuedAt: e.clock.Now().Add(-2 * time.Hour), Extra: map[string]any{"scp": "EntraBackup.Read.All"}}), "GET", list, 401, "Lifetime validation failed, the token is expired."},
		{"neither scp nor roles", mint(iss, idpsim.TokenRequest{App: true}), "GET", list, 401, ""},
		{"static tokens still work", reinstateTok, "GET", list, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.mustStatus(e.do(tt.method, tt.path, tt.token, nil), tt.status)
			if tt.status == 401 && r.errCode(t) != "InvalidAuthenticationToken" {
				t.Errorf("code %s", r.errCode(t))
			}
			if tt.msg != "" && r.errMessage(t) != tt.msg {
				t.Errorf("message %q, want %q", r.errMessage(t), tt.msg)
			}
			if tt.status == 202 {
				e.srv.FinishBackupJobs()
			}
		})
	}
	// Without Options.Issuer a JWT is an unknown token.
	plain := newBackupEnv(t, nil, Options{})
	plain.mustStatus(plain.do("GET", list, mint(iss, delegated(adminID, "EntraBackup.Read.All")), nil), 401)
}

// TestBackupAuditsUseJWTCaller: the records of a recovery job created with a
// delegated JWT name that user as the initiator.
func TestBackupAuditsUseJWTCaller(t *testing.T) {
	iss, err := idpsim.New(tenantID)
	if err != nil {
		t.Fatal(err)
	}
	e := newBackupEnv(t, nil, Options{Issuer: iss})
	e.mustStatus(e.do("DELETE", "/v1.0/users/"+adeleID, adminTok, nil), 204)
	tok, err := iss.Token(idpsim.TokenRequest{BaseURL: e.http.URL, Audience: "https://graph.microsoft.com", ObjectID: adminID, IssuedAt: e.clock.Now(),
		Extra: map[string]any{"scp": "EntraBackup.ReadWrite.Recovery"}})
	if err != nil {
		t.Fatal(err)
	}
	before := len(e.srv.AuditRecords())
	e.createJob(tok, "v1.0", "recoveryJobs", firstSnapshotID, nil)
	e.srv.FinishBackupJobs()
	recs := e.srv.AuditRecords()[before:]
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1 (Restore user)", len(recs))
	}
	var rec directoryAudit
	if err := json.Unmarshal(recs[0], &rec); err != nil {
		t.Fatal(err)
	}
	if rec.ActivityDisplayName != "Restore user" || rec.InitiatedBy.User == nil || rec.InitiatedBy.User.UserPrincipalName != "it.admin@contoso.onmicrosoft.com" {
		t.Errorf("record %+v", rec)
	}
}

func TestControlObjects(t *testing.T) {
	e := newBackupEnv(t, nil, Options{})
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
	}{
		{"create user", "POST", "/_sim/objects/users", map[string]any{"displayName": "New", "userPrincipalName": "new@contoso.com"}, 201},
		{"create user with a taken UPN", "POST", "/_sim/objects/users", map[string]any{"userPrincipalName": "adele.vance@contoso.com"}, 409},
		{"create with a taken id", "POST", "/_sim/objects/groups", map[string]any{"id": printersID}, 409},
		{"create in an unknown collection", "POST", "/_sim/objects/widgets", map[string]any{}, 404},
		{"create a group with an unknown member", "POST", "/_sim/objects/groups", map[string]any{"members": []string{"nobody"}}, 400},
		{"update", "PATCH", "/_sim/objects/groups/" + printersID, map[string]any{"description": "x"}, 200},
		{"update the id", "PATCH", "/_sim/objects/groups/" + printersID, map[string]any{"id": "x"}, 400},
		{"update a missing object", "PATCH", "/_sim/objects/groups/" + adeleID, map[string]any{"description": "x"}, 404},
		{"add member", "POST", "/_sim/objects/groups/" + printersID + "/members/" + adeleID, nil, 204},
		{"remove a non-member", "DELETE", "/_sim/objects/groups/" + printersID + "/members/" + meganID, nil, 404},
		{"wrong method", "GET", "/_sim/objects/users", nil, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.mustStatus(e.do(tt.method, tt.path, "", tt.body), tt.status)
		})
	}
	var m struct{ Value []string }
	if err := json.Unmarshal(e.mustStatus(e.do("GET", "/_sim/objects/groups/"+printersID+"/members", "", nil), 200).body, &m); err != nil ||
		!slices.Equal(m.Value, []string{isaiahID, adeleID}) {
		t.Errorf("members %v (%v)", m.Value, err)
	}
	if d := e.mustStatus(e.do("GET", "/v1.0/groups/"+printersID, adminTok, nil), 200).json(t); d["description"] != "x" || d["members"] != nil {
		t.Errorf("group after update %v", d)
	}
	// Hard-deleting a member drops its links.
	e.mustStatus(e.do("DELETE", "/v1.0/users/"+adeleID, adminTok, nil), 204)
	if st := e.srv.State(); !slices.Contains(st.Members[printersID], adeleID) {
		t.Errorf("a soft-deleted member keeps its link: %v", st.Members[printersID])
	}
	e.mustStatus(e.do("DELETE", "/v1.0/directory/deletedItems/"+adeleID, adminTok, nil), 204)
	if st := e.srv.State(); slices.Contains(st.Members[printersID], adeleID) || slices.Contains(st.Members[falconID], adeleID) {
		t.Errorf("a permanently deleted member kept its links: %v", st.Members)
	}
}

func TestPermissionTableListsBackupRows(t *testing.T) {
	var found int
	for _, row := range PermissionTable() {
		if !strings.Contains(row.Operation, "recovery") && !strings.Contains(row.Operation, "backup") {
			continue
		}
		found++
		if len(row.Roles) == 0 || !strings.Contains(row.Source, "entrarecoveryservices") {
			t.Errorf("row %+v lacks its roles or its source", row)
		}
		if row.Operation != "read backups and recovery jobs" && (row.App != nil || len(row.AppWhenAllowed) == 0) {
			t.Errorf("write row %+v: apps must be Not supported unless allowed", row)
		}
	}
	if found != 4 {
		t.Errorf("%d backup rows, want 4", found)
	}
}

func TestCanonicalRole(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Entra Backup Administrator", roleBackupAdmin, true},
		{"Microsoft Entra Backup Administrator", roleBackupAdmin, true},
		{"backup  administrator", roleBackupAdmin, true},
		{"Backup Reader", roleBackupReader, true},
		{"Global Administrator", roleGlobalAdmin, true},
		{"Backup Operator", "", false},
		{"User Administrator", "", false},
	}
	for _, tt := range tests {
		got, ok := canonicalRole(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("canonicalRole(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestHiddenSeedProperties: directoryRoles and members are relationships in
// Graph, not properties of the user or group.
func TestHiddenSeedProperties(t *testing.T) {
	e := newEnv(t, nil, Options{})
	for _, path := range []string{"/v1.0/users/" + adminID, "/v1.0/groups/" + printersID} {
		body := e.mustStatus(e.do("GET", path, adminTok, nil), 200).json(t)
		if _, has := body["directoryRoles"]; has {
			t.Errorf("%s shows directoryRoles", path)
		}
		if _, has := body["members"]; has {
			t.Errorf("%s shows members", path)
		}
	}
	if got := e.srv.State().Members[printersID]; !slices.Equal(got, []string{isaiahID}) {
		t.Errorf("printers' members %v", got)
	}
}
