package simtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/graphsim"
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

const (
	adminID = "3b1f7c2a-8d4e-4f6a-9c0b-5e7d1a2f3c4b" // IT Admin: Entra Backup Administrator
	adeleID = "a1c3e5f7-2b4d-4c6e-8a0b-1d3f5a7c9e21" // no directory role
)

// get answers GET url with token: the status and the JSON body.
func get(t *testing.T, tn *simtest.Tenant, url, token string) (int, map[string]any) {
	t.Helper()
	return send(t, tn, http.MethodGet, url, token)
}

// send answers method url with token: the status and the JSON body, or
// {"Location": ...} when the answer has a Location header.
func send(t *testing.T, tn *simtest.Tenant, method, url, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, tn.URL+url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := tn.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if loc := resp.Header.Get("Location"); loc != "" {
		m = map[string]any{"Location": loc}
	}
	return resp.StatusCode, m
}

// TestBackupHelpers: with a pinned clock, Graph tokens from the tenant's
// issuer are accepted with the user's roles, Snapshot takes a snapshot now,
// jobs move only with the clock, and FinishJobs ends them.
func TestBackupHelpers(t *testing.T) {
	clock := simtest.NewClock(time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC))
	tn := simtest.StartWithIssuer(t, "../../../testdata/graphsim/seed.json", simtest.WithClock(clock),
		simtest.WithBackup(graphsim.BackupConfig{FirstSnapshotAge: time.Hour, JobDuration: 4 * time.Minute}))
	admin := tn.GraphToken(t, adminID, "EntraBackup.Read.All", "EntraBackup.ReadWrite.Preview")
	if code, _ := get(t, tn, "/beta/directory/recovery/snapshots", admin); code != 200 {
		t.Fatalf("delegated admin token: %d", code)
	}
	if code, _ := get(t, tn, "/beta/directory/recovery/snapshots", tn.GraphToken(t, adeleID, "EntraBackup.Read.All")); code != 403 {
		t.Errorf("user without a backup role: %d, want 403", code)
	}
	if code, _ := get(t, tn, "/beta/directory/recovery/snapshots", tn.AppGraphToken(t, "4e6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c2e", "EntraBackup.Read.All")); code != 200 {
		t.Errorf("app token: %d", code)
	}

	clock.Advance(30 * time.Minute)
	snap := tn.Snapshot()
	if !snap.CreatedDateTime.Equal(clock.Now()) || len(tn.Sim.Backups().Snapshots) != 2 {
		t.Fatalf("snapshot %+v", snap)
	}
	code, loc := send(t, tn, http.MethodPost, "/beta/directory/recovery/snapshots/"+snap.ID+"/recoveryPreviewJobs", admin)
	if code != 202 {
		t.Fatalf("create: %d", code)
	}
	id := loc["Location"].(string)[strings.LastIndexByte(loc["Location"].(string), '/')+1:]
	if j := tn.Job(t, id); j.Status != "initialized" || j.Type != "recoveryPreviewJob" || j.SnapshotID != snap.ID {
		t.Fatalf("job %+v", j)
	}
	clock.Advance(2 * time.Minute)
	if j := tn.Job(t, id); j.Status != "calculating" {
		t.Errorf("after half the duration: %s, want calculating", j.Status)
	}
	jobs := tn.FinishJobs()
	if len(jobs) != 1 || jobs[0].Status != "successful" || jobs[0].Completed == nil || !jobs[0].Completed.Equal(clock.Now()) {
		t.Fatalf("finished %+v", jobs)
	}
	if len(tn.Jobs()) != 1 {
		t.Errorf("jobs %+v", tn.Jobs())
	}
}
