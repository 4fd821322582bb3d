package recovery_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/graphapi"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/store"
)

// batchCounter counts the $batch requests that leave the SDK.
type batchCounter struct {
	mu sync.Mutex
	n  int
}

func (c *batchCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/$batch") || strings.HasSuffix(r.URL.EscapedPath(), "/%24batch") {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (c *batchCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// countingExecutor is s.executor with a transport that counts $batch
// requests, through graphapi.Config.HTTPClient.
func (s *sim) countingExecutor(token string, opts recovery.ExecutorOptions) (*recovery.Executor, *batchCounter) {
	s.t.Helper()
	counter := &batchCounter{}
	c, err := graphapi.New(graphapi.Config{BaseURL: s.http.URL, Auth: graphapi.AuthStatic, Token: token, Timeout: 10 * time.Second,
		HTTPClient: &http.Client{Transport: counter}})
	if err != nil {
		s.t.Fatal(err)
	}
	if opts.VerifyDelays == nil {
		opts.VerifyDelays = []time.Duration{0}
	}
	if opts.FollowUpDelays == nil {
		opts.FollowUpDelays = []time.Duration{0, 0, 0}
	}
	if opts.CAPacer == nil {
		opts.CAPacer = fastCA()
	}
	return recovery.NewExecutor(c, opts), counter
}

// deletedGroups adds n soft-deleted security groups to the seed and returns
// their ids.
func deletedGroups(t testing.TB, n int) ([]string, func(*graphsim.Seed)) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	return ids, func(seed *graphsim.Seed) {
		for i, id := range ids {
			raw, err := json.Marshal(map[string]any{
				"@odata.type": "#microsoft.graph.group", "id": id,
				"displayName": "batch-group-" + strconv.Itoa(i), "mailNickname": "batch-group-" + strconv.Itoa(i),
				"groupTypes": []string{}, "mailEnabled": false, "securityEnabled": true,
				"deletedDateTime": "2025-06-01T00:00:00Z",
			})
			if err != nil {
				t.Fatal(err)
			}
			seed.DeletedItems = append(seed.DeletedItems, raw)
		}
	}
}

func groupRequests(ids []string) []recovery.Request {
	reqs := make([]recovery.Request, len(ids))
	for i, id := range ids {
		reqs[i] = recovery.Request{ObjectID: id, ObjectType: audit.TargetGroup}
	}
	return reqs
}

// comparable is the part of an outcome both paths must agree on; Before and
// After are compared by the object they hold.
type comparableOutcome struct {
	ObjectID, Detail     string
	Status               recovery.Status
	Verified, Retry      bool
	Actions              []string
	BeforeID, AfterID    string
	RelatedID, RelatedSt string
}

func comparableOf(t *testing.T, out recovery.Outcome, err error) comparableOutcome {
	t.Helper()
	var retry *recovery.RetryError
	if err != nil && !errors.As(err, &retry) {
		t.Fatalf("%s: error %v is not a RetryError", out.ObjectID, err)
	}
	c := comparableOutcome{ObjectID: out.ObjectID, Detail: out.Detail, Status: out.Status, Verified: out.Verified, Retry: retry != nil, Actions: out.Actions}
	if len(out.Before) > 0 {
		c.BeforeID = decode(t, out.Before).ID
	}
	if len(out.After) > 0 {
		c.AfterID = decode(t, out.After).ID
	}
	for _, r := range out.Related {
		c.RelatedID, c.RelatedSt = r.ObjectID, string(r.Status)
	}
	return c
}

// TestRestoreManyMatchesRestore runs the same requests once through Restore,
// one by one, and once through RestoreMany, each on a fresh tenant: every
// item must come out the same, and the directory items must go through
// one $batch per stage.
func TestRestoreManyMatchesRestore(t *testing.T) {
	cases := []struct {
		name  string
		setup func(s *sim)
		reqs  []recovery.Request
		want  []recovery.Status // "" for a RetryError
		// batches is the $batch requests RestoreMany must send.
		batches int
	}{
		{
			name: "every directory type in one batch",
			setup: func(s *sim) {
				s.deleteAs(adminTok, "users", adeleID)
				s.deleteAs(adminTok, "groups", falconID)
				s.deleteAs(adminTok, "groups", paymentsID)
				s.deleteAs(adminTok, "applications", payrollAppID) // takes its service principal along
				s.deleteAs(adminTok, "directory/administrativeUnits", auID)
			},
			reqs: []recovery.Request{
				{ObjectID: adeleID, ObjectType: audit.TargetUser},
				{ObjectID: falconID, ObjectType: audit.TargetGroup},
				{ObjectID: paymentsID, ObjectType: audit.TargetGroup},
				{ObjectID: payrollAppID, ObjectType: audit.TargetApplication, Options: recovery.Options{SkipServicePrincipal: true}},
				{ObjectID: payrollSPID, ObjectType: audit.TargetServicePrincipal},
				{ObjectID: auID, ObjectType: audit.TargetAdministrativeUnit},
				{ObjectID: deletedOrion, ObjectType: audit.TargetGroup},
			},
			want: []recovery.Status{recovery.StatusRestored, recovery.StatusRestored, recovery.StatusRestored, recovery.StatusRestored,
				recovery.StatusRestored, recovery.StatusRestored, recovery.StatusRestored},
			batches: 4, // live, bin, restore, verify
		},
		{
			name: "conflicts, not-found and refusals do not touch the others",
			setup: func(s *sim) {
				s.deleteAs(adminTok, "users", adeleID)
				s.deleteAs(adminTok, "applications", payrollAppID)
				s.deleteAs(adminTok, "identity/conditionalAccess/policies", caPolicyID)
			},
			reqs: []recovery.Request{
				{ObjectID: deletedMegan, ObjectType: audit.TargetUser},                  // UPN taken
				{ObjectID: adeleID, ObjectType: audit.TargetUser},                       // restored
				{ObjectID: neverExisted, ObjectType: audit.TargetGroup},                 // not found
				{ObjectID: deletedLeeGu, ObjectType: audit.TargetUser},                  // proxyAddresses clash
				{ObjectID: deletedOrion, ObjectType: audit.TargetUser},                  // the bin holds a group
				{ObjectID: isaiahID, ObjectType: audit.TargetUser},                      // live already
				{ObjectID: "not-an-id", ObjectType: audit.TargetGroup},                  // no request
				{ObjectID: adeleID, ObjectType: audit.TargetType("printer")},            // unknown type
				{ObjectID: payrollAppID, ObjectType: audit.TargetApplication},           // and its service principal
				{ObjectID: caPolicyID, ObjectType: audit.TargetConditionalAccessPolicy}, // single path
				{ObjectID: deletedMegan, ObjectType: audit.TargetUser, Options: recovery.Options{NewUserPrincipalName: "megan.b2@contoso.onmicrosoft.com"}},
			},
			want: []recovery.Status{recovery.StatusConflict, recovery.StatusRestored, recovery.StatusNotFound, recovery.StatusConflict,
				recovery.StatusFailed, recovery.StatusAlreadyLive, recovery.StatusFailed, recovery.StatusFailed, recovery.StatusRestored,
				recovery.StatusRestored, recovery.StatusRestored},
			batches: 4,
		},
		{
			name:  "proxyAddresses reconcile falls back to the single path",
			setup: func(s *sim) { s.deleteAs(adminTok, "groups", paymentsID) },
			reqs: []recovery.Request{
				{ObjectID: deletedLeeGu, ObjectType: audit.TargetUser, Options: recovery.Options{AutoReconcileProxyConflict: true}},
				{ObjectID: paymentsID, ObjectType: audit.TargetGroup},
			},
			want:    []recovery.Status{recovery.StatusRestored, recovery.StatusRestored},
			batches: 4,
		},
		{
			name: "a reader is refused per item",
			reqs: []recovery.Request{
				{ObjectID: deletedOrion, ObjectType: audit.TargetGroup},
				{ObjectID: deletedLeeGu, ObjectType: audit.TargetUser},
			},
			want:    []recovery.Status{recovery.StatusFailed, recovery.StatusFailed},
			batches: 3, // no restore succeeded: nothing to verify
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			token := reinstateTok
			if strings.Contains(tc.name, "reader") {
				token = readerTok
			}
			single := newSim(t, simConfig{})
			batched := newSim(t, simConfig{})
			if tc.setup != nil {
				tc.setup(single)
				tc.setup(batched)
			}
			x := single.executor(token, recovery.ExecutorOptions{})
			var want []comparableOutcome
			for _, req := range tc.reqs {
				out, err := x.Restore(context.Background(), req)
				want = append(want, comparableOf(t, out, err))
			}
			bx, counter := batched.countingExecutor(token, recovery.ExecutorOptions{})
			results := bx.RestoreMany(context.Background(), tc.reqs)
			if len(results) != len(tc.reqs) {
				t.Fatalf("%d results for %d requests", len(results), len(tc.reqs))
			}
			for i, r := range results {
				got := comparableOf(t, r.Outcome, r.Err)
				if got.ObjectID != tc.reqs[i].ObjectID || r.Outcome.ObjectType != tc.reqs[i].ObjectType {
					t.Errorf("result %d is for %s %s, want %s %s", i, r.Outcome.ObjectType, got.ObjectID, tc.reqs[i].ObjectType, tc.reqs[i].ObjectID)
				}
				if got.Status != tc.want[i] {
					t.Errorf("%s %s: status %q (%s), want %q", tc.reqs[i].ObjectType, tc.reqs[i].ObjectID, got.Status, got.Detail, tc.want[i])
				}
				if !equalComparable(got, want[i]) {
					t.Errorf("%s %s:\nbatched %+v\nsingle  %+v", tc.reqs[i].ObjectType, tc.reqs[i].ObjectID, got, want[i])
				}
			}
			if n := counter.count(); n != tc.batches {
				t.Errorf("%d $batch requests, want %d", n, tc.batches)
			}
			// Both tenants end the same.
			for _, key := range []string{"users", "groups", "applications", "servicePrincipals", "administrativeUnits", "conditionalAccessPolicies"} {
				if a, b := liveIDs(single, key), liveIDs(batched, key); !slices.Equal(a, b) {
					t.Errorf("live %s differ: single %v, batched %v", key, a, b)
				}
			}
		})
	}
}

func equalComparable(a, b comparableOutcome) bool {
	return a.ObjectID == b.ObjectID && a.Detail == b.Detail && a.Status == b.Status && a.Verified == b.Verified &&
		a.Retry == b.Retry && slices.Equal(a.Actions, b.Actions) && a.BeforeID == b.BeforeID && a.AfterID == b.AfterID &&
		a.RelatedID == b.RelatedID && a.RelatedSt == b.RelatedSt
}

func liveIDs(s *sim, key string) []string {
	var ids []string
	for _, raw := range s.srv.State().Live[key] {
		ids = append(ids, strings.ToLower(decode(s.t, raw).ID))
	}
	slices.Sort(ids)
	return ids
}

// TestRestoreManyBatching checks the batch sizes and per-item handling of
// throttling and faults on many groups.
func TestRestoreManyBatching(t *testing.T) {
	cases := []struct {
		name   string
		groups int
		opts   graphsim.Options
		run    func(t *testing.T, s *sim, ids []string)
	}{
		{
			name: "45 groups: 3 batches per stage", groups: 45,
			run: func(t *testing.T, s *sim, ids []string) {
				x, counter := s.countingExecutor(reinstateTok, recovery.ExecutorOptions{})
				mark := s.auditCount()
				for i, r := range x.RestoreMany(context.Background(), groupRequests(ids)) {
					if r.Err != nil || r.Outcome.Status != recovery.StatusRestored || !r.Outcome.Verified || r.Outcome.ObjectID != ids[i] {
						t.Errorf("group %d: %+v, %v", i, r.Outcome, r.Err)
					}
				}
				if n := counter.count(); n != 12 {
					t.Errorf("%d $batch requests, want 12 (3 each for live, bin, restore, verify)", n)
				}
				if st := s.srv.State(); st.Requests.Total != 12 || st.Requests.Graph != 4*45 || st.Throttle.AdmittedWrites != 45 {
					t.Errorf("graphsim saw %d HTTP and %d Graph requests, %d writes; want 12, %d, 45", st.Requests.Total, st.Requests.Graph, st.Throttle.AdmittedWrites, 4*45)
				}
				for _, id := range ids {
					if n := s.restoreRecords(mark, id); n != 1 {
						t.Errorf("%d restore records for %s", n, id)
					}
				}
			},
		},
		{
			name: "write quota admits part of a batch: only the rest retries", groups: 12,
			opts: graphsim.Options{Throttle: graphsim.ThrottleConfig{AppWriteQuota: 5, AppWriteWindow: 150 * time.Second}},
			run: func(t *testing.T, s *sim, ids []string) {
				pacer := recovery.NewPacer(recovery.DefaultWriteQuota, recovery.DefaultWriteWindow)
				x, _ := s.countingExecutor(reinstateTok, recovery.ExecutorOptions{Pacer: pacer})
				var retried []string
				restored := 0
				for i, r := range x.RestoreMany(context.Background(), groupRequests(ids)) {
					var retry *recovery.RetryError
					switch {
					case errors.As(r.Err, &retry):
						if retry.After != 150*time.Second || !strings.Contains(retry.Error(), "429") {
							t.Errorf("group %d: RetryError %v, want 429 with Retry-After 150s", i, retry)
						}
						retried = append(retried, ids[i])
					case r.Err == nil && r.Outcome.Status == recovery.StatusRestored && r.Outcome.Verified:
						restored++
					default:
						t.Errorf("group %d: %+v, %v", i, r.Outcome, r.Err)
					}
				}
				if restored != 5 || len(retried) != 7 {
					t.Fatalf("%d restored, %d to retry; want 5 and 7", restored, len(retried))
				}
				if !paused(pacer) {
					t.Error("an inner 429 did not pause the write pacer")
				}
				if n := s.srv.State().Throttle.Throttled["write"]; n != 7 {
					t.Errorf("%d throttled writes, want 7", n)
				}
				// After each Retry-After, a new attempt (a fresh pacer: the
				// old one is paused in real time) restores what the quota
				// admits, 5 then 2, and nothing is lost on the way.
				for round, want := range []int{5, 2} {
					s.clock.Advance(151 * time.Second)
					x2, _ := s.countingExecutor(reinstateTok, recovery.ExecutorOptions{})
					var again []string
					done := 0
					for _, r := range x2.RestoreMany(context.Background(), groupRequests(retried)) {
						var retry *recovery.RetryError
						switch {
						case errors.As(r.Err, &retry) && retry.After > 0:
							again = append(again, r.Outcome.ObjectID)
						case r.Err == nil && r.Outcome.Status == recovery.StatusRestored:
							done++
						default:
							t.Errorf("round %d, %s: %+v, %v", round, r.Outcome.ObjectID, r.Outcome, r.Err)
						}
					}
					if done != want || done+len(again) != len(retried) {
						t.Errorf("round %d: %d restored, %d to retry of %d; want %d restored", round, done, len(again), len(retried), want)
					}
					retried = again
				}
				for _, id := range ids {
					if _, ok := s.live("groups", id); !ok {
						t.Errorf("group %s lost", id)
					}
				}
			},
		},
		{
			name: "server errors on every request: all retry, then all succeed", groups: 25,
			run: func(t *testing.T, s *sim, ids []string) {
				if err := s.srv.SetFaults(graphsim.FaultConfig{ErrorRate: 1}); err != nil {
					t.Fatal(err)
				}
				x, _ := s.countingExecutor(reinstateTok, recovery.ExecutorOptions{})
				for i, r := range x.RestoreMany(context.Background(), groupRequests(ids)) {
					var retry *recovery.RetryError
					if !errors.As(r.Err, &retry) || !strings.Contains(retry.Error(), "graph answered 5") {
						t.Errorf("group %d: %+v, %v; want a RetryError for a 5xx", i, r.Outcome, r.Err)
					}
				}
				if err := s.srv.SetFaults(graphsim.FaultConfig{}); err != nil {
					t.Fatal(err)
				}
				for i, r := range x.RestoreMany(context.Background(), groupRequests(ids)) {
					if r.Err != nil || r.Outcome.Status != recovery.StatusRestored {
						t.Errorf("group %d after faults: %+v, %v", i, r.Outcome, r.Err)
					}
				}
			},
		},
		{
			name: "a batch that gets no answer: every item retries", groups: 5,
			run: func(t *testing.T, s *sim, ids []string) {
				if err := s.srv.SetFaults(graphsim.FaultConfig{ConnectionResetRate: 1}); err != nil {
					t.Fatal(err)
				}
				x, _ := s.countingExecutor(reinstateTok, recovery.ExecutorOptions{})
				for i, r := range x.RestoreMany(context.Background(), groupRequests(ids)) {
					var retry *recovery.RetryError
					if !errors.As(r.Err, &retry) || !strings.Contains(retry.Error(), "graph unreachable") {
						t.Errorf("group %d: %+v, %v; want a RetryError for no answer", i, r.Outcome, r.Err)
					}
				}
				if err := s.srv.SetFaults(graphsim.FaultConfig{}); err != nil {
					t.Fatal(err)
				}
				for i, r := range x.RestoreMany(context.Background(), groupRequests(ids)) {
					if r.Err != nil || r.Outcome.Status != recovery.StatusRestored {
						t.Errorf("group %d after resets: %+v, %v", i, r.Outcome, r.Err)
					}
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ids, seed := deletedGroups(t, tc.groups)
			s := newSim(t, simConfig{opts: tc.opts, seed: seed})
			tc.run(t, s, ids)
		})
	}
}

// TestWorkerDrainsThroughRestoreMany drains 50 intents with the executor as
// a BatchRestorer: each intent is done and journaled once, and the writes
// went out in batches.
func TestWorkerDrainsThroughRestoreMany(t *testing.T) {
	ids, seed := deletedGroups(t, 50)
	s := newSim(t, simConfig{seed: seed})
	o := newOutbox(t)
	var intents []store.Intent
	for _, req := range groupRequests(ids) {
		intents = append(intents, o.enqueue(req))
	}
	x, counter := s.countingExecutor(reinstateTok, recovery.ExecutorOptions{})
	var _ recovery.BatchRestorer = x
	w := o.worker(o.st, x, recovery.WorkerOptions{Concurrency: 25})
	if r := drain(t, w); r != (recovery.DrainReport{Done: 50}) {
		t.Fatalf("report %+v", r)
	}
	// Two leased sets of 25, each two batches per stage.
	if n := counter.count(); n != 16 {
		t.Errorf("%d $batch requests, want 16", n)
	}
	for i, in := range intents {
		got := o.intent(in.ID)
		if got.State != store.IntentDone || got.Outcome != string(recovery.StatusRestored) || got.Attempts != 1 {
			t.Errorf("intent %+v, want done once, restored", got)
		}
		entries := o.journal(ids[i])
		if len(entries) != 1 || entries[0].Kind != recovery.KindRestoreDone || entries[0].Source != "intent "+in.ID {
			t.Errorf("journal for %s: %+v", ids[i], entries)
		}
		if _, ok := s.live("groups", ids[i]); !ok {
			t.Errorf("group %s not live", ids[i])
		}
	}
	if r := drain(t, w); r != (recovery.DrainReport{}) {
		t.Errorf("second drain %+v, want nothing to do", r)
	}
}
