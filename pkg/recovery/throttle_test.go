package recovery_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/recovery"
)

// paused reports whether p holds writes back now.
func paused(p *recovery.Pacer) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	return errors.Is(p.Wait(ctx), context.DeadlineExceeded)
}

// TestThrottledAndFailing covers answers that make a restore worth trying
// again later: each must come back as a *RetryError, having written
// nothing, and a later try must succeed once the cause is gone.
func TestThrottledAndFailing(t *testing.T) {
	cases := []struct {
		name string
		cfg  simConfig
		req  recovery.Request
		// provoke runs just before the restore, on graphsim and the pacers.
		provoke func(s *sim)
		// after is RetryError.After.
		after time.Duration
		// pausesWrites / pausesCA: the pacer Graph throttled is paused.
		pausesWrites, pausesCA bool
		// recover makes the next try succeed; nil when it cannot within a
		// test (the pause is the point).
		recover func(s *sim)
		// detail is in the error text.
		detail string
		check  func(t *testing.T, s *sim)
	}{
		{
			name: "directory write quota: 429 with Retry-After",
			// One write per 150 s for each app; on a pinned clock the
			// window never passes, so the second write is refused.
			cfg: simConfig{opts: graphsim.Options{Throttle: graphsim.ThrottleConfig{AppWriteQuota: 1, AppWriteWindow: 150 * time.Second}}},
			req: recovery.Request{ObjectID: adeleID, ObjectType: audit.TargetUser},
			provoke: func(s *sim) {
				s.deleteAs(adminTok, "users", adeleID) // the admin's app has its own quota
				// Reinstate spends its one write on another restore.
				out, err := s.executor(reinstateTok, recovery.ExecutorOptions{}).Restore(context.Background(),
					recovery.Request{ObjectID: deletedOrion, ObjectType: audit.TargetGroup})
				if err != nil || out.Status != recovery.StatusRestored {
					s.t.Fatalf("first restore: %+v, %v", out, err)
				}
			},
			after: 150 * time.Second, pausesWrites: true, detail: "429",
			check: func(t *testing.T, s *sim) {
				if n := s.srv.State().Throttle.Throttled["write"]; n != 1 {
					t.Errorf("%d throttled writes, want 1", n)
				}
			},
		},
		{
			name: "Conditional Access: 429 without Retry-After",
			// 1 request per second per tenant, for all apps: the admin's
			// delete spent this second's request.
			cfg:     simConfig{caLimit: true},
			req:     recovery.Request{ObjectID: caPolicyID, ObjectType: audit.TargetConditionalAccessPolicy},
			provoke: func(s *sim) { s.deleteAs(adminTok, "identity/conditionalAccess/policies", caPolicyID) },
			after:   0, pausesCA: true, detail: "429",
			// Every request from now on lands in a window of its own.
			recover: func(s *sim) { s.clock.Advance(time.Second); s.clock.Step(time.Second) },
			check: func(t *testing.T, s *sim) {
				if n := s.srv.State().Throttle.Throttled["conditionalAccess"]; n != 1 {
					t.Errorf("%d throttled Conditional Access requests, want 1", n)
				}
			},
		},
		{
			name: "server errors",
			req:  recovery.Request{ObjectID: deletedOrion, ObjectType: audit.TargetGroup},
			provoke: func(s *sim) {
				if err := s.srv.SetFaults(graphsim.FaultConfig{ErrorRate: 1}); err != nil {
					s.t.Fatal(err)
				}
			},
			// FaultSeed 1 answers the first request 504, without Retry-After.
			after: 0, detail: "graph answered 504",
			recover: func(s *sim) { _ = s.srv.SetFaults(graphsim.FaultConfig{}) },
		},
		{
			name: "connection resets",
			req:  recovery.Request{ObjectID: deletedOrion, ObjectType: audit.TargetGroup},
			provoke: func(s *sim) {
				if err := s.srv.SetFaults(graphsim.FaultConfig{ConnectionResetRate: 1}); err != nil {
					s.t.Fatal(err)
				}
			},
			after: 0, detail: "graph unreachable",
			recover: func(s *sim) { _ = s.srv.SetFaults(graphsim.FaultConfig{}) },
			check: func(t *testing.T, s *sim) {
				if s.srv.State().Requests.Resets == 0 {
					t.Error("no connection was reset")
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, tc.cfg)
			writes, ca := recovery.NewPacer(recovery.DefaultWriteQuota, recovery.DefaultWriteWindow), fastCA()
			x := s.executor(reinstateTok, recovery.ExecutorOptions{Pacer: writes, CAPacer: ca})
			tc.provoke(s)
			mark := s.auditCount()
			binned := s.inBin(tc.req.ObjectID)

			out, err := x.Restore(context.Background(), tc.req)
			var retry *recovery.RetryError
			if !errors.As(err, &retry) {
				t.Fatalf("got %+v, %v; want a *RetryError", out, err)
			}
			if retry.After != tc.after {
				t.Errorf("After %s, want %s (%v)", retry.After, tc.after, retry)
			}
			if !strings.Contains(err.Error(), tc.detail) || !strings.Contains(err.Error(), tc.req.ObjectID) {
				t.Errorf("error %q should name the object and %q", err, tc.detail)
			}
			if got := paused(writes); got != tc.pausesWrites {
				t.Errorf("write pacer paused = %v, want %v", got, tc.pausesWrites)
			}
			if got := paused(ca); got != tc.pausesCA {
				t.Errorf("Conditional Access pacer paused = %v, want %v", got, tc.pausesCA)
			}
			if n := s.auditCount() - mark; n != 0 || s.inBin(tc.req.ObjectID) != binned {
				t.Errorf("a retryable failure wrote something: %d records; in bin %v, was %v", n, s.inBin(tc.req.ObjectID), binned)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
			if tc.recover == nil {
				return
			}
			tc.recover(s)
			// A fresh executor: this one's pacer may be paused on purpose.
			out, err = s.executor(reinstateTok, recovery.ExecutorOptions{}).Restore(context.Background(), tc.req)
			if err != nil || out.Status != recovery.StatusRestored || !out.Verified {
				t.Fatalf("retry: %+v, %v", out, err)
			}
			if s.restoreRecords(mark, tc.req.ObjectID) != 1 {
				t.Errorf("want exactly one restore record")
			}
		})
	}
}

// TestConditionalAccessPaced restores a policy into report-only (six
// Conditional Access requests) under graphsim's 1 request per second per
// tenant, time-scaled to one per 100 ms: the executor must space its
// requests itself, since Graph throttles them without Retry-After.
func TestConditionalAccessPaced(t *testing.T) {
	cases := []struct {
		name      string
		ca        *recovery.Pacer
		throttled bool
	}{
		// graphsim's limit exactly: the pacer's own slack absorbs jitter.
		{"paced at the limit", recovery.NewPacer(1, 100*time.Millisecond), false},
		{"not paced", fastCA(), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, simConfig{realClock: true, caLimit: true, opts: graphsim.Options{TimeScale: 10}})
			s.deleteAs(adminTok, "identity/conditionalAccess/policies", caPolicyID)
			time.Sleep(150 * time.Millisecond) // the admin's request leaves the window
			x := s.executor(reinstateTok, recovery.ExecutorOptions{CAPacer: tc.ca})
			out, err := x.Restore(context.Background(), recovery.Request{ObjectID: caPolicyID, ObjectType: audit.TargetConditionalAccessPolicy,
				Options: recovery.Options{CAPolicyStateAfterRestore: recovery.CAStateReportOnly}})
			throttled := s.srv.State().Throttle.Throttled["conditionalAccess"]
			if tc.throttled {
				var retry *recovery.RetryError
				if !errors.As(err, &retry) || throttled == 0 {
					t.Fatalf("unpaced: %+v, %v, %d throttled; want a RetryError from a 429", out, err, throttled)
				}
				return
			}
			if err != nil || out.Status != recovery.StatusRestored || decode(t, out.After).State != "enabledForReportingButNotEnforced" {
				t.Fatalf("outcome %+v, %v", out, err)
			}
			if throttled != 0 {
				t.Errorf("%d requests throttled, want none", throttled)
			}
		})
	}
}

// failPatches makes graphsim answer the first n policy PATCHes with a
// server error, through graphsim's own fault injector: the restore before
// them succeeds, the move to report-only does not.
func failPatches(n int) func(*graphsim.Server, http.Handler) http.Handler {
	var mu sync.Mutex
	return func(srv *graphsim.Server, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if r.Method == http.MethodPatch && n > 0 {
				n--
				_ = srv.SetFaults(graphsim.FaultConfig{ErrorRate: 1})
				defer func() { _ = srv.SetFaults(graphsim.FaultConfig{}) }()
			}
			next.ServeHTTP(w, r)
		})
	}
}

// cancelAfterRestore ends the caller's context once graphsim has answered
// a restore: the worker is shutting down just after the write.
func cancelAfterRestore(cancel context.CancelFunc) func(*graphsim.Server, http.Handler) http.Handler {
	return func(_ *graphsim.Server, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/restore") {
				cancel()
			}
		})
	}
}

// TestReportOnlyAfterRestoreFails covers a policy restored but not yet
// moved to report-only. Retrying the whole restore later cannot finish
// the job (the policy is then live, and a live policy is left alone), so
// the executor retries the move itself and, failing that, says loudly that
// the policy is enforcing.
func TestReportOnlyAfterRestoreFails(t *testing.T) {
	cases := []struct {
		name     string
		failures int
		want     string
		// detail is in Detail; "" asks for the move recorded in Actions.
		detail string
	}{
		{"one failed move is retried", 1, "enabledForReportingButNotEnforced", ""},
		{"moves that keep failing are reported", 10, "enabled", "restored ENABLED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, simConfig{wrap: failPatches(tc.failures)})
			s.deleteAs(adminTok, "identity/conditionalAccess/policies", caPolicyID)
			out, err := s.executor(reinstateTok, recovery.ExecutorOptions{}).Restore(context.Background(), recovery.Request{
				ObjectID: caPolicyID, ObjectType: audit.TargetConditionalAccessPolicy,
				Options: recovery.Options{CAPolicyStateAfterRestore: recovery.CAStateReportOnly}})
			if err != nil {
				t.Fatalf("a restore that happened must be final, got %v", err)
			}
			if out.Status != recovery.StatusRestored || !strings.Contains(out.Detail, tc.detail) {
				t.Errorf("outcome %s %q, want restored with %q", out.Status, out.Detail, tc.detail)
			}
			if moved := hasAction(out, "report-only"); moved != (tc.detail == "") {
				t.Errorf("Actions %q; the move is recorded only when it happened", out.Actions)
			}
			if live, _ := s.live("conditionalAccessPolicies", caPolicyID); live.State != tc.want {
				t.Errorf("policy state %q, want %q", live.State, tc.want)
			}
			if len(out.After) > 0 && decode(t, out.After).State != tc.want {
				t.Errorf("After state %q, want %q", decode(t, out.After).State, tc.want)
			}
		})
	}
}
