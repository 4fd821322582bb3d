package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/graphapi"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
)

// The sample tenant (testdata/graphsim/README.md).
const (
	simSeed        = "../../testdata/graphsim/seed.json"
	sampleRules    = "../../docs/rules.sample.yaml"
	paymentsID     = "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65" // sec-prod-payments: critical-groups restores it
	reinstateToken = "reinstate-token"
	adminToken     = "admin-token"
)

// tenant is graphsim on loopback, counting the requests Reinstate's identity
// makes by method.
type tenant struct {
	sim    *graphsim.Server
	url    string
	writes atomic.Int64
	reads  atomic.Int64
}

func newTenant(t *testing.T) *tenant {
	t.Helper()
	seed, err := graphsim.LoadSeed(simSeed)
	if err != nil {
		t.Fatal(err)
	}
	tn := &tenant{}
	opts := graphsim.Options{}
	opts.Throttle.CAQuota, opts.Throttle.AuditQuota = -1, -1
	if tn.sim, err = graphsim.New(seed, opts); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+reinstateToken {
			if r.Method == http.MethodGet {
				tn.reads.Add(1)
			} else {
				tn.writes.Add(1)
			}
		}
		tn.sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tn.url = srv.URL
	return tn
}

// deleteAsAdmin deletes a live group as the administrator, and returns the
// audit records graphsim logged for it as one Graph page.
func (tn *tenant) deleteAsAdmin(t *testing.T, collection, id string) []byte {
	t.Helper()
	before := len(tn.sim.AuditRecords())
	req, _ := http.NewRequest(http.MethodDelete, tn.url+"/v1.0/"+collection+"/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE %s: %d", id, resp.StatusCode)
	}
	page, err := json.Marshal(map[string]any{"value": tn.sim.AuditRecords()[before:]})
	if err != nil {
		t.Fatal(err)
	}
	return page
}

func (tn *tenant) live(t *testing.T, collection, id string) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, tn.url+"/v1.0/"+collection+"/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func executorFor(t *testing.T, url string) *recovery.Executor {
	t.Helper()
	client, err := graphapi.New(graphapi.Config{BaseURL: url, Auth: graphapi.AuthStatic, Token: reinstateToken, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return recovery.NewExecutor(client, recovery.ExecutorOptions{VerifyDelays: []time.Duration{0}, FollowUpDelays: []time.Duration{0}})
}

// TestObserveModeWritesNothingToTheTenant runs the whole flow against
// graphsim with the sample rule table: the administrator deletes a critical
// group; Reinstate decides, reads the recycle bin (the table's first rules
// read `object`), and drains its outbox. In observe mode no write reaches
// graphsim and the group stays deleted; in enforce mode, the control, it is
// restored.
func TestObserveModeWritesNothingToTheTenant(t *testing.T) {
	for _, mode := range []rules.Mode{rules.ModeObserve, rules.ModeEnforce} {
		t.Run(string(mode), func(t *testing.T) {
			ctx := context.Background()
			tn := newTenant(t)
			table, err := rules.Load(sampleRules, func(name string) string {
				if name == rules.EnvMode {
					return string(mode)
				}
				return ""
			})
			if err != nil {
				t.Fatal(err)
			}
			st := openStore(t)
			executor := executorFor(t, tn.url)
			p := New(st, Options{Decider: ruleDecider(table, st, guard.NewSelf(), time.Now), Bin: executor})
			page := tn.deleteAsAdmin(t, "groups", paymentsID)

			report, err := p.Ingest(ctx, Batch{Source: "test", Bodies: []Body{{Data: page}}})
			if err != nil {
				t.Fatal(err)
			}
			worker := recovery.NewWorker(st, executor, recovery.WorkerOptions{})
			drained, err := worker.Drain(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tn.reads.Load() == 0 {
				t.Error("Reinstate never read the recycle bin, though the table's rules read `object`")
			}
			switch mode {
			case rules.ModeObserve:
				if n := tn.writes.Load(); n != 0 {
					t.Errorf("observe mode: %d writes reached graphsim", n)
				}
				if tn.live(t, "groups", paymentsID) {
					t.Error("observe mode: the group is live again")
				}
				if report.Observed != 1 || report.Intents != 0 || drained.Done != 0 {
					t.Errorf("observe mode: report %+v, drained %+v; want 1 observed, nothing recorded or done", report, drained)
				}
			case rules.ModeEnforce:
				if tn.writes.Load() == 0 || !tn.live(t, "groups", paymentsID) {
					t.Errorf("enforce mode: %d writes, live %t; want the group restored", tn.writes.Load(), tn.live(t, "groups", paymentsID))
				}
				if report.Intents != 1 || drained.Done != 1 {
					t.Errorf("enforce mode: report %+v, drained %+v", report, drained)
				}
			}
		})
	}
}

// TestEventsWaitWhenTheRecycleBinCannotBeRead: with Graph down, an event
// whose rules read `object` is not decided on a null. It is released for
// the host to redeliver; on the host's last attempt the body is kept as a
// dead letter. Once Graph answers, the redelivery decides it.
func TestEventsWaitWhenTheRecycleBinCannotBeRead(t *testing.T) {
	ctx := context.Background()
	tn := newTenant(t)
	page := tn.deleteAsAdmin(t, "groups", paymentsID)
	table, err := rules.Load(sampleRules, func(name string) string {
		if name == rules.EnvMode {
			return "enforce"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	// A loopback port nothing listens on: every read fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()

	st := openStore(t)
	decider := ruleDecider(table, st, guard.NewSelf(), time.Now)
	unavailable := New(st, Options{Decider: decider, Bin: executorFor(t, down)})
	batch := Batch{Source: "test", Bodies: []Body{{Data: page}}}

	report, err := unavailable.Ingest(ctx, batch)
	if !errors.Is(err, ErrRetryLater) || report.Deferred != 1 || report.New != 0 || report.Intents != 0 {
		t.Fatalf("Graph down: report %+v, err %v; want 1 deferred, nothing recorded, ErrRetryLater", report, err)
	}
	if n := countKind(journalOf(t, st), store.KindEventReceived); n != 0 {
		t.Errorf("a deferred event was journaled %d times; it must be decided afresh", n)
	}

	batch.LastAttempt = true
	report, err = unavailable.Ingest(ctx, batch)
	if err != nil || report.Deferred != 1 {
		t.Fatalf("last attempt: report %+v, err %v; want the body kept, no retry asked", report, err)
	}
	letters, err := st.DeadLetters(ctx, 10)
	if err != nil || len(letters) != 1 || !strings.Contains(letters[0].Reason, "replay") || string(letters[0].Raw) != string(page) {
		t.Fatalf("dead letters %+v, %v; want the whole body, with how to replay it", letters, err)
	}

	// Graph is back: the replayed body is decided and the restore recorded.
	up := New(st, Options{Decider: decider, Bin: executorFor(t, tn.url)})
	report, err = up.Ingest(ctx, Batch{Source: "replay", Bodies: []Body{{Data: letters[0].Raw}}})
	if err != nil || report.Deferred != 0 || report.Intents != 1 {
		t.Fatalf("Graph back: report %+v, err %v; want the restore recorded", report, err)
	}
}
