package oncall_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/backup"
	"github.com/reinstate/reinstate/pkg/graphapi"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
	"github.com/reinstate/reinstate/pkg/idpsim"
	"github.com/reinstate/reinstate/pkg/oncall"
	"github.com/reinstate/reinstate/pkg/oncall/oncalltest"
	"github.com/reinstate/reinstate/pkg/store"
)

const (
	backupAdmin     = "3b1f7c2a-8d4e-4f6a-9c0b-5e7d1a2f3c4b" // IT Admin: Entra Backup Administrator in the seed
	backupAdminName = "it.admin@contoso.onmicrosoft.com"
	apiApp          = "6c1e3a5b-7d9f-4b1d-8e3a-5c7e9b1d3f5a" // the Reinstate API app registration
	apiSecret       = "local-test-secret"
	falconGroup     = "f6b8d0e2-7a9c-4b1d-9f5a-6c8e0a2c4d76" // Project Falcon
	unknownCase     = "0000018f2a3b4c5d-a1b2c3d4e5f6"
)

var approveRole = []string{apiauth.RoleApprove, apiauth.RoleRead}

// previewEnv is the preview routes over real parts, built as
// pkg/backup/orchestrator_test.go builds the orchestrator: graphsim with
// its Backup & Recovery model on a simulated clock, its token issuer also
// on TLS (MSAL exchanges on-behalf-of over https only), SQLite, and the
// orchestrator acting as Reinstate (app-only, which Graph refuses job
// creation) or as the caller (on-behalf-of). The API is oncalltest's, told
// to verify that same issuer's tokens, so that the token a caller presents
// is the one the issuer exchanges for a Graph token graphsim accepts.
type previewEnv struct {
	*harness
	clock *simtest.Clock
	or    *backup.Orchestrator
	logs  *lockedBuffer
}

// lockedBuffer is the API's log, written by the server's goroutines and
// read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newPreviewEnv(t *testing.T) *previewEnv {
	t.Helper()
	// The token endpoint reads the wall clock, so the simulated one starts there.
	clock := simtest.NewClock(time.Now().UTC().Truncate(time.Second))
	tn := simtest.StartWithIssuer(t, seedPath, simtest.WithClock(clock),
		simtest.WithBackup(graphsim.BackupConfig{FirstSnapshotAge: time.Hour, JobDuration: 8 * time.Minute}))
	idp := httptest.NewTLSServer(tn.Issuer.Handler())
	t.Cleanup(idp.Close)
	tn.Issuer.SetBaseURL(idp.URL)
	if err := tn.Issuer.RegisterApp(idpsim.App{ClientID: apiApp, AppIDURI: oncalltest.Audience, Secret: apiSecret,
		DelegatedScopes: map[string][]string{idpsim.GraphResource: {"EntraBackup.Read.All", "EntraBackup.ReadWrite.Preview", "EntraBackup.ReadWrite.Recovery"}}}); err != nil {
		t.Fatal(err)
	}
	obo, err := backup.NewOnBehalfOf(backup.OnBehalfOfConfig{TenantID: tenantID, ClientID: apiApp, AuthorityHost: idp.URL,
		ClientSecret: apiSecret, Transport: idp.Client()})
	if err != nil {
		t.Fatal(err)
	}
	asCaller := obo.AsCaller(tn.URL, idpsim.GraphResource+"/.default", backup.VersionBeta)
	own, err := graphapi.New(graphapi.Config{BaseURL: tn.URL, Auth: graphapi.AuthStatic, Token: graphTok})
	if err != nil {
		t.Fatal(err)
	}
	ownJobs, err := backup.NewClient(own, backup.VersionBeta)
	if err != nil {
		t.Fatal(err)
	}

	e := &previewEnv{clock: clock, logs: &lockedBuffer{}}
	a := oncalltest.StartWith(t, seedPath, "../../testdata/rules/oncall.yaml", oncalltest.Options{
		Manual: true, Rate: rate.Inf, Tenant: tn, Authority: idp.URL, AuthorityClient: idp.Client(),
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Previews: func(a *oncalltest.API) oncall.Previews {
			e.or, err = backup.New(backup.Options{Store: a.Store, Jobs: ownJobs, AsCaller: asCaller, Live: a.Executor,
				TenantID: tenantID, Owner: "test", Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			return e.or
		},
	})
	e.harness = &harness{API: a, t: t, sim: tn, st: a.Store, url: a.URL}
	return e
}

// caseOf deletes groups in graphsim as the IT admin and asks for a preview
// of them, as the pipeline would for a rule's preview.
func (e *previewEnv) caseOf(t *testing.T, key string, groups ...string) backup.Case {
	t.Helper()
	req := backup.Request{Key: key, Reason: "test: " + key, Rule: "critical-groups", Initiator: backupAdminName}
	for _, g := range groups {
		e.sim.DeleteAs(t, adminTok, "groups", g)
		req.Objects = append(req.Objects, backup.Object{ID: g, Type: audit.TargetGroup})
	}
	e.clock.Advance(time.Minute)
	req.Since = e.clock.Now()
	c, created, err := e.or.Request(t.Context(), req)
	if err != nil || !created {
		t.Fatalf("Request: %+v, %v, %v", c, created, err)
	}
	return c
}

func (e *previewEnv) tick(t *testing.T) {
	t.Helper()
	report, err := e.or.Tick(t.Context())
	if err != nil || report.Busy {
		t.Fatalf("Tick: %+v, %v", report, err)
	}
}

func (e *previewEnv) preview(t *testing.T, id string) backup.Case {
	t.Helper()
	c, err := e.or.Case(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// userToken mints a token for the API as the user oid, named name.
func (e *previewEnv) userToken(t *testing.T, oid, name string, roles ...string) string {
	t.Helper()
	tok, err := e.Issuer.Token(idpsim.TokenRequest{BaseURL: e.IssuerURL, Audience: oncalltest.Audience, ObjectID: oid, Name: name, Roles: roles})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// oncallEntries are the journal's on-call entries about previews, oldest
// first: the orchestrator's own entries run on the simulated clock, so the
// two are not compared by time.
func oncallEntries(t *testing.T, st store.Store) []store.Entry {
	t.Helper()
	var out []store.Entry
	for _, e := range slices.Backward(journal(t, st, "")) {
		if strings.HasPrefix(string(e.Kind), "oncall.") {
			out = append(out, e)
		}
	}
	return out
}

func reasonBody(reason string) map[string]string { return map[string]string{"reason": reason} }

// The whole on-call side of a Backup & Recovery case, over HTTP: the case
// Graph would not let Reinstate start is listed, an Operate caller may
// not start or approve it, the approver starts it on-behalf-of themselves,
// a second start is a conflict, the preview becomes ready, the approver
// approves, and the recovery brings the groups back in graphsim. Each
// write is journaled before and after with the caller, and the caller's
// token is in neither the journal nor the log.
func TestPreviewStartAndApproveThroughTheAPIRecoverTheGroups(t *testing.T) {
	e := newPreviewEnv(t)
	groups := []string{paymentsGroup, labGroup}
	c := e.caseOf(t, "rule:critical-groups", groups...)
	e.tick(t)
	if c = e.preview(t, c.ID); c.State != backup.CaseNeedsStart {
		t.Fatalf("after the first tick: %s (%s), want needs-start: Graph refuses Reinstate's own identity", c.State, c.Detail)
	}

	reader := e.userToken(t, operator, "reader@contoso.onmicrosoft.com", apiauth.RoleRead)
	operate := e.userToken(t, operator, "oncall@contoso.onmicrosoft.com", operateRole...)
	approver := e.userToken(t, backupAdmin, backupAdminName, approveRole...)
	actor := backupAdminName + " (oid " + backupAdmin + ")"
	path := "/previews/" + c.ID

	status, _, raw := e.call(http.MethodGet, "/previews", reader, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /previews: %d %s", status, raw)
	}
	list := decodeAs[oncall.PreviewList](t, raw)
	if len(list.Previews) != 1 || list.Previews[0].ID != c.ID || list.Previews[0].State != backup.CaseNeedsStart ||
		!slices.Equal(list.Previews[0].Scope["group"], groups) {
		t.Fatalf("GET /previews = %+v, want the one needs-start case naming %v", list.Previews, groups)
	}
	status, _, raw = e.call(http.MethodGet, path, reader, nil)
	if got := decodeAs[backup.Case](t, raw); status != http.StatusOK || got.ID != c.ID || got.State != backup.CaseNeedsStart || got.Snapshot == nil {
		t.Fatalf("GET %s: %d %s", path, status, raw)
	}

	// Operate is not Approve: refused before anything is journaled or
	// asked of Graph.
	for _, action := range []string{"/start", "/approve"} {
		status, header, raw := e.call(http.MethodPost, path+action, operate, reasonBody("I operate"))
		if p := wantProblem(t, status, header, raw, http.StatusForbidden); p.Detail != "" {
			t.Errorf("POST %s as Operate: detail %q, want none (Reinstate's own refusal)", action, p.Detail)
		}
	}
	if entries := oncallEntries(t, e.st); len(entries) != 0 {
		t.Fatalf("refused callers left journal entries: %+v", entries)
	}
	if got := e.preview(t, c.ID); got.State != backup.CaseNeedsStart {
		t.Fatalf("after the Operate caller: %s", got.State)
	}

	status, header, raw := e.call(http.MethodPost, path+"/start", approver, reasonBody("mass deletion of prod groups"))
	if status != http.StatusAccepted {
		t.Fatalf("start: %d %s", status, raw)
	}
	started := decodeAs[backup.Case](t, raw)
	if started.State != backup.CasePreviewing || started.StartedBy != actor || started.Preview == nil || started.Preview.ID == "" {
		t.Fatalf("started case: %s by %q, preview %+v", started.State, started.StartedBy, started.Preview)
	}
	if loc := header.Get("Location"); loc != oncall.BasePath+path {
		t.Errorf("Location %q, want %s", loc, oncall.BasePath+path)
	}
	if jobs := e.sim.Jobs(); len(jobs) != 1 || jobs[0].ID != started.Preview.ID {
		t.Fatalf("graphsim jobs = %+v, want the one preview job the case names", jobs)
	}

	status, header, raw = e.call(http.MethodPost, path+"/start", approver, reasonBody("again"))
	if p := wantProblem(t, status, header, raw, http.StatusConflict); !strings.Contains(p.Detail, "previewing") {
		t.Errorf("second start: detail %q, want the case's state", p.Detail)
	}

	e.clock.Advance(9 * time.Minute)
	e.tick(t)
	status, _, raw = e.call(http.MethodGet, path, reader, nil)
	if got := decodeAs[backup.Case](t, raw); status != http.StatusOK || got.State != backup.CaseReady || got.Summary == nil || got.Summary.ByTypeAction["group"]["restore"] != len(groups) {
		t.Fatalf("after the preview: %d %s", status, raw)
	}

	status, header, raw = e.call(http.MethodPost, path+"/approve", approver, reasonBody("the preview restores exactly the two groups"))
	if status != http.StatusAccepted {
		t.Fatalf("approve: %d %s", status, raw)
	}
	approved := decodeAs[backup.Case](t, raw)
	if approved.State != backup.CaseRecovering || approved.ApprovedBy != actor || approved.Recovery == nil {
		t.Fatalf("approved case: %s by %q, recovery %+v", approved.State, approved.ApprovedBy, approved.Recovery)
	}
	if loc := header.Get("Location"); loc != oncall.BasePath+path {
		t.Errorf("Location %q, want %s", loc, oncall.BasePath+path)
	}

	e.clock.Advance(9 * time.Minute)
	e.tick(t)
	if got := e.preview(t, c.ID); got.State != backup.CaseRecovered || got.Verified != len(groups) || len(got.NotLive) != 0 {
		t.Fatalf("after the recovery: %s (%s), verified %d, not live %v", got.State, got.Detail, got.Verified, got.NotLive)
	}
	for _, g := range groups {
		if !e.sim.Live(t, adminTok, "groups", g) {
			t.Errorf("group %s is not live after the recovery", g)
		}
	}

	want := []struct {
		kind            store.Kind
		outcome, detail string
	}{
		{oncall.KindPreviewStartRequested, "", "case " + c.ID + ": mass deletion of prod groups"},
		{oncall.KindPreviewStarted, "previewing", "case " + c.ID + ": mass deletion of prod groups"},
		{oncall.KindPreviewStartRequested, "", "case " + c.ID + ": again"},
		{oncall.KindRefused, "Conflict", "case " + c.ID + ": again; the case is previewing: only a requested or needs-start case can be started"},
		{oncall.KindRecoveryApproveRequested, "", "case " + c.ID + ": the preview restores exactly the two groups"},
		{oncall.KindRecoveryApproved, "recovering", "case " + c.ID + ": the preview restores exactly the two groups"},
	}
	entries := oncallEntries(t, e.st)
	if len(entries) != len(want) {
		t.Fatalf("on-call journal: %+v, want %d entries", entries, len(want))
	}
	for i, w := range want {
		got := entries[i]
		if got.Kind != w.kind || got.Outcome != w.outcome || got.Detail != w.detail || got.Actor != actor || got.Source != "api "+backupAdmin {
			t.Errorf("journal entry %d = %s/%q/%q by %q from %q; want %s/%q/%q by %q from api %s",
				i, got.Kind, got.Outcome, got.Detail, got.Actor, got.Source, w.kind, w.outcome, w.detail, actor, backupAdmin)
		}
	}
	assertNoToken(t, e, approver, operate, reader)
}

// assertNoToken fails if any of tokens, or the signature that makes one
// usable, is in the journal or the API's log.
func assertNoToken(t *testing.T, e *previewEnv, tokens ...string) {
	t.Helper()
	var all strings.Builder
	for _, entry := range journal(t, e.st, "") {
		all.WriteString(entry.Actor + entry.Source + entry.Detail + entry.Outcome + entry.Action + "\n")
	}
	logs := e.logs.String()
	if logs == "" {
		t.Fatal("the API logged nothing: the log check would pass vacuously")
	}
	for i, tok := range tokens {
		sig := tok[strings.LastIndex(tok, ".")+1:]
		if strings.Contains(all.String(), sig) {
			t.Errorf("token %d is in the journal", i)
		}
		if strings.Contains(logs, sig) {
			t.Errorf("token %d is in the log", i)
		}
	}
}

// Every refusal of a start or an approval, each from the real part that
// refuses: the request itself (400, 415: nothing journaled), the store (no
// such case), the case's state, another instance holding the tenant's
// lock, Graph refusing a caller without the Backup Administrator role, and
// the on-behalf-of exchange refusing an app-only token. Each refusal that
// got past the request is journaled as asked for and as refused, and
// leaves the case as it was.
func TestPreviewRefusals(t *testing.T) {
	e := newPreviewEnv(t)
	c := e.caseOf(t, "rule:critical-groups", paymentsGroup)
	e.tick(t)
	if c = e.preview(t, c.ID); c.State != backup.CaseNeedsStart {
		t.Fatalf("case is %s, want needs-start", c.State)
	}
	approver := e.userToken(t, backupAdmin, backupAdminName, approveRole...)
	// Adele holds the API's Approve role but no Backup role in Entra.
	adele := e.userToken(t, adeleUser, "adele.vance@contoso.com", approveRole...)
	appOnly, err := e.Issuer.Token(idpsim.TokenRequest{BaseURL: e.IssuerURL, Audience: oncalltest.Audience, App: true,
		ObjectID: "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f", Roles: approveRole})
	if err != nil {
		t.Fatal(err)
	}
	start, approve := "/previews/"+c.ID+"/start", "/previews/"+c.ID+"/approve"
	const good = `{"reason":"recover the payments group"}`

	for _, tc := range []struct {
		name, token, path, body, contentType string
		// holdLock takes the tenant's Backup & Recovery lock as another
		// instance would, for the length of the call.
		holdLock  bool
		graphDown bool
		status    int
		// field and detail are what the problem must name and contain;
		// journaled is whether the request got as far as the journal.
		field, detail string
		journaled     bool
		retryAfter    string
	}{
		{name: "empty body", token: approver, path: start, body: ``, status: 400, field: "body", detail: "empty body"},
		{name: "no reason", token: approver, path: start, body: `{}`, status: 400, field: "reason", detail: "required"},
		{name: "blank reason", token: approver, path: approve, body: `{"reason":"  "}`, status: 400, field: "reason", detail: "required"},
		{name: "two-line reason", token: approver, path: start, body: `{"reason":"a\nb"}`, status: 400, field: "reason", detail: "one line"},
		{name: "unknown field", token: approver, path: start, body: `{"reason":"x","force":true}`, status: 400, field: "body", detail: `unknown field "force"`},
		{name: "not JSON", token: approver, path: approve, body: `reason=x`, status: 400, field: "body", detail: "not JSON"},
		{name: "trailing data", token: approver, path: start, body: good + `{}`, status: 400, field: "body"},
		{name: "not application/json", token: approver, path: start, body: good, contentType: "text/plain", status: 415, field: "Content-Type"},
		{name: "malformed id", token: approver, path: "/previews/a.b/start", body: good, status: 404},
		{name: "unknown case", token: approver, path: "/previews/" + unknownCase + "/start", body: good, status: 404, journaled: true},
		{name: "approve before the preview", token: approver, path: approve, body: good, status: 409, journaled: true,
			detail: "the case is needs-start: only a ready case can be approved"},
		{name: "another instance holds the lock", token: approver, path: start, body: good, holdLock: true, status: 503, journaled: true, retryAfter: "5"},
		{name: "Graph refuses a caller without the Backup Administrator role", token: adele, path: start, body: good, status: 403, journaled: true,
			detail: "Microsoft Graph refused the caller"},
		{name: "an app-only caller cannot act as a person", token: appOnly, path: start, body: good, status: 403,
			detail: "signed-in person"},
		{name: "Graph fails", token: approver, path: start, body: good, graphDown: true, status: 502, journaled: true,
			detail: "Microsoft Graph could not be reached"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.graphDown {
				if err := e.sim.Sim.SetFaults(graphsim.FaultConfig{ErrorRate: 1}); err != nil {
					t.Fatal(err)
				}
				defer e.sim.Sim.SetFaults(graphsim.FaultConfig{})
			}
			if tc.holdLock {
				now := e.clock.Now()
				lock, ok, err := e.st.AcquireLock(t.Context(), backup.LockName, "another instance", now, now.Add(time.Minute))
				if err != nil || !ok {
					t.Fatalf("AcquireLock: %v, %v", ok, err)
				}
				defer func() {
					if err := e.st.ReleaseLock(context.WithoutCancel(t.Context()), backup.LockName, lock.Token); err != nil {
						t.Error(err)
					}
				}()
			}
			before := len(oncallEntries(t, e.st))
			headers := []string{}
			if tc.contentType != "" {
				headers = append(headers, "Content-Type", tc.contentType)
			}
			status, header, raw := e.call(http.MethodPost, tc.path, tc.token, tc.body, headers...)
			p := wantProblem(t, status, header, raw, tc.status)
			if p.Field != tc.field || !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("problem %+v, want field %q and a detail containing %q", p, tc.field, tc.detail)
			}
			if got := header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			entries := oncallEntries(t, e.st)[before:]
			switch {
			case !tc.journaled && len(entries) != 0:
				t.Errorf("a refused request was journaled: %+v", entries)
			case tc.journaled && (len(entries) != 2 || !strings.HasSuffix(string(entries[0].Kind), ".requested") ||
				entries[1].Kind != oncall.KindRefused || entries[1].Outcome != http.StatusText(tc.status) || !strings.Contains(entries[1].Detail, "recover the payments group")):
				t.Errorf("journal: %+v; want the request and its refusal (%s) with the reason", entries, http.StatusText(tc.status))
			}
			if got := e.preview(t, c.ID); got.State != backup.CaseNeedsStart || got.StartedBy != "" {
				t.Errorf("the refusal changed the case: %s, started by %q", got.State, got.StartedBy)
			}
		})
	}
	if jobs := e.sim.Jobs(); len(jobs) != 0 {
		t.Errorf("refused requests created jobs in Graph: %+v", jobs)
	}
	if !strings.Contains(e.logs.String(), "could not start the preview") {
		t.Error("the 502's cause is not in the log")
	}
	assertNoToken(t, e, approver, adele, appOnly)
}

// A tenant runs one Backup & Recovery job at a time: starting a second
// case while the first one's preview runs is a 409 that says so, and the
// second case waits, requested, for the next tick.
func TestPreviewStartWhileAnotherJobRunsIsAConflict(t *testing.T) {
	e := newPreviewEnv(t)
	first := e.caseOf(t, "rule:first", paymentsGroup)
	e.tick(t)
	approver := e.userToken(t, backupAdmin, backupAdminName, approveRole...)
	if status, _, raw := e.call(http.MethodPost, "/previews/"+first.ID+"/start", approver, reasonBody("first")); status != http.StatusAccepted {
		t.Fatalf("start the first: %d %s", status, raw)
	}
	second := e.caseOf(t, "rule:second", labGroup)
	if second.ID == first.ID || second.State != backup.CaseRequested {
		t.Fatalf("second case %s is %s; want a new requested case", second.ID, second.State)
	}

	status, header, raw := e.call(http.MethodPost, "/previews/"+second.ID+"/start", approver, reasonBody("second"))
	if p := wantProblem(t, status, header, raw, http.StatusConflict); p.Detail != "another Backup & Recovery job runs in the tenant" {
		t.Errorf("detail %q", p.Detail)
	}
	if got := e.preview(t, second.ID); got.State != backup.CaseRequested || got.Preview != nil {
		t.Errorf("second case after the conflict: %s, preview %+v; want still requested", got.State, got.Preview)
	}
	if jobs := e.sim.Jobs(); len(jobs) != 1 {
		t.Errorf("graphsim runs %d jobs, want the first case's only", len(jobs))
	}
}

// The list is newest first, filtered by ?state= when given; an unknown
// state or parameter is a 400, not an empty list; an unknown or malformed
// id is a 404.
func TestPreviewListIsNewestFirstAndFiltersByState(t *testing.T) {
	e := newPreviewEnv(t)
	older := e.caseOf(t, "rule:older", paymentsGroup)
	e.tick(t) // older → needs-start
	newer := e.caseOf(t, "rule:newer", falconGroup)
	reader := e.userToken(t, operator, "reader@contoso.onmicrosoft.com", apiauth.RoleRead)

	ids := func(query string) []string {
		t.Helper()
		status, _, raw := e.call(http.MethodGet, "/previews"+query, reader, nil)
		if status != http.StatusOK {
			t.Fatalf("GET /previews%s: %d %s", query, status, raw)
		}
		var out []string
		for _, c := range decodeAs[oncall.PreviewList](t, raw).Previews {
			out = append(out, c.ID)
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{newer.ID, older.ID}},
		{"?state=needs-start", []string{older.ID}},
		{"?state=requested", []string{newer.ID}},
		{"?state=recovered", nil},
	} {
		if got := ids(tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("GET /previews%s = %v, want %v", tc.query, got, tc.want)
		}
	}
	// An empty answer is an empty list, not null.
	if _, _, raw := e.call(http.MethodGet, "/previews?state=expired", reader, nil); !strings.Contains(string(raw), `"previews":[]`) {
		t.Errorf("empty answer %s", raw)
	}

	for _, tc := range []struct {
		path, field string
		status      int
	}{
		{"/previews?state=bogus", "state", http.StatusBadRequest},
		{"/previews?state=", "state", http.StatusBadRequest},
		{"/previews?status=ready", "status", http.StatusBadRequest},
		{"/previews/" + unknownCase, "", http.StatusNotFound},
		{"/previews/a.b", "", http.StatusNotFound},
	} {
		status, header, raw := e.call(http.MethodGet, tc.path, reader, nil)
		if p := wantProblem(t, status, header, raw, tc.status); p.Field != tc.field {
			t.Errorf("GET %s: field %q, want %q", tc.path, p.Field, tc.field)
		}
	}
}

// Without Backup & Recovery configured the preview routes exist but answer
// 503 to an authorized caller, after authentication and the role check as
// everywhere else, and journal nothing.
func TestPreviewRoutesWithoutPreviewsAnswer503(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	approver := h.tokenFor(backupAdmin, approveRole, nil)
	operate := h.token(operateRole, nil)
	for _, tc := range []struct {
		method, path, token string
		status              int
	}{
		{http.MethodGet, "/previews", approver, http.StatusServiceUnavailable},
		{http.MethodGet, "/previews/" + unknownCase, approver, http.StatusServiceUnavailable},
		{http.MethodPost, "/previews/" + unknownCase + "/start", approver, http.StatusServiceUnavailable},
		{http.MethodPost, "/previews/" + unknownCase + "/approve", approver, http.StatusServiceUnavailable},
		{http.MethodPost, "/previews/" + unknownCase + "/start", operate, http.StatusForbidden},
		{http.MethodPost, "/previews/" + unknownCase + "/approve", "", http.StatusUnauthorized},
		{http.MethodPut, "/previews/" + unknownCase + "/approve", approver, http.StatusMethodNotAllowed},
	} {
		var body any
		if tc.method == http.MethodPost {
			body = reasonBody("x")
		}
		status, header, raw := h.call(tc.method, tc.path, tc.token, body)
		if p := wantProblem(t, status, header, raw, tc.status); p.Detail != "" {
			t.Errorf("%s %s: detail %q, want none", tc.method, tc.path, p.Detail)
		}
	}
	if entries := journal(t, h.st, ""); len(entries) != 0 {
		t.Errorf("journal entries without previews: %+v", entries)
	}
}
