package simtest_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
)

const paymentsID = "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65" // sec-prod-payments, live in the sample seed

// TestCounts: requests are counted by token and method, bin reads whatever
// the token; DeleteAs returns the deletion's audit page.
func TestCounts(t *testing.T) {
	tn := simtest.Start(t, "../../../testdata/graphsim/seed.json")
	if !tn.Live(t, "admin-token", "groups", paymentsID) {
		t.Fatal("the group is not live before the delete")
	}
	page := tn.DeleteAs(t, "admin-token", "groups", paymentsID)
	if !bytes.HasPrefix(page, []byte(`{"value":[{`)) || !bytes.Contains(page, []byte(paymentsID)) {
		t.Errorf("audit page %s", page)
	}
	if tn.Live(t, "admin-token", "groups", paymentsID) {
		t.Error("the group is live after the delete")
	}
	if _, err := simtest.Executor(t, tn.URL, "reinstate-token").ReadDeleted(context.Background(), audit.TargetGroup, paymentsID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"admin reads", tn.Reads("admin-token"), 2},
		{"admin writes", tn.Writes("admin-token"), 1},
		{"reinstate reads", tn.Reads("reinstate-token"), 1},
		{"reinstate writes", tn.Writes("reinstate-token"), 0},
		{"all reads", tn.Reads(""), 3},
		{"all writes", tn.Writes(""), 1},
		{"bin reads", tn.BinReads(), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
}
