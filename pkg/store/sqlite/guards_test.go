package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/storetest"
)

// hitterEnv names the database a child process of TestProcessesHitRace
// records hits in.
const hitterEnv = "REINSTATE_SQLITE_TEST_HITTER_DB"

func TestConformanceInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, Memory) })
}

func TestOpenMemory(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	a, b := open(t, Memory), open(t, Memory)
	if a.Path() != Memory {
		t.Errorf("Path() = %q, want %q", a.Path(), Memory)
	}
	if v := userVersion(t, a); v != schemaVersion {
		t.Fatalf("schema version %d, want %d", v, schemaVersion)
	}
	ctx := t.Context()
	// Many writers and readers at once all see one database: what any of
	// them wrote, every later read finds.
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for g := range writers {
		wg.Go(func() {
			for i := range 20 {
				id := fmt.Sprintf("e%d-%d", g, i)
				if _, err := a.RecordHit(ctx, "scope", id, t0); err != nil {
					errs[g] = err
					return
				}
				if n, err := a.CountHits(ctx, "scope", t0, t0); err != nil || n < i+1 {
					errs[g] = fmt.Errorf("after recording %s, CountHits = %d, %v", id, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n, err := a.CountHits(ctx, "scope", t0, t0); err != nil || n != writers*20 {
		t.Fatalf("CountHits = %d, %v; want %d", n, err, writers*20)
	}
	// Each Open is a database of its own, and none is a file.
	if n, err := b.CountHits(ctx, "scope", t0, t0); err != nil || n != 0 {
		t.Fatalf("a second in-memory store sees %d hits (%v), want 0", n, err)
	}
	if _, err := os.Stat(filepath.Join(wd, Memory)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open(%q) left a file in the working directory (%v)", Memory, err)
	}
}

func TestTwoHandlesHitRace(t *testing.T) {
	// Two Stores on one file have separate pools and locks in Go, like two
	// processes; only SQLite keeps them from counting one hit twice.
	path := filepath.Join(t.TempDir(), "state.db")
	handles := []*Store{open(t, path), open(t, path)}
	const rounds, perHandle = 20, 8
	for round := range rounds {
		id := fmt.Sprintf("e%d", round)
		got, err := storetest.Race(len(handles)*perHandle, func(i int) (bool, error) {
			return handles[i/perHandle].RecordHit(t.Context(), "deletions:alice", id, t0.Add(time.Duration(i)))
		})
		if err != nil {
			t.Fatal(err)
		}
		recorded := 0
		for _, ok := range got {
			if ok {
				recorded++
			}
		}
		if recorded != 1 {
			t.Fatalf("round %d: %d callers recorded hit %q, want exactly 1", round, recorded, id)
		}
	}
	for _, s := range handles {
		if n, err := s.CountHits(t.Context(), "deletions:alice", t0, t0.Add(time.Hour)); err != nil || n != rounds {
			t.Fatalf("CountHits = %d, %v; want %d", n, err, rounds)
		}
	}
}

const hitterIDs = 50

func TestProcessesHitRace(t *testing.T) {
	if path := os.Getenv(hitterEnv); path != "" {
		hitterProcess(t, path)
		return
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path) // create the schema up front, so the children only record
	recordedBy := map[string]int{}
	runChildren(t, 4, "TestProcessesHitRace", hitterEnv, path, "hitter", func(line string) {
		if id, ok := strings.CutPrefix(line, "recorded "); ok {
			recordedBy[id]++
		}
	})
	for i := range hitterIDs {
		if id := fmt.Sprintf("e%d", i); recordedBy[id] != 1 {
			t.Errorf("hit %q recorded by %d processes, want exactly 1", id, recordedBy[id])
		}
	}
	if n, err := s.CountHits(t.Context(), "deletions:alice", t0, t0.Add(time.Hour)); err != nil || n != hitterIDs {
		t.Fatalf("CountHits = %d, %v; want %d", n, err, hitterIDs)
	}
}

// hitterProcess is the child side of TestProcessesHitRace: it records every
// hit, as a redelivered batch would, and prints those it was first to.
func hitterProcess(t *testing.T, path string) {
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range hitterIDs {
		id := fmt.Sprintf("e%d", i)
		ok, err := s.RecordHit(t.Context(), "deletions:alice", id, t0.Add(time.Duration(os.Getpid())))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			fmt.Printf("recorded %s\n", id)
		}
	}
}

func TestMigrateFromVersion2(t *testing.T) {
	ctx := t.Context()
	// The file as the release before the guard state left it.
	var intent store.Intent
	s := migrateFrom(t, 2, func(old *Store) {
		var err error
		intent, _, err = old.Enqueue(ctx, store.Intent{Key: "k", Kind: "restore", Payload: binaryPayload}, t0)
		if err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"hits", "marks", "silences"} {
			var n int
			if err := old.read.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = ?`, table).Scan(&n); err != nil || n != 0 {
				t.Fatalf("the version 2 schema has a %s table (%d, %v)", table, n, err)
			}
		}
	})
	if got, err := s.Intent(ctx, intent.ID); err != nil || got.Key != "k" || !bytes.Equal(got.Payload, binaryPayload) {
		t.Fatalf("after migration, Intent = %+v, %v; want the intent enqueued before", got, err)
	}
	if ok, err := s.RecordHit(ctx, "scope", "e1", t0); err != nil || !ok {
		t.Fatalf("RecordHit after migration = %v, %v", ok, err)
	}
	if err := s.PutMark(ctx, store.Mark{Key: "m", Until: t0}, t0); err != nil {
		t.Fatalf("PutMark after migration: %v", err)
	}
	if _, err := s.PutSilence(ctx, store.Silence{Rule: "r", Reason: "r", EndsAt: t0.Add(time.Hour)}, t0); err != nil {
		t.Fatalf("PutSilence after migration: %v", err)
	}
}

func TestGuardQueryPlans(t *testing.T) {
	// Hits grow with the tenant's activity, and a breaker counts a window
	// for every deletion, so these must read only their range of an index.
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	for _, tc := range []struct {
		name, sql, index string
		args             []any
	}{
		{"count", countHitsSQL, "hits_window", []any{"s", 0, 1}},
		{"list", hitsSQL, "hits_window", []any{"s", 0, 1, 10}},
		{"expire", expireHitsSQL, "hits_at", []any{0, 10}},
	} {
		joined := queryPlan(t, s.read, tc.sql, tc.args...)
		if !strings.Contains(joined, "INDEX "+tc.index) || strings.Contains(joined, "TEMP B-TREE") {
			t.Errorf("%s: plan %q, want a search of %s and no sort", tc.name, joined, tc.index)
		}
	}
}

func TestGuardTimeOutOfRange(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	ctx := t.Context()
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.RecordHit(ctx, "scope", "e1", time.Time{}); err == nil {
		t.Error("RecordHit at a zero time succeeded")
	}
	if _, err := s.CountHits(ctx, "scope", t0, far); err == nil {
		t.Error("CountHits until the year 3000 succeeded")
	}
	if err := s.PutMark(ctx, store.Mark{Key: "m", Until: far}, t0); err == nil {
		t.Error("PutMark until the year 3000 succeeded")
	}
	if _, err := s.PutSilence(ctx, store.Silence{Rule: "r", Reason: "r", EndsAt: far}, t0); err == nil {
		t.Error("PutSilence ending in the year 3000 succeeded")
	}
	if n, err := s.CountHits(ctx, "scope", t0.Add(-time.Hour), t0.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("a refused RecordHit left %d hits (%v)", n, err)
	}
	if _, err := s.GetMark(ctx, "m"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused PutMark left a mark (%v)", err)
	}
	if got, err := s.Silences(ctx, store.SilenceQuery{Limit: 10}); err != nil || len(got) != 0 {
		t.Errorf("a refused PutSilence left %d silences (%v)", len(got), err)
	}
}

func TestGuardSchemaInvariants(t *testing.T) {
	// The table refuses a silence that mutes everything or says nothing,
	// whatever writes it.
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	ctx := t.Context()
	sl, err := s.PutSilence(ctx, store.Silence{Rule: "r", Reason: "why", EndsAt: t0.Add(time.Hour)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{`rule = ''`, `reason = ''`} {
		if _, err := s.write.ExecContext(ctx, `UPDATE silences SET `+set+` WHERE id = ?`, sl.ID); err == nil {
			t.Errorf("UPDATE silences SET %s succeeded, want a constraint failure", set)
		}
	}
}
