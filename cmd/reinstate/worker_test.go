package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/customhandler"
	"github.com/reinstate/reinstate/pkg/eventhubs"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

func TestWorkerRefusesWithoutEventHubs(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		want    []string
		notWant []string
	}{
		{"nothing set", nil,
			[]string{"REINSTATE_EVENTHUB_NAMESPACE", "REINSTATE_EVENTHUB_NAME", "REINSTATE_CHECKPOINT_URL", "not set"}, nil},
		{"checkpoints missing", map[string]string{"REINSTATE_EVENTHUB_NAMESPACE": "ns.servicebus.windows.net", "REINSTATE_EVENTHUB_NAME": "audit"},
			[]string{"REINSTATE_CHECKPOINT_URL not set"}, []string{"REINSTATE_EVENTHUB_NAME,"}},
		{"namespace malformed", map[string]string{"REINSTATE_EVENTHUB_NAMESPACE": "https://ns.servicebus.windows.net", "REINSTATE_EVENTHUB_NAME": "audit",
			"REINSTATE_CHECKPOINT_URL": "https://acct.blob.core.windows.net/checkpoints"},
			[]string{"REINSTATE_EVENTHUB_NAMESPACE", "fully qualified"}, nil},
		{"checkpoint key never echoed", map[string]string{"REINSTATE_CHECKPOINT_URL": "AccountName=a;AccountKey=c2VjcmV0"},
			[]string{"REINSTATE_CHECKPOINT_URL", "Container"}, []string{"c2VjcmV0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{"REINSTATE_RULES": replayRules, "REINSTATE_STORE": "sqlite:" + t.TempDir() + "/state.db"}
			for k, v := range tt.vars {
				vars[k] = v
			}
			res := invoke(t, vars, "", "worker")
			if res.code != 1 {
				t.Fatalf("exit code %d, want 1; stderr %q", res.code, res.stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr %q does not mention %q", res.stderr, want)
				}
			}
			for _, bad := range tt.notWant {
				if strings.Contains(res.stderr, bad) {
					t.Errorf("stderr %q mentions %q", res.stderr, bad)
				}
			}
		})
	}
}

func TestWorkerIsACommand(t *testing.T) {
	res := invoke(t, nil, "", "worker", "--help")
	if res.code != 0 || !strings.Contains(res.stdout, "event hub") || !strings.Contains(res.stdout, "REINSTATE_CHECKPOINT_URL") {
		t.Errorf("worker --help: code %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
}

// reinstateAppID is Reinstate's application in the graphsim seed: the
// identity behind reinstate-token, which Graph logs as a restore's
// initiator.
const reinstateAppID = "4e6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c2e"

// TestWorkerRestoresOnceFromTheHubAndStopsOnSIGTERM runs `reinstate worker`
// from its configuration over an in-memory event hub, with the seed tenant
// in graphsim and the on-call rule table (enforce: sec-prod groups are
// restored). The deletion of sec-prod-payments, as graphsim's diagnostic
// setting writes it to Event Hubs, goes to partition 0. It asserts:
//
//   - the group is restored, as Graph reads it back, by Reinstate;
//   - every checkpoint of the partition is taken only once the journal
//     holds the decision and the restore intent is in the store;
//   - the first replica, whose checkpoint fails (a crash between ingesting
//     and checkpointing), returns nil on SIGTERM after closing its
//     partition;
//   - a second replica, given the partition, receives the event again,
//     restores nothing a second time (one decision, one restore.done, one
//     restore in Graph's audit log), checkpoints it, and also returns nil
//     on SIGTERM after closing its partition.
func TestWorkerRestoresOnceFromTheHubAndStopsOnSIGTERM(t *testing.T) {
	ctx := t.Context()
	bodies := make(chan []string, 4)
	tn := simtest.Start(t, "../../testdata/graphsim/seed.json", forwardTo(t, bodies))
	dir := t.TempDir()
	db := filepath.Join(dir, "state.db")
	vars := map[string]string{
		"REINSTATE_STORE":      "sqlite:" + db,
		"REINSTATE_GRAPH_URL":  tn.URL,
		"REINSTATE_GRAPH_AUTH": "static", "REINSTATE_GRAPH_TOKEN": "reinstate-token",
		"REINSTATE_RULES":     "../../testdata/rules/oncall.yaml",
		"REINSTATE_TENANT_ID": "7f3c2a91-5d4e-4b8a-9c61-2e0f8d3b4a17",
		// What the command checks before it builds its Processor; the
		// in-memory hub stands in for what they name.
		"REINSTATE_EVENTHUB_NAMESPACE": "evhns-reinstate.servicebus.windows.net",
		"REINSTATE_EVENTHUB_NAME":      "entra-audit",
		"REINSTATE_CHECKPOINT_URL":     "https://streinstate.blob.core.windows.net/checkpoints",
	}
	// The test's own handle on the store the workers share, opened first
	// so that the schema exists before either worker starts.
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	// Every checkpoint first records what the store held at that moment;
	// the first replica's then fails, as if it crashed right there.
	hub := eventhubs.NewMemoryHub("0")
	var (
		mu       sync.Mutex
		attempts []checkpointAttempt
	)
	hub.BeforeCheckpoint = func(owner, partition string, last eventhubs.Event) error {
		a := checkpointAttempt{owner: owner, sequence: last.SequenceNumber, decisions: journalCount(t, st, pipeline.KindDecision), intents: restoreIntents(t, st, paymentsGroup)}
		mu.Lock()
		attempts = append(attempts, a)
		mu.Unlock()
		if owner == "worker-1" {
			return eventhubs.ErrCrash
		}
		return nil
	}
	checkpointed := func(owner string) []checkpointAttempt {
		mu.Lock()
		defer mu.Unlock()
		var out []checkpointAttempt
		for _, a := range attempts {
			if a.owner == owner {
				out = append(out, a)
			}
		}
		return out
	}

	tn.DeleteAs(t, "admin-token", "groups", paymentsGroup)
	if err := tn.Sim.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var body []byte
	select {
	case got := <-bodies:
		if len(got) != 1 || !strings.Contains(got[0], `"records"`) || !strings.Contains(got[0], paymentsGroup) {
			t.Fatalf("graphsim forwarded %d bodies, want one {\"records\":[...]} naming the group: %q", len(got), got)
		}
		body = []byte(got[0])
	case <-time.After(10 * time.Second):
		t.Fatal("graphsim forwarded no Event Hubs body of the deletion")
	}
	event := hub.Send("0", body)

	// The first replica: restores, and fails to checkpoint.
	first := hub.Replica("worker-1")
	w1 := startWorker(t, vars, first)
	hub.Assign("0", "worker-1")
	waitFor(t, w1, "worker-1 to restore the group and try to checkpoint", func() bool {
		return len(checkpointed("worker-1")) > 0 && tn.Live(t, "admin-token", "groups", paymentsGroup) &&
			journalCount(t, st, recovery.KindRestoreDone) == 1
	})
	for _, a := range checkpointed("worker-1") {
		if a.sequence != event.SequenceNumber || a.decisions != 1 || a.intents != 1 {
			t.Errorf("worker-1 checkpointed sequence %d with %d decisions journaled and %d restore intents stored; want sequence %d after 1 and 1",
				a.sequence, a.decisions, a.intents, event.SequenceNumber)
		}
	}
	if seq, ok := hub.Checkpoint("0"); ok {
		t.Fatalf("partition 0 checkpointed at %d; worker-1's checkpoint was to fail", seq)
	}
	if all, byReinstate := graphRestores(tn, paymentsGroup); all != 1 || byReinstate != 1 {
		t.Errorf("Graph logged %d restores of the group, %d by Reinstate; want 1, by Reinstate", all, byReinstate)
	}
	w1.stop(t)
	if closed := first.Closed(); !slices.Equal(closed, []string{"0"}) {
		t.Errorf("worker-1 closed partitions %q before returning, want [0]", closed)
	}

	// The second replica gets the partition from its last checkpoint,
	// which there is none of: the event comes again.
	second := hub.Replica("worker-2")
	w2 := startWorker(t, vars, second)
	hub.Assign("0", "worker-2")
	waitFor(t, w2, "worker-2 to checkpoint the redelivered event", func() bool {
		seq, ok := hub.Checkpoint("0")
		return ok && seq == event.SequenceNumber
	})
	for _, a := range checkpointed("worker-2") {
		if a.decisions != 1 || a.intents != 1 {
			t.Errorf("worker-2 checkpointed sequence %d with %d decisions journaled and %d restore intents; want 1 and 1", a.sequence, a.decisions, a.intents)
		}
	}
	// Ingesting journals synchronously, before the checkpoint: a second
	// decision or reception would show by now.
	for kind, want := range map[store.Kind]int{store.KindEventReceived: 1, pipeline.KindDecision: 1, recovery.KindRestoreDone: 1, recovery.KindRestoreFailed: 0} {
		if got := journalCount(t, st, kind); got != want {
			t.Errorf("the journal has %d %s entries about the group, want %d", got, kind, want)
		}
	}
	if all, _ := graphRestores(tn, paymentsGroup); all != 1 {
		t.Errorf("Graph logged %d restores of the group after the redelivery, want 1", all)
	}
	w2.stop(t)
	if closed := second.Closed(); !slices.Equal(closed, []string{"0"}) {
		t.Errorf("worker-2 closed partitions %q before returning, want [0]", closed)
	}
}

// checkpointAttempt is what the store held when a replica checkpointed.
type checkpointAttempt struct {
	owner     string
	sequence  int64
	decisions int
	intents   int
}

// forwardTo makes graphsim's diagnostic setting deliver to a loopback
// stand-in for the Functions host, which sends the Event Hubs bodies of
// each invocation to bodies.
func forwardTo(t *testing.T, bodies chan<- []string) func(*graphsim.Options) {
	t.Helper()
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req customhandler.Request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		events, err := req.Strings("events")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		bodies <- events
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(host.Close)
	return func(o *graphsim.Options) { o.Forward = graphsim.ForwardConfig{URL: host.URL} }
}

// runningWorker is one `reinstate worker` running in the test.
type runningWorker struct {
	cancel context.CancelFunc
	done   chan error
	log    *lockedBuffer
}

// startWorker runs the worker as the command does once it has built its
// Processor: the configuration loaded from vars as every command loads it,
// then consume, fed by replica instead of the Processor. Cancelling its
// context stands for SIGTERM.
func startWorker(t *testing.T, vars map[string]string, replica *eventhubs.MemoryReplica) *runningWorker {
	t.Helper()
	getenv := func(name string) string { return vars[name] }
	w := &runningWorker{done: make(chan error, 1), log: &lockedBuffer{}}
	e := &env{getenv: getenv, stdin: strings.NewReader(""), stdout: w.log, stderr: w.log}
	if err := e.configure(getenv); err != nil {
		t.Fatal(err)
	}
	if err := checkWorkerConfig(e.cfg.EventHub); err != nil {
		t.Fatalf("the command would refuse this configuration: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() {
		w.done <- e.consume(ctx, func(ctx context.Context, c *eventhubs.Consumer) error {
			c.Run(ctx, replica)
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(time.Minute):
		}
		if t.Failed() {
			t.Logf("worker log:\n%s", w.log.String())
		}
	})
	return w
}

// stop sends the worker SIGTERM and waits for it to return, which must be
// nil.
func (w *runningWorker) stop(t *testing.T) {
	t.Helper()
	w.cancel()
	select {
	case err := <-w.done:
		w.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("the worker returned %v after SIGTERM, want nil", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the worker did not return within a minute of SIGTERM")
	}
}

// waitFor polls check until it holds, failing the test after 30 s or if
// the worker returns first.
func waitFor(t *testing.T, w *runningWorker, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !check() {
		select {
		case err := <-w.done:
			w.done <- err // for the cleanup
			t.Fatalf("the worker returned (%v) while waiting for %s", err, what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// journalCount counts the journal's entries of kind about the payments
// group.
func journalCount(t *testing.T, st store.Store, kind store.Kind) int {
	entries, err := st.Journal(context.Background(), store.JournalQuery{TargetID: paymentsGroup, Limit: 1000})
	if err != nil {
		t.Errorf("read the journal: %v", err)
		return -1
	}
	n := 0
	for _, e := range entries {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// restoreIntents counts the restore intents of objectID in the store,
// whatever their state.
func restoreIntents(t *testing.T, st store.Store, objectID string) int {
	intents, err := st.Intents(context.Background(), store.IntentQuery{Kind: recovery.IntentKind, Limit: 1000})
	if err != nil {
		t.Errorf("list intents: %v", err)
		return -1
	}
	n := 0
	for _, in := range intents {
		var plan recovery.Plan
		if json.Unmarshal(in.Payload, &plan) == nil && strings.EqualFold(plan.Request.ObjectID, objectID) {
			n++
		}
	}
	return n
}

// graphRestores counts graphsim's audit records of restores of id, and
// those Reinstate's identity initiated: Graph logs one for each restore it
// carries out.
func graphRestores(tn *simtest.Tenant, id string) (all, byReinstate int) {
	for _, raw := range tn.Sim.AuditRecords() {
		var rec struct {
			OperationType string `json:"operationType"`
			InitiatedBy   struct {
				App *struct {
					AppID string `json:"appId"`
				} `json:"app"`
			} `json:"initiatedBy"`
			Targets []struct {
				ID string `json:"id"`
			} `json:"targetResources"`
		}
		if json.Unmarshal(raw, &rec) != nil || rec.OperationType != "Restore" {
			continue
		}
		for _, target := range rec.Targets {
			if strings.EqualFold(target.ID, id) {
				all++
				if rec.InitiatedBy.App != nil && strings.EqualFold(rec.InitiatedBy.App.AppID, reinstateAppID) {
					byReinstate++
				}
				break
			}
		}
	}
	return all, byReinstate
}

// lockedBuffer is a bytes.Buffer safe for the worker's goroutines to write
// while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
