package replay

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
)

// expected is what the pipeline should make of the bodies of files, each
// decoded on its own here: an NDJSON line is a body.
type expected struct {
	bodies, events, skipped, deadBodies int
	ids                                 []string
}

func expect(t *testing.T, files []string) expected {
	t.Helper()
	var e expected
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		bodies := [][]byte{data}
		if filepath.Ext(name) == ".ndjson" {
			bodies = nil
			for _, line := range strings.Split(string(data), "\n") {
				if strings.TrimSpace(line) != "" {
					bodies = append(bodies, []byte(line))
				}
			}
		}
		for _, body := range bodies {
			e.bodies++
			result, err := audit.Decode(body)
			if err != nil {
				e.deadBodies++
				continue
			}
			e.skipped += len(result.Skipped)
			for _, ev := range result.Events {
				e.events++
				e.ids = append(e.ids, ev.ID)
			}
		}
	}
	return e
}

func TestRunIngestsEveryBodyOnceAndAReplayAgainFindsDuplicates(t *testing.T) {
	files := []string{
		filepath.Join(testdata, "audit/ndjson/mixed.ndjson"),
		filepath.Join(testdata, "audit/eventhubs/group.json"),
		filepath.Join(testdata, "audit/malformed/html-error-page.txt"),
		filepath.Join(testdata, "audit/malformed/bad-records.json"),
	}
	want := expect(t, files)
	if want.skipped == 0 || want.deadBodies == 0 || want.events == 0 {
		t.Fatalf("fixtures changed: %+v; the test needs records, skipped records and a dead body", want)
	}
	st := openStore(t)
	p := newPipeline(t, st, st, rules.ModeObserve)
	const batch = 2
	wantBatches := (want.bodies + batch - 1) / batch

	for _, tt := range []struct {
		name                  string
		new, duplicates, kept int
		decisions             bool
	}{
		{name: "first replay", new: want.events, decisions: true},
		{name: "second replay", duplicates: want.events, kept: want.skipped + want.deadBodies},
	} {
		src, err := NewFiles(files, nil)
		if err != nil {
			t.Fatal(err)
		}
		var updates []Status
		status, err := Run(context.Background(), src, p, Options{Name: "replay test", Batch: batch, OnBatch: func(s Status) { updates = append(updates, s) }})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		r := status.Report
		if r.Bodies != want.bodies || r.Records != want.events+want.skipped || r.New != tt.new || r.Duplicates != tt.duplicates ||
			r.Skipped != want.skipped || r.DeadBodies != want.deadBodies || r.AlreadyKept != tt.kept {
			t.Errorf("%s: report %s; want bodies=%d records=%d new=%d duplicates=%d skipped=%d dead_bodies=%d already_kept=%d",
				tt.name, r, want.bodies, want.events+want.skipped, tt.new, tt.duplicates, want.skipped, want.deadBodies, tt.kept)
		}
		if (r.Decisions > 0) != tt.decisions {
			t.Errorf("%s: %d decisions; a record is decided on only when it is new", tt.name, r.Decisions)
		}
		if status.Batches != wantBatches || status.Unfinished != 0 {
			t.Errorf("%s: %d batches, %d unfinished; want %d and 0", tt.name, status.Batches, status.Unfinished, wantBatches)
		}
		if status.Done != status.Total || status.Total == 0 {
			t.Errorf("%s: progress %d of %d at the end", tt.name, status.Done, status.Total)
		}
		// OnBatch is told after every batch, never going back.
		if len(updates) != wantBatches {
			t.Fatalf("%s: OnBatch called %d times, want %d", tt.name, len(updates), wantBatches)
		}
		for i, u := range updates {
			if u.Batches != i+1 || (i > 0 && (u.Done < updates[i-1].Done || u.Report.Bodies <= updates[i-1].Report.Bodies)) {
				t.Errorf("%s: update %d is %+v after %+v", tt.name, i, u, updates[max(i-1, 0)])
			}
		}
		if last := updates[len(updates)-1]; last.Report != status.Report {
			t.Errorf("%s: last update %s, Run returned %s", tt.name, last.Report, status.Report)
		}
	}
	// Each record journaled once, by the first replay.
	got := received(t, st)
	if !slices.Equal(got, want.ids) {
		t.Errorf("journaled %q, want %q", got, want.ids)
	}
	letters, err := st.DeadLetters(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != want.skipped+want.deadBodies {
		t.Errorf("%d dead letters, want %d", len(letters), want.skipped+want.deadBodies)
	}
}

// heldBatch is a body of three records from mixed-batch.json, the second
// of which another instance is to hold.
func heldBatch(t *testing.T) (body []byte, ids []string) {
	t.Helper()
	body = pick(t, "audit/eventhubs/mixed-batch.json", "MB1UP", "MB2DG", "MB3SP")
	return body, eventIDs(t, body)
}

func TestRunRetriesRecordsAnotherInstanceHoldsAndCountsEachRecordOnce(t *testing.T) {
	const attempts = 4
	const backoff = 2 * time.Millisecond
	tests := []struct {
		name string
		// between runs after an attempt on the held batch, as the other
		// instance.
		between        func(t *testing.T, st store.Store, key string)
		wantAttempts   int
		wantState      store.ClaimState
		new, dups      int
		wantUnfinished int
	}{
		{
			name:         "still held after the last attempt",
			between:      func(*testing.T, store.Store, string) {},
			wantAttempts: attempts, wantState: store.Held, new: 2, wantUnfinished: 1,
		},
		{
			name: "released by its holder",
			between: func(t *testing.T, st store.Store, key string) {
				if err := st.Release(context.Background(), key); err != nil {
					t.Error(err)
				}
			},
			wantAttempts: 2, wantState: store.Done, new: 3,
		},
		{
			name: "completed by its holder",
			between: func(t *testing.T, st store.Store, key string) {
				if err := st.Complete(context.Background(), key, t0); err != nil {
					t.Error(err)
				}
			},
			wantAttempts: 2, wantState: store.Done, new: 2, dups: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			body, ids := heldBatch(t)
			heldKey := pipeline.DedupKey(ids[1])
			holdElsewhere(t, st, heldKey)
			rec := &recordingIngester{in: newPipeline(t, st, st, rules.ModeObserve)}
			rec.after = func(n int) {
				if n == 1 {
					tt.between(t, st, heldKey)
				}
			}
			// A second batch, free of held records, goes through once.
			other := readFixture(t, "audit/eventhubs/group.json")
			src := &bodiesSource{bodies: []pipeline.Body{{Data: body, Source: "held"}, {Data: other, Source: "other"}}}
			status, err := Run(context.Background(), src, rec, Options{Name: "replay test", Batch: 1, Attempts: attempts, Backoff: backoff})
			if err != nil {
				t.Fatal(err)
			}

			if got := len(rec.attempts); got != tt.wantAttempts+1 {
				t.Fatalf("%d calls to the pipeline, want %d for the held batch and 1 for the other", got, tt.wantAttempts+1)
			}
			held, rest := rec.attempts[:tt.wantAttempts], rec.attempts[tt.wantAttempts]
			for i, a := range held {
				if a.source != "replay test batch 1" {
					t.Errorf("attempt %d was for %q, want the held batch", i+1, a.source)
				}
				// Only the attempt the Functions host would not repeat
				// lets the pipeline keep what it cannot decide.
				if a.lastAttempt != (i+1 == attempts) {
					t.Errorf("attempt %d: LastAttempt %v", i+1, a.lastAttempt)
				}
				// Backoff doubles: never shorter than Backoff·2^(i-1).
				if i > 0 {
					if gap, min := a.at.Sub(held[i-1].at), backoff<<(i-1); gap < min {
						t.Errorf("attempt %d came %s after the one before, want at least %s", i+1, gap, min)
					}
				}
			}
			if rest.source != "replay test batch 2" || rest.err != nil {
				t.Errorf("other batch: %q, %v", rest.source, rest.err)
			}

			otherIDs := eventIDs(t, other)
			r := status.Report
			wantNew := tt.new + len(otherIDs)
			if r.Records != len(ids)+len(otherIDs) || r.New != wantNew || r.Duplicates != tt.dups || status.Unfinished != tt.wantUnfinished {
				t.Errorf("report %s, unfinished %d; want records=%d new=%d duplicates=%d unfinished=%d",
					r, status.Unfinished, len(ids)+len(otherIDs), wantNew, tt.dups, tt.wantUnfinished)
			}
			if r.Records != r.New+r.Duplicates+status.Unfinished {
				t.Errorf("records %d are not new %d + duplicates %d + unfinished %d: some counted twice or never", r.Records, r.New, r.Duplicates, status.Unfinished)
			}
			if got := peek(t, st, heldKey); got != tt.wantState {
				t.Errorf("held record's claim is %s, want %s", got, tt.wantState)
			}
			// The replay journals what it processed, once.
			journaled := received(t, st)
			for _, id := range ids {
				n := 0
				for _, j := range journaled {
					if j == id {
						n++
					}
				}
				want := 1
				if id == ids[1] && tt.new == 2 {
					want = 0 // left to, or done by, its holder
				}
				if n != want {
					t.Errorf("%s journaled %d times, want %d", id, n, want)
				}
			}
		})
	}
}

func TestRunCountsRecordsLeftDeferredAfterTheLastAttempt(t *testing.T) {
	// A rule that reads the recycle-bin copy, while Graph throttles every
	// request: the pipeline defers the group's soft delete, and the last
	// attempt keeps its body as a dead letter.
	tn := simtest.Start(t, filepath.Join(testdata, "graphsim/seed.json"), func(o *graphsim.Options) {
		o.Faults.StormFor = graphsim.Duration(time.Hour)
	})
	st := openStore(t)
	table, err := rules.Load(filepath.Join(testdata, "plan/object-rules.yaml"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return t0 }
	p := pipeline.New(st, pipeline.Options{Now: now, Bin: simtest.Executor(t, tn.URL, "reinstate-token"),
		Decider: decide.New(table, guard.New(st, guard.Config{Rules: table.Guards, Now: now}), now)})
	body := readFixture(t, "audit/eventhubs/group.json")
	rec := &recordingIngester{in: p}
	src := &bodiesSource{bodies: []pipeline.Body{{Data: body}}}
	status, err := Run(context.Background(), src, rec, Options{Attempts: 3, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.attempts) != 3 {
		t.Errorf("%d attempts, want 3: a deferred record is retried like a held one", len(rec.attempts))
	}
	if tn.BinReads() == 0 {
		t.Fatal("the bin was never read: the record was not deferred for it")
	}
	r := status.Report
	if r.Deferred != 1 || r.New != 2 || r.Records != 3 || status.Unfinished != 0 {
		t.Errorf("report %s, unfinished %d; want the soft delete deferred once, the other two new", r, status.Unfinished)
	}
	letters, err := st.DeadLetters(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 1 || !strings.Contains(letters[0].Reason, "could not be decided") {
		t.Errorf("dead letters %+v, want the deferred body kept", letters)
	}
}

// failingClaim is the real store but for one Claim, the n-th, which fails
// as a store that drops its connection would: a fault to inject where the
// real store does not fail on demand.
type failingClaim struct {
	pipeline.State
	n, calls int
}

func (f *failingClaim) Claim(ctx context.Context, key string, now, leaseUntil time.Time) (store.ClaimState, error) {
	f.calls++
	if f.calls == f.n {
		return 0, errors.New("connection reset")
	}
	return f.State.Claim(ctx, key, now, leaseUntil)
}

func TestRunCountsABatchOnceWhenAnAttemptFailsPartWay(t *testing.T) {
	st := openStore(t)
	group := readFixture(t, "audit/eventhubs/group.json")
	user := readFixture(t, "audit/eventhubs/user.json")
	ids := append(eventIDs(t, group), eventIDs(t, user)...)
	// The store fails on the first body's last record: the first attempt
	// never reaches the second body, and the retry does all the rest.
	state := &failingClaim{State: st, n: len(eventIDs(t, group))}
	rec := &recordingIngester{in: newPipeline(t, state, st, rules.ModeObserve)}
	src := &bodiesSource{bodies: []pipeline.Body{{Data: group}, {Data: user}}}
	status, err := Run(context.Background(), src, rec, Options{Attempts: 3, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.attempts) != 2 || rec.attempts[0].report.Records >= len(ids) {
		t.Fatalf("attempts %+v: want a first attempt cut short, then a retry", rec.attempts)
	}
	if r := status.Report; r.Bodies != 2 || r.Records != len(ids) || r.New != len(ids) || r.Duplicates != 0 {
		t.Errorf("report %s; want each of %d records counted once, as new", r, len(ids))
	}
	if got := received(t, st); !slices.Equal(got, ids) {
		t.Errorf("journaled %q, want %q", got, ids)
	}
}

func TestRunGivesUpOnAStoreThatKeepsFailing(t *testing.T) {
	st := openStore(t)
	rec := &recordingIngester{in: newPipeline(t, st, st, rules.ModeObserve)}
	st.Close()
	src := &bodiesSource{bodies: []pipeline.Body{{Data: readFixture(t, "audit/eventhubs/group.json")}}}
	_, err := Run(context.Background(), src, rec, Options{Name: "replay test", Attempts: 3, Backoff: time.Millisecond})
	if !errors.Is(err, pipeline.ErrRetryLater) || !strings.HasPrefix(err.Error(), "replay test batch 1: ") {
		t.Errorf("error %v, want the pipeline's, naming the batch", err)
	}
	if len(rec.attempts) != 3 {
		t.Errorf("%d attempts, want 3", len(rec.attempts))
	}
}

func TestRunStopsAtASourceErrorNamingTheReplay(t *testing.T) {
	errDisk := errors.New("disk on fire")
	group := readFixture(t, "audit/eventhubs/group.json")
	user := readFixture(t, "audit/eventhubs/user.json")
	dir := t.TempDir()
	first := writeFile(t, dir, "first.json", group)
	vanished := writeFile(t, dir, "vanished.json", user)
	tests := []struct {
		name string
		src  func(t *testing.T) Source
		// want is in the error; is, when set, is wrapped by it.
		want string
		is   error
	}{
		{
			name: "error with the last bodies",
			src: func(*testing.T) Source {
				return &bodiesSource{bodies: []pipeline.Body{{Data: group}}, err: errDisk}
			},
			want: "replay test: disk on fire", is: errDisk,
		},
		{
			name: "file gone since NewFiles",
			src: func(t *testing.T) Source {
				src, err := NewFiles([]string{first, vanished}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(vanished); err != nil {
					t.Fatal(err)
				}
				return src
			},
			want: "replay test: open " + vanished, is: os.ErrNotExist,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			status, err := Run(context.Background(), tt.src(t), newPipeline(t, st, st, rules.ModeObserve), Options{Name: "replay test", Batch: 1})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.is) {
				t.Fatalf("error %v, want %q wrapping %v", err, tt.want, tt.is)
			}
			// What was read before the error was ingested, not dropped.
			if ids := eventIDs(t, group); status.Report.New != len(ids) || !slices.Equal(received(t, st), ids) {
				t.Errorf("report %s, journal %q: want the bodies read before the error ingested", status.Report, received(t, st))
			}
		})
	}
}

func TestRunStopsPromptlyWhenCancelled(t *testing.T) {
	group := readFixture(t, "audit/eventhubs/group.json")
	tests := []struct {
		name string
		// run starts Run with ctx and cancel, and returns the status, the
		// error and how many calls reached the pipeline.
		run         func(t *testing.T, ctx context.Context, cancel context.CancelFunc) (Status, error, int)
		wantBatches int
		wantCalls   int
	}{
		{
			name: "before the first batch",
			run: func(t *testing.T, ctx context.Context, cancel context.CancelFunc) (Status, error, int) {
				st := openStore(t)
				rec := &recordingIngester{in: newPipeline(t, st, st, rules.ModeObserve)}
				cancel()
				s, err := Run(ctx, &endlessSource{body: pipeline.Body{Data: group}}, rec, Options{})
				return s, err, len(rec.attempts)
			},
		},
		{
			name: "between batches",
			run: func(t *testing.T, ctx context.Context, cancel context.CancelFunc) (Status, error, int) {
				st := openStore(t)
				rec := &recordingIngester{in: newPipeline(t, st, st, rules.ModeObserve)}
				s, err := Run(ctx, &endlessSource{body: pipeline.Body{Data: group}}, rec, Options{Batch: 1, OnBatch: func(s Status) {
					if s.Batches == 2 {
						cancel()
					}
				}})
				return s, err, len(rec.attempts)
			},
			wantBatches: 2, wantCalls: 2,
		},
		{
			name: "while waiting to retry a held record",
			run: func(t *testing.T, ctx context.Context, cancel context.CancelFunc) (Status, error, int) {
				st := openStore(t)
				body, ids := heldBatch(t)
				holdElsewhere(t, st, pipeline.DedupKey(ids[1]))
				// Cancelled once Run waits out a backoff no test waits
				// out.
				rec := &recordingIngester{in: newPipeline(t, st, st, rules.ModeObserve), after: func(int) { time.AfterFunc(10*time.Millisecond, cancel) }}
				s, err := Run(ctx, &bodiesSource{bodies: []pipeline.Body{{Data: body}}}, rec, Options{Backoff: time.Hour})
				return s, err, len(rec.attempts)
			},
			wantBatches: 1, wantCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type result struct {
				status Status
				err    error
				calls  int
			}
			done := make(chan result, 1)
			go func() {
				s, err, calls := tt.run(t, ctx, cancel)
				done <- result{s, err, calls}
			}()
			var got result
			select {
			case got = <-done:
			case <-time.After(time.Minute):
				t.Fatal("Run did not return after its context was cancelled")
			}
			if !errors.Is(got.err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", got.err)
			}
			if got.status.Batches != tt.wantBatches || got.calls != tt.wantCalls {
				t.Errorf("%d batches, %d pipeline calls; want %d and %d", got.status.Batches, got.calls, tt.wantBatches, tt.wantCalls)
			}
		})
	}
}
