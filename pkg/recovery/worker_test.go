package recovery_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

// outbox is a SQLite store on a file that outlives any one handle, and a
// pinned clock for the workers that drain it.
type outbox struct {
	t     *testing.T
	path  string
	st    *sqlite.Store
	clock *clock
}

func newOutbox(t *testing.T) *outbox {
	o := &outbox{t: t, path: filepath.Join(t.TempDir(), "reinstate.db"), clock: newClock()}
	o.st = o.open()
	return o
}

// open opens a new handle on the file, as a restarted process would.
func (o *outbox) open() *sqlite.Store {
	o.t.Helper()
	st, err := sqlite.Open(context.Background(), o.path)
	if err != nil {
		o.t.Fatal(err)
	}
	o.t.Cleanup(func() { _ = st.Close() })
	return st
}

// enqueue records the intent to restore req, as the pipeline does.
func (o *outbox) enqueue(req recovery.Request) store.Intent {
	o.t.Helper()
	payload, err := json.Marshal(recovery.Plan{Request: req, EventID: "Directory_test_" + req.ObjectID, Reason: "test", Actor: "it.admin@contoso.onmicrosoft.com"})
	if err != nil {
		o.t.Fatal(err)
	}
	in, created, err := o.st.Enqueue(context.Background(), store.Intent{
		Key: recovery.IntentKey("Directory_test_"+req.ObjectID, req.ObjectID), Kind: recovery.IntentKind, Payload: payload,
	}, o.clock.Now())
	if err != nil || !created {
		o.t.Fatalf("enqueue: %v (created %v)", err, created)
	}
	return in
}

func (o *outbox) intent(id string) store.Intent {
	o.t.Helper()
	in, err := o.st.Intent(context.Background(), id)
	if err != nil {
		o.t.Fatal(err)
	}
	return in
}

// journal returns the kinds of the entries about objectID, oldest first.
func (o *outbox) journal(objectID string) []store.Entry {
	o.t.Helper()
	all, err := o.st.Journal(context.Background(), store.JournalQuery{Limit: 1000})
	if err != nil {
		o.t.Fatal(err)
	}
	var out []store.Entry
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].TargetID == objectID {
			out = append(out, all[i])
		}
	}
	return out
}

func kinds(entries []store.Entry) []store.Kind {
	out := make([]store.Kind, len(entries))
	for i, e := range entries {
		out[i] = e.Kind
	}
	return out
}

func (o *outbox) worker(st recovery.Outbox, x *recovery.Executor, opts recovery.WorkerOptions) *recovery.Worker {
	opts.Now = o.clock.Now
	if opts.Lease == 0 {
		opts.Lease = 2 * time.Minute
	}
	return recovery.NewWorker(st, x, opts)
}

func drain(t *testing.T, w *recovery.Worker) recovery.DrainReport {
	t.Helper()
	report, err := w.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return report
}

// TestWorker drains restore intents from a real SQLite outbox into
// graphsim.
func TestWorker(t *testing.T) {
	// shutdown is the context of the worker that stops in "shutdown right
	// after a report-only restore".
	shutdown, stop := context.WithCancel(context.Background())
	defer stop()
	cases := []struct {
		name string
		cfg  simConfig
		run  func(t *testing.T, s *sim, o *outbox)
	}{
		{
			name: "intents are restored and journaled",
			run: func(t *testing.T, s *sim, o *outbox) {
				s.deleteAs(adminTok, "users", adeleID)
				s.deleteAs(adminTok, "applications", payrollAppID)
				reqs := []recovery.Request{
					{ObjectID: deletedOrion, ObjectType: audit.TargetGroup},
					{ObjectID: adeleID, ObjectType: audit.TargetUser},
					{ObjectID: payrollAppID, ObjectType: audit.TargetApplication},
				}
				var intents []store.Intent
				for _, r := range reqs {
					intents = append(intents, o.enqueue(r))
				}
				w := o.worker(o.st, s.executor(reinstateTok, recovery.ExecutorOptions{}), recovery.WorkerOptions{})
				if r := drain(t, w); r != (recovery.DrainReport{Done: 3}) {
					t.Fatalf("report %+v", r)
				}
				for i, in := range intents {
					got := o.intent(in.ID)
					if got.State != store.IntentDone || got.Outcome != string(recovery.StatusRestored) || got.Attempts != 1 {
						t.Errorf("intent %+v, want done once, restored", got)
					}
					entries := o.journal(reqs[i].ObjectID)
					if len(entries) != 1 || entries[0].Kind != recovery.KindRestoreDone || entries[0].Outcome != string(recovery.StatusRestored) ||
						entries[0].TargetType != string(reqs[i].ObjectType) || entries[0].EventID == "" || entries[0].Source != "intent "+in.ID {
						t.Errorf("journal for %s: %+v", reqs[i].ObjectID, entries)
						continue
					}
					var out recovery.Outcome
					if err := json.Unmarshal([]byte(entries[0].Detail), &out); err != nil || !out.Verified {
						t.Errorf("journal detail is not the verified outcome: %s", entries[0].Detail)
					}
				}
				if _, ok := s.live("servicePrincipals", payrollSPID); !ok {
					t.Error("the app's service principal was not restored with it")
				}
				if r := drain(t, w); r != (recovery.DrainReport{}) {
					t.Errorf("second drain %+v, want nothing to do", r)
				}
			},
		},
		{
			// Concluded hears every final outcome once it is recorded, with
			// the plan it came from: how notifications learn what to tell.
			name: "final outcomes are told to Concluded",
			run: func(t *testing.T, s *sim, o *outbox) {
				type told struct {
					id     string
					status recovery.Status
				}
				var (
					mu  sync.Mutex // Concluded is called from the batch's goroutines
					got []told
				)
				concluded := func(_ context.Context, plan recovery.Plan, out recovery.Outcome) {
					if plan.Request.ObjectID != out.ObjectID {
						t.Errorf("plan for %s told with the outcome of %s", plan.Request.ObjectID, out.ObjectID)
					}
					mu.Lock()
					got = append(got, told{out.ObjectID, out.Status})
					mu.Unlock()
				}
				o.enqueue(recovery.Request{ObjectID: deletedOrion, ObjectType: audit.TargetGroup})
				o.enqueue(recovery.Request{ObjectID: neverExisted, ObjectType: audit.TargetGroup})
				w := o.worker(o.st, s.executor(reinstateTok, recovery.ExecutorOptions{}), recovery.WorkerOptions{Concluded: concluded})
				if r := drain(t, w); r != (recovery.DrainReport{Done: 1, Failed: 1}) {
					t.Fatalf("report %+v", r)
				}
				slices.SortFunc(got, func(a, b told) int { return strings.Compare(a.id, b.id) })
				want := []told{{neverExisted, recovery.StatusNotFound}, {deletedOrion, recovery.StatusRestored}}
				slices.SortFunc(want, func(a, b told) int { return strings.Compare(a.id, b.id) })
				if !slices.Equal(got, want) {
					t.Errorf("told %v, want %v", got, want)
				}
			},
		},
		{
			// Other kinds of intents (notifications, previews) are other
			// workers' to carry out: this one never leases them.
			name: "an intent of another kind is left alone",
			run: func(t *testing.T, s *sim, o *outbox) {
				other, created, err := o.st.Enqueue(context.Background(), store.Intent{
					Key: "notify:Directory_test_other", Kind: "notify", Payload: []byte(`{"channel":"ops"}`),
				}, o.clock.Now())
				if err != nil || !created {
					t.Fatalf("enqueue: %v (created %v)", err, created)
				}
				in := o.enqueue(recovery.Request{ObjectID: deletedOrion, ObjectType: audit.TargetGroup})
				w := o.worker(o.st, s.executor(reinstateTok, recovery.ExecutorOptions{}), recovery.WorkerOptions{})
				if r := drain(t, w); r != (recovery.DrainReport{Done: 1}) {
					t.Fatalf("report %+v, want the restore done and nothing else", r)
				}
				if got := o.intent(in.ID); got.State != store.IntentDone {
					t.Errorf("restore intent %+v, want done", got)
				}
				o.clock.Advance(time.Hour)
				if r := drain(t, w); r != (recovery.DrainReport{}) {
					t.Errorf("second drain %+v, want nothing to do", r)
				}
				got := o.intent(other.ID)
				if got.State != store.IntentPending || got.Attempts != 0 || got.LastError != "" || got.Outcome != "" || !got.UpdatedAt.Equal(other.UpdatedAt) {
					t.Errorf("intent of another kind %+v, want it still pending, never leased", got)
				}
				all, err := o.st.Journal(context.Background(), store.JournalQuery{Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range all {
					if e.Source == "intent "+other.ID {
						t.Errorf("the worker journaled the intent of another kind: %+v", e)
					}
				}
			},
		},
		{
			name: "throttled without Retry-After: backed off, then restored",
			cfg:  simConfig{caLimit: true},
			run: func(t *testing.T, s *sim, o *outbox) {
				s.deleteAs(adminTok, "identity/conditionalAccess/policies", caPolicyID) // spends this second's request
				in := o.enqueue(recovery.Request{ObjectID: caPolicyID, ObjectType: audit.TargetConditionalAccessPolicy})
				w := o.worker(o.st, s.executor(reinstateTok, recovery.ExecutorOptions{}), recovery.WorkerOptions{})
				if r := drain(t, w); r != (recovery.DrainReport{Retried: 1}) {
					t.Fatalf("report %+v", r)
				}
				got := o.intent(in.ID)
				now := o.clock.Now()
				// Attempt 1: full jitter up to 2 s, plus 100 ms.
				if got.State != store.IntentPending || !got.NotBefore.After(now) || got.NotBefore.After(now.Add(2100*time.Millisecond)) {
					t.Errorf("intent %s due %s (now %s), want pending, backed off by at most 2.1 s", got.State, got.NotBefore, now)
				}
				if !strings.Contains(got.LastError, "429") {
					t.Errorf("LastError %q", got.LastError)
				}
				if k := kinds(o.journal(caPolicyID)); len(k) != 1 || k[0] != recovery.KindRestoreRetry {
					t.Errorf("journal %v, want restore.retry", k)
				}
				// Not due yet: nothing happens.
				if r := drain(t, w); r != (recovery.DrainReport{}) {
					t.Errorf("drain before due: %+v", r)
				}
				o.clock.Advance(3 * time.Second)
				s.clock.Advance(time.Second)
				s.clock.Step(time.Second)
				if r := drain(t, w); r != (recovery.DrainReport{Done: 1}) {
					t.Fatalf("report after back-off %+v", r)
				}
				if got := o.intent(in.ID); got.State != store.IntentDone || got.Attempts != 2 {
					t.Errorf("intent %+v", got)
				}
				if k := kinds(o.journal(caPolicyID)); len(k) != 2 || k[1] != recovery.KindRestoreDone {
					t.Errorf("journal %v", k)
				}
			},
		},
		{
			name: "throttled with Retry-After: due exactly then",
			cfg:  simConfig{opts: graphsim.Options{Throttle: graphsim.ThrottleConfig{AppWriteQuota: 1, AppWriteWindow: 150 * time.Second}}},
			run: func(t *testing.T, s *sim, o *outbox) {
				a := o.enqueue(recovery.Request{ObjectID: deletedOrion, ObjectType: audit.TargetGroup})
				b := o.enqueue(recovery.Request{ObjectID: deletedLeeGu, ObjectType: audit.TargetUser, Options: recovery.Options{AutoReconcileProxyConflict: true}})
				w := o.worker(o.st, s.executor(reinstateTok, recovery.ExecutorOptions{}), recovery.WorkerOptions{Concurrency: 1})
				if r := drain(t, w); r != (recovery.DrainReport{Done: 1, Retried: 1}) {
					t.Fatalf("report %+v", r)
				}
				if got := o.intent(a.ID); got.State != store.IntentDone {
					t.Errorf("first intent %+v", got)
				}
				got := o.intent(b.ID)
				if want := o.clock.Now().Add(150 * time.Second); got.State != store.IntentPending || !got.NotBefore.Equal(want) {
					t.Errorf("second intent %s due %s, want pending until %s (Retry-After)", got.State, got.NotBefore, want)
				}
			},
		},
		{
			// A RetryError after the restore would bring the intent back to
			// find the policy live, and leave it enforcing.
			name: "report-only move fails once after the restore",
			cfg:  simConfig{wrap: failPatches(1)},
			run: func(t *testing.T, s *sim, o *outbox) {
				s.deleteAs(adminTok, "identity/conditionalAccess/policies", caPolicyID)
				in := o.enqueue(recovery.Request{ObjectID: caPolicyID, ObjectType: audit.TargetConditionalAccessPolicy,
					Options: recovery.Options{CAPolicyStateAfterRestore: recovery.CAStateReportOnly}})
				w := o.worker(o.st, s.executor(reinstateTok, recovery.ExecutorOptions{}), recovery.WorkerOptions{})
				for range 3 {
					drain(t, w)
					o.clock.Advance(time.Hour)
				}
				if got := o.intent(in.ID); got.State != store.IntentDone || got.Outcome != string(recovery.StatusRestored) {
					t.Errorf("intent %s %q", got.State, got.Outcome)
				}
				if live, _ := s.live("conditionalAccessPolicies", caPolicyID); live.State != "enabledForReportingButNotEnforced" {
					t.Errorf("policy restored %q, want report-only", live.State)
				}
			},
		},
		{
			// The worker stops just after Graph restored the policy: the
			// answer, and so the move to report-only, is lost. The next
			// attempt finds the policy live, leaves it, and says so.
			name: "shutdown right after a report-only restore",
			cfg:  simConfig{wrap: cancelAfterRestore(stop)},
			run: func(t *testing.T, s *sim, o *outbox) {
				s.deleteAs(adminTok, "identity/conditionalAccess/policies", caPolicyID)
				in := o.enqueue(recovery.Request{ObjectID: caPolicyID, ObjectType: audit.TargetConditionalAccessPolicy,
					Options: recovery.Options{CAPolicyStateAfterRestore: recovery.CAStateReportOnly}})
				w := o.worker(o.st, s.executor(reinstateTok, recovery.ExecutorOptions{}), recovery.WorkerOptions{})
				_, _ = w.Drain(shutdown)         // its store calls fail: the process is going
				o.clock.Advance(3 * time.Minute) // the lease runs out
				if r := drain(t, w); r != (recovery.DrainReport{Done: 1}) {
					t.Fatalf("report %+v", r)
				}
				if got := o.intent(in.ID); got.State != store.IntentDone || got.Outcome != string(recovery.StatusAlreadyLive) {
					t.Errorf("intent %s %q", got.State, got.Outcome)
				}
				entries := o.journal(caPolicyID)
				if len(entries) == 0 || !strings.Contains(entries[len(entries)-1].Detail, "ENABLED") {
					t.Errorf("the journal does not warn that the policy enforces: %+v", entries)
				}
			},
		},
		{
			name: "final failure",
			run: func(t *testing.T, s *sim, o *outbox) {
				in := o.enqueue(recovery.Request{ObjectID: deletedMegan, ObjectType: audit.TargetUser})
				w := o.worker(o.st, s.executor(reinstateTok, recovery.ExecutorOptions{}), recovery.WorkerOptions{})
				if r := drain(t, w); r != (recovery.DrainReport{Failed: 1}) {
					t.Fatalf("report %+v", r)
				}
				got := o.intent(in.ID)
				if got.State != store.IntentFailed || !strings.HasPrefix(got.Outcome, "conflict: ") || !strings.Contains(got.Outcome, "userPrincipalName") {
					t.Errorf("intent %s %q", got.State, got.Outcome)
				}
				entries := o.journal(deletedMegan)
				if len(entries) != 1 || entries[0].Kind != recovery.KindRestoreFailed || entries[0].Outcome != string(recovery.StatusConflict) {
					t.Errorf("journal %+v", entries)
				}
			},
		},
		{
			name: "retries exhausted",
			run: func(t *testing.T, s *sim, o *outbox) {
				in := o.enqueue(recovery.Request{ObjectID: deletedOrion, ObjectType: audit.TargetGroup})
				_ = s.srv.SetFaults(graphsim.FaultConfig{ErrorRate: 1})
				w := o.worker(o.st, s.executor(reinstateTok, recovery.ExecutorOptions{}), recovery.WorkerOptions{MaxAttempts: 2})
				if r := drain(t, w); r != (recovery.DrainReport{Retried: 1}) {
					t.Fatalf("first report %+v", r)
				}
				o.clock.Advance(time.Hour)
				if r := drain(t, w); r != (recovery.DrainReport{Failed: 1}) {
					t.Fatalf("second report %+v", r)
				}
				got := o.intent(in.ID)
				if got.State != store.IntentFailed || !strings.Contains(got.Outcome, "gave up after 2 attempts") {
					t.Errorf("intent %s %q", got.State, got.Outcome)
				}
				if k := kinds(o.journal(deletedOrion)); len(k) != 2 || k[0] != recovery.KindRestoreRetry || k[1] != recovery.KindRestoreFailed {
					t.Errorf("journal %v", k)
				}
				if !s.inBin(deletedOrion) {
					t.Error("restored despite the faults")
				}
			},
		},
		{
			name: "crash between intent and execution, then restart",
			run: func(t *testing.T, s *sim, o *outbox) {
				in := o.enqueue(recovery.Request{ObjectID: deletedOrion, ObjectType: audit.TargetGroup})
				// The first process leases the intent and dies before the restore.
				now := o.clock.Now()
				leased, err := o.st.LeaseIntents(context.Background(), recovery.IntentKind, now, now.Add(2*time.Minute), 4)
				if err != nil || len(leased) != 1 {
					t.Fatalf("lease: %v, %v", leased, err)
				}
				if err := o.st.Close(); err != nil {
					t.Fatal(err)
				}
				mark := s.auditCount()
				// The restarted process opens the file anew.
				st := o.open()
				w := o.worker(st, s.executor(reinstateTok, recovery.ExecutorOptions{}), recovery.WorkerOptions{})
				if r := drain(t, w); r != (recovery.DrainReport{}) {
					t.Fatalf("leased intent taken over while its lease is live: %+v", r)
				}
				o.clock.Advance(2*time.Minute + time.Second)
				if r := drain(t, w); r != (recovery.DrainReport{Done: 1}) {
					t.Fatalf("report %+v", r)
				}
				got, err := st.Intent(context.Background(), in.ID)
				if err != nil || got.State != store.IntentDone || got.Attempts != 2 || got.Outcome != string(recovery.StatusRestored) {
					t.Errorf("intent %+v, %v", got, err)
				}
				if n := s.restoreRecords(mark, deletedOrion); n != 1 {
					t.Errorf("%d restore records, want exactly 1", n)
				}
			},
		},
		{
			name: "crash between the restore and its completion, then restart",
			run: func(t *testing.T, s *sim, o *outbox) {
				in := o.enqueue(recovery.Request{ObjectID: deletedOrion, ObjectType: audit.TargetGroup})
				mark := s.auditCount()
				now := o.clock.Now()
				leased, err := o.st.LeaseIntents(context.Background(), recovery.IntentKind, now, now.Add(2*time.Minute), 4)
				if err != nil || len(leased) != 1 {
					t.Fatalf("lease: %v, %v", leased, err)
				}
				// The first process restores, and dies before recording it.
				var plan recovery.Plan
				if err := json.Unmarshal(leased[0].Payload, &plan); err != nil {
					t.Fatal(err)
				}
				if out, err := s.executor(reinstateTok, recovery.ExecutorOptions{}).Restore(context.Background(), plan.Request); err != nil || out.Status != recovery.StatusRestored {
					t.Fatalf("restore: %+v, %v", out, err)
				}
				if err := o.st.Close(); err != nil {
					t.Fatal(err)
				}
				st := o.open()
				o.clock.Advance(2*time.Minute + time.Second)
				w := o.worker(st, s.executor(reinstateTok, recovery.ExecutorOptions{}), recovery.WorkerOptions{})
				if r := drain(t, w); r != (recovery.DrainReport{Done: 1}) {
					t.Fatalf("report %+v", r)
				}
				got, err := st.Intent(context.Background(), in.ID)
				if err != nil || got.State != store.IntentDone || got.Outcome != string(recovery.StatusAlreadyLive) {
					t.Errorf("intent %+v, %v", got, err)
				}
				if n := s.restoreRecords(mark, deletedOrion); n != 1 {
					t.Errorf("%d restore records, want exactly 1", n)
				}
			},
		},
		{
			name: "workers that keep dying: given up",
			run: func(t *testing.T, s *sim, o *outbox) {
				in := o.enqueue(recovery.Request{ObjectID: deletedOrion, ObjectType: audit.TargetGroup})
				// Two processes in turn lease the intent and die.
				for range 2 {
					st := o.open()
					now := o.clock.Now()
					if leased, err := st.LeaseIntents(context.Background(), recovery.IntentKind, now, now.Add(time.Minute), 4); err != nil || len(leased) != 1 {
						t.Fatalf("lease: %v, %v", leased, err)
					}
					_ = st.Close()
					o.clock.Advance(time.Minute + time.Second)
				}
				w := o.worker(o.open(), s.executor(reinstateTok, recovery.ExecutorOptions{}), recovery.WorkerOptions{MaxAttempts: 2})
				if r := drain(t, w); r != (recovery.DrainReport{Failed: 1}) {
					t.Fatalf("report %+v", r)
				}
				got := o.intent(in.ID)
				if got.State != store.IntentFailed || got.Attempts != 3 || !strings.Contains(got.Outcome, "never reported back") {
					t.Errorf("intent %+v", got)
				}
				if !s.inBin(deletedOrion) {
					t.Error("a given-up intent was executed")
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newSim(t, tc.cfg), newOutbox(t))
		})
	}
}
