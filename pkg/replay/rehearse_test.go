package replay

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
)

func TestRehearseClaimsAuditRecordsUnderItsOwnKeyAndReadsTheServicesClaims(t *testing.T) {
	const id = "Directory_test_1"
	live := pipeline.DedupKey(id)
	own := rehearsalPrefix + live
	deadLetter := "deadletter:0123"
	tests := []struct {
		name  string
		setup func(t *testing.T, st store.Store)
		key   string
		want  store.ClaimState
		// The claims afterwards: the service's and the rehearsal's own.
		wantLive, wantOwn store.ClaimState
	}{
		{"never seen: claimed under the rehearsal's key", func(*testing.T, store.Store) {}, live, store.Claimed, store.Free, store.Held},
		{"held by the service: held, nothing taken", func(t *testing.T, st store.Store) { holdElsewhere(t, st, live) }, live, store.Held, store.Held, store.Free},
		{"done by the service: a duplicate", func(t *testing.T, st store.Store) {
			holdElsewhere(t, st, live)
			if err := st.Complete(context.Background(), live, t0); err != nil {
				t.Fatal(err)
			}
		}, live, store.Done, store.Done, store.Free},
		{"rehearsed before: a duplicate", func(t *testing.T, st store.Store) {
			holdElsewhere(t, st, own)
			if err := st.Complete(context.Background(), own, t0); err != nil {
				t.Fatal(err)
			}
		}, live, store.Done, store.Free, store.Done},
		{"service's lease ran out: the rehearsal's own", func(t *testing.T, st store.Store) {
			if _, err := st.Claim(context.Background(), live, t0.Add(-time.Hour), t0.Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
		}, live, store.Claimed, store.Free, store.Held},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			tt.setup(t, st)
			got, err := Rehearse(st, st).Claim(context.Background(), tt.key, t0, t0.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Claim = %s, want %s", got, tt.want)
			}
			if l, o := peek(t, st, live), peek(t, st, own); l != tt.wantLive || o != tt.wantOwn {
				t.Errorf("afterwards the service's claim is %s and the rehearsal's %s; want %s and %s", l, o, tt.wantLive, tt.wantOwn)
			}
		})
	}

	t.Run("release and complete act on the rehearsal's key", func(t *testing.T) {
		st := openStore(t)
		r := Rehearse(st, st)
		ctx := context.Background()
		if got, err := r.Claim(ctx, live, t0, t0.Add(time.Minute)); err != nil || got != store.Claimed {
			t.Fatalf("Claim = %s, %v", got, err)
		}
		// A deferred record is released, to be claimed again at once.
		if err := r.Release(ctx, live); err != nil {
			t.Fatal(err)
		}
		if got, err := r.Claim(ctx, live, t0, t0.Add(time.Minute)); err != nil || got != store.Claimed {
			t.Fatalf("Claim after Release = %s, %v; want claimed again", got, err)
		}
		if err := r.Complete(ctx, live, t0); err != nil {
			t.Fatal(err)
		}
		if l, o := peek(t, st, live), peek(t, st, own); l != store.Free || o != store.Done {
			t.Errorf("after Complete the service's claim is %s and the rehearsal's %s; want free and done", l, o)
		}
	})

	t.Run("other keys pass through", func(t *testing.T) {
		st := openStore(t)
		r := Rehearse(st, st)
		ctx := context.Background()
		if got, err := r.Claim(ctx, deadLetter, t0, t0.Add(time.Minute)); err != nil || got != store.Claimed {
			t.Fatalf("Claim = %s, %v", got, err)
		}
		if err := r.Complete(ctx, deadLetter, t0); err != nil {
			t.Fatal(err)
		}
		if got := peek(t, st, deadLetter); got != store.Done {
			t.Errorf("dead letter key is %s, want done under its own name", got)
		}
		if got := peek(t, st, rehearsalPrefix+deadLetter); got != store.Free {
			t.Errorf("rehearsal copy of the dead letter key is %s, want free", got)
		}
	})
}

func TestRehearsalNeitherRepeatsNorBlocksTheServicesWork(t *testing.T) {
	// Three records of mixed-batch.json: one the service processed, one it
	// is processing, and one it has not seen: the sec-prod-payments soft
	// delete, which the replay rules would restore.
	body := pick(t, "audit/eventhubs/mixed-batch.json", "MB1UP", "MB4HU", "MB2DG")
	ids := eventIDs(t, body)
	doneID, heldID, newID := ids[0], ids[1], ids[2]
	tests := []struct {
		name string
		mode rules.Mode
		// What the replay after the rehearsals does with the new record.
		wantIntents, wantObserved int
	}{
		{"then an enforce replay restores", rules.ModeEnforce, 1, 0},
		{"then a plain observe replay decides", rules.ModeObserve, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			ctx := context.Background()
			holdElsewhere(t, st, pipeline.DedupKey(doneID))
			if err := st.Complete(ctx, pipeline.DedupKey(doneID), t0); err != nil {
				t.Fatal(err)
			}
			holdElsewhere(t, st, pipeline.DedupKey(heldID))
			opts := Options{Name: "replay test", Attempts: 2, Backoff: time.Millisecond}
			replay := func(p *pipeline.Pipeline) Status {
				t.Helper()
				status, err := Run(ctx, &bodiesSource{bodies: []pipeline.Body{{Data: body}}}, p, opts)
				if err != nil {
					t.Fatal(err)
				}
				return status
			}
			rehearsal := newPipeline(t, Rehearse(st, st), st, rules.ModeObserve)

			first := replay(rehearsal)
			if r := first.Report; r.Records != 3 || r.Duplicates != 1 || r.New != 1 || r.Decisions != 1 || r.Observed != 1 || first.Unfinished != 1 {
				t.Errorf("rehearsal: report %s, unfinished %d; want the done record a duplicate, the new one decided, the held one unfinished", r, first.Unfinished)
			}
			for _, c := range []struct {
				what string
				key  string
				want store.ClaimState
			}{
				{"service's done record", pipeline.DedupKey(doneID), store.Done},
				{"service's held record", pipeline.DedupKey(heldID), store.Held},
				{"rehearsal's copy of the held record", rehearsalPrefix + pipeline.DedupKey(heldID), store.Free},
				{"new record", pipeline.DedupKey(newID), store.Free},
				{"rehearsal's copy of the new record", rehearsalPrefix + pipeline.DedupKey(newID), store.Done},
			} {
				if got := peek(t, st, c.key); got != c.want {
					t.Errorf("after the rehearsal the %s's claim is %s, want %s", c.what, got, c.want)
				}
			}

			second := replay(rehearsal)
			if r := second.Report; r.Duplicates != 2 || r.New != 0 || r.Decisions != 0 || second.Unfinished != 1 {
				t.Errorf("second rehearsal: report %s, unfinished %d; want the rehearsed record a duplicate and nothing decided again", r, second.Unfinished)
			}

			after := replay(newPipeline(t, st, st, tt.mode))
			if r := after.Report; r.New != 1 || r.Duplicates != 1 || r.Intents != tt.wantIntents || r.Observed != tt.wantObserved || after.Unfinished != 1 {
				t.Errorf("%s replay: report %s, unfinished %d; want the rehearsed record new to it, with %d intents and %d observed",
					tt.mode, r, after.Unfinished, tt.wantIntents, tt.wantObserved)
			}
			if got := peek(t, st, pipeline.DedupKey(newID)); got != store.Done {
				t.Errorf("after the %s replay the new record's claim is %s, want done", tt.mode, got)
			}
			intents, err := st.Intents(ctx, store.IntentQuery{Kind: recovery.IntentKind, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(intents) != tt.wantIntents {
				t.Errorf("%d restore intents, want %d", len(intents), tt.wantIntents)
			}
			// Journaled once by the rehearsals, once by the replay that
			// processed it for real.
			got := received(t, st)
			if n := count(got, newID); n != 2 {
				t.Errorf("new record journaled %d times, want 2: %q", n, got)
			}
			if slices.Contains(got, doneID) || slices.Contains(got, heldID) {
				t.Errorf("journal %q holds records the service has", got)
			}
		})
	}
}

func count(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

func TestRehearsalAndReplayKeepADeadLetterOnce(t *testing.T) {
	st := openStore(t)
	bodies := []pipeline.Body{
		{Data: readFixture(t, "audit/malformed/html-error-page.txt"), Source: "html"},
		{Data: readFixture(t, "audit/malformed/bad-records.json"), Source: "bad records"},
	}
	const kept = 3 // the HTML page, and two records bad-records.json cannot use
	for i, tt := range []struct {
		name        string
		pipeline    *pipeline.Pipeline
		alreadyKept int
	}{
		{"rehearsal", newPipeline(t, Rehearse(st, st), st, rules.ModeObserve), 0},
		{"replay", newPipeline(t, st, st, rules.ModeEnforce), kept},
	} {
		status, err := Run(context.Background(), &bodiesSource{bodies: bodies}, tt.pipeline, Options{Name: fmt.Sprint("run ", i)})
		if err != nil {
			t.Fatal(err)
		}
		if r := status.Report; r.DeadBodies+r.Skipped != kept || r.AlreadyKept != tt.alreadyKept {
			t.Errorf("%s: report %s; want %d dead letters, %d already kept", tt.name, r, kept, tt.alreadyKept)
		}
	}
	letters, err := st.DeadLetters(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != kept {
		t.Errorf("%d dead letters kept, want %d: each once, whoever kept it first", len(letters), kept)
	}
}
