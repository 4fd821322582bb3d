package oncall_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
	"github.com/reinstate/reinstate/pkg/idpsim"
	"github.com/reinstate/reinstate/pkg/oncall"
	"github.com/reinstate/reinstate/pkg/oncall/oncalltest"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/store"
)

const (
	seedPath  = "../../testdata/graphsim/seed.json"
	tenantID  = "7f3c2a91-5d4e-4b8a-9c61-2e0f8d3b4a17"
	adminTok  = "admin-token"
	graphTok  = "reinstate-token"
	operator  = "5a7c9e1b-3d5f-4a7c-9e1b-3d5f7a9c1e3b"
	otherOper = "6b8d0f2c-4e6a-4b8d-8f2c-4e6a8b0d2f4c"

	paymentsGroup = "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65" // sec-prod-payments
	labGroup      = "a7c9e1f3-8b0d-4c2e-8a6b-7d9f1b3d5e87" // sec-lab-printers
	orionGroup    = "a9c1e3f5-0b2d-4c4e-8a8b-9d1f3b5d7e09" // Team Orion, in the bin from the start
	adeleUser     = "a1c3e5f7-2b4d-4c6e-8a0b-1d3f5a7c9e21"
)

// harness is the whole on-call path over real parts (oncalltest: graphsim
// as Graph, a local Entra ID issuer, SQLite, the rule table and guards, the
// executor, the API behind the custom-handler server as `serve` binds it)
// and the pipeline, for deletions that go through the rules first. The
// worker is drained by the tests.
type harness struct {
	*oncalltest.API
	t        testing.TB
	sim      *simtest.Tenant
	st       store.Store
	pipeline *pipeline.Pipeline
	url      string
}

type harnessOptions struct {
	rulesFile string
	rate      rate.Limit
	burst     int
}

func newHarness(t testing.TB, opts harnessOptions) *harness {
	t.Helper()
	if opts.rulesFile == "" {
		opts.rulesFile = "../../testdata/rules/oncall.yaml"
	}
	a := oncalltest.StartWith(t, seedPath, opts.rulesFile, oncalltest.Options{Manual: true, Rate: opts.rate, Burst: opts.burst})
	return &harness{API: a, t: t, sim: a.Tenant, st: a.Store, url: a.URL,
		pipeline: pipeline.New(a.Store, pipeline.Options{Decider: decide.New(a.Table, a.Guards, time.Now), Bin: a.Executor})}
}

// token mints a v2.0 token for the operator with roles, changed by extra.
func (h *harness) token(roles []string, extra map[string]any) string {
	return h.tokenFor(operator, roles, extra)
}

func (h *harness) tokenFor(oid string, roles []string, extra map[string]any) string {
	h.t.Helper()
	tok, err := h.Issuer.Token(idpsim.TokenRequest{BaseURL: h.IssuerURL, Audience: oncalltest.Audience, Roles: roles, ObjectID: oid,
		Name: "oncall@contoso.onmicrosoft.com", Extra: extra})
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

var (
	readRole    = []string{apiauth.RoleRead}
	operateRole = []string{apiauth.RoleOperate, apiauth.RoleRead}
)

// call sends method path with token (none when empty) and body (JSON
// unless a string or []byte), and returns the status, headers and body.
func (h *harness) call(method, path, token string, body any, headers ...string) (int, http.Header, []byte) {
	h.t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	case []byte:
		reader = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.url+oncall.BasePath+path, reader)
	if err != nil {
		h.t.Fatal(err)
	}
	if reader != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

func decodeAs[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// wantProblem checks an RFC 9457 answer with status, and returns it.
func wantProblem(t *testing.T, status int, header http.Header, raw []byte, wantStatus int) oncall.Problem {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status %d, want %d; body %s", status, wantStatus, raw)
	}
	if ct := header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	p := decodeAs[oncall.Problem](t, raw)
	if p.Status != wantStatus || p.Title != http.StatusText(wantStatus) {
		t.Errorf("problem %+v, want status %d and title %q", p, wantStatus, http.StatusText(wantStatus))
	}
	return p
}

// resign re-signs a valid token's claims with header and key: the forged
// tokens of the authentication matrix.
func resign(t *testing.T, valid string, method jwt.SigningMethod, kid string, key any) string {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(valid, claims); err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// algNone is valid's claims under {"alg":"none"} with no signature.
func algNone(t *testing.T, valid, kid string) string {
	t.Helper()
	header, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	parts := strings.Split(valid, ".")
	return base64.RawURLEncoding.EncodeToString(header) + "." + parts[1] + "."
}

func TestAuthenticationMatrix(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	valid := h.token(readRole, nil)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(h.Issuer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	now := time.Now()

	tests := []struct {
		name   string
		header string // the whole Authorization header; "-" for none
		want   int
	}{
		{"valid token", "Bearer " + valid, http.StatusOK},
		{"missing token", "-", http.StatusUnauthorized},
		{"another scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("oncall:secret")), http.StatusUnauthorized},
		{"not a JWT", "Bearer not-a-token", http.StatusUnauthorized},
		{"bad signature (another key, same kid)", "Bearer " + resign(t, valid, jwt.SigningMethodRS256, h.Issuer.KeyID(), otherKey), http.StatusUnauthorized},
		{"unknown key id", "Bearer " + resign(t, valid, jwt.SigningMethodRS256, "unknown-kid", otherKey), http.StatusUnauthorized},
		{"expired", "Bearer " + h.token(readRole, map[string]any{"iat": now.Add(-3 * time.Hour).Unix(), "nbf": now.Add(-3 * time.Hour).Unix(), "exp": now.Add(-2 * time.Hour).Unix()}), http.StatusUnauthorized},
		{"not yet valid", "Bearer " + h.token(readRole, map[string]any{"nbf": now.Add(time.Hour).Unix()}), http.StatusUnauthorized},
		{"wrong audience", "Bearer " + h.token(readRole, map[string]any{"aud": "api://someone-else"}), http.StatusUnauthorized},
		{"wrong issuer", "Bearer " + h.token(readRole, map[string]any{"iss": "https://login.microsoftonline.com/" + tenantID + "/v2.0"}), http.StatusUnauthorized},
		{"wrong tenant", "Bearer " + h.token(readRole, map[string]any{"tid": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}), http.StatusUnauthorized},
		{"alg none", "Bearer " + algNone(t, valid, h.Issuer.KeyID()), http.StatusUnauthorized},
		{"HS256 signed with the public key (PEM)", "Bearer " + resign(t, valid, jwt.SigningMethodHS256, h.Issuer.KeyID(), pubPEM), http.StatusUnauthorized},
		{"HS256 signed with the public key (DER)", "Bearer " + resign(t, valid, jwt.SigningMethodHS256, h.Issuer.KeyID(), pubDER), http.StatusUnauthorized},
		{"no role", "Bearer " + h.token(nil, nil), http.StatusForbidden},
		{"wrong role", "Bearer " + h.token([]string{apiauth.RoleApprove}, nil), http.StatusForbidden},
		{"role of another app", "Bearer " + h.token([]string{"Directory.Read"}, nil), http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, h.url+oncall.BasePath+"/journal", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.header != "-" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.want == http.StatusOK {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d, want 200: %s", resp.StatusCode, raw)
				}
				return
			}
			p := wantProblem(t, resp.StatusCode, resp.Header, raw, tc.want)
			// Nothing that tells a forger which check failed.
			if p.Detail != "" || p.Field != "" || p.Type != "about:blank" {
				t.Errorf("refusal says too much: %s", raw)
			}
			if tc.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestEveryWriteNeedsTheOperateRole(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	reader := h.token(readRole, nil)
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, "/restores"},
		{http.MethodPost, "/silences"},
		{http.MethodDelete, "/silences/x"},
		{http.MethodPost, "/breaker/reset"},
	} {
		status, header, raw := h.call(tc.method, tc.path, reader, `{}`)
		wantProblem(t, status, header, raw, http.StatusForbidden)
	}
	if entries := journal(t, h.st, ""); len(entries) != 0 {
		t.Errorf("refused callers left journal entries: %+v", entries)
	}
}

func TestHealthNeedsNoTokenAndShowsNoTenantData(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	status, _, raw := h.call(http.MethodGet, "/health", "", nil)
	if status != http.StatusOK {
		t.Fatalf("health: %d %s", status, raw)
	}
	if got := decodeAs[oncall.Health](t, raw); got.Status != "ok" {
		t.Errorf("health = %+v", got)
	}
	if strings.Contains(string(raw), tenantID) || strings.Contains(string(raw), "contoso") {
		t.Errorf("health shows tenant data: %s", raw)
	}
}

func journal(t *testing.T, st store.Store, objectID string) []store.Entry {
	t.Helper()
	entries, err := st.Journal(t.Context(), store.JournalQuery{TargetID: objectID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func kinds(entries []store.Entry) []string {
	var out []string
	for i := len(entries) - 1; i >= 0; i-- { // oldest first
		out = append(out, string(entries[i].Kind))
	}
	return out
}

func TestRestoreThroughTheAPIEndToEnd(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.sim.DeleteAs(t, adminTok, "groups", paymentsGroup)
	binReads := h.sim.BinReads()

	status, header, raw := h.call(http.MethodPost, "/restores", h.token(operateRole, nil),
		oncall.RestoreRequest{ObjectID: paymentsGroup, ObjectType: "group", Reason: "INC-4242 payments group deleted by mistake"})
	if status != http.StatusAccepted {
		t.Fatalf("POST /restores: %d %s", status, raw)
	}
	queued := decodeAs[oncall.RestoreStatus](t, raw)
	if queued.State != "queued" || queued.ObjectType != "group" || queued.Name != "sec-prod-payments" {
		t.Errorf("queued restore = %+v", queued)
	}
	if loc := header.Get("Location"); loc != queued.StatusURL || loc != oncall.BasePath+"/restores/"+queued.ID {
		t.Errorf("Location %q, statusUrl %q", loc, queued.StatusURL)
	}
	if h.sim.BinReads() == binReads {
		t.Error("the API queued a restore without reading the recycle bin")
	}
	if h.Wakes.Load() != 1 {
		t.Errorf("worker woken %d times, want 1", h.Wakes.Load())
	}
	if h.sim.Live(t, adminTok, "groups", paymentsGroup) {
		t.Fatal("restored before the worker ran")
	}

	report, err := h.Worker.Drain(t.Context())
	if err != nil || report.Done != 1 {
		t.Fatalf("Drain = %+v, %v", report, err)
	}
	if !h.sim.Live(t, adminTok, "groups", paymentsGroup) {
		t.Fatal("the group is not live after the restore")
	}

	status, _, raw = h.call(http.MethodGet, "/restores/"+queued.ID, h.token(readRole, nil), nil)
	if status != http.StatusOK {
		t.Fatalf("GET status: %d %s", status, raw)
	}
	done := decodeAs[oncall.RestoreStatus](t, raw)
	if done.State != "restored" || !done.Verified || done.Outcome == nil || done.Outcome.Status != recovery.StatusRestored || len(done.Outcome.After) == 0 {
		t.Errorf("final status = %+v", done)
	}

	// The journal tells the whole story, each step with the caller.
	status, _, raw = h.call(http.MethodGet, "/journal?objectId="+paymentsGroup, h.token(readRole, nil), nil)
	if status != http.StatusOK {
		t.Fatalf("GET journal: %d %s", status, raw)
	}
	entries := decodeAs[oncall.JournalList](t, raw).Entries
	want := []string{string(oncall.KindRestoreRequested), string(oncall.KindRestoreQueued), string(recovery.KindRestoreDone)}
	if got := kinds(entries); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("journal kinds = %v, want %v", got, want)
	}
	for _, e := range entries {
		if !strings.Contains(e.Actor, "oncall@contoso.onmicrosoft.com") || !strings.Contains(e.Actor, operator) {
			t.Errorf("%s entry names %q, not the caller (upn and oid)", e.Kind, e.Actor)
		}
	}
	if !strings.Contains(entries[len(entries)-1].Detail, "INC-4242") {
		t.Errorf("the request's reason is not journaled: %+v", entries[len(entries)-1])
	}
}

func TestRestoreRefusals(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.sim.DeleteAs(t, adminTok, "users", adeleUser)
	tok := h.token(operateRole, nil)
	tests := []struct {
		name      string
		body      any
		headers   []string
		status    int
		field     string
		readsBin  bool
		journaled bool
	}{
		{"object id not a GUID", `{"objectId":"../../users","reason":"x"}`, nil, 400, "objectId", false, false},
		{"unknown field", `{"objectId":"` + paymentsGroup + `","reason":"x","force":true}`, nil, 400, "body", false, false},
		{"no reason", `{"objectId":"` + paymentsGroup + `"}`, nil, 400, "reason", false, false},
		{"unknown type", `{"objectId":"` + paymentsGroup + `","objectType":"device","reason":"x"}`, nil, 400, "objectType", false, false},
		{"two JSON values", `{"objectId":"` + paymentsGroup + `","reason":"x"}{}`, nil, 400, "body", false, false},
		{"not JSON", `objectId=` + paymentsGroup, nil, 400, "body", false, false},
		{"wrong media type", `{"objectId":"` + paymentsGroup + `","reason":"x"}`, []string{"Content-Type", "text/plain"}, 415, "Content-Type", false, false},
		{"too large", `{"objectId":"` + paymentsGroup + `","reason":"` + strings.Repeat("x", oncall.MaxBodyBytes) + `"}`, nil, 413, "body", false, false},
		{"bad idempotency key", `{"objectId":"` + paymentsGroup + `","reason":"x"}`, []string{"Idempotency-Key", "has space"}, 400, "Idempotency-Key", false, false},
		{"new UPN on a group", `{"objectId":"` + paymentsGroup + `","objectType":"group","reason":"x","options":{"newUserPrincipalName":"a@contoso.com"}}`, nil, 400, "options.newUserPrincipalName", false, false},
		{"live object, not in the bin", `{"objectId":"` + paymentsGroup + `","reason":"x"}`, nil, 404, "objectId", true, true},
		{"stated type is not the bin's", `{"objectId":"` + adeleUser + `","objectType":"group","reason":"x"}`, nil, 422, "objectType", true, true},
		{"option that does not fit the bin's type", `{"objectId":"` + adeleUser + `","reason":"x","options":{"caPolicyStateAfterRestore":"reportOnly"}}`, nil, 422, "options.caPolicyStateAfterRestore", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reads, before := h.sim.BinReads(), len(journal(t, h.st, ""))
			status, header, raw := h.call(http.MethodPost, "/restores", tok, tc.body, tc.headers...)
			p := wantProblem(t, status, header, raw, tc.status)
			if p.Field != tc.field || p.Detail == "" {
				t.Errorf("problem %+v, want field %q and a detail", p, tc.field)
			}
			if got := h.sim.BinReads() > reads; got != tc.readsBin {
				t.Errorf("read the bin: %v, want %v", got, tc.readsBin)
			}
			entries := journal(t, h.st, "")
			if tc.journaled {
				if len(entries) != before+2 || entries[0].Kind != oncall.KindRestoreRefused || entries[1].Kind != oncall.KindRestoreRequested {
					t.Errorf("journal after a refusal: %v", kinds(entries[:len(entries)-before]))
				}
			} else if len(entries) != before {
				t.Errorf("a malformed request was journaled: %v", kinds(entries[:len(entries)-before]))
			}
		})
	}
	intents, err := h.st.Intents(t.Context(), store.IntentQuery{Limit: 10})
	if err != nil || len(intents) != 0 {
		t.Errorf("refused requests recorded intents: %+v, %v", intents, err)
	}
}

func TestIdempotencyKey(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.sim.DeleteAs(t, adminTok, "groups", paymentsGroup)
	tok := h.token(operateRole, nil)
	body := oncall.RestoreRequest{ObjectID: paymentsGroup, Reason: "INC-1"}

	status, _, raw := h.call(http.MethodPost, "/restores", tok, body, "Idempotency-Key", "inc-1-payments")
	if status != http.StatusAccepted {
		t.Fatalf("first: %d %s", status, raw)
	}
	first := decodeAs[oncall.RestoreStatus](t, raw)
	reads := h.sim.BinReads()

	status, _, raw = h.call(http.MethodPost, "/restores", tok, body, "Idempotency-Key", "inc-1-payments")
	if status != http.StatusAccepted {
		t.Fatalf("repeat: %d %s", status, raw)
	}
	if again := decodeAs[oncall.RestoreStatus](t, raw); again.ID != first.ID {
		t.Errorf("repeat answered restore %s, want %s", again.ID, first.ID)
	}
	if h.sim.BinReads() != reads {
		t.Error("a repeat went to Graph again")
	}

	status, header, raw := h.call(http.MethodPost, "/restores", tok, oncall.RestoreRequest{ObjectID: paymentsGroup, Reason: "INC-2"}, "Idempotency-Key", "inc-1-payments")
	if p := wantProblem(t, status, header, raw, http.StatusUnprocessableEntity); p.Field != oncall.IdempotencyKeyHeader {
		t.Errorf("key reuse problem = %+v", p)
	}

	// Keys are per caller: another operator's same key is another request.
	status, _, raw = h.call(http.MethodPost, "/restores", h.tokenFor(otherOper, operateRole, nil), body, "Idempotency-Key", "inc-1-payments")
	if status != http.StatusAccepted {
		t.Fatalf("other caller: %d %s", status, raw)
	}
	if other := decodeAs[oncall.RestoreStatus](t, raw); other.ID == first.ID {
		t.Error("two callers' keys collided")
	}
	// Without a key, every request is its own.
	for range 2 {
		if status, _, raw := h.call(http.MethodPost, "/restores", tok, body); status != http.StatusAccepted {
			t.Fatalf("keyless: %d %s", status, raw)
		}
	}
	intents, err := h.st.Intents(t.Context(), store.IntentQuery{Limit: 10})
	if err != nil || len(intents) != 4 {
		t.Errorf("intents = %d (%v), want 4: first, other caller's, two keyless", len(intents), err)
	}
}

func TestSilenceBounds(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.token(operateRole, nil)
	in := func(d time.Duration) *time.Time { at := time.Now().Add(d); return &at }
	tests := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"no expiry", oncall.SilenceRequest{Rule: "critical-groups", Reason: "maintenance"}, 400, "endsAt"},
		{"longer than 7 days", oncall.SilenceRequest{Rule: "critical-groups", Reason: "maintenance", Duration: "169h"}, 400, "endsAt"},
		{"ends in the past", oncall.SilenceRequest{Rule: "critical-groups", Reason: "maintenance", EndsAt: in(-time.Minute)}, 400, "endsAt"},
		{"end and duration", oncall.SilenceRequest{Rule: "critical-groups", Reason: "maintenance", EndsAt: in(time.Hour), Duration: "1h"}, 400, "duration"},
		{"matches nothing", oncall.SilenceRequest{Reason: "maintenance", Duration: "1h"}, 400, "rule"},
		{"unknown rule", oncall.SilenceRequest{Rule: "no-such-rule", Reason: "maintenance", Duration: "1h"}, 400, "rule"},
		{"object not a GUID", oncall.SilenceRequest{ObjectID: "everything", Reason: "maintenance", Duration: "1h"}, 400, "objectId"},
		{"no reason", oncall.SilenceRequest{Rule: "critical-groups", Duration: "1h"}, 400, "reason"},
		{"bad duration", oncall.SilenceRequest{Rule: "critical-groups", Reason: "m", Duration: "a week"}, 400, "duration"},
		{"exactly 7 days", oncall.SilenceRequest{Rule: "critical-groups", Reason: "maintenance", Duration: "168h"}, 201, ""},
		{"until a time", oncall.SilenceRequest{ObjectID: paymentsGroup, Reason: "migration", EndsAt: in(2 * time.Hour)}, 201, ""},
	}
	var created []store.Silence
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, header, raw := h.call(http.MethodPost, "/silences", tok, tc.body)
			if tc.status == http.StatusCreated {
				if status != http.StatusCreated {
					t.Fatalf("status %d: %s", status, raw)
				}
				s := decodeAs[store.Silence](t, raw)
				if s.ID == "" || !strings.Contains(s.CreatedBy, operator) || s.EndsAt.Sub(s.StartsAt) > oncall.MaxSilence {
					t.Errorf("silence = %+v", s)
				}
				created = append(created, s)
				return
			}
			if p := wantProblem(t, status, header, raw, tc.status); p.Field != tc.field {
				t.Errorf("problem %+v, want field %q", p, tc.field)
			}
		})
	}
	status, _, raw := h.call(http.MethodGet, "/silences", h.token(readRole, nil), nil)
	if list := decodeAs[oncall.SilenceList](t, raw); status != http.StatusOK || len(list.Silences) != len(created) {
		t.Fatalf("GET /silences: %d, %s", status, raw)
	}
	id := created[0].ID
	if status, _, raw := h.call(http.MethodDelete, "/silences/"+id, tok, nil); status != http.StatusOK {
		t.Fatalf("DELETE: %d %s", status, raw)
	}
	status, _, raw = h.call(http.MethodGet, "/silences", h.token(readRole, nil), nil)
	if list := decodeAs[oncall.SilenceList](t, raw); len(list.Silences) != len(created)-1 {
		t.Errorf("after ending one, %d active: %s", len(list.Silences), raw)
	}
	status, header, raw := h.call(http.MethodDelete, "/silences/0000-unknown", tok, nil)
	wantProblem(t, status, header, raw, http.StatusNotFound)

	var got []string
	for _, e := range journal(t, h.st, "") {
		if e.Actor == "" || !strings.Contains(e.Actor, operator) {
			t.Errorf("%s without the caller: %q", e.Kind, e.Actor)
		}
		got = append(got, string(e.Kind))
	}
	want := "oncall.refused oncall.silence.requested silence.ended oncall.silence.requested silence.added oncall.silence.requested silence.added oncall.silence.requested"
	if strings.Join(got, " ") != want {
		t.Errorf("journal (newest first) = %v\nwant %s", got, want)
	}
}

// deleteAndIngest deletes a group as graphsim's admin and runs the audit
// records through the pipeline, as the AuditEvents function would.
func (h *harness) deleteAndIngest(id string) {
	h.t.Helper()
	page := h.sim.DeleteAs(h.t, adminTok, "groups", id)
	if _, err := h.pipeline.Ingest(h.t.Context(), pipeline.Batch{Source: "test", Bodies: []pipeline.Body{{Data: page}}}); err != nil {
		h.t.Fatal(err)
	}
}

func TestGuardsRefuseOnCallAsTheyRefusedTheDeletion(t *testing.T) {
	t.Run("exempt initiator", func(t *testing.T) {
		h := newHarness(t, harnessOptions{rulesFile: "../../testdata/rules/oncall-exempt.yaml"})
		h.deleteAndIngest(labGroup)
		status, header, raw := h.call(http.MethodPost, "/restores", h.token(operateRole, nil), oncall.RestoreRequest{ObjectID: labGroup, Reason: "bring it back"})
		if p := wantProblem(t, status, header, raw, http.StatusConflict); !strings.Contains(p.Detail, "exempt") {
			t.Errorf("problem = %+v", p)
		}
	})
	t.Run("cooldown after a re-deletion", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.deleteAndIngest(labGroup) // restore decided, cooldown starts
		if report, err := h.Worker.Drain(t.Context()); err != nil || report.Done != 1 {
			t.Fatalf("Drain = %+v, %v", report, err)
		}
		h.deleteAndIngest(labGroup) // deleted again: the cooldown escalates
		status, header, raw := h.call(http.MethodPost, "/restores", h.token(operateRole, nil), oncall.RestoreRequest{ObjectID: labGroup, Reason: "bring it back"})
		if p := wantProblem(t, status, header, raw, http.StatusConflict); !strings.Contains(p.Detail, "cooldown") {
			t.Errorf("problem = %+v", p)
		}
	})
	t.Run("a failed automatic restore does not block on-call", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.deleteAndIngest(labGroup) // restore decided and its cooldown started, not yet carried out
		status, _, raw := h.call(http.MethodPost, "/restores", h.token(operateRole, nil), oncall.RestoreRequest{ObjectID: labGroup, Reason: "now, please"})
		if status != http.StatusAccepted {
			t.Fatalf("status %d: %s", status, raw)
		}
	})
}

func TestOnCallOverridesSilencesAndBreakersAndSaysSo(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.token(operateRole, nil)
	if status, _, raw := h.call(http.MethodPost, "/silences", tok, oncall.SilenceRequest{Rule: "critical-groups", Reason: "change window", Duration: "2h"}); status != http.StatusCreated {
		t.Fatalf("silence: %d %s", status, raw)
	}
	now := time.Now()
	if err := h.st.PutMark(t.Context(), store.Mark{Key: "breaker:total", Value: "tripped at " + now.UTC().Format(time.RFC3339), Until: now.Add(time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
	h.deleteAndIngest(paymentsGroup) // silenced: no automatic restore
	if report, err := h.Worker.Drain(t.Context()); err != nil || report.Done != 0 {
		t.Fatalf("Drain = %+v, %v; the silence should have stopped the automatic restore", report, err)
	}

	status, _, raw := h.call(http.MethodPost, "/restores", tok, oncall.RestoreRequest{ObjectID: paymentsGroup, Reason: "restore despite the window"})
	if status != http.StatusAccepted {
		t.Fatalf("restore: %d %s", status, raw)
	}
	st := decodeAs[oncall.RestoreStatus](t, raw)
	if len(st.Overridden) != 2 || !strings.HasPrefix(st.Overridden[0], "silence ") || !strings.HasPrefix(st.Overridden[1], "breaker total") {
		t.Errorf("overridden = %q", st.Overridden)
	}
	if queued := journal(t, h.st, paymentsGroup)[0]; queued.Kind != oncall.KindRestoreQueued || !strings.Contains(queued.Detail, "overrides silence") {
		t.Errorf("the override is not journaled: %+v", queued)
	}

	// Resetting the breaker closes it: the next restore overrides the silence only.
	if status, _, raw := h.call(http.MethodPost, "/breaker/reset", tok, oncall.BreakerResetRequest{Scope: "total", Reason: "storm over"}); status != http.StatusOK {
		t.Fatalf("reset: %d %s", status, raw)
	}
	check, err := h.Guards.OnCall(t.Context(), paymentsGroup, nil, time.Now())
	if err != nil || len(check.Overridden) != 0 {
		t.Errorf("after the reset, overrides = %q, %v (the rule's silence does not cover an object without a decision)", check.Overridden, err)
	}
	status, header, raw := h.call(http.MethodPost, "/breaker/reset", tok, oncall.BreakerResetRequest{Scope: "no-such-rule", Reason: "x"})
	wantProblem(t, status, header, raw, http.StatusBadRequest)
}

func TestDeletedListsTheBinWithWhatTheRulesWouldDo(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.sim.DeleteAs(t, adminTok, "groups", paymentsGroup)
	h.sim.DeleteAs(t, adminTok, "groups", labGroup)
	tok := h.token(readRole, nil)

	status, _, raw := h.call(http.MethodGet, "/deleted?type=group", tok, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /deleted: %d %s", status, raw)
	}
	list := decodeAs[oncall.DeletedList](t, raw)
	byID := map[string]oncall.DeletedView{}
	for _, item := range list.Items {
		byID[item.ID] = item
	}
	for id, want := range map[string]struct{ rule, actions string }{
		paymentsGroup: {"critical-groups", "restore,notify"},
		labGroup:      {"lab-groups", "restore,notify"},
		orionGroup:    {"", ""},
	} {
		item, ok := byID[id]
		if !ok {
			t.Errorf("%s missing from %s", id, raw)
			continue
		}
		if item.Rules.Rule != want.rule || strings.Join(item.Rules.Actions, ",") != want.actions || item.ObjectType != "group" || len(item.Object) == 0 {
			t.Errorf("%s: %+v, want rule %q actions %q", id, item, want.rule, want.actions)
		}
	}
	// Team Orion was deleted long before; since keeps only recent ones.
	status, _, raw = h.call(http.MethodGet, "/deleted?type=group&since=1h", tok, nil)
	if got := decodeAs[oncall.DeletedList](t, raw).Items; status != http.StatusOK || len(got) != 2 {
		t.Errorf("since=1h: %d items (%s)", len(got), raw)
	}
	status, _, raw = h.call(http.MethodGet, "/deleted?type=group&limit=1", tok, nil)
	if got := decodeAs[oncall.DeletedList](t, raw); status != http.StatusOK || len(got.Items) != 1 || !got.More {
		t.Errorf("limit=1: %s", raw)
	}
	for _, q := range []string{"type=device", "", "type=group&since=yesterday", "type=group&limit=0", "type=group&filter=x"} {
		status, header, raw := h.call(http.MethodGet, "/deleted?"+q, tok, nil)
		wantProblem(t, status, header, raw, http.StatusBadRequest)
	}
}

func TestRateLimitPerCaller(t *testing.T) {
	h := newHarness(t, harnessOptions{rate: rate.Every(time.Hour), burst: 3})
	tok := h.token(readRole, nil)
	for i := range 3 {
		if status, _, raw := h.call(http.MethodGet, "/journal", tok, nil); status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, status, raw)
		}
	}
	status, header, raw := h.call(http.MethodGet, "/journal", tok, nil)
	wantProblem(t, status, header, raw, http.StatusTooManyRequests)
	if header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Another caller has their own budget.
	if status, _, raw := h.call(http.MethodGet, "/journal", h.tokenFor(otherOper, readRole, nil), nil); status != http.StatusOK {
		t.Errorf("other caller: %d %s", status, raw)
	}
}

// The Functions host may hand the request over in its invocation envelope
// instead of forwarding it: the API must answer the same.
func TestEnvelopeInvocationReachesTheSameAPI(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.token(readRole, nil)
	invoke := func(method, path, auth string) (string, map[string]string, string) {
		t.Helper()
		headers := map[string][]string{"Accept": {"application/json"}}
		if auth != "" {
			headers["Authorization"] = []string{"Bearer " + auth}
		}
		data, _ := json.Marshal(map[string]any{"Url": "https://func-reinstate.azurewebsites.net" + oncall.BasePath + path, "Method": method,
			"Query": map[string]string{}, "Headers": headers})
		envelope, _ := json.Marshal(map[string]any{"Data": map[string]json.RawMessage{"req": data}, "Metadata": map[string]any{}})
		resp, err := http.Post(h.url+"/OnCall", "application/json", bytes.NewReader(envelope))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the invocation itself failed: %d", resp.StatusCode)
		}
		var out struct {
			Outputs map[string]struct {
				StatusCode string            `json:"statusCode"`
				Headers    map[string]string `json:"headers"`
				Body       string            `json:"body"`
			} `json:"Outputs"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		res := out.Outputs["res"]
		return res.StatusCode, res.Headers, res.Body
	}
	status, _, body := invoke(http.MethodGet, "/health", "")
	if status != "200" || !strings.Contains(body, `"ok"`) {
		t.Errorf("health via envelope: %s %s", status, body)
	}
	status, headers, body := invoke(http.MethodGet, "/journal", "")
	if status != "401" || headers["Content-Type"] != "application/problem+json" {
		t.Errorf("unauthenticated via envelope: %s %v %s", status, headers, body)
	}
	status, _, body = invoke(http.MethodGet, "/journal", tok)
	if status != "200" || !strings.Contains(body, `"entries"`) {
		t.Errorf("authenticated via envelope: %s %s", status, body)
	}
}

func TestUnknownPathsAndMethodsAnswerProblems(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.token(operateRole, nil)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/nope", http.StatusNotFound, ""},
		{http.MethodPut, "/restores", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPatch, "/silences/abc", http.StatusMethodNotAllowed, "DELETE"},
		{http.MethodPost, "/health", http.StatusMethodNotAllowed, "GET"},
		{http.MethodGet, "/restores/..%2f..%2fetc", http.StatusNotFound, ""},
	} {
		status, header, raw := h.call(tc.method, tc.path, tok, nil)
		wantProblem(t, status, header, raw, tc.status)
		if header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, header.Get("Allow"), tc.allow)
		}
	}
}
