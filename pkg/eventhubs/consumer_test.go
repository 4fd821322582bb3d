package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

// criticalGroup is sec-prod-payments, soft-deleted in mixed-batch.json: the
// rule below restores it, so each delivery that acts records an intent.
const criticalGroup = "c1e3a5c7-e9a1-4c3e-85c7-e9a1c3e5a7c9"

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "audit", "eventhubs", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// recorder is the real pipeline, counting what each Ingest reported.
type recorder struct {
	pl     *pipeline.Pipeline
	mu     sync.Mutex
	calls  []pipeline.Batch
	total  pipeline.Report
	before func(n int, batch pipeline.Batch) error // n counts calls from 1
	during func(n int)                             // after the pipeline ran, before Ingest returns
}

func (r *recorder) Ingest(ctx context.Context, batch pipeline.Batch) (pipeline.Report, error) {
	r.mu.Lock()
	r.calls = append(r.calls, batch)
	n := len(r.calls)
	r.mu.Unlock()
	if r.before != nil {
		if err := r.before(n, batch); err != nil {
			return pipeline.Report{}, err
		}
	}
	report, err := r.pl.Ingest(ctx, batch)
	r.mu.Lock()
	r.total.Records += report.Records
	r.total.New += report.New
	r.total.Duplicates += report.Duplicates
	r.total.Intents += report.Intents
	r.mu.Unlock()
	if r.during != nil {
		r.during(n)
	}
	return report, err
}

func (r *recorder) snapshot() ([]pipeline.Batch, pipeline.Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pipeline.Batch(nil), r.calls...), r.total
}

// setup is a real pipeline over an in-memory SQLite store, in enforce
// mode with one rule restoring criticalGroup.
func setup(t *testing.T) (*recorder, store.Store) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	src := fmt.Sprintf(`version: 1
defaults: {mode: enforce}
channels: {console: {type: console}}
rules:
  - name: listed-objects
    when: 'event.deletion == "soft" && event.result == "success" && target.id in [%q]'
    actions: [restore]
    notify: [console]
`, criticalGroup)
	table, err := rules.Parse("listed.yaml", []byte(src), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now
	pl := pipeline.New(st, pipeline.Options{Now: now, ClaimLease: time.Minute,
		Decider: decide.New(table, guard.New(st, guard.Config{Rules: table.Guards, Now: now}), now)})
	return &recorder{pl: pl}, st
}

func intents(t *testing.T, st store.Store) int {
	t.Helper()
	list, err := st.Intents(context.Background(), store.IntentQuery{Kind: recovery.IntentKind, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func fastOptions() Options {
	return Options{MaxWait: 20 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, StopTimeout: 5 * time.Second}
}

// run runs a consumer for replica over parts until stop is called, and
// waits for it to return.
func run(c *Consumer, parts Partitions) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx, parts); close(done) }()
	return func() { cancel(); <-done }
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func checkpointIs(hub *MemoryHub, id string, want int64) func() bool {
	return func() bool { seq, ok := hub.Checkpoint(id); return ok && seq == want }
}

func TestIngestsAndCheckpointsTheLastEvent(t *testing.T) {
	rec, st := setup(t)
	hub := NewMemoryHub("0", "1")
	bodies := []string{"mixed-batch.json", "user.json", "group.json", "application.json"}
	var records int
	for i, name := range bodies {
		hub.Send(fmt.Sprint(i%2), fixture(t, name))
	}
	replica := hub.Replica("a")
	hub.Assign("0", "a")
	hub.Assign("1", "a")
	stop := run(New(rec, fastOptions()), replica)
	waitFor(t, "checkpoints on both partitions", func() bool { return checkpointIs(hub, "0", 1)() && checkpointIs(hub, "1", 1)() })
	stop()

	calls, total := rec.snapshot()
	for _, b := range calls {
		if !strings.HasPrefix(b.Source, "worker partition ") || b.LastAttempt {
			t.Errorf("batch source %q, last attempt %v", b.Source, b.LastAttempt)
		}
		for _, body := range b.Bodies {
			if !strings.HasPrefix(body.Source, "partition ") || !strings.Contains(body.Source, " sequence ") ||
				!strings.Contains(body.Source, " offset ") || !strings.Contains(body.Source, " enqueued ") {
				t.Errorf("body source %q; want it named as the function names it", body.Source)
			}
			records++
		}
	}
	if records != len(bodies) {
		t.Errorf("%d bodies ingested, want %d", records, len(bodies))
	}
	if total.Records == 0 || total.New != total.Records || total.Duplicates != 0 || total.Intents != 1 {
		t.Errorf("totals %+v; want every record new and one intent", total)
	}
	if n := intents(t, st); n != 1 {
		t.Errorf("%d restore intents, want 1", n)
	}
	if got := replica.Closed(); len(got) != 2 {
		t.Errorf("closed %v, want both partitions closed on stop", got)
	}
}

func TestCrashBeforeCheckpointRedeliversAsDuplicates(t *testing.T) {
	rec, st := setup(t)
	hub := NewMemoryHub("0")
	hub.Send("0", fixture(t, "mixed-batch.json"))
	hub.Send("0", fixture(t, "user.json"))
	var crashed atomic.Bool
	crashCtx, crash := context.WithCancel(context.Background())
	hub.BeforeCheckpoint = func(owner, _ string, _ Event) error {
		if owner == "a" {
			// The process dies after the pipeline made the batch durable
			// and before the checkpoint.
			crashed.Store(true)
			crash()
			return ErrCrash
		}
		return nil
	}
	hub.Assign("0", "a")
	done := make(chan struct{})
	go func() { New(rec, fastOptions()).Run(crashCtx, hub.Replica("a")); close(done) }()
	<-done
	if !crashed.Load() {
		t.Fatal("replica a never reached its checkpoint")
	}
	if _, ok := hub.Checkpoint("0"); ok {
		t.Fatal("a checkpoint was recorded by the crashed replica")
	}
	_, first := rec.snapshot()

	// A restarted replica reads from the last checkpoint: everything again.
	hub.Assign("0", "b")
	stop := run(New(rec, fastOptions()), hub.Replica("b"))
	waitFor(t, "b's checkpoint", checkpointIs(hub, "0", 1))
	stop()
	_, total := rec.snapshot()
	if first.New == 0 || total.Records != 2*first.Records || total.Duplicates != first.Records || total.New != first.New {
		t.Errorf("first delivery %+v, both %+v; want the redelivery counted as duplicates only", first, total)
	}
	if total.Intents != 1 || intents(t, st) != 1 {
		t.Errorf("%d intents reported, %d stored; want one: nothing acted twice", total.Intents, intents(t, st))
	}
}

func TestOwnershipLostMidBatchLeavesTheCheckpointToTheNewOwner(t *testing.T) {
	rec, st := setup(t)
	hub := NewMemoryHub("0")
	hub.Send("0", fixture(t, "mixed-batch.json"))
	hub.Send("0", fixture(t, "group.json"))
	// While a's batch is in the pipeline, load balancing gives the
	// partition to b.
	rec.during = func(n int) {
		if n == 1 {
			hub.Assign("0", "b")
		}
	}
	a, b := hub.Replica("a"), hub.Replica("b")
	hub.Assign("0", "a")
	stopA := run(New(rec, fastOptions()), a)
	waitFor(t, "a to drop the partition", func() bool { return len(a.Closed()) == 1 })
	if _, ok := hub.Checkpoint("0"); ok {
		t.Fatal("the old owner checkpointed after losing the partition")
	}
	stopB := run(New(rec, fastOptions()), b)
	waitFor(t, "b's checkpoint", checkpointIs(hub, "0", 1))
	stopA()
	stopB()
	calls, total := rec.snapshot()
	if len(calls) != 2 {
		t.Errorf("%d batches ingested, want a's and b's", len(calls))
	}
	if total.Duplicates != total.Records/2 || total.Intents != 1 || intents(t, st) != 1 {
		t.Errorf("totals %+v, %d intents stored; want b's delivery all duplicates and one intent", total, intents(t, st))
	}
	if hub.Checkpoints("0") != 1 {
		t.Errorf("%d checkpoints, want b's one", hub.Checkpoints("0"))
	}
}

func TestEmptyPartitionIngestsNothingAndStops(t *testing.T) {
	rec, _ := setup(t)
	hub := NewMemoryHub("0")
	replica := hub.Replica("a")
	hub.Assign("0", "a")
	stop := run(New(rec, fastOptions()), replica)
	time.Sleep(100 * time.Millisecond) // several receive waits
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the consumer did not stop on cancel")
	}
	if calls, _ := rec.snapshot(); len(calls) != 0 {
		t.Errorf("%d batches ingested from an empty partition", len(calls))
	}
	if _, ok := hub.Checkpoint("0"); ok || hub.Checkpoints("0") != 0 {
		t.Error("an empty partition was checkpointed")
	}
	if got := replica.Closed(); len(got) != 1 {
		t.Errorf("closed %v, want the partition closed", got)
	}
}

func TestRetryLaterIsRetriedBeforeCheckpointing(t *testing.T) {
	rec, st := setup(t)
	hub := NewMemoryHub("0")
	hub.Send("0", fixture(t, "mixed-batch.json"))
	const failures = 3
	rec.before = func(n int, _ pipeline.Batch) error {
		if n <= failures {
			if hub.Checkpoints("0") != 0 {
				t.Errorf("attempt %d: checkpointed before the pipeline accepted the batch", n)
			}
			return fmt.Errorf("store unavailable: %w", pipeline.ErrRetryLater)
		}
		return nil
	}
	hub.Assign("0", "a")
	stop := run(New(rec, fastOptions()), hub.Replica("a"))
	waitFor(t, "the checkpoint", checkpointIs(hub, "0", 0))
	stop()
	calls, total := rec.snapshot()
	if len(calls) != failures+1 {
		t.Errorf("%d attempts, want %d", len(calls), failures+1)
	}
	if !strings.HasSuffix(calls[len(calls)-1].Source, fmt.Sprintf("retry %d", failures)) {
		t.Errorf("last attempt's source %q", calls[len(calls)-1].Source)
	}
	if total.Intents != 1 || intents(t, st) != 1 || hub.Checkpoints("0") != 1 {
		t.Errorf("totals %+v, %d checkpoints", total, hub.Checkpoints("0"))
	}
}

func TestRetryLaterMarksTheLastAttempt(t *testing.T) {
	rec, _ := setup(t)
	hub := NewMemoryHub("0")
	hub.Send("0", fixture(t, "user.json"))
	rec.before = func(n int, b pipeline.Batch) error {
		if b.LastAttempt != (n >= 2) {
			t.Errorf("attempt %d: LastAttempt %v", n, b.LastAttempt)
		}
		if n < 3 {
			return pipeline.ErrRetryLater
		}
		return nil
	}
	opts := fastOptions()
	opts.MaxAttempts = 2
	hub.Assign("0", "a")
	stop := run(New(rec, opts), hub.Replica("a"))
	waitFor(t, "the checkpoint", checkpointIs(hub, "0", 0))
	stop()
}

func TestStopFinishesTheBatchInHand(t *testing.T) {
	rec, _ := setup(t)
	hub := NewMemoryHub("0")
	hub.Send("0", fixture(t, "mixed-batch.json"))
	ctx, cancel := context.WithCancel(context.Background())
	// SIGTERM arrives while the batch is in the pipeline.
	rec.before = func(int, pipeline.Batch) error { cancel(); return nil }
	hub.Assign("0", "a")
	New(rec, fastOptions()).Run(ctx, hub.Replica("a"))
	if !checkpointIs(hub, "0", 0)() {
		t.Error("the batch in hand was not checkpointed on stop")
	}
	if got := hub.Replica("a").Closed(); len(got) != 1 {
		t.Errorf("closed %v", got)
	}
}

func TestRetryLaterOnStopLeavesTheBatchToRedelivery(t *testing.T) {
	rec, _ := setup(t)
	hub := NewMemoryHub("0")
	hub.Send("0", fixture(t, "user.json"))
	ctx, cancel := context.WithCancel(context.Background())
	rec.before = func(int, pipeline.Batch) error { cancel(); return pipeline.ErrRetryLater }
	hub.Assign("0", "a")
	New(rec, fastOptions()).Run(ctx, hub.Replica("a"))
	if _, ok := hub.Checkpoint("0"); ok {
		t.Error("a batch the pipeline did not accept was checkpointed")
	}
}

func TestDescribe(t *testing.T) {
	e := Event{SequenceNumber: 59, Offset: "616008", EnqueuedTime: time.Date(2026, 3, 2, 9, 17, 1, 0, time.UTC)}
	if got, want := Describe("0", e), "partition 0 sequence 59 offset 616008 enqueued 2026-03-02T09:17:01Z"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
}

func TestIsOwnershipLost(t *testing.T) {
	if !IsOwnershipLost(errOwnershipLost("0", "b")) || IsOwnershipLost(errors.New("ownershiplost")) || IsOwnershipLost(nil) {
		t.Error("IsOwnershipLost does not follow azeventhubs.ErrorCodeOwnershipLost")
	}
}
