package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

// TestSilenceFromTheCLIMutesTheService: a silence added with the CLI is in
// the store the service reads, so the next delivery's matching decision is
// journaled as silenced and nothing is told; ending it lifts the mute, and
// both changes are journaled with who made them.
func TestSilenceFromTheCLIMutesTheService(t *testing.T) {
	vars := map[string]string{"REINSTATE_STORE": "sqlite:" + filepath.Join(t.TempDir(), "state.db"), "REINSTATE_RULES": replayRules, "USER": "oncall-alice"}
	r := invoke(t, vars, "", "silence", "add", "--for", "1h", "--rule", "critical-groups", "--reason", "planned migration of sec-prod groups")
	if r.code != 0 {
		t.Fatalf("silence add exit %d: %s", r.code, r.stderr)
	}
	id := strings.Fields(r.stdout)[0]
	if r := invoke(t, vars, "", "silence", "list"); r.code != 0 || !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "rule=critical-groups") {
		t.Fatalf("silence list (exit %d):\n%s", r.code, r.stdout)
	}
	if r := invoke(t, vars, "", "replay", fixture("eventhubs/mixed-batch.json")); r.code != 0 {
		t.Fatalf("replay exit %d: %s", r.code, r.stderr)
	}
	entries := journalEntries(t, vars)
	silenced := 0
	for _, e := range entries {
		if e.Kind == "decision.guarded" && e.Rule == "critical-groups" && strings.Contains(e.Detail, "silenced by "+id) {
			silenced++
		}
	}
	// Messages recorded for the channels: the hard-delete alert, and
	// nothing for the silenced rule.
	told := map[string]int{}
	st, err := sqlite.Open(t.Context(), strings.TrimPrefix(vars["REINSTATE_STORE"], "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	messages, err := st.Intents(t.Context(), store.IntentQuery{Kind: notify.IntentKind, Limit: 100})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range messages {
		var item struct{ Message notify.Message }
		if err := json.Unmarshal(m.Payload, &item); err != nil {
			t.Fatal(err)
		}
		told[item.Message.Rule]++
	}
	if silenced != 1 || told["critical-groups"] != 0 || told["hard-deletes"] != 1 {
		t.Errorf("%d silenced critical-groups decisions; messages by rule %v; want 1, and only the hard-delete alert", silenced, told)
	}
	if !hasEntry(entries, "silence.added", "oncall-alice") {
		t.Errorf("the silence's creation is not journaled with its author")
	}

	if r := invoke(t, vars, "", "silence", "end", id); r.code != 0 {
		t.Fatalf("silence end exit %d: %s", r.code, r.stderr)
	}
	if r := invoke(t, vars, "", "silence", "list"); r.code != 0 || strings.Contains(r.stdout, id) {
		t.Errorf("an ended silence is still listed as active:\n%s", r.stdout)
	}
	if !hasEntry(journalEntries(t, vars), "silence.ended", "oncall-alice") {
		t.Errorf("the silence's end is not journaled with its author")
	}
	if r := invoke(t, vars, "", "silence", "add", "--for", "1h"); r.code == 0 || !strings.Contains(r.stderr, "no rule, initiator or object") {
		t.Errorf("a silence that matches nothing: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestBreakerResetIsJournaled(t *testing.T) {
	vars := map[string]string{"REINSTATE_STORE": "sqlite:" + filepath.Join(t.TempDir(), "state.db"), "USER": "oncall-bob"}
	if r := invoke(t, vars, "", "breaker", "reset", "critical-groups"); r.code != 0 {
		t.Fatalf("breaker reset exit %d: %s", r.code, r.stderr)
	}
	if !hasEntry(journalEntries(t, vars), "breaker.reset", "oncall-bob") {
		t.Error("the reset is not journaled with who did it")
	}
}

func journalEntries(t *testing.T, vars map[string]string) []store.Entry {
	t.Helper()
	r := invoke(t, vars, "", "journal", "--output", "json", "--limit", "1000")
	if r.code != 0 {
		t.Fatalf("journal exit %d: %s", r.code, r.stderr)
	}
	var entries []store.Entry
	for _, line := range nonEmptyLines(r.stdout) {
		var e store.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	return entries
}

func hasEntry(entries []store.Entry, kind store.Kind, actor string) bool {
	for _, e := range entries {
		if e.Kind == kind && e.Actor == actor {
			return true
		}
	}
	return false
}
