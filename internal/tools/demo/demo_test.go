package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemoRestoresWhatTheRulesSayAndIgnoresItself runs `make run`'s flow with
// freshly built binaries: real processes, real HTTP, the real SDK.
func TestDemoRestoresWhatTheRulesSayAndIgnoresItself(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries; skipped in -short mode")
	}
	bin := t.TempDir()
	for name, pkg := range map[string]string{"reinstate": "../../../cmd/reinstate", "graphsim": "../../../cmd/graphsim"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	var out bytes.Buffer
	cfg := config{bin: bin, seed: "../../../testdata/graphsim/seed.json", rules: "../../../docs/rules.sample.yaml", runDir: filepath.Join(t.TempDir(), "run"), timeout: 2 * time.Minute}
	if err := run(context.Background(), cfg, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"group sec-prod-payments              critical-groups  live (restored by Reinstate)",
		"user Adele Vance                     admin-users      live (restored by Reinstate)",
		"application Payroll Connector        applications     live (restored by Reinstate)",
		"service principal Payroll Connector  (with its app)   live (restored by Reinstate)",
		"group sec-lab-printers               no rule matched  in the recycle bin (left alone)",
		"[CRITICAL] Hard Delete group: group Team Orion by it.admin@contoso.onmicrosoft.com (rule hard-deletes; deletion.detected)",
		"[CRITICAL] Restored group sec-prod-payments (verified live) (rule critical-groups; object.restored)",
		"[WARNING] Restored application Payroll Connector (verified live) (rule applications; object.restored)",
		"3 restore intents recorded, 3 restores done, 4 notifications sent, 4 of Reinstate's own events ignored",
		"== 6. on-call restores the group the rules left alone, with one authenticated HTTP call",
		"→ restored (verified true); group sec-lab-printers is live: true",
		"oncall.restore.requested   oncall@contoso.onmicrosoft.com (oid ",
		"oncall.restore.queued",
		"restore.done",
		"== 7. a mass deletion: the administrator deletes 25 critical groups at once",
		"the breaker tripped and held the rest back; one preview of 26 objects",
		"ready: 6 changes (group restore: 6)",
		"/approve → recovering",
		"25 of 25 bulk groups are live again",
		"LOCAL MODE ONLY",
		"TOKEN='ey",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
