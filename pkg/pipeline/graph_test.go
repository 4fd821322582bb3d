package pipeline

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
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
			tn := simtest.Start(t, simSeed)
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
			executor := simtest.Executor(t, tn.URL, reinstateToken)
			p := New(st, Options{Decider: ruleDecider(table, st, guard.NewSelf(), time.Now), Bin: executor})
			page := tn.DeleteAs(t, adminToken, "groups", paymentsID)

			report, err := p.Ingest(ctx, Batch{Source: "test", Bodies: []Body{{Data: page}}})
			if err != nil {
				t.Fatal(err)
			}
			worker := recovery.NewWorker(st, executor, recovery.WorkerOptions{})
			drained, err := worker.Drain(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tn.Reads(reinstateToken) == 0 {
				t.Error("Reinstate never read the recycle bin, though the table's rules read `object`")
			}
			switch mode {
			case rules.ModeObserve:
				if n := tn.Writes(reinstateToken); n != 0 {
					t.Errorf("observe mode: %d writes reached graphsim", n)
				}
				if tn.Live(t, adminToken, "groups", paymentsID) {
					t.Error("observe mode: the group is live again")
				}
				if report.Observed != 1 || report.Intents != 0 || drained.Done != 0 {
					t.Errorf("observe mode: report %+v, drained %+v; want 1 observed, nothing recorded or done", report, drained)
				}
			case rules.ModeEnforce:
				if tn.Writes(reinstateToken) == 0 || !tn.Live(t, adminToken, "groups", paymentsID) {
					t.Errorf("enforce mode: %d writes, live %t; want the group restored", tn.Writes(reinstateToken), tn.Live(t, adminToken, "groups", paymentsID))
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
	tn := simtest.Start(t, simSeed)
	page := tn.DeleteAs(t, adminToken, "groups", paymentsID)
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
	unavailable := New(st, Options{Decider: decider, Bin: simtest.Executor(t, down, reinstateToken)})
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
	up := New(st, Options{Decider: decider, Bin: simtest.Executor(t, tn.URL, reinstateToken)})
	report, err = up.Ingest(ctx, Batch{Source: "replay", Bodies: []Body{{Data: letters[0].Raw}}})
	if err != nil || report.Deferred != 0 || report.Intents != 1 {
		t.Fatalf("Graph back: report %+v, err %v; want the restore recorded", report, err)
	}
}
