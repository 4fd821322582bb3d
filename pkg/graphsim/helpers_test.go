package graphsim

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const seedPath = "../../testdata/graphsim/seed.json"

// Ids and tokens of the sample seed.
const (
	tenantID      = "7f3c2a91-5d4e-4b8a-9c61-2e0f8d3b4a17"
	adminID       = "3b1f7c2a-8d4e-4f6a-9c0b-5e7d1a2f3c4b"
	adeleID       = "a1c3e5f7-2b4d-4c6e-8a0b-1d3f5a7c9e21"
	meganID       = "b2d4f6a8-3c5e-4d7f-9b1c-2e4a6c8e0f32"
	isaiahID      = "c3e5a7b9-4d6f-4e8a-8c2d-3f5b7d9f1a43"
	nestorID      = "d4f6b8c0-5e7a-4f9b-9d3e-4a6c8e0a2b54" // synced user
	paymentsID    = "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65" // critical cloud security group
	falconID      = "f6b8d0e2-7a9c-4b1d-9f5a-6c8e0a2c4d76" // Microsoft 365 group
	printersID    = "a7c9e1f3-8b0d-4c2e-8a6b-7d9f1b3d5e87" // non-critical security group
	financeID     = "b8d0f2a4-9c1e-4d3f-9b7c-8e0a2c4e6f98" // synced group
	hrNoticesID   = "c9e1a3b5-0d2f-4e4a-8c8d-9f1b3d5f7a09" // mail-enabled security group
	payrollAppID  = "d0f2b4c6-1e3a-4f5b-9d9e-0a2c4e6a8b10"
	payrollAppKey = "b7d9f1a3-5c6e-4a8b-9d0f-2e4a6c8e0b1d" // its appId
	payrollSPID   = "e3a5c7e9-1b2d-4f4a-8c6e-0a2c4e6a8b0d"
	auID          = "b4d6f8a0-5c7e-4d9f-9b3c-4e6a8c0e2f54"
	caPolicyID    = "7c9e1a3c-5e7a-4c9e-a1b3-8d0f2b4d6f8a"
	namedLocID    = "d6f8b0c2-7e9a-4f1b-9d5e-6a8c0e2a4b76"
	deletedMegan  = "e7a9c1d3-8f0b-4a2c-8e6f-7b9d1f3b5c87" // UPN conflicts with live Megan
	deletedLeeGu  = "f8b0d2e4-9a1c-4b3d-9f7a-8c0e2a4c6d98" // proxyAddress conflicts with Isaiah
	deletedOrion  = "a9c1e3f5-0b2d-4c4e-8a8b-9d1f3b5d7e09"
	reinstateTok  = "reinstate-token"
	adminTok      = "admin-token"
	readerTok     = "reader-token"
	reinstateSPID = "f2b4d6e8-3a5c-4b7d-9f1a-2c4e6a8c0d32"
)

// fakeClock is a pinned clock tests advance by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func loadSeed(t *testing.T) Seed {
	t.Helper()
	seed, err := LoadSeed(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	return seed
}

// testEnv is a server on loopback with a pinned clock.
type testEnv struct {
	t     *testing.T
	srv   *Server
	http  *httptest.Server
	clock *fakeClock
}

// newEnv starts a server for the sample seed. The Conditional Access and
// audit read limits are off unless opts sets them, so that tests that are
// not about throttling need not step the clock between requests.
func newEnv(t *testing.T, mutate func(*Seed), opts Options) *testEnv {
	t.Helper()
	seed := loadSeed(t)
	if mutate != nil {
		mutate(&seed)
	}
	clock := newFakeClock()
	if opts.Clock == nil {
		opts.Clock = clock.Now
	}
	if opts.Throttle.CAQuota == 0 {
		opts.Throttle.CAQuota = -1
	}
	if opts.Throttle.AuditQuota == 0 {
		opts.Throttle.AuditQuota = -1
	}
	srv, err := New(seed, opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &testEnv{t: t, srv: srv, http: hs, clock: clock}
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func (r result) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// errCode returns error.code of a Graph error body.
func (r result) errCode(t *testing.T) string {
	t.Helper()
	m := r.json(t)
	e, _ := m["error"].(map[string]any)
	if e == nil {
		t.Fatalf("no error object in %s", r.body)
	}
	code, _ := e["code"].(string)
	return code
}

func (r result) errMessage(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

type reqOpt func(*http.Request)

func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

// do sends a request; token "" sends no Authorization header. url may be a
// path (relative to the test server) or absolute.
func (e *testEnv) do(method, url, token string, body any, opts ...reqOpt) result {
	e.t.Helper()
	if strings.HasPrefix(url, "/") {
		url = e.http.URL + url
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *testEnv) mustStatus(r result, want int) result {
	e.t.Helper()
	if r.status != want {
		e.t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
	return r
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// addIdentity appends an identity to the seed.
func addIdentity(token, typ, id string, perms ...string) func(*Seed) {
	return func(s *Seed) {
		ident := Identity{Token: token, Type: typ, ID: id, DisplayName: token, Permissions: perms}
		if typ == "app" {
			ident.AppID = "appid-" + token
		} else {
			ident.UserPrincipalName = token + "@contoso.com"
		}
		s.Identities = append(s.Identities, ident)
	}
}

func chain(fs ...func(*Seed)) func(*Seed) {
	return func(s *Seed) {
		for _, f := range fs {
			f(s)
		}
	}
}

// values returns the "value" array of a collection body.
func values(t *testing.T, r result) []map[string]any {
	t.Helper()
	arr, ok := r.json(t)["value"].([]any)
	if !ok {
		t.Fatalf("no value array in %s", r.body)
	}
	out := make([]map[string]any, len(arr))
	for i, v := range arr {
		out[i], _ = v.(map[string]any)
	}
	return out
}

func ids(objs []map[string]any) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i], _ = o["id"].(string)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
