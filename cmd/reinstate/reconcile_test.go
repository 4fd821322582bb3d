package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
)

// reconcile lists what the bins hold undecided, acts only with --apply,
// and acts once.
func TestReconcileListsThenAppliesOnce(t *testing.T) {
	const payments = "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65" // sec-prod-payments
	// The deletion happened half an hour ago, past the grace period a
	// deletion's own event gets.
	tn := simtest.Start(t, "../../testdata/graphsim/seed.json", simtest.WithClock(simtest.NewClock(time.Now().Add(-30*time.Minute))))
	tn.DeleteAs(t, "admin-token", "groups", payments)
	vars := map[string]string{
		"REINSTATE_STORE":      "sqlite:" + filepath.Join(t.TempDir(), "state.db"),
		"REINSTATE_GRAPH_URL":  tn.URL,
		"REINSTATE_GRAPH_AUTH": "static", "REINSTATE_GRAPH_TOKEN": "reinstate-token",
		"REINSTATE_RULES":     "../../testdata/rules/oncall.yaml",
		"REINSTATE_TENANT_ID": "7f3c2a91-5d4e-4b8a-9c61-2e0f8d3b4a17",
	}
	dry := invoke(t, vars, "", "reconcile")
	if dry.code != 0 || !strings.Contains(dry.stdout, payments) || !strings.Contains(dry.stderr, "dry run") {
		t.Fatalf("reconcile (dry run): exit %d\n%s\n%s", dry.code, dry.stdout, dry.stderr)
	}
	if j := invoke(t, vars, "", "journal", "--output", "json"); strings.Contains(j.stdout, `"kind":"decision"`) {
		t.Fatalf("a dry run decided:\n%s", j.stdout)
	}
	applied := invoke(t, vars, "", "reconcile", "--apply")
	if applied.code != 0 || !strings.Contains(applied.stderr, "1 restore intents") {
		t.Fatalf("reconcile --apply: exit %d\n%s\n%s", applied.code, applied.stdout, applied.stderr)
	}
	again := invoke(t, vars, "", "reconcile", "--apply")
	if again.code != 0 || strings.Contains(again.stdout, payments) || !strings.Contains(again.stderr, "0 never decided") {
		t.Fatalf("second sweep: exit %d\n%s\n%s", again.code, again.stdout, again.stderr)
	}
}
