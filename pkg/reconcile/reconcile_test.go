package reconcile_test

import (
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/reconcile"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

const (
	tenantID  = "7f3c2a91-5d4e-4b8a-9c61-2e0f8d3b4a17"
	payments  = "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65" // sec-prod-payments
	printers  = "a7c9e1f3-8b0d-4c2e-8a6b-7d9f1b3d5e87" // sec-lab-printers
	falcon    = "f6b8d0e2-7a9c-4b1d-9f5a-6c8e0a2c4d76" // Project Falcon
	rulesYAML = `version: 1
defaults: {mode: enforce}
channels:
  console: {type: console}
rules:
  - name: security-groups
    when: 'event.deletion == "soft" && target.type == "group" && target.displayName.startsWith("sec-")'
    actions: [restore]
  - name: other-groups
    when: 'target.type == "group"'
    actions: [notify]
    notify: [console]
`
)

type env struct {
	tn       *simtest.Tenant
	clock    *simtest.Clock
	st       store.Store
	p        *pipeline.Pipeline
	worker   *recovery.Worker
	sweeper  *reconcile.Sweeper
	notifier *notify.Dispatcher
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clock := simtest.NewClock(time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC))
	tn := simtest.Start(t, "../../testdata/graphsim/seed.json", simtest.WithClock(clock))
	st, err := sqlite.Open(t.Context(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	table, err := rules.Parse("reconcile_test.yaml", []byte(rulesYAML), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	executor := simtest.Executor(t, tn.URL, "reinstate-token")
	guards := guard.New(st, guard.Config{TenantID: tenantID, Rules: table.Guards, Now: clock.Now})
	p := pipeline.New(st, pipeline.Options{Now: clock.Now, Decider: decide.New(table, guards, clock.Now), Bin: executor})
	dispatcher := notify.NewDispatcher(st, table.Channels, nil, notify.DispatcherOptions{Now: clock.Now, GroupWait: -1})
	sweeper, err := reconcile.New(reconcile.Options{Bin: executor, Journal: st, Ingest: p, Announcer: dispatcher, GapChannels: []string{"console"},
		TenantID: tenantID, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{tn: tn, clock: clock, st: st, p: p, worker: recovery.NewWorker(st, executor, recovery.WorkerOptions{Now: clock.Now}),
		sweeper: sweeper, notifier: dispatcher}
}

func (e *env) sweep(t *testing.T, dryRun bool) reconcile.Report {
	t.Helper()
	r, err := e.sweeper.Sweep(t.Context(), dryRun)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	return r
}

func missedIDs(r reconcile.Report) []string {
	var ids []string
	for _, m := range r.Missed {
		ids = append(ids, m.ObjectID)
	}
	return ids
}

// A critical group whose audit event never came is restored by the sweep,
// exactly once; one deliberately silenced is left alone; one whose event
// came is not judged twice.
func TestSweepActsOnMissedDeletionsOnly(t *testing.T) {
	e := newEnv(t)
	if _, err := e.st.PutSilence(t.Context(), store.Silence{ObjectID: printers, Reason: "printers are being retired", CreatedBy: "oncall",
		EndsAt: e.clock.Now().Add(24 * time.Hour)}, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.tn.DeleteAs(t, "admin-token", "groups", payments) // its event is lost
	e.tn.DeleteAs(t, "admin-token", "groups", printers) // lost too, and silenced
	page := e.tn.DeleteAs(t, "admin-token", "groups", falcon)
	if _, err := e.p.Ingest(t.Context(), pipeline.Batch{Source: "test", Bodies: []pipeline.Body{{Data: page}}}); err != nil {
		t.Fatal(err)
	}

	// Within the grace period the deletions are left to their events.
	e.clock.Advance(5 * time.Minute)
	if r := e.sweep(t, false); len(r.Missed) != 0 || r.Fresh != 3 {
		t.Fatalf("sweep within the grace period = %+v, want 3 fresh and none missed", r)
	}

	e.clock.Advance(15 * time.Minute)
	dry := e.sweep(t, true)
	if got := strings.Join(missedIDs(dry), " "); got != payments+" "+printers && got != printers+" "+payments {
		t.Fatalf("dry run missed %q, want the two lost deletions", got)
	}
	if intents, _ := e.st.Intents(t.Context(), store.IntentQuery{Limit: 10}); len(intents) != 0 {
		t.Fatalf("a dry run recorded %d intents", len(intents))
	}

	r := e.sweep(t, false)
	if len(r.Missed) != 2 || r.Pipeline.Intents != 1 || r.Pipeline.Guarded != 1 || r.Gap != "" {
		t.Fatalf("sweep = %+v, want 2 missed, 1 restore intent, 1 guarded (silence), no gap", r)
	}
	if report, err := e.worker.Drain(t.Context()); err != nil || report.Done != 1 {
		t.Fatalf("Drain = %+v, %v", report, err)
	}
	if !e.tn.Live(t, "admin-token", "groups", payments) || e.tn.Live(t, "admin-token", "groups", printers) {
		t.Fatal("want the payments group restored and the silenced printers group left in the bin")
	}

	// Sweeping again finds nothing new to do.
	e.clock.Advance(10 * time.Minute)
	if again := e.sweep(t, false); len(again.Missed) != 0 || again.Pipeline.Intents != 0 {
		t.Errorf("second sweep = %+v, want nothing missed", again)
	}
	entries, err := e.st.Journal(t.Context(), store.JournalQuery{TargetID: printers, Limit: 10})
	if err != nil || len(entries) == 0 || entries[0].Kind != pipeline.KindGuard || !strings.HasPrefix(entries[0].Outcome, guard.Silence) {
		t.Errorf("the silenced deletion's journal = %+v, %v", entries, err)
	}
}

// Deletions went undecided and no audit event came for an hour: the
// pipeline itself may be broken, and the sweep says so.
func TestSweepTellsOfASilentEventStream(t *testing.T) {
	e := newEnv(t)
	e.tn.DeleteAs(t, "admin-token", "groups", payments)
	e.clock.Advance(20 * time.Minute)
	r := e.sweep(t, false)
	if r.Gap == "" || len(r.Missed) != 1 {
		t.Fatalf("sweep = %+v, want one missed deletion and a gap", r)
	}
	entries, err := e.st.Journal(t.Context(), store.JournalQuery{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	gaps := 0
	for _, en := range entries {
		if en.Kind == reconcile.KindGap {
			gaps++
		}
	}
	if gaps != 1 {
		t.Errorf("%d reconcile.gap entries, want 1", gaps)
	}
	told, err := e.st.Intents(t.Context(), store.IntentQuery{Kind: "notify", Limit: 10})
	if err != nil || len(told) == 0 {
		t.Errorf("the gap was not recorded for the console channel: %d, %v", len(told), err)
	}
}

// EventID names one deletion: the same deletion seen twice is one event,
// the object deleted again later another.
func TestEventIDNamesOneDeletion(t *testing.T) {
	at := time.Date(2026, 6, 10, 12, 0, 0, 5, time.UTC)
	if reconcile.EventID(strings.ToUpper(payments), at.In(time.FixedZone("", 3600))) != reconcile.EventID(payments, at) {
		t.Error("the same deletion has two ids")
	}
	if reconcile.EventID(payments, at) == reconcile.EventID(payments, at.Add(time.Second)) {
		t.Error("two deletions of one object share an id")
	}
}
