package backup_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/backup"
	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/graphapi"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/idpsim"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

const (
	orchTenant   = "7f3c2a91-5d4e-4b8a-9c61-2e0f8d3b4a17"
	orchAdminID  = "3b1f7c2a-8d4e-4f6a-9c0b-5e7d1a2f3c4b" // IT Admin: Backup Administrator in the seed
	orchAPIApp   = "6c1e3a5b-7d9f-4b1d-8e3a-5c7e9b1d3f5a" // the Reinstate API app registration
	orchAPIURI   = "api://reinstate-test"
	orchSecret   = "local-test-secret"
	orchBulk     = 300
	orchRulesYML = `version: 1
defaults: {mode: enforce, notify: [console]}
channels:
  console: {type: console}
guards:
  breaker: {window: 1h, perRule: 20, total: 1000, preview: true}
rules:
  - name: critical-groups
    when: 'event.deletion == "soft" && target.type == "group" && target.displayName.startsWith("sec-prod-")'
    actions: [restore]
`
)

// bulkSeed writes the sample tenant with n more critical groups, the
// victims of a mass deletion.
func bulkSeed(t *testing.T, n int) (path string, ids []string) {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/graphsim/seed.json")
	if err != nil {
		t.Fatal(err)
	}
	var seed map[string]any
	if err := json.Unmarshal(raw, &seed); err != nil {
		t.Fatal(err)
	}
	groups := seed["groups"].([]any)
	for i := range n {
		id := fmt.Sprintf("0b0c0d0e-0000-4000-8000-%012d", i)
		ids = append(ids, id)
		groups = append(groups, map[string]any{
			"id": id, "displayName": fmt.Sprintf("sec-prod-bulk-%03d", i), "groupTypes": []string{}, "mailEnabled": false,
			"mailNickname": fmt.Sprintf("sec-prod-bulk-%03d", i), "securityEnabled": true, "deletedDateTime": nil, "proxyAddresses": []string{},
		})
	}
	seed["groups"] = groups
	out, err := json.Marshal(seed)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "seed.json")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, ids
}

// orchEnv is the whole Backup & Recovery path over real parts: graphsim
// with its Backup & Recovery model and its token issuer (also on TLS, as
// MSAL wants for on-behalf-of), SQLite, the rule table, guards, pipeline
// and executor, and the orchestrator acting as Reinstate (app-only) or as
// the approver (on-behalf-of).
type orchEnv struct {
	tn     *simtest.Tenant
	clock  *simtest.Clock
	st     store.Store
	p      *pipeline.Pipeline
	worker *recovery.Worker
	or     *backup.Orchestrator
	// approver is the IT admin's token for the Reinstate API.
	approver string
	ids      []string
}

func newOrchEnv(t *testing.T, cfg graphsim.BackupConfig) *orchEnv {
	return newOrchEnvN(t, orchBulk, cfg)
}

func newOrchEnvN(t *testing.T, bulk int, cfg graphsim.BackupConfig) *orchEnv {
	t.Helper()
	seedPath, ids := bulkSeed(t, bulk)
	// The token endpoint reads the wall clock, so the simulated one starts there.
	clock := simtest.NewClock(time.Now().UTC().Truncate(time.Second))
	if cfg.FirstSnapshotAge == 0 {
		cfg.FirstSnapshotAge = time.Hour
	}
	tn := simtest.StartWithIssuer(t, seedPath, simtest.WithClock(clock), simtest.WithBackup(cfg))
	// MSAL talks to an authority over https only: the issuer also serves
	// on TLS, and names that base in every token it mints.
	idp := httptest.NewTLSServer(tn.Issuer.Handler())
	t.Cleanup(idp.Close)
	tn.Issuer.SetBaseURL(idp.URL)
	if err := tn.Issuer.RegisterApp(idpsim.App{ClientID: orchAPIApp, AppIDURI: orchAPIURI, Secret: orchSecret,
		DelegatedScopes: map[string][]string{idpsim.GraphResource: {"EntraBackup.Read.All", "EntraBackup.ReadWrite.Preview", "EntraBackup.ReadWrite.Recovery"}}}); err != nil {
		t.Fatal(err)
	}
	approver, err := tn.Issuer.Token(idpsim.TokenRequest{BaseURL: idp.URL, Audience: orchAPIURI, ObjectID: orchAdminID,
		Name: "it.admin@contoso.onmicrosoft.com", Roles: []string{"Recovery.Approve"}, IssuedAt: clock.Now()})
	if err != nil {
		t.Fatal(err)
	}

	st, err := sqlite.Open(t.Context(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	table, err := rules.Parse("orchestrator_test.yaml", []byte(orchRulesYML), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	executor := simtest.Executor(t, tn.URL, "reinstate-token")
	// Reinstate's own identity: graphsim's seeded app, which holds only
	// EntraBackup.Read.All as the docs allow; where a test lets apps write
	// (AllowAppWrites), an app token that holds the write permissions.
	ownToken := "reinstate-token"
	if cfg.AllowAppWrites {
		ownToken = tn.AppGraphToken(t, "4e6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c2e", "EntraBackup.Read.All", "EntraBackup.ReadWrite.Preview", "EntraBackup.ReadWrite.Recovery")
	}
	own, err := graphapi.New(graphapi.Config{BaseURL: tn.URL, Auth: graphapi.AuthStatic, Token: ownToken})
	if err != nil {
		t.Fatal(err)
	}
	ownJobs, err := backup.NewClient(own, backup.VersionBeta)
	if err != nil {
		t.Fatal(err)
	}
	obo, err := backup.NewOnBehalfOf(backup.OnBehalfOfConfig{TenantID: orchTenant, ClientID: orchAPIApp, AuthorityHost: idp.URL,
		ClientSecret: orchSecret, Transport: idp.Client()})
	if err != nil {
		t.Fatal(err)
	}
	asCaller := obo.AsCaller(tn.URL, idpsim.GraphResource+"/.default", backup.VersionBeta)
	dispatcher := notify.NewDispatcher(st, table.Channels, nil, notify.DispatcherOptions{Now: clock.Now, GroupWait: -1})
	or, err := backup.New(backup.Options{Store: st, Jobs: ownJobs, AsCaller: asCaller, Live: executor, TenantID: orchTenant,
		Owner: "test", Now: clock.Now, Announcer: dispatcher})
	if err != nil {
		t.Fatal(err)
	}
	guards := guard.New(st, guard.Config{TenantID: orchTenant, Rules: table.Guards, Now: clock.Now})
	p := pipeline.New(st, pipeline.Options{Now: clock.Now, Decider: decide.New(table, guards, clock.Now), Bin: executor,
		Previews: or, BreakerPreview: table.Guards.Breaker.Preview})
	return &orchEnv{tn: tn, clock: clock, st: st, p: p, worker: recovery.NewWorker(st, executor, recovery.WorkerOptions{Now: clock.Now}),
		or: or, approver: approver, ids: ids}
}

// massDelete deletes the bulk groups as the IT admin and delivers the
// audit records to the pipeline, a page per deletion as Event Hubs would
// carry them in a few bodies.
func (e *orchEnv) massDelete(t *testing.T) {
	t.Helper()
	var bodies []pipeline.Body
	for _, id := range e.ids {
		bodies = append(bodies, pipeline.Body{Data: e.tn.DeleteAs(t, "admin-token", "groups", id)})
	}
	e.clock.Advance(time.Minute)
	if _, err := e.p.Ingest(t.Context(), pipeline.Batch{Source: "test", Bodies: bodies}); err != nil {
		t.Fatal(err)
	}
}

func (e *orchEnv) onlyCase(t *testing.T) backup.Case {
	t.Helper()
	cases, err := e.or.Cases(t.Context())
	if err != nil || len(cases) != 1 {
		t.Fatalf("cases = %+v, %v; want exactly one", cases, err)
	}
	return cases[0]
}

func (e *orchEnv) tick(t *testing.T) backup.TickReport {
	t.Helper()
	report, err := e.or.Tick(t.Context())
	if err != nil {
		t.Fatalf("Tick: %v", err)
	}
	return report
}

func journalKinds(t *testing.T, st store.Store, prefix string) []string {
	t.Helper()
	entries, err := st.Journal(t.Context(), store.JournalQuery{Limit: 5000})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for i := len(entries) - 1; i >= 0; i-- {
		if strings.HasPrefix(string(entries[i].Kind), prefix) {
			kinds = append(kinds, string(entries[i].Kind)+" by "+entries[i].Actor)
		}
	}
	return kinds
}

// The whole Backup & Recovery answer to a mass deletion: the breaker trips
// and holds the restores, one preview is asked for, Graph refuses
// Reinstate's own identity, the approver starts it on-behalf-of
// themselves, its changes are summarized, the recovery is approved and
// succeeds, the objects are read back live, and all of it is journaled.
func TestMassDeletionIsRecoveredThroughAnApprovedPreview(t *testing.T) {
	e := newOrchEnv(t, graphsim.BackupConfig{JobDuration: 8 * time.Minute})
	e.massDelete(t)

	intents, err := e.st.Intents(t.Context(), store.IntentQuery{Kind: recovery.IntentKind, Limit: 1000})
	if err != nil || len(intents) != 20 {
		t.Fatalf("%d restore intents (%v), want the 20 the breaker let through", len(intents), err)
	}
	c := e.onlyCase(t)
	if c.State != backup.CaseRequested || len(c.Scope["group"]) != orchBulk || !strings.Contains(c.Reason, "breaker") {
		t.Fatalf("case = %s, %d groups, %q; want one requested case naming all %d", c.State, len(c.Scope["group"]), c.Reason, orchBulk)
	}

	// Reinstate's own identity may not create jobs (reference §1.8).
	e.tick(t)
	if c = e.onlyCase(t); c.State != backup.CaseNeedsStart || c.Snapshot == nil || !c.Snapshot.CreatedAt.Before(c.Since) {
		t.Fatalf("after the first tick: %s (%s), snapshot %+v, since %s", c.State, c.Detail, c.Snapshot, c.Since)
	}

	started, err := e.or.Start(t.Context(), c.ID, e.approver, "it.admin@contoso.onmicrosoft.com")
	if err != nil {
		t.Fatalf("Start on-behalf-of: %v", err)
	}
	if started.State != backup.CasePreviewing || started.StartedBy == "" {
		t.Fatalf("started case = %s by %q", started.State, started.StartedBy)
	}

	e.clock.Advance(9 * time.Minute)
	e.tick(t)
	c = e.onlyCase(t)
	if c.State != backup.CaseReady || c.Summary == nil || c.Summary.ByTypeAction["group"]["restore"] != orchBulk {
		t.Fatalf("after the preview: %s, summary %+v", c.State, c.Summary)
	}
	// The diff is told to the rule's channel, with how to approve it.
	if told := toldWith(t, e.st, `"kind":"preview.ready"`, fmt.Sprintf("%d changes (group restore: %d)", orchBulk, orchBulk), "/approve"); told != 1 {
		t.Errorf("%d messages tell of the ready preview and how to approve it, want 1", told)
	}

	if _, err := e.or.Approve(t.Context(), c.ID, e.approver, "it.admin@contoso.onmicrosoft.com"); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	e.clock.Advance(9 * time.Minute)
	e.tick(t)
	c = e.onlyCase(t)
	if c.State != backup.CaseRecovered || c.Verified != 10 || len(c.NotLive) != 0 || len(c.Failed) != 0 {
		t.Fatalf("after the recovery: %s (%s), verified %d, not live %v, failed %d", c.State, c.Detail, c.Verified, c.NotLive, len(c.Failed))
	}
	for _, id := range e.ids {
		if !e.tn.Live(t, "admin-token", "groups", id) {
			t.Fatalf("group %s is not live after the recovery", id)
		}
	}
	want := []string{
		"backup.requested by it.admin@contoso.onmicrosoft.com",
		"backup.preview.needs-start by it.admin@contoso.onmicrosoft.com",
		"backup.preview.started by it.admin@contoso.onmicrosoft.com",
		"backup.preview.ready by it.admin@contoso.onmicrosoft.com",
		"backup.recovery.approved by it.admin@contoso.onmicrosoft.com",
		"backup.recovered by it.admin@contoso.onmicrosoft.com",
	}
	if got := journalKinds(t, e.st, "backup."); strings.Join(dedupe(got), "\n") != strings.Join(want, "\n") {
		t.Errorf("journal:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// toldWith counts the recorded messages whose payload holds every part.
func toldWith(t *testing.T, st store.Store, parts ...string) int {
	t.Helper()
	intents, err := st.Intents(t.Context(), store.IntentQuery{Kind: "notify", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range intents {
		matches := true
		for _, p := range parts {
			matches = matches && strings.Contains(string(in.Payload), p)
		}
		if matches {
			n++
		}
	}
	return n
}

// dedupe drops repeats of the line before (requests merged one by one).
func dedupe(lines []string) []string {
	var out []string
	for _, l := range lines {
		if len(out) == 0 || out[len(out)-1] != l {
			out = append(out, l)
		}
	}
	return out
}

// request asks for a preview of the first n bulk groups, deleted first.
func (e *orchEnv) request(t *testing.T, n int) backup.Case {
	t.Helper()
	var objects []backup.Object
	for _, id := range e.ids[:n] {
		e.tn.DeleteAs(t, "admin-token", "groups", id)
		objects = append(objects, backup.Object{ID: id, Type: audit.TargetGroup})
	}
	e.clock.Advance(time.Minute)
	c, _, err := e.or.Request(t.Context(), backup.Request{Key: "test", Reason: "test", Since: e.clock.Now().Add(-time.Minute), Objects: objects})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A job someone else started holds the tenant's one slot: the case waits
// for it, then goes.
func TestACaseWaitsForAJobItDidNotStart(t *testing.T) {
	e := newOrchEnvN(t, 3, graphsim.BackupConfig{JobDuration: 8 * time.Minute, AllowAppWrites: true})
	admin, err := graphapi.New(graphapi.Config{BaseURL: e.tn.URL, Auth: graphapi.AuthStatic, Token: "admin-token"})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := backup.NewClient(admin, backup.VersionBeta)
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := theirs.Snapshots(t.Context())
	if err != nil || len(snaps) == 0 {
		t.Fatalf("snapshots: %v %v", snaps, err)
	}
	if _, err := theirs.CreatePreview(t.Context(), snaps[0].ID, &backup.Filter{EntityTypes: []string{"user"}}); err != nil {
		t.Fatalf("someone else's preview: %v", err)
	}
	c := e.request(t, 2)
	e.tick(t)
	if c = e.onlyCase(t); c.State != backup.CaseRequested || !strings.Contains(c.Detail, "another Backup & Recovery job") {
		t.Fatalf("while another job runs: %s (%s), want requested and waiting", c.State, c.Detail)
	}
	e.clock.Advance(9 * time.Minute)
	e.tick(t)
	if c = e.onlyCase(t); c.State != backup.CasePreviewing || c.StartedBy != "" {
		t.Fatalf("after the other job: %s (%s) started by %q; want previewing as Reinstate", c.State, c.Detail, c.StartedBy)
	}
}

// A recovery that cannot make every change says which, and the objects
// that are not live again are named.
func TestFailedChangesAreReported(t *testing.T) {
	e := newOrchEnvN(t, 3, graphsim.BackupConfig{JobDuration: 8 * time.Minute, AllowAppWrites: true})
	c := e.request(t, 3)
	// One of them is then deleted for good: a recovery never creates objects.
	hardDelete(t, e, e.ids[2])
	e.tick(t)
	e.clock.Advance(9 * time.Minute)
	e.tick(t)
	if c = e.onlyCase(t); c.State != backup.CaseReady {
		t.Fatalf("preview: %s (%s)", c.State, c.Detail)
	}
	if _, err := e.or.Approve(t.Context(), c.ID, e.approver, "it.admin@contoso.onmicrosoft.com"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(9 * time.Minute)
	e.tick(t)
	c = e.onlyCase(t)
	if len(c.Failed) != 1 || c.Failed[0].ID != e.ids[2] || c.Failed[0].FailureMessage == "" {
		t.Fatalf("failed changes = %+v, want the hard-deleted group with its message", c.Failed)
	}
	if len(c.NotLive) != 1 || c.NotLive[0] != e.ids[2] || c.Verified != 2 {
		t.Errorf("read back: %d live, not live %v; want 2 and the hard-deleted one", c.Verified, c.NotLive)
	}
	if !strings.Contains(c.Detail, "1 changes failed") {
		t.Errorf("detail %q does not count the failure", c.Detail)
	}
}

func hardDelete(t *testing.T, e *orchEnv, id string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, e.tn.URL+"/v1.0/directory/deletedItems/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer admin-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("hard delete %s: %d", id, resp.StatusCode)
	}
}

// A preview job that fails ends the case, and says so.
func TestAFailedPreviewEndsTheCase(t *testing.T) {
	e := newOrchEnvN(t, 2, graphsim.BackupConfig{JobDuration: 8 * time.Minute, AllowAppWrites: true})
	if err := e.tn.Sim.SetFaults(graphsim.FaultConfig{FailNextBackupJob: true}); err != nil {
		t.Fatal(err)
	}
	e.request(t, 2)
	e.tick(t)
	e.clock.Advance(9 * time.Minute)
	e.tick(t)
	if c := e.onlyCase(t); c.State != backup.CaseFailed || !strings.Contains(c.Detail, "failed") {
		t.Fatalf("case = %s (%s), want failed", c.State, c.Detail)
	}
	if got := journalKinds(t, e.st, "backup.failed"); len(got) != 1 {
		t.Errorf("journal: %v", got)
	}
}

// Only one instance changes cases at a time; a holder that died frees the
// lock when its lease ends.
func TestTheLockOfADeadInstanceExpires(t *testing.T) {
	e := newOrchEnvN(t, 2, graphsim.BackupConfig{JobDuration: 8 * time.Minute, AllowAppWrites: true})
	e.request(t, 2)
	now := e.clock.Now()
	if _, ok, err := e.st.AcquireLock(t.Context(), backup.LockName, "instance that died", now, now.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("take the lock: %v %v", ok, err)
	}
	if r := e.tick(t); !r.Busy || r.Changed != 0 {
		t.Fatalf("tick while another holds the lock = %+v, want busy and nothing done", r)
	}
	if c := e.onlyCase(t); c.State != backup.CaseRequested {
		t.Fatalf("case changed while the lock was held: %s", c.State)
	}
	e.clock.Advance(time.Minute)
	if r := e.tick(t); r.Busy || r.Changed != 1 {
		t.Fatalf("tick after the lease ran out = %+v, want the case moved on", r)
	}
	if c := e.onlyCase(t); c.State != backup.CasePreviewing {
		t.Fatalf("case = %s, want previewing", c.State)
	}
}

// A recovery job that fails ends the case failed, with what Graph says it
// could not change, and tells.
func TestAFailedRecoveryIsReported(t *testing.T) {
	e := newOrchEnvN(t, 2, graphsim.BackupConfig{JobDuration: 8 * time.Minute, AllowAppWrites: true})
	e.request(t, 2)
	e.tick(t)
	e.clock.Advance(9 * time.Minute)
	e.tick(t)
	c := e.onlyCase(t)
	if c.State != backup.CaseReady {
		t.Fatalf("preview: %s (%s)", c.State, c.Detail)
	}
	if err := e.tn.Sim.SetFaults(graphsim.FaultConfig{FailNextBackupJob: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.or.Approve(t.Context(), c.ID, e.approver, "it.admin@contoso.onmicrosoft.com"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(9 * time.Minute)
	e.tick(t)
	c = e.onlyCase(t)
	if c.State != backup.CaseFailed || c.Recovery == nil || c.Recovery.Status != backup.StatusFailed || !strings.Contains(c.Detail, "ended failed") {
		t.Fatalf("after a failed recovery: %s, job %+v, %q", c.State, c.Recovery, c.Detail)
	}
	if got := journalKinds(t, e.st, "backup.failed"); len(got) != 1 || !strings.Contains(got[0], "it.admin") {
		t.Errorf("journal: %v, want one backup.failed by the approver", got)
	}
}
