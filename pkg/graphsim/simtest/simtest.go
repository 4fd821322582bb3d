// Package simtest is graphsim on loopback for other packages' tests.
//
// Start serves a real graphsim.Server, seeded from a file, on an
// httptest.Server, and counts the requests it answers. Everything else goes
// over real HTTP: DeleteAs and Status call Graph as any bearer token would,
// and Executor builds Reinstate's own recovery executor (graphapi with a
// static token) against any URL. StartWithIssuer also serves the seed
// tenant's simulated Entra ID token issuer (pkg/idpsim) on the same server,
// for tests of the on-call API, and makes graphsim accept Graph access
// tokens that issuer signs (GraphToken, AppGraphToken), as the on-behalf-of
// flow needs.
//
// For Entra Backup and Recovery (/directory/recovery), WithClock pins the
// simulated clock, so that snapshots fall due and jobs progress when the
// test advances it and never by wall-clock time; Snapshot, Jobs, Job and
// FinishJobs take a snapshot now, read jobs, and bring running jobs to
// their end. Only tests import this package.
package simtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/graphapi"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/idpsim"
	"github.com/reinstate/reinstate/pkg/recovery"
)

// Tenant is graphsim on loopback. The server closes when the test ends.
type Tenant struct {
	Sim    *graphsim.Server
	Server *httptest.Server
	URL    string // Server.URL
	// Issuer is the seed tenant's token issuer, serving its metadata and
	// keys under URL/{tenantId}/ and POST URL/_sim/token, so that URL is the
	// authority an apiauth.Verifier is configured with. nil unless started
	// by StartWithIssuer.
	Issuer *idpsim.Issuer

	binReads atomic.Int64
	mu       sync.Mutex
	counts   map[request]int64
}

// request is what a count is kept by: the Authorization header ("" for
// every request) and whether the method was GET.
type request struct {
	auth string
	get  bool
}

// Start serves graphsim seeded from seedPath. Its Options turn the
// Conditional Access and audit-log throttles off (quota -1); each configure
// function may then change them.
func Start(t testing.TB, seedPath string, configure ...func(*graphsim.Options)) *Tenant {
	t.Helper()
	return start(t, seedPath, false, configure)
}

// StartWithIssuer is Start with the seed tenant's token issuer mounted on
// the same server (see Tenant.Issuer and Token), and set as graphsim's
// Options.Issuer, so that Graph accepts the access tokens it signs for
// Microsoft Graph. Requests to the issuer are not counted as Graph
// requests.
func StartWithIssuer(t testing.TB, seedPath string, configure ...func(*graphsim.Options)) *Tenant {
	t.Helper()
	return start(t, seedPath, true, configure)
}

func start(t testing.TB, seedPath string, withIssuer bool, configure []func(*graphsim.Options)) *Tenant {
	t.Helper()
	seed, err := graphsim.LoadSeed(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	var opts graphsim.Options
	opts.Throttle.CAQuota, opts.Throttle.AuditQuota = -1, -1
	tn := &Tenant{counts: map[request]int64{}}
	if withIssuer {
		if tn.Issuer, err = idpsim.New(seed.TenantID); err != nil {
			t.Fatal(err)
		}
		opts.Issuer = tn.Issuer
	}
	for _, c := range configure {
		c(&opts)
	}
	if tn.Sim, err = graphsim.New(seed, opts); err != nil {
		t.Fatal(err)
	}
	var graph http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		get := r.Method == http.MethodGet
		if get && strings.Contains(strings.ToLower(r.URL.Path), "deleteditems") {
			tn.binReads.Add(1)
		}
		tn.mu.Lock()
		tn.counts[request{"", get}]++
		tn.counts[request{r.Header.Get("Authorization"), get}]++
		tn.mu.Unlock()
		tn.Sim.ServeHTTP(w, r)
	})
	if withIssuer {
		graph = tn.Issuer.Mount(graph)
	}
	tn.Server = httptest.NewServer(graph)
	t.Cleanup(tn.Server.Close)
	tn.URL = tn.Server.URL
	return tn
}

// Token mints an access token from the tenant's issuer, naming URL as its
// authority unless req.BaseURL says otherwise. The test fails if the tenant
// was started without an issuer.
func (tn *Tenant) Token(t testing.TB, req idpsim.TokenRequest) string {
	t.Helper()
	if tn.Issuer == nil {
		t.Fatal("simtest: Token needs a tenant started by StartWithIssuer")
	}
	if req.BaseURL == "" {
		req.BaseURL = tn.URL
	}
	tok, err := tn.Issuer.Token(req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Reads is the number of GET requests answered that bore token, Writes the
// number with any other method. Token "" counts every request, whatever
// token it bore, if any.
func (tn *Tenant) Reads(token string) int64 { return tn.count(token, true) }

// Writes: see Reads.
func (tn *Tenant) Writes(token string) int64 { return tn.count(token, false) }

func (tn *Tenant) count(token string, get bool) int64 {
	auth := ""
	if token != "" {
		auth = "Bearer " + token
	}
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return tn.counts[request{auth, get}]
}

// BinReads is the number of GET requests answered, with any token, whose
// path is in a recycle bin (contains "deletedItems", in any case).
func (tn *Tenant) BinReads() int64 { return tn.binReads.Load() }

// DeleteAs deletes collection/id (e.g. "groups", an id) through /v1.0 with
// token, failing the test unless Graph answers 204, and returns the audit
// records graphsim logged meanwhile as one Graph page: {"value":[...]}.
func (tn *Tenant) DeleteAs(t testing.TB, token, collection, id string) []byte {
	t.Helper()
	before := len(tn.Sim.AuditRecords())
	if status := tn.do(t, http.MethodDelete, token, collection, id); status != http.StatusNoContent {
		t.Fatalf("DELETE %s/%s: %d", collection, id, status)
	}
	page, err := json.Marshal(map[string]any{"value": tn.Sim.AuditRecords()[before:]})
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// Status is the status Graph answers to GET /v1.0/collection/id with token.
func (tn *Tenant) Status(t testing.TB, token, collection, id string) int {
	t.Helper()
	return tn.do(t, http.MethodGet, token, collection, id)
}

// Live reports whether GET /v1.0/collection/id with token answers 200.
func (tn *Tenant) Live(t testing.TB, token, collection, id string) bool {
	t.Helper()
	return tn.Status(t, token, collection, id) == http.StatusOK
}

func (tn *Tenant) do(t testing.TB, method, token, collection, id string) int {
	t.Helper()
	req, err := http.NewRequest(method, tn.URL+"/v1.0/"+collection+"/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := tn.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Executor is Reinstate's recovery executor over graphapi, calling url with
// the static token: no delay before verifying or following up, and a
// Conditional Access pacer no test will reach.
func Executor(t testing.TB, url, token string) *recovery.Executor {
	t.Helper()
	c, err := graphapi.New(graphapi.Config{BaseURL: url, Auth: graphapi.AuthStatic, Token: token, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return recovery.NewExecutor(c, recovery.ExecutorOptions{
		VerifyDelays:   []time.Duration{0},
		FollowUpDelays: []time.Duration{0},
		CAPacer:        recovery.NewPacer(100_000, time.Second),
	})
}

// graphAudience is Microsoft Graph's App ID URI, the aud of its tokens.
const graphAudience = "https://graph.microsoft.com"

// GraphToken mints a delegated access token for Microsoft Graph, as an
// on-behalf-of exchange would yield: the seed user userID signed in, with
// scopes as its scp. graphsim gives the caller the user's directory roles
// from the seed. The token is issued at graphsim's time (Options.Clock),
// so that a pinned clock finds it valid. The test fails without an issuer
// (StartWithIssuer).
func (tn *Tenant) GraphToken(t testing.TB, userID string, scopes ...string) string {
	t.Helper()
	return tn.Token(t, idpsim.TokenRequest{Audience: graphAudience, ObjectID: userID, IssuedAt: tn.Sim.Now(), Extra: map[string]any{"scp": strings.Join(scopes, " ")}})
}

// AppGraphToken mints an app-only access token for Microsoft Graph
// (client credentials): appID as azp, roles as its application
// permissions.
func (tn *Tenant) AppGraphToken(t testing.TB, appID string, roles ...string) string {
	t.Helper()
	return tn.Token(t, idpsim.TokenRequest{Audience: graphAudience, AppID: appID, App: true, Roles: roles, IssuedAt: tn.Sim.Now()})
}

// Clock is a pinned simulated clock for graphsim's Options.Clock: time
// moves only when the test advances it, so snapshots and backup jobs fall
// due exactly when the test says. Safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock pinned at start.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// WithClock makes graphsim read c (pass to Start or StartWithIssuer).
func WithClock(c *Clock) func(*graphsim.Options) {
	return func(o *graphsim.Options) { o.Clock = c.Now }
}

// WithBackup sets graphsim's Entra Backup and Recovery configuration.
func WithBackup(cfg graphsim.BackupConfig) func(*graphsim.Options) {
	return func(o *graphsim.Options) { o.Backup = cfg }
}

// Snapshot takes a backup snapshot now (POST /_sim/backup/snapshot) and
// returns it. Two in the same second are one snapshot.
func (tn *Tenant) Snapshot() graphsim.Snapshot { return tn.Sim.TakeSnapshot() }

// Jobs returns every retained backup job, oldest first, with its real
// status at the clock's time.
func (tn *Tenant) Jobs() []graphsim.BackupJob { return tn.Sim.Backups().Jobs }

// Job returns the job with id; the test fails if there is none.
func (tn *Tenant) Job(t testing.TB, id string) graphsim.BackupJob {
	t.Helper()
	for _, j := range tn.Jobs() {
		if strings.EqualFold(j.ID, id) {
			return j
		}
	}
	t.Fatalf("simtest: no backup job %s", id)
	return graphsim.BackupJob{}
}

// FinishJobs brings every running backup job to its end now: its changes
// are computed, and a recovery job's applied, at this moment. It returns
// every retained job.
func (tn *Tenant) FinishJobs() []graphsim.BackupJob { return tn.Sim.FinishBackupJobs() }
