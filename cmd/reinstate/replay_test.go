package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/reinstate/reinstate/pkg/customhandler"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
	"github.com/reinstate/reinstate/pkg/store"
)

// TestReplayFromGraphRehearsesThenEnforcesOnce replays Graph's audit log
// of a critical group's deletion: the observe-mode rehearsal says it would
// restore and writes nothing to the tenant, a second rehearsal finds the
// record done, --enforce then restores the group (the rehearsal left the
// record free), and a second --enforce restores nothing more.
func TestReplayFromGraphRehearsesThenEnforcesOnce(t *testing.T) {
	tn := simtest.Start(t, "../../testdata/graphsim/seed.json")
	tn.DeleteAs(t, "admin-token", "groups", paymentsGroup)
	vars := map[string]string{
		"REINSTATE_STORE":      "sqlite:" + filepath.Join(t.TempDir(), "state.db"),
		"REINSTATE_GRAPH_URL":  tn.URL,
		"REINSTATE_GRAPH_AUTH": "static", "REINSTATE_GRAPH_TOKEN": "reinstate-token",
		"REINSTATE_RULES":     "../../testdata/rules/oncall.yaml",
		"REINSTATE_TENANT_ID": "7f3c2a91-5d4e-4b8a-9c61-2e0f8d3b4a17",
		"REINSTATE_SELF_IDS":  reinstateAppID,
	}
	replayGraph := func(extra ...string) result {
		t.Helper()
		r := invoke(t, vars, "", append([]string{"replay", "--from-graph", "--since", "1h"}, extra...)...)
		if r.code != 0 {
			t.Fatalf("replay %v: exit %d\n%s\n%s", extra, r.code, r.stdout, r.stderr)
		}
		return r
	}

	r := replayGraph()
	for _, want := range []string{"observe mode", "1 in 1 bodies: 1 new", "1 would act", "0 restores asked for"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rehearsal summary lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "replay done: 100%") {
		t.Errorf("no final progress line:\n%s", r.stderr)
	}
	if tn.Live(t, "admin-token", "groups", paymentsGroup) {
		t.Fatal("the rehearsal restored the group")
	}
	if got := journalOutcomes(t, vars, "observe: would restore"); got != 1 {
		t.Errorf("%d 'would restore' decisions journaled, want 1", got)
	}

	if r := replayGraph(); !strings.Contains(r.stdout, "1 in 1 bodies: 0 new, 1 already processed") {
		t.Errorf("second rehearsal did not find the record done:\n%s", r.stdout)
	}

	r = replayGraph("--enforce")
	if !strings.Contains(r.stdout, "enforce mode") || !strings.Contains(r.stdout, "1 new") || !strings.Contains(r.stdout, "1 restores asked for") {
		t.Errorf("enforce summary:\n%s", r.stdout)
	}
	if !tn.Live(t, "admin-token", "groups", paymentsGroup) {
		t.Fatal("--enforce did not restore the group")
	}

	// The log now holds Reinstate's own restore too: caused by Reinstate,
	// it triggers nothing, and the deletion is done.
	r = replayGraph("--enforce")
	if !strings.Contains(r.stdout, "2 in 1 bodies: 1 new, 1 already processed, 1 caused by Reinstate") {
		t.Errorf("second enforce summary:\n%s", r.stdout)
	}
	if all, byReinstate := graphRestores(tn, paymentsGroup); all != 1 || byReinstate != 1 {
		t.Errorf("Graph logged %d restores (%d by Reinstate), want exactly one by Reinstate", all, byReinstate)
	}
	if r := replayGraph(); !strings.Contains(r.stdout, "2 in 1 bodies: 0 new, 2 already processed") {
		t.Errorf("a rehearsal after the service's work should find everything done:\n%s", r.stdout)
	}
}

// journalOutcomes counts decisions journaled with an outcome that starts
// with prefix.
func journalOutcomes(t *testing.T, vars map[string]string, prefix string) int {
	t.Helper()
	n := 0
	for _, e := range journalEntries(t, vars) {
		if e.Kind == "decision" && strings.HasPrefix(e.Outcome, prefix) {
			n++
		}
	}
	return n
}

func TestReplayRefusesFlagsThatCannotApply(t *testing.T) {
	file := fixture("eventhubs/user.json")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no source", nil, "name one source"},
		{"two sources", []string{file, "--from-graph", "--since", "1h"}, "name one source"},
		{"graph without since", []string{"--from-graph"}, "need --since"},
		{"eventhub without since", []string{"--from-eventhub"}, "need --since"},
		{"window on a file", []string{file, "--since", "1h"}, "files are replayed whole"},
		{"until without graph", []string{"--from-eventhub", "--since", "1h", "--until", "2026-12-01T00:00:00Z"}, "--until applies to --from-graph only"},
		{"consumer group without hub", []string{"--from-graph", "--since", "1h", "--consumer-group", "x"}, "--consumer-group applies"},
		{"repeat on graph", []string{"--from-graph", "--since", "1h", "--repeat", "2"}, "--repeat applies to files only"},
		{"url on graph", []string{"--from-graph", "--since", "1h", "--url", "http://127.0.0.1:1"}, "--url delivers files only"},
		{"url with enforce", []string{file, "--url", "http://127.0.0.1:1", "--enforce"}, "decides in its own mode"},
		{"zero batch", []string{file, "--batch", "0"}, "at least 1"},
		{"since in the future", []string{"--from-graph", "--since", "2999-01-01T00:00:00Z"}, "in the future"},
		{"since unreadable", []string{"--from-graph", "--since", "yesterday"}, "RFC 3339"},
		{"missing file", []string{filepath.Join(t.TempDir(), "nope.ndjson")}, "nope.ndjson"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{"REINSTATE_STORE": "sqlite:" + filepath.Join(t.TempDir(), "state.db"), "REINSTATE_RULES": replayRules,
				"REINSTATE_GRAPH_URL": "http://127.0.0.1:1", "REINSTATE_GRAPH_AUTH": "none"}
			r := invoke(t, vars, "", append([]string{"replay"}, tt.args...)...)
			if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("replay %v: exit %d, stderr %q; want a refusal mentioning %q", tt.args, r.code, r.stderr, tt.want)
			}
		})
	}
}

// TestReplayURLDeliversTheHostEnvelope: with --url, file bodies go to a
// running handler as the Functions host sends them, in batches, every
// round again.
func TestReplayURLDeliversTheHostEnvelope(t *testing.T) {
	var (
		mu      sync.Mutex
		batches [][]string
	)
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req customhandler.Request
		if r.URL.Path != "/AuditEvents" || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, "not an AuditEvents invocation", http.StatusBadRequest)
			return
		}
		events, err := req.Strings("events")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		batches = append(batches, events)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"Logs":["ingested"]}`))
	}))
	t.Cleanup(handler.Close)
	vars := map[string]string{"REINSTATE_STORE": "sqlite:" + filepath.Join(t.TempDir(), "state.db"), "REINSTATE_RULES": replayRules}
	r := invoke(t, vars, "", "replay", "--url", handler.URL, "--batch", "2", "--repeat", "2",
		fixture("eventhubs/user.json"), fixture("eventhubs/mixed-batch.json"), fixture("malformed/html-error-page.txt"))
	if r.code != 0 {
		t.Fatalf("replay --url: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// Three bodies in batches of two, twice: 2+1, 2+1.
	if len(batches) != 4 || len(batches[0]) != 2 || len(batches[1]) != 1 {
		t.Fatalf("handler got batches of %v, want [2 1 2 1]", batchSizes(batches))
	}
	if batches[1][0] != readString(t, fixture("malformed/html-error-page.txt")) {
		t.Errorf("the third body was not delivered byte for byte")
	}
	if !strings.Contains(r.stdout, "-> HTTP 200 ingested") {
		t.Errorf("stdout does not report the handler's answers:\n%s", r.stdout)
	}
	// Nothing was written to the local store: the handler decides.
	if entries := journalEntries(t, vars); len(entries) != 0 {
		t.Errorf("local journal holds %d entries, want none", len(entries))
	}
}

func batchSizes(batches [][]string) []int {
	sizes := make([]int, len(batches))
	for i, b := range batches {
		sizes[i] = len(b)
	}
	return sizes
}

// TestReplayNDJSONKeepsBadLinesNamedByFileAndLine streams an NDJSON file,
// one event body a line, the way `make bench-replay` feeds 100,000
// records: the good lines are ingested, a line that is not JSON and
// records with a malformed field are kept as dead letters that name the
// file, the line and (for the record) the field, and progress lines come
// on stderr, which is not a terminal here.
func TestReplayNDJSONKeepsBadLinesNamedByFileAndLine(t *testing.T) {
	compact := func(name string) string {
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(readString(t, fixture(name)))); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	file := filepath.Join(t.TempDir(), "history.ndjson")
	lines := []string{
		compact("eventhubs/user.json"),        // line 1: 3 records
		"<html>502 Bad Gateway</html>",        // line 2: not JSON
		"",                                    // line 3: blank, skipped
		compact("malformed/bad-records.json"), // line 4: records 2 and 3 malformed
		compact("eventhubs/group.json"),       // line 5
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"REINSTATE_STORE": "sqlite:" + filepath.Join(t.TempDir(), "state.db"), "REINSTATE_RULES": replayRules}
	r := invoke(t, vars, "", "replay", "--batch", "1", "--progress-every", "1ns", file)
	if r.code != 0 {
		t.Fatalf("replay exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "dead letters 2 records and 1 bodies could not be decoded") {
		t.Errorf("summary does not count the bad line and the bad record:\n%s", r.stdout)
	}
	// One line per batch at least (four bodies), and the final line.
	if got := strings.Count(r.stderr, "replay "); got < 4 || !strings.Contains(r.stderr, "replay done: 100%") {
		t.Errorf("%d progress lines, want one a batch and a final 100%%:\n%s", got, r.stderr)
	}

	r = invoke(t, vars, "", "deadletters", "--output", "json")
	if r.code != 0 {
		t.Fatalf("deadletters exit %d: %s", r.code, r.stderr)
	}
	var where []string
	for _, line := range nonEmptyLines(r.stdout) {
		var letter store.DeadLetter
		if err := json.Unmarshal([]byte(line), &letter); err != nil {
			t.Fatal(err)
		}
		where = append(where, letter.Source+" | "+letter.Location+" | "+letter.Reason)
	}
	wants := [][]string{
		{"(" + file + " line 2) |", "not JSON"},
		{"(" + file + " line 4) |", "record 2 ", "field properties.targetResources"},
		{"(" + file + " line 4) |", "record 3 ", "field properties.activityDateTime"},
	}
	if len(where) != len(wants) {
		t.Fatalf("dead letters %q, want %d", where, len(wants))
	}
	for _, want := range wants {
		found := false
		for _, w := range where {
			if containsAll(w, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no dead letter with %q among %q", want, where)
		}
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
