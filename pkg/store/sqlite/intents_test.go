package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/storetest"
)

// Environment variables that turn a run of the test binary into the child
// process of one of the tests below; each names the database to use.
const (
	dyingWorkerEnv = "REINSTATE_SQLITE_TEST_DYING_WORKER_DB"
	leaserEnv      = "REINSTATE_SQLITE_TEST_LEASER_DB"
)

// dyingWorkerExit is the exit status of dyingWorkerProcess, so the parent
// can tell its deliberate death from a failure.
const dyingWorkerExit = 3

// binaryPayload is not UTF-8 and holds NULs, so that a round trip through
// the file that is not byte-exact shows.
var binaryPayload = []byte{'{', 0x00, 0xff, 0xfe, 0x80, '}', 0x00}

// startChild runs this test binary again, running only test and with env set
// to path. It returns the command, started, and where its output goes.
func startChild(t *testing.T, test, env, path string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal("cannot find the test binary to start a child process:", err)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(t.Context(), exe, "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// runChildren starts procs children running test (see startChild), waits
// for them all, and calls line with every line each printed. A child that
// fails, named name in the message, fails the test.
func runChildren(t *testing.T, procs int, test, env, path, name string, line func(string)) {
	t.Helper()
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*bytes.Buffer, procs)
	for i := range cmds {
		cmds[i], outs[i] = startChild(t, test, env, path)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s %d: %v\n%s", name, i, err, outs[i])
		}
		sc := bufio.NewScanner(outs[i])
		for sc.Scan() {
			line(sc.Text())
		}
	}
}

// queryPlan returns the details of SQLite's plan for query, joined by "; ".
func queryPlan(t *testing.T, db *sql.DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}

func TestIntentsSurviveProcessDeath(t *testing.T) {
	if path := os.Getenv(dyingWorkerEnv); path != "" {
		dyingWorkerProcess(t, path)
		return
	}
	if testing.Short() {
		t.Skip("starts a process")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	cmd, out := startChild(t, "TestIntentsSurviveProcessDeath", dyingWorkerEnv, path)
	var exit *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &exit) || exit.ExitCode() != dyingWorkerExit {
		t.Fatalf("the dying worker ended with %v, want exit status %d\n%s", err, dyingWorkerExit, out)
	}
	deadToken, ok := strings.CutPrefix(strings.TrimSpace(out.String()), "token ")
	if !ok {
		t.Fatalf("the dying worker did not report its lease token:\n%s", out)
	}

	// A new process opens the file the dead one left, without a clean
	// close, and finds both intents: the pending one due as it was, the one
	// in flight held until the dead worker's lease runs out.
	s := open(t, path)
	ctx := t.Context()
	got, err := s.LeaseIntents(ctx, "restore", t0.Add(time.Second), t0.Add(time.Second+time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Key != "pending" || !bytes.Equal(got[0].Payload, binaryPayload) || got[0].Attempts != 1 {
		t.Fatalf("after the restart, LeaseIntents = %+v; want the pending intent, its payload intact, first attempt", got)
	}
	got, err = s.LeaseIntents(ctx, "restore", t0.Add(time.Minute), t0.Add(2*time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Key != "in-flight" || got[0].Attempts != 2 || got[0].LeaseToken == deadToken {
		t.Fatalf("after the dead worker's lease, LeaseIntents = %+v; want in-flight, second attempt, new token", got)
	}
	if err := s.CompleteIntent(ctx, got[0].ID, deadToken, t0.Add(time.Minute), "restored"); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("CompleteIntent with the dead worker's token = %v, want ErrLeaseLost", err)
	}
	if err := s.CompleteIntent(ctx, got[0].ID, got[0].LeaseToken, t0.Add(time.Minute), "restored"); err != nil {
		t.Fatal(err)
	}
}

// dyingWorkerProcess is the child side of TestIntentsSurviveProcessDeath: it
// records two intents, leases one, and exits without closing the store, as
// a process that is killed would.
func dyingWorkerProcess(t *testing.T, path string) {
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, in := range []store.Intent{
		{Key: "in-flight", Kind: "restore", Payload: []byte(`{}`), NotBefore: t0},
		{Key: "pending", Kind: "restore", Payload: binaryPayload, NotBefore: t0.Add(time.Second)},
	} {
		if _, _, err := s.Enqueue(ctx, in, t0); err != nil {
			t.Fatal(err)
		}
	}
	leased, err := s.LeaseIntents(ctx, "restore", t0, t0.Add(time.Minute), 10)
	if err != nil || len(leased) != 1 {
		t.Fatalf("LeaseIntents = %+v, %v", leased, err)
	}
	fmt.Printf("token %s\n", leased[0].LeaseToken)
	os.Exit(dyingWorkerExit)
}

func TestMigrateFromVersion1(t *testing.T) {
	ctx := t.Context()
	// The file as the release before the intent outbox left it, written
	// with the methods that release had.
	s := migrateFrom(t, 1, func(old *Store) {
		if v := userVersion(t, old); v != 1 {
			t.Fatalf("the old file has schema version %d, want 1", v)
		}
		var tables int
		if err := old.read.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'intents'`).Scan(&tables); err != nil || tables != 0 {
			t.Fatalf("the version 1 schema has an intents table (%d, %v)", tables, err)
		}
	})
	if entries, err := s.Journal(ctx, store.JournalQuery{}); err != nil || len(entries) != 1 || entries[0].EventID != "e1" {
		t.Errorf("after migration, Journal = %+v, %v; want the entry about e1", entries, err)
	}
	if _, _, err := s.Enqueue(ctx, store.Intent{Key: "k", Kind: "restore"}, t0); err != nil {
		t.Fatalf("Enqueue after migration: %v", err)
	}
	if got, err := s.LeaseIntents(ctx, "restore", t0, t0.Add(time.Minute), 10); err != nil || len(got) != 1 {
		t.Fatalf("LeaseIntents after migration = %+v, %v; want the one intent", got, err)
	}
}

func TestMigrateFromVersion3(t *testing.T) {
	ctx := t.Context()
	// The file as the release before leasing by kind left it: intents of
	// two kinds, in every state a lease can leave them in.
	var before []store.Intent
	s := migrateFrom(t, 3, func(old *Store) {
		if v := userVersion(t, old); v != 3 {
			t.Fatalf("the old file has schema version %d, want 3", v)
		}
		if n := indexCount(t, old, "intents_kind_due"); n != 0 {
			t.Fatalf("the version 3 schema has intents_kind_due (%d)", n)
		}
		for _, in := range []store.Intent{
			{Key: "restore-held", Kind: "restore", Payload: binaryPayload, NotBefore: t0.Add(-time.Hour)},
			{Key: "restore-done", Kind: "restore", Payload: []byte(`{}`), NotBefore: t0.Add(-time.Hour)},
			{Key: "restore-late", Kind: "restore", Payload: []byte(`{"n":2}`), NotBefore: t0.Add(time.Second)},
			{Key: "restore-early", Kind: "restore", Payload: []byte(`{"n":1}`), NotBefore: t0},
			{Key: "notify", Kind: "notify", Payload: []byte(`{"to":"x"}`), NotBefore: t0.Add(-time.Minute)},
		} {
			if _, _, err := old.Enqueue(ctx, in, t0.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		// Held until t0+1h and done, through the statements of this build,
		// which the version 3 layout serves without the new index.
		leased, err := old.LeaseIntents(ctx, "restore", t0.Add(-time.Hour), t0.Add(time.Hour), 2)
		if err != nil || len(leased) != 2 {
			t.Fatalf("LeaseIntents on the version 3 file = %+v, %v", leased, err)
		}
		if err := old.CompleteIntent(ctx, leased[1].ID, leased[1].LeaseToken, t0.Add(-time.Hour), "restored"); err != nil {
			t.Fatal(err)
		}
		if before, err = old.Intents(ctx, store.IntentQuery{Limit: 10}); err != nil || len(before) != 5 {
			t.Fatalf("Intents on the version 3 file = %+v, %v; want 5", before, err)
		}
	})
	if n := indexCount(t, s, "intents_kind_due"); n != 1 {
		t.Errorf("after migration there are %d intents_kind_due indexes, want 1", n)
	}
	if n := indexCount(t, s, "intents_due"); n != 0 {
		t.Errorf("after migration intents_due is still there (%d)", n)
	}
	checkIntentQueryPlans(t, s)
	after, err := s.Intents(ctx, store.IntentQuery{Limit: 10})
	if err != nil || !reflect.DeepEqual(after, before) {
		t.Fatalf("after migration, Intents = %+v, %v;\nwant them as before: %+v", after, err, before)
	}

	// Each kind leases its own, in due order; the held and the done
	// intents stay as they were.
	leaseKeys := func(kind string) []string {
		t.Helper()
		got, err := s.LeaseIntents(ctx, kind, t0.Add(time.Second), t0.Add(time.Minute), 10)
		if err != nil {
			t.Fatalf("LeaseIntents(%q) after migration: %v", kind, err)
		}
		var keys []string
		for _, in := range got {
			keys = append(keys, in.Key)
		}
		return keys
	}
	if got := leaseKeys("notify"); !reflect.DeepEqual(got, []string{"notify"}) {
		t.Errorf("LeaseIntents(notify) after migration leased %v, want [notify]", got)
	}
	if got := leaseKeys("restore"); !reflect.DeepEqual(got, []string{"restore-early", "restore-late"}) {
		t.Errorf("LeaseIntents(restore) after migration leased %v, want [restore-early restore-late]", got)
	}
	for _, key := range []string{"restore-held", "restore-done"} {
		in, err := s.IntentByKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, was := range before {
			if was.Key == key && !reflect.DeepEqual(in, was) {
				t.Errorf("after leasing, %s = %+v, want it unchanged: %+v", key, in, was)
			}
		}
	}
}

// indexCount returns how many indexes named name the schema has: 0 or 1.
func indexCount(t *testing.T, s *Store, name string) int {
	t.Helper()
	var n int
	if err := s.read.QueryRowContext(t.Context(),
		`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func userVersion(t *testing.T, s *Store) int {
	t.Helper()
	var v int
	if err := s.read.QueryRowContext(t.Context(), `PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

const racedIntents = 50

// enqueueRaced records the intents the lease races compete for, all due at
// t0.
func enqueueRaced(t *testing.T, s *Store) {
	t.Helper()
	for i := range racedIntents {
		in := store.Intent{Key: fmt.Sprintf("k%d", i), Kind: "restore", Payload: []byte(`{}`)}
		if _, _, err := s.Enqueue(t.Context(), in, t0); err != nil {
			t.Fatal(err)
		}
	}
}

// leaseAll leases, a few at a time, until nothing is due at t0, and calls
// got for every intent leased.
func leaseAll(ctx context.Context, s *Store, got func(store.Intent)) error {
	for {
		leased, err := s.LeaseIntents(ctx, "restore", t0, t0.Add(time.Hour), 2)
		if err != nil {
			return err
		}
		if len(leased) == 0 {
			return nil
		}
		for _, in := range leased {
			got(in)
		}
	}
}

// checkRaced checks that every raced intent was leased exactly once, and
// that the token its leaser received is the one stored.
func checkRaced(t *testing.T, s *Store, tokens map[string][]string) {
	t.Helper()
	for i := range racedIntents {
		key := fmt.Sprintf("k%d", i)
		if len(tokens[key]) != 1 {
			t.Errorf("%q leased %d times, want exactly once", key, len(tokens[key]))
			continue
		}
		in, err := s.IntentByKey(t.Context(), key)
		if err != nil {
			t.Fatal(err)
		}
		if in.LeaseToken != tokens[key][0] {
			t.Errorf("%q: its leaser got token %s, the store has %s", key, tokens[key][0], in.LeaseToken)
		}
	}
}

func TestTwoHandlesLeaseRace(t *testing.T) {
	// Two Stores on one file have separate pools and locks in Go, like two
	// processes; only SQLite's file locking keeps their leases apart.
	path := filepath.Join(t.TempDir(), "state.db")
	handles := []*Store{open(t, path), open(t, path)}
	enqueueRaced(t, handles[0])
	const perHandle = 8
	got, err := storetest.Race(len(handles)*perHandle, func(i int) ([]store.Intent, error) {
		var mine []store.Intent
		err := leaseAll(t.Context(), handles[i/perHandle], func(in store.Intent) { mine = append(mine, in) })
		return mine, err
	})
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string][]string{}
	for _, mine := range got {
		for _, in := range mine {
			tokens[in.Key] = append(tokens[in.Key], in.LeaseToken)
		}
	}
	checkRaced(t, handles[0], tokens)
}

func TestProcessesLeaseRace(t *testing.T) {
	if path := os.Getenv(leaserEnv); path != "" {
		leaserProcess(t, path)
		return
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path)
	enqueueRaced(t, s)
	tokens := map[string][]string{}
	runChildren(t, 4, "TestProcessesLeaseRace", leaserEnv, path, "leaser", func(line string) {
		if rest, ok := strings.CutPrefix(line, "leased "); ok {
			key, token, _ := strings.Cut(rest, " ")
			tokens[key] = append(tokens[key], token)
		}
	})
	checkRaced(t, s, tokens)
}

// leaserProcess is the child side of TestProcessesLeaseRace: it leases
// until nothing is due and prints what it got.
func leaserProcess(t *testing.T, path string) {
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := leaseAll(t.Context(), s, func(in store.Intent) {
		fmt.Printf("leased %s %s\n", in.Key, in.LeaseToken)
	}); err != nil {
		t.Fatal(err)
	}
}

func TestIntentQueryPlans(t *testing.T) {
	// The outbox keeps finished intents until they expire, so the queries
	// a worker runs all the time must read only the head of their index.
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	checkIntentQueryPlans(t, s)
}

// checkIntentQueryPlans checks that leasing searches one kind's range of
// intents_kind_due and expiry the head of intents_finished, neither with a
// sort.
func checkIntentQueryPlans(t *testing.T, s *Store) {
	t.Helper()
	for _, tc := range []struct {
		name, sql, search string
		args              []any
	}{
		{"lease", dueIntentsSQL, "USING INDEX intents_kind_due (kind=? AND due<?)", []any{"restore", 0, 1}},
		{"expire", expireIntentsSQL, "USING INDEX intents_finished", []any{0, 1}},
	} {
		joined := queryPlan(t, s.read, tc.sql, tc.args...)
		if !strings.Contains(joined, tc.search) || strings.Contains(joined, "TEMP B-TREE") {
			t.Errorf("%s: plan %q, want a search %s and no sort", tc.name, joined, tc.search)
		}
	}
}

func TestIntentSchemaInvariant(t *testing.T) {
	// The table refuses a leased intent without a lease, whatever writes it.
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	ctx := t.Context()
	in, _, err := s.Enqueue(ctx, store.Intent{Key: "k", Kind: "restore"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{
		`state = 'leased'`,
		`state = 'leased', lease_until = 1`,
		`state = 'leased', lease_token = 'x'`,
		`lease_token = 'x', lease_until = 1`,
		`state = 'gone'`,
	} {
		if _, err := s.write.ExecContext(ctx, `UPDATE intents SET `+set+` WHERE id = ?`, in.ID); err == nil {
			t.Errorf("UPDATE intents SET %s succeeded, want a constraint failure", set)
		}
	}
}
