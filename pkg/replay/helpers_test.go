package replay

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

const testdata = "../../testdata"

// t0 is the pipeline's pinned time in tests: claims and leases are judged
// by it, so that a lease another instance holds stays live however slow
// the machine.
var t0 = time.Date(2026, 6, 2, 14, 5, 0, 0, time.UTC)

func readFixture(t testing.TB, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// openStore is a real SQLite store in a file, as the CLI's replay uses.
func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newPipeline is the pipeline `reinstate replay` builds: the replay rule
// table (in mode) and its guards over st, writing through state, which is
// st itself or a rehearsal of it.
func newPipeline(t testing.TB, state pipeline.State, st store.Store, mode rules.Mode) *pipeline.Pipeline {
	t.Helper()
	table, err := rules.Load(filepath.Join(testdata, "rules", "replay.yaml"), func(name string) string {
		if name == rules.EnvMode {
			return string(mode)
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if table.Mode != mode {
		t.Fatalf("rule table in mode %s, want %s", table.Mode, mode)
	}
	now := func() time.Time { return t0 }
	guards := guard.New(st, guard.Config{Rules: table.Guards, Now: now})
	return pipeline.New(state, pipeline.Options{Now: now, ClaimLease: time.Minute, Decider: decide.New(table, guards, now)})
}

// eventIDs are the ids of the records audit.Decode finds in data.
func eventIDs(t testing.TB, data []byte) []string {
	t.Helper()
	result, err := audit.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range result.Events {
		ids = append(ids, e.ID)
	}
	return ids
}

// pick builds an Event Hubs body holding the records of the Event Hubs
// fixture at rel whose ids contain the given fragments, in that order.
func pick(t testing.TB, rel string, fragments ...string) []byte {
	t.Helper()
	var body struct {
		Records []json.RawMessage `json:"records"`
	}
	if err := json.Unmarshal(readFixture(t, rel), &body); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Records []json.RawMessage `json:"records"`
	}
	for _, fragment := range fragments {
		found := false
		for _, rec := range body.Records {
			if strings.Contains(string(rec), fragment) {
				out.Records = append(out.Records, rec)
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("%s has no record with %q", rel, fragment)
		}
	}
	data, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// journal returns st's journal, oldest first.
func journal(t testing.TB, st store.Store) []store.Entry {
	t.Helper()
	entries, err := st.Journal(context.Background(), store.JournalQuery{Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(entries)
	return entries
}

// received lists the event ids journaled as received, oldest first.
func received(t testing.TB, st store.Store) []string {
	t.Helper()
	var ids []string
	for _, e := range journal(t, st) {
		if e.Kind == store.KindEventReceived {
			ids = append(ids, e.EventID)
		}
	}
	return ids
}

func peek(t testing.TB, st store.Store, key string) store.ClaimState {
	t.Helper()
	state, err := st.PeekClaim(context.Background(), key, t0)
	if err != nil {
		t.Fatal(err)
	}
	return state
}

// holdElsewhere claims key as another instance would, with a lease still
// live at t0.
func holdElsewhere(t testing.TB, st store.Store, key string) {
	t.Helper()
	state, err := st.Claim(context.Background(), key, t0, t0.Add(time.Hour))
	if err != nil || state != store.Claimed {
		t.Fatalf("claim %s as another instance: %v %v", key, state, err)
	}
}

// bodiesSource is a Source over bodies in memory, max at a time, that
// fails with err (if set) once they are handed out, and honours ctx as
// the real sources do. It stands for any source in tests of Run's own
// logic.
type bodiesSource struct {
	bodies []pipeline.Body
	err    error
	given  int
	reads  int
}

func (s *bodiesSource) Next(ctx context.Context, max int) ([]pipeline.Body, error) {
	s.reads++
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := min(max, len(s.bodies)-s.given)
	out := s.bodies[s.given : s.given+n]
	s.given += n
	if s.given == len(s.bodies) {
		if s.err != nil {
			return out, s.err
		}
		if n == 0 {
			return nil, io.EOF
		}
	}
	return out, nil
}

func (s *bodiesSource) Progress() (done, total int64) { return int64(s.given), int64(len(s.bodies)) }

// endlessSource hands out the same body for ever, honouring ctx.
type endlessSource struct {
	body  pipeline.Body
	given int64
}

func (s *endlessSource) Next(ctx context.Context, max int) ([]pipeline.Body, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]pipeline.Body, max)
	for i := range out {
		out[i] = s.body
	}
	s.given += int64(max)
	return out, nil
}

func (s *endlessSource) Progress() (done, total int64) { return s.given, 0 }

// attempt is one call a recordingIngester passed on.
type attempt struct {
	source      string
	lastAttempt bool
	at          time.Time
	report      pipeline.Report
	err         error
}

// recordingIngester passes batches to the real pipeline and records each
// attempt; after, when set, runs after each attempt, as another instance
// acting between attempts.
type recordingIngester struct {
	in       Ingester
	attempts []attempt
	after    func(n int)
}

func (r *recordingIngester) Ingest(ctx context.Context, b pipeline.Batch) (pipeline.Report, error) {
	at := time.Now()
	report, err := r.in.Ingest(ctx, b)
	r.attempts = append(r.attempts, attempt{source: b.Source, lastAttempt: b.LastAttempt, at: at, report: report, err: err})
	if r.after != nil {
		r.after(len(r.attempts))
	}
	return report, err
}
