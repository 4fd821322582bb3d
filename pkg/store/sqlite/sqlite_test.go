package sqlite

import (
	"bytes"
	"database/sql"
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

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "reinstate.db"))
	})
}

func TestOpenCreatesParentDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "state.db")
	s := open(t, path)
	if s.Path() != path {
		t.Errorf("Path() = %s, want %s", s.Path(), path)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not created: %v", err)
	}
}

func TestOpenAwkwardPath(t *testing.T) {
	// Characters that mean something in a URI or to the driver's DSN parsing
	// must reach the file system unchanged.
	dir := filepath.Join(t.TempDir(), "we?ird #dir %20&x=1")
	path := filepath.Join(dir, "state.db")
	s := open(t, path)
	if _, err := s.Append(t.Context(), store.Entry{Kind: store.KindEventReceived}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not at %q: %v", path, err)
	}
}

func TestOpenEmptyPath(t *testing.T) {
	if s, err := Open(t.Context(), ""); err == nil {
		_ = s.Close()
		t.Fatal("Open(\"\") succeeded")
	}
}

func TestConnectionSettings(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	for _, pool := range []struct {
		name string
		db   *sql.DB
	}{{"write", s.write}, {"read", s.read}} {
		for _, tc := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"busy_timeout", fmt.Sprint(busyTimeout.Milliseconds())},
		} {
			var got string
			if err := pool.db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatalf("%s pool: PRAGMA %s: %v", pool.name, tc.pragma, err)
			}
			if got != tc.want {
				t.Errorf("%s pool: %s = %s, want %s", pool.name, tc.pragma, got, tc.want)
			}
		}
	}
	if _, err := s.read.ExecContext(t.Context(), `DELETE FROM journal`); err == nil {
		t.Error("the read pool accepted a write")
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	entry, letter := writeBaseline(t, s, []byte{0, 1, 2})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	checkBaseline(t, s, "after reopen", entry, letter)
	// New appends still come after the old ones.
	later, err := s.Append(ctx, store.Entry{Time: t0, Kind: store.KindEventReceived})
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := s.Journal(ctx, store.JournalQuery{}); len(entries) != 2 || entries[0].ID != later.ID {
		t.Errorf("after reopen, the new entry is not the newest: %+v", entries)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path)
	future := schemaVersion + 1
	if _, err := s.write.ExecContext(t.Context(), fmt.Sprintf("PRAGMA user_version = %d", future)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(t.Context(), path)
	if err == nil {
		_ = s2.Close()
		t.Fatal("Open of a database with a newer schema succeeded")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("Open error = %v, want one wrapping ErrSchemaTooNew", err)
	}
	if msg := err.Error(); !strings.Contains(msg, fmt.Sprint(future)) || !strings.Contains(msg, path) {
		t.Errorf("Open error %q does not name the file and its version %d", msg, future)
	}
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(t.Context(), path)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func TestTwoHandlesClaimRace(t *testing.T) {
	// Two Stores on one file have separate pools and locks in Go, like two
	// processes; only SQLite's file locking keeps their claims apart.
	path := filepath.Join(t.TempDir(), "state.db")
	handles := []*Store{open(t, path), open(t, path)}
	const rounds, perHandle = 20, 8
	for round := range rounds {
		key := fmt.Sprintf("k%d", round)
		states, err := storetest.Race(len(handles)*perHandle, func(i int) (store.ClaimState, error) {
			return handles[i/perHandle].Claim(t.Context(), key, t0, t0.Add(time.Minute))
		})
		if err != nil {
			t.Fatal(err)
		}
		claimed := 0
		for _, state := range states {
			if state == store.Claimed {
				claimed++
			}
		}
		if claimed != 1 {
			t.Fatalf("round %d: %d callers claimed %q, want exactly 1", round, claimed, key)
		}
	}
}

// helperEnv names the database a child process of TestProcessesClaimRace
// claims in.
const helperEnv = "REINSTATE_SQLITE_TEST_CLAIMER_DB"

func TestProcessesClaimRace(t *testing.T) {
	if path := os.Getenv(helperEnv); path != "" {
		claimerProcess(t, path)
		return
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	open(t, path) // create the schema up front, so the children only claim
	claimedBy := map[string]int{}
	runChildren(t, 4, "TestProcessesClaimRace", helperEnv, path, "claimer", func(line string) {
		if key, ok := strings.CutPrefix(line, "claimed "); ok {
			claimedBy[key]++
		}
	})
	for i := range claimerKeys {
		key := fmt.Sprintf("k%d", i)
		if claimedBy[key] != 1 {
			t.Errorf("%q claimed by %d processes, want exactly 1", key, claimedBy[key])
		}
	}
}

const claimerKeys = 50

// claimerProcess is the child side of TestProcessesClaimRace: it claims
// every key and prints those it got.
func claimerProcess(t *testing.T, path string) {
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range claimerKeys {
		key := fmt.Sprintf("k%d", i)
		state, err := s.Claim(t.Context(), key, t0, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if state == store.Claimed {
			fmt.Printf("claimed %s\n", key)
		}
	}
}

func TestTimeOutOfRange(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	ctx := t.Context()
	if _, err := s.Claim(ctx, "k", time.Time{}, t0); err == nil {
		t.Error("Claim with a zero now succeeded")
	}
	if _, err := s.Claim(ctx, "k", t0, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Error("Claim with a lease in the year 3000 succeeded")
	}
	if _, err := s.Append(ctx, store.Entry{Time: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("Append of an entry from 1600 succeeded")
	}
	if _, _, err := s.Enqueue(ctx, store.Intent{Key: "k", Kind: "restore"}, time.Time{}); err == nil {
		t.Error("Enqueue with a zero now succeeded")
	}
	far := store.Intent{Key: "k", Kind: "restore", NotBefore: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, _, err := s.Enqueue(ctx, far, t0); err == nil {
		t.Error("Enqueue of an intent due in the year 3000 succeeded")
	}
	if _, err := s.LeaseIntents(ctx, "restore", t0, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), 10); err == nil {
		t.Error("LeaseIntents with a lease in the year 3000 succeeded")
	}
	if got, err := s.Intents(ctx, store.IntentQuery{Limit: 10}); err != nil || len(got) != 0 {
		t.Errorf("refused Enqueues left %d intents (%v)", len(got), err)
	}
}

// migrateFrom creates a file at schema version from holding what
// writeBaseline writes and then what old adds, closes it and opens it again,
// which migrates it. It checks the version and the baseline after, and
// returns the migrated store.
func migrateFrom(t *testing.T, from int, old func(old *Store)) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := openAt(t.Context(), path, from)
	if err != nil {
		t.Fatal(err)
	}
	entry, letter := writeBaseline(t, s, binaryPayload)
	old(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	if v := userVersion(t, s); v != schemaVersion {
		t.Fatalf("after Open the schema version is %d, want %d", v, schemaVersion)
	}
	checkBaseline(t, s, "after migration", entry, letter)
	return s
}

// writeBaseline writes a completed claim "done", a live claim "held", one
// journal entry and one dead letter holding raw: what a store holds before a
// reopen or a migration.
func writeBaseline(t *testing.T, s *Store, raw []byte) (store.Entry, store.DeadLetter) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.Claim(ctx, "done", t0, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, "done", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "held", t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	entry, err := s.Append(ctx, store.Entry{Time: t0, Kind: store.KindEventReceived, EventID: "e1"})
	if err != nil {
		t.Fatal(err)
	}
	letter, err := s.PutDeadLetter(ctx, store.DeadLetter{Source: "s", Reason: "r", Raw: raw})
	if err != nil {
		t.Fatal(err)
	}
	return entry, letter
}

// checkBaseline asserts that s still holds what writeBaseline wrote.
func checkBaseline(t *testing.T, s *Store, when string, entry store.Entry, letter store.DeadLetter) {
	t.Helper()
	ctx := t.Context()
	for key, want := range map[string]store.ClaimState{"done": store.Done, "held": store.Held} {
		if got, err := s.Claim(ctx, key, t0.Add(time.Minute), t0.Add(2*time.Minute)); err != nil || got != want {
			t.Errorf("%s, Claim(%q) = %s, %v; want %s", when, key, got, err, want)
		}
	}
	entries, err := s.Journal(ctx, store.JournalQuery{})
	if err != nil || len(entries) != 1 || entries[0].ID != entry.ID {
		t.Errorf("%s, Journal = %+v, %v; want the one entry %s", when, entries, err, entry.ID)
	}
	letters, err := s.DeadLetters(ctx, 10)
	if err != nil || len(letters) != 1 || letters[0].ID != letter.ID || !bytes.Equal(letters[0].Raw, letter.Raw) {
		t.Errorf("%s, DeadLetters = %+v, %v; want the one letter %s", when, letters, err, letter.ID)
	}
}

func TestTwoHandlesLockRace(t *testing.T) {
	// As TestTwoHandlesClaimRace: only SQLite's file locking keeps two
	// handles from both taking the tenant's one job lock.
	path := filepath.Join(t.TempDir(), "state.db")
	handles := []*Store{open(t, path), open(t, path)}
	const rounds, perHandle = 20, 8
	for round := range rounds {
		name := fmt.Sprintf("lock%d", round)
		won, err := storetest.Race(len(handles)*perHandle, func(i int) (bool, error) {
			_, ok, err := handles[i/perHandle].AcquireLock(t.Context(), name, fmt.Sprintf("racer %d", i), t0, t0.Add(time.Minute))
			return ok, err
		})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ok := range won {
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("round %d: %d callers acquired %q, want exactly 1", round, n, name)
		}
	}
}
