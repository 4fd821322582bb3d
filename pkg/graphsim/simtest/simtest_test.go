package simtest_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
	"github.com/reinstate/reinstate/pkg/idpsim"
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

// TestStartWithIssuer: the tenant's URL is the authority of its issuer's
// tokens, issuer requests are not counted as Graph's, and Graph still
// answers.
func TestStartWithIssuer(t *testing.T) {
	tn := simtest.StartWithIssuer(t, "../../../testdata/graphsim/seed.json")
	if tn.Issuer == nil {
		t.Fatal("no issuer")
	}
	v, err := apiauth.New(apiauth.Config{TenantID: tn.Issuer.TenantID(), Audiences: []string{"api://reinstate"}, Authority: tn.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	tok := tn.Token(t, idpsim.TokenRequest{Audience: "api://reinstate", App: true, Roles: []string{apiauth.RoleRead}})
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !c.App || !c.HasRole(apiauth.RoleRead) {
		t.Errorf("caller %v", c)
	}
	if n := tn.Reads(""); n != 0 {
		t.Errorf("%d Graph reads counted for the issuer's metadata and keys", n)
	}
	if !tn.Live(t, "admin-token", "groups", paymentsID) {
		t.Error("Graph does not answer beside the issuer")
	}
	if simtest.Start(t, "../../../testdata/graphsim/seed.json").Issuer != nil {
		t.Error("Start mounted an issuer")
	}
}
