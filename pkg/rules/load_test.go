package rules_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/rules"
)

// envOf is a getenv over vars; anything else is unset.
func envOf(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func mustParse(t testing.TB, src string, vars map[string]string) *rules.Table {
	t.Helper()
	table, err := rules.Parse("test.yaml", []byte(src), envOf(vars))
	if err != nil {
		t.Fatalf("Parse refused the table:\n%v\n%s", err, src)
	}
	return table
}

// problemsOf asserts that err is a refusal (*rules.Error) and returns its
// problems.
func problemsOf(t *testing.T, table *rules.Table, err error) []rules.Problem {
	t.Helper()
	if table != nil {
		t.Errorf("a refused file returned a table (%d rules); want nil", len(table.Rules))
	}
	var re *rules.Error
	if !errors.As(err, &re) {
		t.Fatalf("error is %T (%v), want *rules.Error", err, err)
	}
	if len(re.Problems) == 0 {
		t.Fatal("*rules.Error with no problems")
	}
	return re.Problems
}

// wantProblem is one expected problem. at, when set, is the text the file
// holds at line:col, so that a position is checked against the fixture
// itself rather than only against a number.
type wantProblem struct {
	line, col int // col 0: not checked
	field     string
	message   string // a distinctive substring of the message
	at        string
}

func TestLoadRefusesBadFiles(t *testing.T) {
	const deleton = "undefined field 'deleton'"
	tests := map[string][]wantProblem{
		// The YAML library gives a line but no column.
		"yaml-syntax.yaml": {{line: 5, message: "not valid YAML: mapping values are not allowed in this context"}},
		"unknown-key.yaml": {
			{3, 1, "setting", `unknown key "setting" (known: channels, defaults, guards, rules, version)`, "setting:"},
			{8, 5, "rules[0].action", `unknown key "action" (known: actions, continue,`, "action: restore"},
		},
		"missing-version.yaml":     {{2, 1, "version", "is missing; this build reads version: 1", "rules:"}},
		"version-2.yaml":           {{2, 10, "version", `"2" is not supported; this build reads version: 1`, "2"}},
		"duplicate-rule-name.yaml": {{10, 11, "rules[2].name", `"groups" is also the name of rules[0]`, "groups"}},
		"bad-action.yaml":          {{6, 24, "rules[0].actions[1]", `"undelete" is not an action`, "undelete]"}},
		"ignore-with-others.yaml":  {{6, 14, "rules[0].actions", "ignore stands alone", "[ignore, restore]"}},
		"ignore-with-notify.yaml":  {{8, 14, "rules[0].actions", "an ignore rule cannot notify", "[ignore]"}},
		"restore-and-preview.yaml": {{6, 14, "rules[0].actions", "restore and preview exclude each other", "[preview, restore]"}},
		"notify-without-channels.yaml": {
			{8, 14, "rules[0].actions", "notify needs channels: add notify: [CHANNEL]", "[notify]"},
		},
		"undeclared-channel.yaml": {
			{7, 23, "guards.breaker.notify[1]", `channel "pager" is not declared under channels:`, "pager]"},
			{12, 14, "rules[0].notify[0]", `channel "secops" is not declared under channels:`, "secops]"},
		},
		"bad-duration.yaml": {
			{5, 13, "guards.cooldown.window", `must be a duration such as 90s, 30m or 1h30m, not "30 minutes"`, "30 minutes"},
			{7, 13, "guards.breaker.window", `must be a duration such as 90s, 30m or 1h30m, not "ten"`, "ten"},
			{8, 18, "guards.breaker.quietPeriod", "must be longer than zero", "0s"},
		},
		"breaker-per-rule-zero.yaml": {{5, 14, "guards.breaker.perRule", `must be a whole number of at least 1, not "0"`, "0"}},
		"options-on-notify-rule.yaml": {
			{11, 7, "rules[0].options", "options shape a restore or preview; this rule does neither", "autoReconcileProxyConflict"},
		},
		"unknown-option.yaml": {
			{8, 7, "rules[0].options.newUserPrincipalName", `unknown key "newUserPrincipalName"`, "newUserPrincipalName:"},
		},
		// A rule may be called 2nd-line; a channel may not.
		"channel-name.yaml": {{4, 3, "channels.2nd-line", "a channel name is a lower-case letter", "2nd-line:"}},
		// The end of the condition: the closing quote.
		"cel-syntax.yaml": {{5, 39, "rules[0].when", "Syntax error: mismatched input '<EOF>'", `'`}},
		// CEL places a field error on the dot before the field's name.
		"cel-undeclared-field.yaml": {
			{5, 43, "rules[0].when", deleton, ".deleton"},  // single-quoted
			{8, 45, "rules[1].when", deleton, ".deleton"},  // double-quoted, after two \" escapes
			{11, 42, "rules[2].when", deleton, ".deleton"}, // plain
			{16, 44, "rules[3].when", deleton, ".deleton"}, // literal |, second line, more indented, after an é
			{21, 38, "rules[4].when", deleton, ".deleton"}, // folded >-, second line
			{25, 38, "rules[5].when", deleton, ".deleton"}, // plain over two lines
			{29, 38, "rules[6].when", deleton, ".deleton"}, // single-quoted over two lines, after '' escapes
			{32, 11, "rules[7].when", "undeclared reference to 'evnt'", "evnt.deletion"},
		},
		"cel-type-error.yaml": {
			{5, 40, "rules[0].when", "found no matching overload for 'startsWith' applied to 'string.(int)'", "(1)"},
			{8, 26, "rules[1].when", "found no matching overload for '_==_' applied to '(string, int)'", "== 1"},
		},
		"non-bool.yaml": {{5, 11, "rules[0].when", "a condition must be true or false; this one is a string", "target.id"}},
		"several-problems.yaml": {
			{2, 10, "version", `"2" is not supported`, "2"},
			{4, 9, "defaults.mode", `"dry-run" is not one of enforce, observe`, "dry-run"},
			{6, 19, "channels.console.type", `"email" is not one of console, file, webhook, teams, slack, pagerduty`, "email"},
			{9, 13, "guards.cooldown.window", `not "soon"`, "soon"},
			{11, 12, "guards.breaker.total", `must be a whole number of at least 1, not "0"`, "0"},
			{14, 43, "rules[0].when", deleton, ".deleton"},
			{16, 14, "rules[0].notify[0]", `channel "pager" is not declared`, "pager"},
			{17, 11, "rules[1].name", `"groups" is also the name of rules[0]`, "groups"},
			{19, 24, "rules[1].actions[1]", `"restore" is listed twice`, "restore]"},
			{20, 15, "rules[1].severity", `"high" is not one of info, warning, critical`, "high"},
		},
	}

	dir := filepath.Join(repoRoot, "testdata/rules/invalid")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		if _, ok := tests[filepath.Base(path)]; !ok {
			t.Errorf("%s has no expectations in TestLoadRefusesBadFiles", path)
		}
	}
	for name, wants := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(data), "\n")
			table, err := rules.Load(path, envOf(nil))
			got := problemsOf(t, table, err)
			if err.Error() != joinProblems(got) {
				t.Errorf("Error() is not the problems one a line:\n%s", err)
			}
			if len(got) != len(wants) {
				t.Errorf("got %d problems, want %d:\n%v", len(got), len(wants), err)
			}
			for i, w := range wants {
				if i >= len(got) {
					break
				}
				p := got[i]
				prefix := fmt.Sprintf("%s:%d:", path, w.line)
				if w.col > 0 {
					prefix = fmt.Sprintf("%s:%d:%d: ", path, w.line, w.col)
					if w.field != "" {
						prefix += w.field + ": "
					}
				}
				if s := p.String(); !strings.HasPrefix(s, prefix) || !strings.Contains(p.Message, w.message) {
					t.Errorf("problem %d is\n\t%s\nwant\n\t%s...%s", i, s, prefix, w.message)
				}
				if p.File != path || p.Field != w.field {
					t.Errorf("problem %d: File %q Field %q, want %q %q", i, p.File, p.Field, path, w.field)
				}
				if w.at != "" {
					if text := textAt(lines, p.Line, p.Column); !strings.HasPrefix(text, w.at) {
						t.Errorf("problem %d points at %d:%d, where the file has %q, want %q", i, p.Line, p.Column, text, w.at)
					}
				}
			}
		})
	}
}

func joinProblems(ps []rules.Problem) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}

// textAt is the file's text from line:col (both from 1, col in characters).
func textAt(lines []string, line, col int) string {
	if line < 1 || line > len(lines) {
		return ""
	}
	r := []rune(lines[line-1])
	if col < 1 || col > len(r) {
		return ""
	}
	return string(r[col-1:])
}

func TestEnvExpansion(t *testing.T) {
	const base = `version: 1
channels:
  secops: {type: webhook, url: "${HOOK}", note: '$${LITERAL} and $${HOOK}'}
  plain:
    type: webhook
    url: ${PLAIN_URL}
guards:
  breaker:
    perRule: ${N}
    window: ${W}
rules:
  - name: listed-groups
    description: costs $${LITERAL}
    when: 'target.id in [${IDS}] || target.displayName == "$${LITERAL}"'
    actions: [restore]
    notify: [secops]
`
	vars := map[string]string{
		"HOOK":      "https://hooks.example.invalid/x?a=1&b=${2}",
		"PLAIN_URL": "a: b\n- c\nrules: []",
		"N":         "7",
		"W":         "15m",
		"IDS":       `"id-1", "id-2"`,
	}

	t.Run("expanded", func(t *testing.T) {
		table := mustParse(t, base, vars)
		ch := table.Channels["secops"]
		if got := ch.Settings["url"]; got != vars["HOOK"] {
			t.Errorf("channel url = %#v, want %q (expanded once: a ${ in a value is not expanded again)", got, vars["HOOK"])
		}
		if got := ch.Settings["note"]; got != "${LITERAL} and ${HOOK}" {
			t.Errorf("$${ not kept literal: note = %#v", got)
		}
		if got := table.Rules[0].Description; got != "costs ${LITERAL}" {
			t.Errorf("description = %q, want costs ${LITERAL}", got)
		}
		if b := table.Guards.Breaker; b.PerRule != 7 || b.Window != 15*time.Minute {
			t.Errorf("breaker perRule %d window %v, want 7 (a plain ${N} resolves to a number) and 15m", b.PerRule, b.Window)
		}
		if want := `target.id in ["id-1", "id-2"] || target.displayName == "${LITERAL}"`; table.Rules[0].When != want {
			t.Errorf("when = %q, want %q", table.Rules[0].When, want)
		}
		ev := deletion(audit.DeletionSoft)
		for _, tc := range []struct {
			target audit.Target
			match  bool
		}{
			{group("id-2", "x"), true},
			{group("id-1", "x"), true},
			{group("id-3", "x"), false},
			{group("id-3", "${LITERAL}"), true},
			{group("id-3", "$${LITERAL}"), false},
		} {
			v := table.Subject(ev, time.Now()).Evaluate(tc.target, nil, rules.ObjectNotRead)
			if (len(v.Matched) > 0) != tc.match {
				t.Errorf("%+v: matched %v, want %v", tc.target, v.Matched, tc.match)
			}
		}
	})

	t.Run("values cannot change the structure", func(t *testing.T) {
		table := mustParse(t, base, vars)
		if got := table.Channels["plain"].Settings["url"]; got != vars["PLAIN_URL"] {
			t.Errorf("plain url = %#v, want the string %q", got, vars["PLAIN_URL"])
		}
		if len(table.Rules) != 1 || len(table.Channels) != 2 {
			t.Errorf("structure changed: %d rules, %d channels", len(table.Rules), len(table.Channels))
		}
		// In a place that wants a number, YAML in a value is refused, not parsed.
		v := maps(vars, map[string]string{"N": "1\ntotal: 2"})
		_, err := rules.Parse("test.yaml", []byte(base), envOf(v))
		got := problemsOf(t, nil, err)
		if len(got) != 1 || got[0].Field != "guards.breaker.perRule" || got[0].Line != 9 {
			t.Errorf("perRule with YAML in its value: %v", err)
		}
	})

	t.Run("unset", func(t *testing.T) {
		for _, name := range []string{"HOOK", "N", "IDS"} {
			v := maps(vars, map[string]string{name: ""})
			table, err := rules.Parse("test.yaml", []byte(base), envOf(v))
			got := problemsOf(t, table, err)
			pos := map[string][2]int{"HOOK": {3, 32}, "N": {9, 14}, "IDS": {14, 11}}[name]
			want := fmt.Sprintf("environment variable %s is not set", name)
			if got[0].Line != pos[0] || got[0].Column != pos[1] || got[0].Message != want {
				t.Errorf("%s unset: got\n%v\nwant %d:%d: %s first", name, err, pos[0], pos[1], want)
			}
		}
	})

	t.Run("invalid reference", func(t *testing.T) {
		src := strings.Replace(base, "${HOOK}", "${1X}", 1)
		table, err := rules.Parse("test.yaml", []byte(src), envOf(vars))
		got := problemsOf(t, table, err)
		if len(got) != 1 || got[0].Line != 3 || got[0].Column != 32 || got[0].Message != "${1X} is not a valid environment variable reference" {
			t.Errorf("got %v", err)
		}
	})
}

// maps is base with over laid on it.
func maps(base, over map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for k, v := range over {
		m[k] = v
	}
	return m
}

func TestModeResolution(t *testing.T) {
	const rule = `
rules:
  - name: all
    when: "true"
    actions: [restore]
`
	tests := []struct {
		name, fileMode, envMode string
		mode                    rules.Mode
		source                  string
		refused                 string
	}{
		{name: "neither", mode: rules.ModeObserve, source: "default"},
		{name: "file enforce", fileMode: "enforce", mode: rules.ModeEnforce, source: "file"},
		{name: "file observe", fileMode: "observe", mode: rules.ModeObserve, source: "file"},
		{name: "environment only", envMode: "enforce", mode: rules.ModeEnforce, source: "environment"},
		{name: "environment enforce over file observe", fileMode: "observe", envMode: "enforce", mode: rules.ModeEnforce, source: "environment"},
		{name: "environment observe over file enforce", fileMode: "enforce", envMode: "observe", mode: rules.ModeObserve, source: "environment"},
		{name: "environment with spaces", fileMode: "observe", envMode: " enforce\n", mode: rules.ModeEnforce, source: "environment"},
		{name: "bad environment", fileMode: "enforce", envMode: "dry-run", refused: `REINSTATE_MODE: "dry-run" is not observe or enforce`},
		{name: "environment is case-sensitive", envMode: "Enforce", refused: `REINSTATE_MODE: "Enforce" is not observe or enforce`},
		{name: "bad file mode", fileMode: "Enforce", envMode: "enforce", refused: `defaults.mode: "Enforce" is not one of enforce, observe`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "version: 1\n"
			if tc.fileMode != "" {
				src += "defaults:\n  mode: " + tc.fileMode + "\n"
			}
			src += rule
			table, err := rules.Parse("test.yaml", []byte(src), envOf(map[string]string{rules.EnvMode: tc.envMode}))
			if tc.refused != "" {
				got := problemsOf(t, table, err)
				if len(got) != 1 || !strings.Contains(got[0].String(), tc.refused) {
					t.Errorf("got %v, want one problem %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if table.Mode != tc.mode || table.ModeSource != tc.source {
				t.Errorf("mode %q from %q, want %q from %q", table.Mode, table.ModeSource, tc.mode, tc.source)
			}
		})
	}
}

func TestSchemaAndLoaderAgree(t *testing.T) {
	// Everything the fixtures reference, set to something valid, so that a
	// refusal is the fixture's own fault.
	vars := map[string]string{
		"SECOPS_WEBHOOK_URL": "https://hooks.example.invalid/secops",
		"TEAMS_URL":          "https://teams.example.invalid/hook",
		"SLACK_URL":          "https://slack.example.invalid/hook",
		"PD_KEY":             "R0UTINGKEY",
		"CLEANUP_SP_ID":      "5b1c0d2e-3f4a-4b5c-8d6e-7f8091a2b3c4",
		"BREAKER_WINDOW":     "10m",
	}
	for _, path := range fixtures(t, "testdata/rules/valid") {
		t.Run("valid/"+filepath.Base(path), func(t *testing.T) {
			table, err := rules.Load(path, envOf(vars))
			if err != nil {
				t.Fatalf("the schema accepts it, the loader refuses it:\n%v", err)
			}
			if len(table.Rules) == 0 {
				t.Error("no rules")
			}
		})
	}
	for _, path := range fixtures(t, "testdata/rules/invalid-schema") {
		t.Run("invalid-schema/"+filepath.Base(path), func(t *testing.T) {
			table, err := rules.Load(path, envOf(vars))
			if err == nil {
				t.Fatalf("the schema refuses it (%s), the loader accepts it", firstLineComment(t, path))
			}
			for _, p := range problemsOf(t, table, err) {
				if strings.Contains(p.Message, "environment variable") {
					t.Errorf("refused for an environment variable, not for what the fixture tests: %v", p)
				}
			}
			t.Log(err)
		})
	}
}

func TestParseRefusesNonMapping(t *testing.T) {
	for _, src := range []string{"", "- a\n- b\n", "just text\n"} {
		table, err := rules.Parse("x.yaml", []byte(src), envOf(nil))
		if got := problemsOf(t, table, err); len(got) != 1 {
			t.Errorf("%q: %v", src, err)
		}
	}
	// A file that cannot be read is a problem naming it, not a panic.
	table, err := rules.Load(filepath.Join(t.TempDir(), "missing.yaml"), envOf(nil))
	if got := problemsOf(t, table, err); !strings.Contains(got[0].Message, "cannot read the rule file") {
		t.Errorf("got %v", err)
	}
}

func TestTableDefaults(t *testing.T) {
	table := mustParse(t, `version: 1
rules:
  - name: groups
    when: target.type == "group"
    actions: [restore]
`, nil)
	g := table.Guards
	if g.Cooldown.Window != rules.DefaultCooldown || g.Breaker.Window != rules.DefaultBreakerWindow ||
		g.Breaker.PerRule != rules.DefaultBreakerPerRule || g.Breaker.Total != rules.DefaultBreakerTotal ||
		g.Breaker.QuietPeriod != rules.DefaultBreakerQuietPeriod || g.Breaker.Preview {
		t.Errorf("guards %+v are not the defaults", g)
	}
	r := table.Rules[0]
	if r.Severity != rules.DefaultSeverity || r.Continue || r.Line != 3 || !slices.Equal(r.Actions, []rules.Action{rules.ActionRestore}) {
		t.Errorf("rule %+v", r)
	}
	if r.Options.SkipServicePrincipal || r.Options.AutoReconcileProxyConflict || r.Options.CAPolicyStateAfterRestore != "" {
		t.Errorf("default options %+v: a restored application brings its service principal back", r.Options)
	}
}

// TestRouting: defaults.notify gives channels to rules that name none (not
// to ignore rules), and lets a notify-only rule name none; a channel's
// minSeverity keeps lower severities off it.
func TestRouting(t *testing.T) {
	table := mustParse(t, `version: 1
defaults:
  notify: [secops]
channels:
  secops: {type: console}
  pager: {type: pagerduty, routingKey: k, minSeverity: critical}
rules:
  - name: skip-lab
    when: 'target.displayName.startsWith("lab-")'
    actions: [ignore]
  - name: hard-deletes
    when: 'event.deletion == "hard"'
    actions: [notify]
  - name: critical
    when: 'target.displayName.startsWith("sec-prod-")'
    actions: [restore]
    notify: [pager]
    severity: critical
`, nil)
	got := map[string][]string{}
	for _, r := range table.Rules {
		got[r.Name] = r.Notify
	}
	want := map[string][]string{"skip-lab": nil, "hard-deletes": {"secops"}, "critical": {"pager"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("channels by rule %v, want %v", got, want)
	}
	pager, secops := table.Channels["pager"], table.Channels["secops"]
	if _, kept := pager.Settings["minSeverity"]; kept || pager.MinSeverity != rules.SeverityCritical {
		t.Errorf("pager channel %+v: minSeverity must be read, not left in the settings", pager)
	}
	for _, tt := range []struct {
		ch   rules.Channel
		s    rules.Severity
		want bool
	}{
		{pager, rules.SeverityCritical, true}, {pager, rules.SeverityWarning, false}, {pager, rules.SeverityInfo, false},
		{secops, rules.SeverityInfo, true},
	} {
		if got := tt.ch.Admits(tt.s); got != tt.want {
			t.Errorf("%s.Admits(%s) = %t, want %t", tt.ch.Name, tt.s, got, tt.want)
		}
	}
	_, err := rules.Parse("bad.yaml", []byte(`version: 1
defaults: {notify: [nowhere]}
channels: {c: {type: console, minSeverity: loud}}
rules:
  - {name: r, when: 'true', actions: [notify], notify: [c]}
`), func(string) string { return "" })
	for _, want := range []string{`bad.yaml:2:21: defaults.notify[0]: channel "nowhere" is not declared`, `bad.yaml:3:44: channels.c.minSeverity: "loud" is not one of info, warning, critical`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v; want %q", err, want)
		}
	}
}
