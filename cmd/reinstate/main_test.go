package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/store"
)

const testdata = "../../testdata/audit"

// replayRules reads no recycle-bin copy, so replays need no Graph.
const replayRules = "../../testdata/rules/replay.yaml"

type result struct {
	code           int
	stdout, stderr string
}

// invoke runs the CLI in-process with only the given environment.
func invoke(t testing.TB, vars map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(name string) string { return vars[name] }
	code := run(context.Background(), args, getenv, strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func fixture(name string) string { return filepath.Join(testdata, name) }

func TestDecodeExitCodesAndOutput(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.json")
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantEvents int
		wantStderr []string
	}{
		{"event hubs body", []string{fixture("eventhubs/mixed-batch.json")}, "", 0, 8, nil},
		{"graph page and ndjson", []string{fixture("graph/directory-audits-page.json"), fixture("ndjson/mixed.ndjson")}, "", 0, -1, nil},
		{"stdin by default", nil, readString(t, fixture("eventhubs/user.json")), 0, -1, nil},
		{"some records skipped", []string{fixture("malformed/bad-records.json")}, "", 2, -1,
			[]string{fixture("malformed/bad-records.json") + ": record 2 ", "field properties.targetResources"}},
		{"not JSON at all", []string{fixture("malformed/html-error-page.txt")}, "", 1, 0, []string{"html-error-page.txt", "not JSON"}},
		{"missing file", []string{missing}, "", 1, 0, []string{missing}},
		{"one good file, one unreadable", []string{fixture("eventhubs/user.json"), missing}, "", 2, -1, []string{missing}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := invoke(t, nil, tt.stdin, append([]string{"decode"}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.wantCode, r.stderr)
			}
			lines := nonEmptyLines(r.stdout)
			if tt.wantEvents >= 0 && len(lines) != tt.wantEvents {
				t.Errorf("%d events on stdout, want %d", len(lines), tt.wantEvents)
			}
			if tt.wantEvents < 0 && len(lines) == 0 {
				t.Errorf("no events on stdout")
			}
			for i, line := range lines {
				checkContractFields(t, i, line)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not mention %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

// checkContractFields asserts that an output line carries every field of
// the normalized event contract, with values of the right form.
func checkContractFields(t *testing.T, i int, line string) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &fields); err != nil {
		t.Fatalf("line %d is not a JSON object: %v", i, err)
	}
	for _, key := range []string{"id", "tenantId", "time", "activity", "category", "operationType", "result", "service", "initiator", "targets", "deletion"} {
		if _, ok := fields[key]; !ok {
			t.Errorf("line %d lacks %q: %s", i, key, line)
		}
	}
	var event audit.Event
	if err := json.Unmarshal([]byte(line), &event); err != nil {
		t.Fatalf("line %d: %v", i, err)
	}
	if _, err := time.Parse(time.RFC3339, strings.Trim(string(fields["time"]), `"`)); err != nil || event.Time.Location() != time.UTC {
		t.Errorf("line %d time %s is not RFC 3339 UTC", i, fields["time"])
	}
	switch event.Deletion {
	case audit.DeletionHard, audit.DeletionSoft, audit.DeletionNone:
	default:
		t.Errorf("line %d deletion %q", i, event.Deletion)
	}
	if event.Result != strings.ToLower(event.Result) {
		t.Errorf("line %d result %q is not lower case", i, event.Result)
	}
}

func TestReplayRecordsOnceAndJournalShowsIt(t *testing.T) {
	vars := map[string]string{"REINSTATE_STORE": "sqlite:" + filepath.Join(t.TempDir(), "state.db"), "REINSTATE_RULES": replayRules}
	batch := fixture("eventhubs/mixed-batch.json")
	r := invoke(t, vars, "", "replay", "--repeat", "3", batch, fixture("malformed/html-error-page.txt"))
	if r.code != 0 {
		t.Fatalf("replay exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// Three rounds: the first finds every record new, the others find
	// them done, and the bad body kept already.
	if got := strings.Count(r.stdout, "replay in observe mode"); got != 3 {
		t.Errorf("%d replay summaries, want 3:\n%s", got, r.stdout)
	}
	if got := strings.Count(r.stdout, "8 in 2 bodies: 8 new, 0 already processed"); got != 1 {
		t.Errorf("%d rounds found the 8 records new, want 1:\n%s", got, r.stdout)
	}
	if got := strings.Count(r.stdout, "8 in 2 bodies: 0 new, 8 already processed"); got != 2 {
		t.Errorf("%d rounds found the 8 records done, want 2:\n%s", got, r.stdout)
	}
	if !strings.Contains(r.stderr, "replay done: 100%") {
		t.Errorf("no final progress line on stderr:\n%s", r.stderr)
	}

	r = invoke(t, vars, "", "journal", "--output", "json", "--limit", "1000")
	if r.code != 0 {
		t.Fatalf("journal exit %d: %s", r.code, r.stderr)
	}
	counts := map[store.Kind]int{}
	for _, line := range nonEmptyLines(r.stdout) {
		var entry store.Entry
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatal(err)
		}
		counts[entry.Kind]++
	}
	// Redelivered bad bytes are kept once, like redelivered records, and
	// the two decisions (a hard-delete alert, an observed restore of
	// sec-prod-payments) are made once. (Their messages wait for their
	// group; the replay ends first.)
	want := map[store.Kind]int{store.KindEventReceived: 8, store.KindBodyDeadLettered: 1, "decision": 2}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("journal kinds %v, want %v", counts, want)
	}

	r = invoke(t, vars, "", "journal")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "TIME") || !strings.Contains(r.stdout, "event.received") {
		t.Errorf("journal table (exit %d):\n%s", r.code, r.stdout)
	}
	r = invoke(t, vars, "", "deadletters")
	if r.code != 0 || strings.Count(r.stdout, "html-error-page.txt") != 1 {
		t.Errorf("deadletters (exit %d):\n%s", r.code, r.stdout)
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, command := range []string{"", "serve", "decode", "journal", "deadletters", "replay", "version"} {
		args := strings.Fields(command + " --help")
		r := invoke(t, nil, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("reinstate %s: exit %d, output:\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
}

func TestBadConfigurationStopsCommandsWithTheVariableName(t *testing.T) {
	r := invoke(t, map[string]string{"REINSTATE_STORE": "mysql:x"}, "", "journal")
	if r.code != 1 || !strings.Contains(r.stderr, "REINSTATE_STORE") {
		t.Errorf("exit %d stderr %q; want 1 naming REINSTATE_STORE", r.code, r.stderr)
	}
}

func TestListingRejectsUnknownOutput(t *testing.T) {
	vars := map[string]string{"REINSTATE_STORE": "sqlite:" + filepath.Join(t.TempDir(), "state.db"), "REINSTATE_RULES": replayRules}
	r := invoke(t, vars, "", "journal", "--output", "yaml")
	if r.code != 1 || !strings.Contains(r.stderr, "yaml") {
		t.Errorf("exit %d stderr %q", r.code, r.stderr)
	}
}

// TestServeDrainsAndExitsOnSIGTERM runs the built binary as the Functions
// host would: it waits for the readiness probe to answer, invokes a
// function, then sends SIGTERM and expects a clean exit.
func TestServeDrainsAndExitsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped in -short mode")
	}
	dir := t.TempDir()
	binary := filepath.Join(dir, "reinstate")
	build := exec.Command("go", "build", "-o", binary, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	port := freePort(t)
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(os.Environ(),
		"FUNCTIONS_CUSTOMHANDLER_PORT="+port,
		"REINSTATE_STORE=sqlite:"+filepath.Join(dir, "state.db"),
		"REINSTATE_RULES="+replayRules,
		"REINSTATE_LOG_FORMAT=json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	base := "http://127.0.0.1:" + port
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness probe never answered: %v\n%s", err, stderr.String())
		}
		time.Sleep(25 * time.Millisecond) // the host's own polling interval
	}
	resp, err := http.Post(base+"/Maintenance", "application/json", strings.NewReader(`{"Data":{"timer":{"IsPastDue":false}},"Metadata":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Maintenance status %d", resp.StatusCode)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM, want 0\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not exit after SIGTERM\n%s", stderr.String())
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func readString(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func nonEmptyLines(s string) []string {
	var lines []string
	scanner := bufio.NewScanner(strings.NewReader(s))
	scanner.Buffer(nil, 1<<20)
	for scanner.Scan() {
		if line := strings.TrimSpace(scanner.Text()); line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

func TestReplayReadsABodyFromStdin(t *testing.T) {
	vars := map[string]string{"REINSTATE_STORE": "sqlite:" + filepath.Join(t.TempDir(), "state.db"), "REINSTATE_RULES": replayRules}
	r := invoke(t, vars, readString(t, fixture("eventhubs/user.json")), "replay", "-")
	if r.code != 0 || !strings.Contains(r.stdout, "3 in 1 bodies: 3 new") {
		t.Fatalf("replay - (exit %d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestDeadLetterRawReplaysAsReceived: --raw writes a dead letter's bytes
// exactly as they arrived, so that they can be replayed once fixed.
func TestDeadLetterRawReplaysAsReceived(t *testing.T) {
	vars := map[string]string{"REINSTATE_STORE": "sqlite:" + filepath.Join(t.TempDir(), "state.db"), "REINSTATE_RULES": replayRules}
	if r := invoke(t, vars, "", "replay", fixture("malformed/html-error-page.txt")); r.code != 0 {
		t.Fatalf("replay exit %d: %s", r.code, r.stderr)
	}
	r := invoke(t, vars, "", "deadletters", "--output", "json")
	var letter store.DeadLetter
	if err := json.Unmarshal([]byte(nonEmptyLines(r.stdout)[0]), &letter); err != nil {
		t.Fatal(err)
	}
	r = invoke(t, vars, "", "deadletters", "--raw", letter.ID)
	if r.code != 0 || r.stdout != readString(t, fixture("malformed/html-error-page.txt")) {
		t.Errorf("--raw %s (exit %d) wrote %q", letter.ID, r.code, r.stdout)
	}
	if r := invoke(t, vars, "", "deadletters", "--raw", "no-such-id"); r.code == 0 || !strings.Contains(r.stderr, "no-such-id") {
		t.Errorf("--raw of an unknown id: exit %d, stderr %q", r.code, r.stderr)
	}
}
