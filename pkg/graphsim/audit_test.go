package graphsim

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/customhandler"
)

// expectation is what audit.Decode must make of one emitted record.
type expectation struct {
	activity  string
	deletion  audit.Deletion
	target    audit.TargetType
	targetID  string
	initiator audit.InitiatorType
	actorID   string // user id, or service principal id for an app
	upn       string // target UPN, users only
}

const reinstateAppID = "4e6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c2e"

// runAllWrites performs a delete, restore and permanent delete on every type
// and returns the records they must produce, in order.
func runAllWrites(t *testing.T, e *testEnv) []expectation {
	t.Helper()
	do := func(method, path, token string, status int) {
		t.Helper()
		e.mustStatus(e.do(method, path, token, nil), status)
		e.clock.Advance(time.Second)
	}
	user := func(act string, del audit.Deletion, tt audit.TargetType, id string) expectation {
		return expectation{activity: act, deletion: del, target: tt, targetID: id, initiator: audit.InitiatorUser, actorID: adminID}
	}
	app := func(act string, del audit.Deletion, tt audit.TargetType, id string) expectation {
		return expectation{activity: act, deletion: del, target: tt, targetID: id, initiator: audit.InitiatorApp, actorID: reinstateSPID}
	}
	var want []expectation
	add := func(x ...expectation) { want = append(want, x...) }

	do("DELETE", "/v1.0/users/"+adeleID, adminTok, 204)
	x := user("Delete user", audit.DeletionSoft, audit.TargetUser, adeleID)
	x.upn = "a1c3e5f72b4d4c6e8a0b1d3f5a7c9e21adele.vance@contoso.com"
	add(x)
	do("POST", "/v1.0/directory/deletedItems/"+adeleID+"/restore", reinstateTok, 200)
	x = app("Restore user", audit.DeletionNone, audit.TargetUser, adeleID)
	x.upn = "adele.vance@contoso.com"
	add(x)
	do("DELETE", "/v1.0/directory/deletedItems/"+deletedLeeGu, adminTok, 204)
	x = user("Hard Delete user", audit.DeletionHard, audit.TargetUser, deletedLeeGu)
	x.upn = "f8b0d2e49a1c4b3d9f7a8c0e2a4c6d98lee.gu@contoso.com"
	add(x)

	do("DELETE", "/v1.0/groups/"+paymentsID, adminTok, 204)
	add(user("Delete group", audit.DeletionSoft, audit.TargetGroup, paymentsID))
	do("DELETE", "/beta/directory/deletedItems/"+paymentsID, adminTok, 204)
	add(user("Hard Delete group", audit.DeletionHard, audit.TargetGroup, paymentsID))
	do("POST", "/v1.0/directory/deletedItems/"+deletedOrion+"/restore", reinstateTok, 200)
	add(app("Restore group", audit.DeletionNone, audit.TargetGroup, deletedOrion))

	do("DELETE", "/v1.0/applications/"+payrollAppID, adminTok, 204)
	add(user("Delete application", audit.DeletionSoft, audit.TargetApplication, payrollAppID),
		user("Remove service principal", audit.DeletionSoft, audit.TargetServicePrincipal, payrollSPID))
	do("POST", "/v1.0/directory/deletedItems/"+payrollAppID+"/restore", reinstateTok, 200)
	add(app("Restore application", audit.DeletionNone, audit.TargetApplication, payrollAppID))
	do("POST", "/v1.0/directory/deletedItems/"+payrollSPID+"/restore", reinstateTok, 200)
	add(app("Restore service principal", audit.DeletionNone, audit.TargetServicePrincipal, payrollSPID))
	do("DELETE", "/v1.0/servicePrincipals/"+payrollSPID, adminTok, 204)
	add(user("Remove service principal", audit.DeletionSoft, audit.TargetServicePrincipal, payrollSPID))
	do("DELETE", "/v1.0/directory/deletedItems/"+payrollSPID, adminTok, 204)
	add(user("Hard delete service principal", audit.DeletionHard, audit.TargetServicePrincipal, payrollSPID))
	do("DELETE", "/v1.0/applications/"+payrollAppID, adminTok, 204)
	add(user("Delete application", audit.DeletionSoft, audit.TargetApplication, payrollAppID))
	do("DELETE", "/v1.0/directory/deletedItems/"+payrollAppID, adminTok, 204)
	add(user("Hard Delete application", audit.DeletionHard, audit.TargetApplication, payrollAppID))

	do("DELETE", "/v1.0/directory/administrativeUnits/"+auID, adminTok, 204)
	add(user("Delete administrative unit", audit.DeletionSoft, audit.TargetAdministrativeUnit, auID))
	do("POST", "/v1.0/directory/deletedItems/"+auID+"/restore", reinstateTok, 200)
	add(app("Restore administrative unit", audit.DeletionNone, audit.TargetAdministrativeUnit, auID))

	do("DELETE", "/v1.0/identity/conditionalAccess/policies/"+caPolicyID, adminTok, 204)
	add(user("Delete conditional access policy", audit.DeletionSoft, audit.TargetConditionalAccessPolicy, caPolicyID))
	do("POST", "/beta/identity/conditionalAccess/deletedItems/policies/"+caPolicyID+"/restore", reinstateTok, 200)
	add(app("Restore conditional access policy", audit.DeletionNone, audit.TargetConditionalAccessPolicy, caPolicyID))
	do("DELETE", "/beta/identity/conditionalAccess/namedLocations/"+namedLocID, adminTok, 204)
	add(user("Delete named location", audit.DeletionSoft, audit.TargetNamedLocation, namedLocID))
	do("DELETE", "/beta/identity/conditionalAccess/deletedItems/namedLocations/"+namedLocID, reinstateTok, 204)
	add(app("Hard delete named location", audit.DeletionHard, audit.TargetNamedLocation, namedLocID))

	// A synced group deleted by directory synchronization: a plain "Delete
	// group" although nothing is left in the bin.
	e.mustStatus(e.do("POST", "/_sim/external-delete/"+financeID, "", nil), 200)
	add(expectation{activity: "Delete group", deletion: audit.DeletionSoft, target: audit.TargetGroup, targetID: financeID,
		initiator: audit.InitiatorUser, actorID: syncInitiator.User.ID})
	return want
}

func checkEvents(t *testing.T, events []audit.Event, want []expectation) {
	t.Helper()
	if len(events) != len(want) {
		t.Fatalf("%d events, want %d", len(events), len(want))
	}
	seen := map[string]bool{}
	for i, w := range want {
		ev := events[i]
		if seen[ev.ID] {
			t.Errorf("event %d: duplicate id %s", i, ev.ID)
		}
		seen[ev.ID] = true
		if ev.Activity != w.activity || ev.Deletion != w.deletion || ev.Result != "success" {
			t.Errorf("event %d: %q %s %s, want %q %s success", i, ev.Activity, ev.Deletion, ev.Result, w.activity, w.deletion)
		}
		if len(ev.Targets) != 1 || ev.Targets[0].Type != w.target || ev.Targets[0].ID != w.targetID {
			t.Errorf("event %d (%s): targets %+v, want %s %s", i, w.activity, ev.Targets, w.target, w.targetID)
		} else if w.upn != "" && ev.Targets[0].UserPrincipalName != w.upn {
			t.Errorf("event %d (%s): target UPN %q, want %q", i, w.activity, ev.Targets[0].UserPrincipalName, w.upn)
		}
		if ev.Initiator.Type != w.initiator || ev.Initiator.ID != w.actorID {
			t.Errorf("event %d (%s): initiator %+v, want %s %s", i, w.activity, ev.Initiator, w.initiator, w.actorID)
		}
		if w.initiator == audit.InitiatorApp && ev.Initiator.AppID != reinstateAppID {
			t.Errorf("event %d: appId %q", i, ev.Initiator.AppID)
		}
		if ev.CorrelationID == "" || ev.Category == "" || ev.Service == "" || ev.OperationType == "" {
			t.Errorf("event %d: missing fields %+v", i, ev)
		}
		if !strings.HasPrefix(ev.ID, "Directory_") && !strings.HasPrefix(ev.ID, "IPCGraph_") {
			t.Errorf("event %d: id %q", i, ev.ID)
		}
	}
}

func TestAuditRecordsDecodeFromGraph(t *testing.T) {
	e := newEnv(t, nil, Options{})
	want := runAllWrites(t, e)
	// Read them back newest first, across pages, and decode every page with
	// Reinstate's decoder.
	var events []audit.Event
	url := "/v1.0/auditLogs/directoryAudits?$top=7"
	pages := 0
	for url != "" {
		r := e.mustStatus(e.do("GET", url, reinstateTok, nil), 200)
		res, err := audit.Decode(r.body)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Skipped) != 0 {
			t.Fatalf("decoder skipped records: %v", res.Skipped)
		}
		events = append(events, res.Events...)
		url, _ = r.json(t)["@odata.nextLink"].(string)
		pages++
	}
	if pages < 3 {
		t.Fatalf("%d pages", pages)
	}
	// Newest first: reverse to compare in write order.
	for i, j := 0, len(events)-1; i < j; i, j = i+1, j-1 {
		events[i], events[j] = events[j], events[i]
	}
	// The two records of the cascaded application delete share a time and
	// come newest-first by sequence; the reversal restores their order.
	checkEvents(t, events, want)
	// The soft delete of a user carries the marker as JSON text.
	recs := e.srv.AuditRecords()
	if !strings.Contains(string(recs[0]), `"displayName":"Is Hard Deleted","oldValue":null,"newValue":"\"False\""`) {
		t.Fatalf("user delete record %s", recs[0])
	}
}

func TestAuditFilters(t *testing.T) {
	e := newEnv(t, nil, Options{})
	runAllWrites(t, e) // one write per second from 12:00:00
	count := func(filter string) int {
		t.Helper()
		r := e.mustStatus(e.do("GET", "/v1.0/auditLogs/directoryAudits?$filter="+urlQuery(filter), reinstateTok, nil), 200)
		return len(values(t, r))
	}
	tests := []struct {
		filter string
		want   int
	}{
		{"activityDisplayName eq 'Delete group'", 2},
		{"activityDisplayName eq 'delete GROUP'", 2},
		{"startswith(activityDisplayName,'Restore')", 6},
		{"startswith(activityDisplayName, 'Hard delete')", 5},
		{"activityDateTime ge 2025-06-10T12:00:05Z", 16},
		{"activityDateTime gt 2025-06-10T12:00:05Z", 15},
		{"activityDateTime le 2025-06-10T12:00:01Z", 2},
		{"activityDateTime lt 2025-06-10T12:00:01Z", 1},
		{"activityDateTime ge 2025-06-10T12:00:03Z and activityDateTime lt 2025-06-10T12:00:06Z and startswith(activityDisplayName,'Delete')", 1},
		{"activityDateTime eq 2025-06-10T12:00:06Z", 2}, // the cascaded application delete
		{"loggedByService eq 'Conditional Access'", 4},
		{"category eq 'UserManagement'", 3},
	}
	for _, tt := range tests {
		if got := count(tt.filter); got != tt.want {
			t.Errorf("%s: %d records, want %d", tt.filter, got, tt.want)
		}
	}
	for _, bad := range []string{
		"displayName eq 'x'",
		"activityDisplayName ne 'x'",
		"activityDateTime ge yesterday",
		"activityDisplayName eq 'x' or category eq 'y'",
		"startswith(category,'x')",
		"activityDisplayName eq 'unterminated",
	} {
		r := e.mustStatus(e.do("GET", "/v1.0/auditLogs/directoryAudits?$filter="+urlQuery(bad), reinstateTok, nil), 400)
		if r.errCode(t) != "BadRequest" || !strings.HasPrefix(r.errMessage(t), "Invalid filter clause") {
			t.Errorf("%s: %s", bad, r.body)
		}
	}
	t.Run("order", func(t *testing.T) {
		desc := values(t, e.mustStatus(e.do("GET", "/v1.0/auditLogs/directoryAudits?$top=2", reinstateTok, nil), 200))
		asc := values(t, e.mustStatus(e.do("GET", "/v1.0/auditLogs/directoryAudits?$top=2&$orderby=activityDateTime%20asc", reinstateTok, nil), 200))
		if desc[0]["activityDisplayName"] != "Delete group" || asc[0]["activityDisplayName"] != "Delete user" ||
			desc[0]["activityDateTime"].(string) <= desc[1]["activityDateTime"].(string) {
			t.Fatalf("desc %v / asc %v", desc[0]["activityDisplayName"], asc[0]["activityDisplayName"])
		}
		e.mustStatus(e.do("GET", "/v1.0/auditLogs/directoryAudits?$orderby=category", reinstateTok, nil), 400)
	})
	t.Run("paging is stable while records arrive", func(t *testing.T) {
		r := e.mustStatus(e.do("GET", "/v1.0/auditLogs/directoryAudits?$top=10", reinstateTok, nil), 200)
		first := ids(values(t, r))
		next := r.json(t)["@odata.nextLink"].(string)
		e.mustStatus(e.do("DELETE", "/v1.0/groups/"+printersID, adminTok, nil), 204) // a newer record
		second := ids(values(t, e.mustStatus(e.do("GET", next, reinstateTok, nil), 200)))
		if len(first)+len(second) != 20 {
			t.Fatalf("pages of %d and %d records", len(first), len(second))
		}
		for _, id := range second {
			if contains(first, id) {
				t.Fatalf("record %s on both pages", id)
			}
		}
	})
	t.Run("get by id", func(t *testing.T) {
		id := ids(values(t, e.mustStatus(e.do("GET", "/v1.0/auditLogs/directoryAudits?$top=1", reinstateTok, nil), 200)))[0]
		m := e.mustStatus(e.do("GET", "/v1.0/auditLogs/directoryAudits/"+id, reinstateTok, nil), 200).json(t)
		if m["id"] != id || !strings.HasSuffix(m["@odata.context"].(string), "#auditLogs/directoryAudits/$entity") {
			t.Fatalf("record %v", m)
		}
		e.mustStatus(e.do("GET", "/v1.0/auditLogs/directoryAudits/nope", reinstateTok, nil), 404)
	})
}

func urlQuery(s string) string {
	return strings.NewReplacer(" ", "%20", "'", "%27", ",", "%2C").Replace(s)
}

// handlerCapture is a custom handler that records what the forwarder
// delivers, through Reinstate's own request decoding.
type handlerCapture struct {
	mu      sync.Mutex
	fail    int // invocations to fail (transiently) before succeeding
	calls   int
	bodies  []string
	seqs    []int64
	invIDs  []string
	partIDs []string
}

func (h *handlerCapture) invoke(_ context.Context, req *customhandler.Request) (*customhandler.Response, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	events, err := req.Strings("events")
	if err != nil {
		return nil, err
	}
	if h.fail > 0 {
		h.fail--
		return nil, customhandler.Transient(errFailOnce)
	}
	md := req.EventHubMetadata()
	h.bodies = append(h.bodies, events...)
	for _, ev := range md.Events {
		h.seqs = append(h.seqs, ev.SequenceNumber)
	}
	h.invIDs = append(h.invIDs, req.InvocationID)
	h.partIDs = append(h.partIDs, md.Partition.PartitionID)
	return &customhandler.Response{}, nil
}

type failOnce struct{}

func (failOnce) Error() string { return "receiver failed once" }

var errFailOnce = failOnce{}

func newReceiver(t *testing.T, h *handlerCapture) string {
	t.Helper()
	ch := customhandler.NewServer(customhandler.Options{Logger: slog.New(slog.DiscardHandler)})
	ch.Handle("AuditEvents", customhandler.HandlerFunc(h.invoke))
	hs := httptest.NewServer(ch)
	t.Cleanup(hs.Close)
	return hs.URL
}

func decodeBodies(t *testing.T, bodies []string) []audit.Event {
	t.Helper()
	var events []audit.Event
	for _, b := range bodies {
		if !strings.HasPrefix(b, `{"records":[`) {
			t.Fatalf("body is not an Event Hubs records body: %.80s", b)
		}
		res, err := audit.Decode([]byte(b))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Skipped) != 0 {
			t.Fatalf("skipped %v", res.Skipped)
		}
		for _, ev := range res.Events {
			if ev.TenantID != tenantID {
				t.Fatalf("tenant %q", ev.TenantID)
			}
		}
		events = append(events, res.Events...)
	}
	return events
}

func TestForwardingDeliversEventHubsRecords(t *testing.T) {
	h := &handlerCapture{}
	url := newReceiver(t, h)
	e := newEnv(t, nil, Options{Forward: ForwardConfig{URL: url, RecordsPerEvent: 4, MaxEventsPerInvocation: 3}})
	want := runAllWrites(t, e)
	if err := e.srv.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkEvents(t, decodeBodies(t, h.bodies), want)
	// 21 records, 4 per body: 6 bodies, 3 per invocation: 2 invocations.
	if len(h.bodies) != 6 || h.calls != 2 {
		t.Fatalf("%d bodies in %d invocations", len(h.bodies), h.calls)
	}
	for i, s := range h.seqs {
		if s != int64(i) {
			t.Fatalf("sequence numbers %v", h.seqs)
		}
	}
	if h.invIDs[0] == "" || h.invIDs[0] == h.invIDs[1] || h.partIDs[0] != "0" {
		t.Fatalf("invocation ids %v partitions %v", h.invIDs, h.partIDs)
	}
	// Nothing left; a second flush sends nothing.
	if err := e.srv.Flush(context.Background()); err != nil || h.calls != 2 {
		t.Fatalf("second flush: %v, %d calls", err, h.calls)
	}
	st := e.srv.State().Forward
	if st.DeliveredRecords != 21 || st.PendingRecords != 0 {
		t.Fatalf("forward state %+v", st)
	}
}

func TestForwardingRetriesWithoutLoss(t *testing.T) {
	h := &handlerCapture{fail: 1}
	url := newReceiver(t, h)
	e := newEnv(t, nil, Options{Forward: ForwardConfig{URL: url}})
	e.mustStatus(e.do("DELETE", "/v1.0/users/"+adeleID, adminTok, nil), 204)
	e.mustStatus(e.do("DELETE", "/v1.0/groups/"+paymentsID, adminTok, nil), 204)
	if err := e.srv.Flush(context.Background()); err == nil {
		t.Fatal("flush succeeded against a failing receiver")
	}
	if st := e.srv.State().Forward; st.PendingRecords != 2 || st.Failures != 1 {
		t.Fatalf("after failure: %+v", st)
	}
	// More records arrive before the retry.
	e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+adeleID+"/restore", reinstateTok, nil), 200)
	if err := e.srv.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	events := decodeBodies(t, h.bodies)
	var got []string
	for _, ev := range events {
		got = append(got, ev.Activity)
	}
	if strings.Join(got, "|") != "Delete user|Delete group|Restore user" {
		t.Fatalf("delivered %v", got)
	}
	// The retried event kept its sequence number; the new one follows.
	if len(h.seqs) != 2 || h.seqs[0] != 0 || h.seqs[1] != 1 {
		t.Fatalf("sequence numbers %v", h.seqs)
	}
	t.Run("connection refused keeps records too", func(t *testing.T) {
		e := newEnv(t, nil, Options{Forward: ForwardConfig{URL: "http://127.0.0.1:1"}})
		e.mustStatus(e.do("DELETE", "/v1.0/users/"+adeleID, adminTok, nil), 204)
		if err := e.srv.Flush(context.Background()); err == nil {
			t.Fatal("flush to a closed port succeeded")
		}
		if st := e.srv.State().Forward; st.PendingRecords != 1 {
			t.Fatalf("state %+v", st)
		}
	})
}

func TestRunForwardsOnInterval(t *testing.T) {
	h := &handlerCapture{}
	url := newReceiver(t, h)
	e := newEnv(t, nil, Options{Forward: ForwardConfig{URL: url, Interval: 20 * time.Millisecond}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Run(ctx) }()
	e.mustStatus(e.do("DELETE", "/v1.0/users/"+adeleID, adminTok, nil), 204)
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.mu.Lock()
		n := len(h.bodies)
		h.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not deliver within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
