package recovery_test

// Tests drive the real executor, through the real msgraph-sdk-go client that
// graphapi builds, over loopback HTTP against graphsim; the worker tests add
// the real SQLite store. Nothing of Reinstate's own is faked.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/graphapi"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/recovery"
)

const seedPath = "../../testdata/graphsim/seed.json"

// Ids and tokens of the sample seed (testdata/graphsim/README.md).
const (
	adeleID       = "a1c3e5f7-2b4d-4c6e-8a0b-1d3f5a7c9e21"
	meganID       = "b2d4f6a8-3c5e-4d7f-9b1c-2e4a6c8e0f32"
	isaiahID      = "c3e5a7b9-4d6f-4e8a-8c2d-3f5b7d9f1a43"
	paymentsID    = "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65" // cloud security group
	falconID      = "f6b8d0e2-7a9c-4b1d-9f5a-6c8e0a2c4d76" // Microsoft 365 group
	printersID    = "a7c9e1f3-8b0d-4c2e-8a6b-7d9f1b3d5e87" // cloud security group
	financeID     = "b8d0f2a4-9c1e-4d3f-9b7c-8e0a2c4e6f98" // synced group
	hrNoticesID   = "c9e1a3b5-0d2f-4e4a-8c8d-9f1b3d5f7a09" // mail-enabled security group
	payrollAppID  = "d0f2b4c6-1e3a-4f5b-9d9e-0a2c4e6a8b10"
	payrollSPID   = "e3a5c7e9-1b2d-4f4a-8c6e-0a2c4e6a8b0d"
	auID          = "b4d6f8a0-5c7e-4d9f-9b3c-4e6a8c0e2f54"
	caPolicyID    = "7c9e1a3c-5e7a-4c9e-a1b3-8d0f2b4d6f8a"
	namedLocID    = "d6f8b0c2-7e9a-4f1b-9d5e-6a8c0e2a4b76"
	deletedMegan  = "e7a9c1d3-8f0b-4a2c-8e6f-7b9d1f3b5c87" // UPN taken by live Megan
	deletedLeeGu  = "f8b0d2e4-9a1c-4b3d-9f7a-8c0e2a4c6d98" // proxyAddress held by Isaiah
	deletedOrion  = "a9c1e3f5-0b2d-4c4e-8a8b-9d1f3b5d7e09" // M365 group already in the bin
	neverExisted  = "0d0e0a0d-0b0e-4e0f-8a0b-0c0d0e0f0a0b"
	reinstateTok  = "reinstate-token"
	adminTok      = "admin-token"
	readerTok     = "reader-token"
	reinstateApp  = "4e6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c2e"
	reinstateSPID = "f2b4d6e8-3a5c-4b7d-9f1a-2c4e6a8c0d32"
)

// clock is a pinned clock that tests move by hand, or that moves by step
// on every reading.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func newClock() *clock { return &clock{t: time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.t
	c.t = c.t.Add(c.step)
	return now
}

// Step makes every later reading d after the one before.
func (c *clock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.step = d
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sim is graphsim on loopback, with clients for the seeded identities.
type sim struct {
	t     testing.TB
	srv   *graphsim.Server
	http  *httptest.Server
	clock *clock
}

// simConfig tunes newSim.
type simConfig struct {
	opts graphsim.Options
	// realClock leaves Options.Clock nil (time.Now), for time-scaled
	// throttling; otherwise graphsim runs on a pinned clock.
	realClock bool
	// caLimit keeps the Conditional Access limit at opts' value; otherwise
	// it is off, since on a pinned clock the 1 request/s window never
	// passes and tests not about throttling would trip it.
	caLimit bool
	seed    func(*graphsim.Seed)
	// wrap, when set, sits between the HTTP server and graphsim.
	wrap func(*graphsim.Server, http.Handler) http.Handler
}

func newSim(t testing.TB, cfg simConfig) *sim {
	t.Helper()
	seed, err := graphsim.LoadSeed(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.seed != nil {
		cfg.seed(&seed)
	}
	s := &sim{t: t, clock: newClock()}
	opts := cfg.opts
	if !cfg.realClock {
		opts.Clock = s.clock.Now
	}
	if !cfg.caLimit && opts.Throttle.CAQuota == 0 {
		opts.Throttle.CAQuota = -1
	}
	if opts.Throttle.AuditQuota == 0 {
		opts.Throttle.AuditQuota = -1
	}
	s.srv, err = graphsim.New(seed, opts)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = s.srv
	if cfg.wrap != nil {
		h = cfg.wrap(s.srv, h)
	}
	s.http = httptest.NewServer(h)
	t.Cleanup(s.http.Close)
	return s
}

// client is the real Graph client for token.
func (s *sim) client(token string) *graphapi.Client {
	s.t.Helper()
	c, err := graphapi.New(graphapi.Config{BaseURL: s.http.URL, Auth: graphapi.AuthStatic, Token: token, Timeout: 10 * time.Second})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// fastCA is a Conditional Access pacer that does not hold tests back; the
// tests that are about that limit set their own.
func fastCA() *recovery.Pacer { return recovery.NewPacer(100_000, time.Second) }

// executor is the executor as token, with read-back that does not sleep.
func (s *sim) executor(token string, opts recovery.ExecutorOptions) *recovery.Executor {
	s.t.Helper()
	if opts.VerifyDelays == nil {
		opts.VerifyDelays = []time.Duration{0}
	}
	if opts.FollowUpDelays == nil {
		opts.FollowUpDelays = []time.Duration{0, 0, 0}
	}
	if opts.CAPacer == nil {
		opts.CAPacer = fastCA()
	}
	return recovery.NewExecutor(s.client(token), opts)
}

// deleteAs deletes a live object through Graph, as token.
func (s *sim) deleteAs(token, collection, id string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodDelete, s.http.URL+"/v1.0/"+collection+"/"+id, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.http.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		s.t.Fatalf("DELETE %s/%s as %s: %s", collection, id, token, resp.Status)
	}
}

// externalDelete deletes an object as directory synchronization or Exchange
// Online would, which Graph itself refuses to do.
func (s *sim) externalDelete(id string) {
	s.t.Helper()
	resp, err := s.http.Client().Post(s.http.URL+"/_sim/external-delete/"+id, "application/json", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("external delete %s: %s", id, resp.Status)
	}
}

// obj is the part of a Graph object the tests read.
type obj struct {
	ID                string   `json:"id"`
	ODataType         string   `json:"@odata.type"`
	DeletedDateTime   *string  `json:"deletedDateTime"`
	UserPrincipalName string   `json:"userPrincipalName"`
	ProxyAddresses    []string `json:"proxyAddresses"`
	AppID             string   `json:"appId"`
	State             string   `json:"state"`
}

func decode(t testing.TB, raw json.RawMessage) obj {
	t.Helper()
	var o obj
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatalf("not a Graph object: %v: %s", err, raw)
	}
	return o
}

// live returns the live object with id from graphsim's state, if any.
func (s *sim) live(collection, id string) (obj, bool) {
	s.t.Helper()
	for _, raw := range s.srv.State().Live[collection] {
		if o := decode(s.t, raw); strings.EqualFold(o.ID, id) {
			return o, true
		}
	}
	return obj{}, false
}

// inBin reports whether either recycle bin holds id.
func (s *sim) inBin(id string) bool {
	s.t.Helper()
	st := s.srv.State()
	for _, raw := range slices.Concat(st.DeletedItems.Directory, st.DeletedItems.ConditionalAccess) {
		if strings.EqualFold(decode(s.t, raw).ID, id) {
			return true
		}
	}
	return false
}

// auditRecord is the part of a directoryAudit record the tests read.
type auditRecord struct {
	Activity    string `json:"activityDisplayName"`
	InitiatedBy struct {
		App *struct {
			AppID              string `json:"appId"`
			ServicePrincipalID string `json:"servicePrincipalId"`
		} `json:"app"`
	} `json:"initiatedBy"`
	Targets []struct {
		ID string `json:"id"`
	} `json:"targetResources"`
}

// audits returns graphsim's audit records from index from on.
func (s *sim) audits(from int) []auditRecord {
	s.t.Helper()
	all := s.srv.AuditRecords()
	out := make([]auditRecord, 0, len(all)-from)
	for _, raw := range all[from:] {
		var r auditRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func (s *sim) auditCount() int { return len(s.srv.AuditRecords()) }

// restoreRecords counts records from index from on that restore id.
func (s *sim) restoreRecords(from int, id string) int {
	n := 0
	for _, r := range s.audits(from) {
		if strings.HasPrefix(r.Activity, "Restore ") && len(r.Targets) > 0 && strings.EqualFold(r.Targets[0].ID, id) {
			n++
		}
	}
	return n
}

// checkRestoredBy asserts that the records from index from on hold exactly
// one "activity" record of id, and that Reinstate's app wrote it.
func (s *sim) checkRestoredBy(from int, activity, id string) {
	s.t.Helper()
	var found []auditRecord
	for _, r := range s.audits(from) {
		if r.Activity == activity && len(r.Targets) > 0 && strings.EqualFold(r.Targets[0].ID, id) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		s.t.Fatalf("%d %q records for %s, want 1; all new records: %+v", len(found), activity, id, s.audits(from))
	}
	app := found[0].InitiatedBy.App
	if app == nil || app.AppID != reinstateApp || app.ServicePrincipalID != reinstateSPID {
		s.t.Errorf("%q of %s initiated by %+v, want the Reinstate app %s", activity, id, app, reinstateApp)
	}
}

func hasAction(out recovery.Outcome, substr string) bool {
	return slices.ContainsFunc(out.Actions, func(a string) bool { return strings.Contains(a, substr) })
}
