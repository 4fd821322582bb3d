package apiauth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/idpsim"
)

const (
	tenantID    = "7d3c5b2a-1e4f-4a6b-9c8d-0e1f2a3b4c5d"
	otherTenant = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	apiClientID = "c0ffee00-1234-4abc-8def-0123456789ab"
	apiURI      = "api://reinstate"
	aliceOID    = "a11ce000-0000-4000-8000-000000000001"
	robotOID    = "0b070000-0000-4000-8000-000000000002"
	clientAppID = "c11e0000-0000-4000-8000-000000000003"
)

// idp is idpsim on loopback, counting metadata requests and able to fail
// them.
type idp struct {
	iss      *idpsim.Issuer
	srv      *httptest.Server
	url      string
	metaHits atomic.Int64
	// down answers 503 to every request whose path contains it ("" for
	// none): "openid-configuration" or "keys".
	down atomic.Value
}

func startIDP(t *testing.T) *idp {
	t.Helper()
	iss, err := idpsim.New(tenantID)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{iss: iss}
	p.down.Store("")
	h := iss.Handler()
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "openid-configuration") {
			p.metaHits.Add(1)
		}
		if d := p.down.Load().(string); d != "" && strings.Contains(r.URL.Path, d) {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	p.url = p.srv.URL
	return p
}

func (p *idp) token(t *testing.T, req idpsim.TokenRequest) string {
	t.Helper()
	if req.BaseURL == "" {
		req.BaseURL = p.url
	}
	if req.Audience == "" {
		req.Audience = apiClientID
	}
	tok, err := p.iss.Token(req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func newVerifier(t *testing.T, authority string, configure ...func(*apiauth.Config)) *apiauth.Verifier {
	t.Helper()
	cfg := apiauth.Config{TenantID: tenantID, Audiences: []string{apiClientID, apiURI}, Authority: authority}
	for _, c := range configure {
		c(&cfg)
	}
	v, err := apiauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// claimsOf decodes a token's payload without verifying it.
func claimsOf(t *testing.T, tok string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// sign signs claims with method and key under kid.
func sign(t *testing.T, method jwt.SigningMethod, claims jwt.MapClaims, kid string, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// unsigned builds an `alg: none` token by hand: golang-jwt refuses to make
// one without its explicit unsafe marker.
func unsigned(t *testing.T, kid string, claims jwt.MapClaims) string {
	t.Helper()
	h, err := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}

// TestAuthenticationMatrix: each presented credential gets exactly the
// documented outcome.
func TestAuthenticationMatrix(t *testing.T) {
	p := startIDP(t)
	v := newVerifier(t, p.url)
	now := time.Now()
	user := idpsim.TokenRequest{ObjectID: aliceOID, Name: "alice@contoso.com", AppID: clientAppID, Roles: []string{apiauth.RoleRead}}
	good := p.token(t, user)
	goodClaims := claimsOf(t, good)
	kid := p.iss.KeyID()
	pub := p.iss.PublicKey()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pkcs1 := x509.MarshalPKCS1PublicKey(pub)
	with := func(req idpsim.TokenRequest, extra map[string]any) idpsim.TokenRequest {
		req.Extra = extra
		return req
	}
	aliceCaller := apiauth.Caller{ObjectID: aliceOID, TenantID: tenantID, Name: "alice@contoso.com", AppID: clientAppID, Roles: []string{apiauth.RoleRead}, Scopes: []string{"user_impersonation"}}

	tests := []struct {
		name   string
		header http.Header
		want   error           // nil: accepted
		caller *apiauth.Caller // when accepted
	}{
		{name: "missing header", header: http.Header{}, want: apiauth.ErrNoToken},
		{name: "empty header", header: http.Header{"Authorization": {""}}, want: apiauth.ErrNoToken},
		{name: "non-Bearer scheme", header: http.Header{"Authorization": {"Basic YWxpY2U6c2VjcmV0"}}, want: apiauth.ErrNoToken},
		{name: "Bearer without token", header: http.Header{"Authorization": {"Bearer "}}, want: apiauth.ErrNoToken},
		{name: "header over 16 KiB", header: bearer(strings.Repeat("a", apiauth.MaxHeaderBytes)), want: apiauth.ErrInvalidToken},
		{name: "two Authorization headers", header: http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}}, want: apiauth.ErrInvalidToken},
		{name: "not a JWT", header: bearer("reader-token"), want: apiauth.ErrInvalidToken},
		{name: "valid user token", header: bearer(good), caller: &aliceCaller},
		{name: "scheme in lower case", header: http.Header{"Authorization": {"bearer " + good}}, caller: &aliceCaller},
		{name: "bad signature (other key, same kid)", header: bearer(sign(t, jwt.SigningMethodRS256, goodClaims, kid, rsaKey(t))), want: apiauth.ErrInvalidToken},
		{name: "tampered payload", header: bearer(func() string {
			parts := strings.Split(good, ".")
			c := claimsOf(t, good)
			c["roles"] = []string{apiauth.RoleOperate}
			b, _ := json.Marshal(c)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
		}()), want: apiauth.ErrInvalidToken},
		{name: "unknown kid", header: bearer(sign(t, jwt.SigningMethodRS256, goodClaims, "no-such-kid", rsaKey(t))), want: apiauth.ErrInvalidToken},
		{name: "no kid", header: bearer(mustSign(t, jwt.NewWithClaims(jwt.SigningMethodRS256, goodClaims), rsaKey(t))), want: apiauth.ErrInvalidToken},
		{name: "expired beyond leeway", header: bearer(p.token(t, idpsim.TokenRequest{ObjectID: aliceOID, IssuedAt: now.Add(-62 * time.Minute), Lifetime: time.Hour})), want: apiauth.ErrInvalidToken},
		{name: "expired within leeway", header: bearer(p.token(t, idpsim.TokenRequest{ObjectID: aliceOID, Name: "alice@contoso.com", AppID: clientAppID, IssuedAt: now.Add(-60*time.Minute - 30*time.Second), Lifetime: time.Hour})),
			caller: &apiauth.Caller{ObjectID: aliceOID, TenantID: tenantID, Name: "alice@contoso.com", AppID: clientAppID, Scopes: []string{"user_impersonation"}}},
		{name: "no exp", header: bearer(p.token(t, with(user, map[string]any{"exp": nil}))), want: apiauth.ErrInvalidToken},
		{name: "nbf in the future beyond leeway", header: bearer(p.token(t, with(user, map[string]any{"nbf": now.Add(5 * time.Minute).Unix()}))), want: apiauth.ErrInvalidToken},
		{name: "iat in the future beyond leeway", header: bearer(p.token(t, with(user, map[string]any{"iat": now.Add(5 * time.Minute).Unix()}))), want: apiauth.ErrInvalidToken},
		{name: "nbf in the future within leeway", header: bearer(p.token(t, with(user, map[string]any{"nbf": now.Add(30 * time.Second).Unix()}))), caller: &aliceCaller},
		{name: "wrong audience", header: bearer(p.token(t, idpsim.TokenRequest{Audience: "00000003-0000-0000-c000-000000000000"})), want: apiauth.ErrInvalidToken},
		{name: "App ID URI audience", header: bearer(p.token(t, idpsim.TokenRequest{Audience: apiURI, ObjectID: aliceOID, Name: "alice@contoso.com", AppID: clientAppID, Roles: []string{apiauth.RoleRead}})), caller: &aliceCaller},
		{name: "audience array with ours", header: bearer(p.token(t, with(user, map[string]any{"aud": []string{"other", apiClientID}}))), caller: &aliceCaller},
		{name: "wrong issuer (public cloud, not ours)", header: bearer(p.token(t, with(user, map[string]any{"iss": "https://login.microsoftonline.com/" + tenantID + "/v2.0"}))), want: apiauth.ErrInvalidToken},
		{name: "issuer of another tenant", header: bearer(p.token(t, with(user, map[string]any{"iss": p.url + "/" + otherTenant + "/v2.0"}))), want: apiauth.ErrInvalidToken},
		{name: "wrong tenant (tid of another, iss ours)", header: bearer(p.token(t, with(user, map[string]any{"tid": otherTenant}))), want: apiauth.ErrInvalidToken},
		{name: "tid in upper case", header: bearer(p.token(t, with(user, map[string]any{"tid": strings.ToUpper(tenantID)}))), caller: &aliceCaller},
		{name: "missing oid", header: bearer(p.token(t, with(user, map[string]any{"oid": nil}))), want: apiauth.ErrInvalidToken},
		{name: "oid not a GUID", header: bearer(p.token(t, with(user, map[string]any{"oid": "alice"}))), want: apiauth.ErrInvalidToken},
		{name: "no client application (an ID token)", header: bearer(p.token(t, with(user, map[string]any{"azp": nil}))), want: apiauth.ErrInvalidToken},
		{name: "roles not an array", header: bearer(p.token(t, with(user, map[string]any{"roles": apiauth.RoleOperate}))), want: apiauth.ErrInvalidToken},
		{name: "alg none", header: bearer(unsigned(t, kid, goodClaims)), want: apiauth.ErrInvalidToken},
		{name: "HS256 with the PEM public key", header: bearer(sign(t, jwt.SigningMethodHS256, goodClaims, kid, pemKey)), want: apiauth.ErrInvalidToken},
		{name: "HS256 with the DER (PKIX) public key", header: bearer(sign(t, jwt.SigningMethodHS256, goodClaims, kid, der)), want: apiauth.ErrInvalidToken},
		{name: "HS256 with the DER (PKCS #1) public key", header: bearer(sign(t, jwt.SigningMethodHS256, goodClaims, kid, pkcs1)), want: apiauth.ErrInvalidToken},
		{name: "RS512 under the issuer's kid", header: bearer(sign(t, jwt.SigningMethodRS512, goodClaims, kid, rsaKey(t))), want: apiauth.ErrInvalidToken},
		{name: "v1 token", header: bearer(p.token(t, idpsim.TokenRequest{Version: "1.0", Audience: apiURI, ObjectID: aliceOID, Name: "alice@contoso.com", AppID: clientAppID, Roles: []string{apiauth.RoleOperate}})),
			caller: &apiauth.Caller{ObjectID: aliceOID, TenantID: tenantID, Name: "alice@contoso.com", AppID: clientAppID, Roles: []string{apiauth.RoleOperate}, Scopes: []string{"user_impersonation"}}},
		{name: "v1 issuer of another tenant", header: bearer(p.token(t, idpsim.TokenRequest{Version: "1.0", ObjectID: aliceOID, Extra: map[string]any{"iss": "https://sts.windows.net/" + otherTenant + "/"}})), want: apiauth.ErrInvalidToken},
		{name: "v1 unique_name only", header: bearer(p.token(t, idpsim.TokenRequest{Version: "1.0", ObjectID: aliceOID, Name: "alice@contoso.com", AppID: clientAppID, Extra: map[string]any{"upn": nil}})),
			caller: &apiauth.Caller{ObjectID: aliceOID, TenantID: tenantID, Name: "alice@contoso.com", AppID: clientAppID, Scopes: []string{"user_impersonation"}}},
		{name: "app-only token", header: bearer(p.token(t, idpsim.TokenRequest{App: true, ObjectID: robotOID, AppID: clientAppID, Roles: []string{apiauth.RoleRead, apiauth.RoleOperate}})),
			caller: &apiauth.Caller{ObjectID: robotOID, TenantID: tenantID, AppID: clientAppID, App: true, Roles: []string{apiauth.RoleRead, apiauth.RoleOperate}}},
		{name: "user token with several roles", header: bearer(p.token(t, idpsim.TokenRequest{ObjectID: aliceOID, Name: "alice@contoso.com", AppID: clientAppID, Roles: []string{apiauth.RoleRead, apiauth.RoleOperate, apiauth.RoleApprove}})),
			caller: &apiauth.Caller{ObjectID: aliceOID, TenantID: tenantID, Name: "alice@contoso.com", AppID: clientAppID, Roles: []string{apiauth.RoleRead, apiauth.RoleOperate, apiauth.RoleApprove}, Scopes: []string{"user_impersonation"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/journal", nil)
			r.Header = tt.header
			got, err := v.Authenticate(context.Background(), r)
			t.Logf("err: %v", err)
			if tt.caller == nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err %v, want %v", err, tt.want)
				}
				for _, other := range []error{apiauth.ErrNoToken, apiauth.ErrInvalidToken, apiauth.ErrUnavailable} {
					if other != tt.want && errors.Is(err, other) {
						t.Errorf("err %v is also %v", err, other)
					}
				}
				if !reflectZero(got) {
					t.Errorf("caller %v returned with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			want := *tt.caller
			if got.ObjectID != want.ObjectID || got.TenantID != want.TenantID || got.Name != want.Name || got.AppID != want.AppID ||
				got.App != want.App || !slices.Equal(got.Roles, want.Roles) || !slices.Equal(got.Scopes, want.Scopes) {
				t.Errorf("caller\n got %+v\nwant %+v", fields(got), fields(want))
			}
			tok := strings.TrimSpace(tt.header.Get("Authorization")[len("Bearer"):])
			if got.Token() != tok {
				t.Error("Token() is not the presented token")
			}
		})
	}
}

func mustSign(t *testing.T, tok *jwt.Token, key any) string {
	t.Helper()
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func reflectZero(c apiauth.Caller) bool {
	return c.ObjectID == "" && c.TenantID == "" && c.Name == "" && c.AppID == "" && c.Roles == nil && !c.App && c.Scopes == nil && c.Token() == ""
}

// fields prints a Caller's fields for a failure message (its String hides
// them behind the actor).
func fields(c apiauth.Caller) string {
	return fmt.Sprintf("oid=%s tid=%s name=%q appid=%s app=%v roles=%v scopes=%v", c.ObjectID, c.TenantID, c.Name, c.AppID, c.App, c.Roles, c.Scopes)
}

// TestVerifyEmpty: Verify with nothing is ErrNoToken, a giant token
// ErrInvalidToken.
func TestVerifyEmpty(t *testing.T) {
	p := startIDP(t)
	v := newVerifier(t, p.url)
	if _, err := v.Verify(context.Background(), ""); !errors.Is(err, apiauth.ErrNoToken) {
		t.Errorf("empty: %v", err)
	}
	if _, err := v.Verify(context.Background(), strings.Repeat("x", apiauth.MaxHeaderBytes+1)); !errors.Is(err, apiauth.ErrInvalidToken) {
		t.Errorf("giant: %v", err)
	}
	if p.metaHits.Load() != 0 {
		t.Errorf("%d metadata fetches for tokens that needed none", p.metaHits.Load())
	}
}

// TestUnknownKIDsDoNotHammerTheJWKS: a flood of tokens with unknown kids
// costs at most one refresh, and each fails fast rather than waiting for the
// rate limiter.
func TestUnknownKIDsDoNotHammerTheJWKS(t *testing.T) {
	p := startIDP(t)
	v := newVerifier(t, p.url)
	good := p.token(t, idpsim.TokenRequest{ObjectID: aliceOID})
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	claims := claimsOf(t, good)
	key := rsaKey(t)
	start := time.Now()
	for i := range 20 {
		kid := make([]byte, 20)
		_, _ = rand.Read(kid)
		tok := sign(t, jwt.SigningMethodRS256, claims, base64.RawURLEncoding.EncodeToString(kid), key)
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, apiauth.ErrInvalidToken) {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	if n := p.iss.JWKSFetches(); n > 2 {
		t.Errorf("%d JWKS fetches for 20 unknown kids, want at most 2 (the first load and one refresh)", n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("20 unknown kids took %v; they should fail fast", d)
	}
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Errorf("the good token after the flood: %v", err)
	}
}

// TestKeyRotation: a token signed with a new key is refused while the
// refresh rate limiter holds, then accepted once it allows a refresh; tokens
// of the old key keep working.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	p := startIDP(t)
	// Longer than the 1 s a request waits for the limiter, by enough to
	// rotate the key and try the new one while the limiter still refuses.
	const every = 2500 * time.Millisecond
	v := newVerifier(t, p.url, func(c *apiauth.Config) { c.RefreshUnknownKIDEvery = every })
	old := p.token(t, idpsim.TokenRequest{ObjectID: aliceOID})
	if _, err := v.Verify(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	// Spend the limiter's one token on an unknown kid.
	if _, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodRS256, claimsOf(t, old), "unknown", rsaKey(t))); !errors.Is(err, apiauth.ErrInvalidToken) {
		t.Fatalf("unknown kid: %v", err)
	}
	spent := time.Now()
	if n := p.iss.JWKSFetches(); n != 2 {
		t.Fatalf("%d JWKS fetches after the load and one unknown kid, want 2", n)
	}
	if err := p.iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	rotated := p.token(t, idpsim.TokenRequest{ObjectID: aliceOID})
	if _, err := v.Verify(context.Background(), rotated); !errors.Is(err, apiauth.ErrInvalidToken) {
		t.Fatalf("new kid while the limiter holds: %v, want ErrInvalidToken", err)
	}
	if n := p.iss.JWKSFetches(); n != 2 {
		t.Fatalf("%d JWKS fetches while the limiter holds, want 2", n)
	}
	// Within a second of the limiter's next token, a request waits for it.
	time.Sleep(time.Until(spent.Add(every - 700*time.Millisecond)))
	c, err := v.Verify(context.Background(), rotated)
	if err != nil {
		t.Fatalf("new kid once the limiter allows: %v", err)
	}
	if c.ObjectID != aliceOID {
		t.Errorf("caller %v", fields(c))
	}
	if n := p.iss.JWKSFetches(); n != 3 {
		t.Errorf("%d JWKS fetches, want 3", n)
	}
	if _, err := v.Verify(context.Background(), old); err != nil {
		t.Errorf("old key after rotation: %v", err)
	}
}

// clock is an adjustable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestUnavailable: metadata or keys that cannot be fetched make
// ErrUnavailable; the next attempt waits 10 s, and then recovers.
func TestUnavailable(t *testing.T) {
	for _, down := range []string{"openid-configuration", "keys"} {
		t.Run(down, func(t *testing.T) {
			p := startIDP(t)
			clk := &clock{t: time.Now()}
			v := newVerifier(t, p.url, func(c *apiauth.Config) { c.Now = clk.Now })
			tok := p.token(t, idpsim.TokenRequest{ObjectID: aliceOID, IssuedAt: clk.Now()})
			p.down.Store(down)
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, apiauth.ErrUnavailable) || errors.Is(err, apiauth.ErrInvalidToken) {
				t.Fatalf("while down: %v, want ErrUnavailable", err)
			}
			if n := p.metaHits.Load(); n != 1 {
				t.Fatalf("%d metadata fetches, want 1", n)
			}
			p.down.Store("")
			clk.Add(5 * time.Second)
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, apiauth.ErrUnavailable) {
				t.Fatalf("5 s later: %v, want ErrUnavailable without trying", err)
			}
			if n := p.metaHits.Load(); n != 1 {
				t.Fatalf("%d metadata fetches within 10 s, want 1", n)
			}
			clk.Add(5 * time.Second)
			c, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("10 s later, the server back: %v", err)
			}
			if c.ObjectID != aliceOID {
				t.Errorf("caller %v", fields(c))
			}
			if n := p.metaHits.Load(); n != 2 {
				t.Errorf("%d metadata fetches, want 2", n)
			}
			// Loaded once; an outage now does not matter to cached keys.
			p.down.Store("openid-configuration")
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Errorf("with cached keys: %v", err)
			}
		})
	}
}

// TestUnavailableMetadata: metadata that cannot be trusted is an outage of
// validation, not a verdict on the token.
func TestUnavailableMetadata(t *testing.T) {
	iss, err := idpsim.New(tenantID)
	if err != nil {
		t.Fatal(err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	metadataServer := func(issuerFor func(base string) string, jwks string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			base := "http://" + r.Host
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuerFor(base), "jwks_uri": jwks})
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	ours := func(base string) string { return base + "/" + tenantID + "/v2.0" }
	tests := map[string]string{
		"connection refused":      closed.URL,
		"issuer of another host":  metadataServer(func(string) string { return "https://login.microsoftonline.com/" + tenantID + "/v2.0" }, "http://127.0.0.1:1/keys"),
		"jwks_uri http elsewhere": metadataServer(ours, "http://keys.example.com/keys"),
		"jwks_uri relative":       metadataServer(ours, "/keys"),
		"keys unreachable":        metadataServer(ours, closed.URL+"/keys"),
	}
	for name, authority := range tests {
		t.Run(name, func(t *testing.T) {
			v := newVerifier(t, authority)
			tok, err := iss.Token(idpsim.TokenRequest{BaseURL: authority, Audience: apiClientID})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, apiauth.ErrUnavailable) || errors.Is(err, apiauth.ErrInvalidToken) {
				t.Fatalf("%v, want ErrUnavailable", err)
			}
		})
	}
}

// TestConcurrentFirstUse: many first requests at once load the metadata
// once.
func TestConcurrentFirstUse(t *testing.T) {
	p := startIDP(t)
	v := newVerifier(t, p.url)
	tok := p.token(t, idpsim.TokenRequest{ObjectID: aliceOID})
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), tok)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := p.metaHits.Load(); n != 1 {
		t.Errorf("%d metadata fetches, want 1", n)
	}
	if n := p.iss.JWKSFetches(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1", n)
	}
}

// TestClose: a closed verifier refuses to judge.
func TestClose(t *testing.T) {
	p := startIDP(t)
	v := newVerifier(t, p.url)
	tok := p.token(t, idpsim.TokenRequest{ObjectID: aliceOID})
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	v.Close()
	v.Close()
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, apiauth.ErrUnavailable) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestConfig: New refuses what would make validation meaningless or
// insecure, and does not touch the network.
func TestConfig(t *testing.T) {
	ok := apiauth.Config{TenantID: tenantID, Audiences: []string{apiClientID}}
	tests := []struct {
		name   string
		modify func(*apiauth.Config)
		err    string // "" accepted
	}{
		{"defaults", func(*apiauth.Config) {}, ""},
		{"upper-case tenant", func(c *apiauth.Config) { c.TenantID = strings.ToUpper(tenantID) }, ""},
		{"loopback http authority", func(c *apiauth.Config) { c.Authority = "http://127.0.0.1:8080/" }, ""},
		{"localhost http authority", func(c *apiauth.Config) { c.Authority = "http://localhost:8080" }, ""},
		{"https authority", func(c *apiauth.Config) { c.Authority = "https://login.microsoftonline.us" }, ""},
		{"no tenant", func(c *apiauth.Config) { c.TenantID = "" }, "tenant id"},
		{"tenant domain", func(c *apiauth.Config) { c.TenantID = "contoso.onmicrosoft.com" }, "tenant id"},
		{"tenant common", func(c *apiauth.Config) { c.TenantID = "common" }, "tenant id"},
		{"tenant without dashes", func(c *apiauth.Config) { c.TenantID = strings.ReplaceAll(tenantID, "-", "") }, "tenant id"},
		{"no audiences", func(c *apiauth.Config) { c.Audiences = nil }, "audience"},
		{"empty audience", func(c *apiauth.Config) { c.Audiences = []string{apiClientID, " "} }, "audience"},
		{"http authority off loopback", func(c *apiauth.Config) { c.Authority = "http://login.microsoftonline.com" }, "loopback"},
		{"ftp authority", func(c *apiauth.Config) { c.Authority = "ftp://127.0.0.1" }, "scheme"},
		{"authority with query", func(c *apiauth.Config) { c.Authority = "https://login.microsoftonline.com?x=1" }, "authority"},
		{"authority without host", func(c *apiauth.Config) { c.Authority = "login.microsoftonline.com" }, "authority"},
		{"negative leeway", func(c *apiauth.Config) { c.Leeway = -time.Second }, "leeway"},
		{"leeway over 5 minutes", func(c *apiauth.Config) { c.Leeway = 6 * time.Minute }, "leeway"},
		{"negative refresh interval", func(c *apiauth.Config) { c.RefreshUnknownKIDEvery = -time.Second }, "refresh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			cfg.Audiences = slices.Clone(ok.Audiences)
			cfg.HTTPClient = &http.Client{Transport: failTransport{t}}
			tt.modify(&cfg)
			v, err := apiauth.New(cfg)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				v.Close()
				return
			}
			if err == nil {
				v.Close()
				t.Fatalf("accepted, want an error about %s", tt.err)
			}
			if !strings.Contains(err.Error(), tt.err) {
				t.Errorf("err %q does not mention %q", err, tt.err)
			}
		})
	}
}

type failTransport struct{ t *testing.T }

func (f failTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.t.Errorf("New made a request to %s", r.URL)
	return nil, errors.New("no network")
}

// TestNeverLogsTheToken: neither the verifier's own logs, nor a logged or
// printed Caller, show the token.
func TestNeverLogsTheToken(t *testing.T) {
	p := startIDP(t)
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	v := newVerifier(t, p.url, func(c *apiauth.Config) { c.Logger = logger })

	wrongAud := p.token(t, idpsim.TokenRequest{Audience: "api://someone-else", ObjectID: aliceOID})
	expired := p.token(t, idpsim.TokenRequest{ObjectID: aliceOID, IssuedAt: time.Now().Add(-2 * time.Hour)})
	good := p.token(t, idpsim.TokenRequest{ObjectID: aliceOID, Name: "alice@contoso.com", Roles: []string{apiauth.RoleRead}})
	for _, tok := range []string{wrongAud, expired} {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, apiauth.ErrInvalidToken) {
			t.Fatalf("%v", err)
		} else if strings.Contains(err.Error(), tok) {
			t.Error("the error text holds the token")
		}
	}
	p.down.Store("openid-configuration")
	v2 := newVerifier(t, p.url, func(c *apiauth.Config) { c.Logger = logger })
	if _, err := v2.Verify(context.Background(), good); !errors.Is(err, apiauth.ErrUnavailable) {
		t.Fatalf("%v", err)
	}
	p.down.Store("")
	c, err := v.Verify(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("request", "caller", c)
	printed := fmt.Sprintf("%v %+v %#v %s", c, c, c, c)

	out := buf.String()
	if !strings.Contains(out, "token rejected") || !strings.Contains(out, "loading the tenant's signing keys failed") {
		t.Errorf("expected rejection and outage lines in the log:\n%s", out)
	}
	if !strings.Contains(out, aliceOID) || !strings.Contains(printed, aliceOID) {
		t.Errorf("the caller's oid is missing:\n%s\n%s", out, printed)
	}
	for _, tok := range []string{wrongAud, expired, good} {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(out, sig) || strings.Contains(printed, sig) {
			t.Errorf("a token's signature appears in the output:\n%s\n%s", out, printed)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCaller: the journal's actor names people by name and apps by app id,
// both with the object id.
func TestCaller(t *testing.T) {
	tests := []struct {
		c     apiauth.Caller
		actor string
	}{
		{apiauth.Caller{ObjectID: aliceOID, Name: "alice@contoso.com"}, "alice@contoso.com (oid " + aliceOID + ")"},
		{apiauth.Caller{ObjectID: robotOID, AppID: clientAppID, App: true}, "app " + clientAppID + " (oid " + robotOID + ")"},
		{apiauth.Caller{ObjectID: aliceOID}, "user (oid " + aliceOID + ")"},
	}
	for _, tt := range tests {
		if got := tt.c.Actor(); got != tt.actor {
			t.Errorf("Actor() = %q, want %q", got, tt.actor)
		}
	}
	c := apiauth.Caller{Roles: []string{apiauth.RoleRead}}
	if !c.HasRole(apiauth.RoleRead) || c.HasRole(apiauth.RoleOperate) || c.HasRole("") || c.HasRole("recovery.read") {
		t.Error("HasRole")
	}
}
