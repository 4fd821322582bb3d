package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRulesCheck loads rule files as `reinstate serve` would and reports
// every problem as FILE:LINE:COLUMN.
func TestRulesCheck(t *testing.T) {
	badRules, _ := filepath.Abs(planBadRules)
	tests := []struct {
		name       string
		vars       map[string]string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr []string
		// wantStderrRE must each match a line of stderr.
		wantStderrRE []string
	}{
		{"good file", nil, []string{planRules}, 0,
			[]string{
				planRules + ": ok: 6 rules, mode enforce (from file)\n",
				"ignore-sandbox", "critical-groups", "admin-users", "applications", "conditional-access", "hard-deletes",
				"guards: 2 exempt initiators; cooldown 30m0s; breaker over 20 per rule or 50 in total within 10m0s, quiet 30m0s",
			}, nil, nil},
		{"REINSTATE_MODE from the environment wins", map[string]string{"REINSTATE_MODE": "observe"}, []string{planRules}, 0,
			[]string{planRules + ": ok: 6 rules, mode observe (from environment)\n"}, nil, nil},
		{"no mode anywhere is observe", map[string]string{"PLAN_SECOPS_URL": "https://hooks.example.invalid/secops", "PLAN_SECOPS_SECRET": "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"}, []string{planEnvRules}, 0,
			[]string{planEnvRules + ": ok: 1 rules, mode observe (from default)\n", "hard-deletes"}, nil, nil},
		{"a channel's own settings are checked", map[string]string{"PLAN_SECOPS_URL": "http://hooks.example.invalid/secops", "PLAN_SECOPS_SECRET": "not-a-secret"}, []string{planEnvRules}, 1, nil,
			[]string{planEnvRules + ": channels:", "channel secops: url must be https"}, nil},
		{"unset ${VAR}", nil, []string{planEnvRules}, 1, nil,
			[]string{planEnvRules + ":5:32: environment variable PLAN_SECOPS_URL is not set"}, nil},
		{"bad REINSTATE_MODE", map[string]string{"REINSTATE_MODE": "sometimes"}, []string{planRules}, 1, nil,
			[]string{planRules + ": REINSTATE_MODE: \"sometimes\" is not observe or enforce"}, nil},
		{"every problem in a bad file", nil, []string{badRules}, 1, nil,
			[]string{
				badRules + `:5:9: defaults.mode: "sometimes" is not one of enforce, observe`,
				badRules + `:10:13: guards.cooldown.window: must be a duration such as 90s, 30m or 1h30m, not "soon"`,
				badRules + `:15:14: rules[0].notify[0]: channel "pager" is not declared under channels:`,
				badRules + `:18:15: rules[1].actions[0]: "resurrect" is not an action`,
			},
			[]string{
				regexp.QuoteMeta(badRules) + `:13:\d+: rules\[0\]\.when: .*deleton`,
				regexp.QuoteMeta(badRules) + `:16:\d+: rules\[1\]\.name: "Bad_Name"`,
			}},
		{"missing file", nil, []string{"no-such-rules.yaml"}, 1, nil, []string{"no-such-rules.yaml: cannot read the rule file"}, nil},
		{"needs no configuration", map[string]string{"REINSTATE_STORE": "mysql:x"}, []string{planRules}, 0, []string{": ok: 6 rules"}, nil, nil},
		{"one file only", nil, nil, 1, nil, []string{"accepts 1 arg"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := invoke(t, tt.vars, "", append([]string{"rules", "check"}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.wantCode, r.stdout, r.stderr)
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
				}
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			for _, want := range tt.wantStderrRE {
				if !regexp.MustCompile(`(?m)^` + want).MatchString(r.stderr) {
					t.Errorf("no stderr line matches %s:\n%s", want, r.stderr)
				}
			}
			if tt.wantCode != 0 && r.stdout != "" {
				t.Errorf("a refused file printed on stdout:\n%s", r.stdout)
			}
		})
	}
}

// TestRulesCheckNamesEveryProblemByPosition: each line of a refused file's
// report starts FILE:LINE:COLUMN, one problem a line.
func TestRulesCheckNamesEveryProblemByPosition(t *testing.T) {
	r := invoke(t, nil, "", "rules", "check", planBadRules)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	position := regexp.MustCompile(`^` + regexp.QuoteMeta(planBadRules) + `:\d+:\d+: \S`)
	lines := nonEmptyLines(r.stderr)
	for _, line := range lines {
		if !position.MatchString(line) {
			t.Errorf("not FILE:LINE:COLUMN: %q", line)
		}
	}
	if len(lines) != 6 {
		t.Errorf("%d problems, want the file's 6:\n%s", len(lines), r.stderr)
	}
}
