package idpsim_test

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/reinstate/reinstate/pkg/idpsim"
)

const tenantID = "7d3c5b2a-1e4f-4a6b-9c8d-0e1f2a3b4c5d"

func newIssuer(t *testing.T) *idpsim.Issuer {
	t.Helper()
	iss, err := idpsim.New(tenantID)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func get(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %v: %s", url, err, body)
		}
	}
	return resp.StatusCode
}

type jwks struct {
	Keys []map[string]any `json:"keys"`
}

// publicKeys decodes the JWKS into RSA keys by kid.
func publicKeys(t *testing.T, set jwks) map[string]*rsa.PublicKey {
	t.Helper()
	out := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		n, err := base64.RawURLEncoding.DecodeString(k["n"].(string))
		if err != nil {
			t.Fatal(err)
		}
		e, err := base64.RawURLEncoding.DecodeString(k["e"].(string))
		if err != nil {
			t.Fatal(err)
		}
		out[k["kid"].(string)] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return out
}

func TestNew(t *testing.T) {
	for _, bad := range []string{"", "contoso.onmicrosoft.com", "common", strings.ReplaceAll(tenantID, "-", "")} {
		if _, err := idpsim.New(bad); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	iss, err := idpsim.New(strings.ToUpper(tenantID))
	if err != nil {
		t.Fatal(err)
	}
	if iss.TenantID() != tenantID {
		t.Errorf("TenantID %q", iss.TenantID())
	}
}

// TestDocuments: the metadata and keys are where Entra serves them, shaped
// like Entra's, naming the server they were fetched from.
func TestDocuments(t *testing.T) {
	iss := newIssuer(t)
	srv := httptest.NewServer(iss.Handler())
	defer srv.Close()
	var md map[string]any
	if s := get(t, srv.URL+"/"+tenantID+"/v2.0/.well-known/openid-configuration", &md); s != 200 {
		t.Fatalf("metadata status %d", s)
	}
	tb := srv.URL + "/" + tenantID
	for k, want := range map[string]string{
		"issuer":                 tb + "/v2.0",
		"jwks_uri":               tb + "/discovery/v2.0/keys",
		"token_endpoint":         tb + "/oauth2/v2.0/token",
		"authorization_endpoint": tb + "/oauth2/v2.0/authorize",
	} {
		if md[k] != want {
			t.Errorf("%s = %v, want %s", k, md[k], want)
		}
	}
	if iss.Issuer(srv.URL) != tb+"/v2.0" || iss.Authority(srv.URL+"/") != srv.URL {
		t.Errorf("Issuer %q Authority %q", iss.Issuer(srv.URL), iss.Authority(srv.URL+"/"))
	}
	if iss.JWKSFetches() != 0 {
		t.Errorf("JWKSFetches %d before any", iss.JWKSFetches())
	}
	var set jwks
	if s := get(t, md["jwks_uri"].(string), &set); s != 200 {
		t.Fatalf("keys status %d", s)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("%d keys", len(set.Keys))
	}
	k := set.Keys[0]
	if k["kty"] != "RSA" || k["use"] != "sig" || k["kid"] != iss.KeyID() || k["e"] != "AQAB" || k["x5c"] != nil {
		t.Errorf("key %v", k)
	}
	if pub := publicKeys(t, set)[iss.KeyID()]; pub == nil || !pub.Equal(iss.PublicKey()) || pub.N.BitLen() != 2048 {
		t.Errorf("the published key is not the signing key")
	}
	if iss.JWKSFetches() != 1 {
		t.Errorf("JWKSFetches %d, want 1", iss.JWKSFetches())
	}

	// The tenant segment is case-insensitive; other tenants and paths are not
	// served, and the token endpoint takes no GET.
	if s := get(t, srv.URL+"/"+strings.ToUpper(tenantID)+"/discovery/v2.0/keys", nil); s != 200 {
		t.Errorf("upper-case tenant: %d", s)
	}
	for path, want := range map[string]int{
		"/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/v2.0/.well-known/openid-configuration": 400,
		"/" + tenantID + "/oauth2/v2.0/token":                                         405, // POST only (token.go)
		"/" + tenantID + "/.well-known/openid-configuration":                          404,
		"/": 404,
	} {
		if s := get(t, srv.URL+path, nil); s != want {
			t.Errorf("GET %s: %d, want %d", path, s, want)
		}
	}
	resp, err := http.Post(srv.URL+"/"+tenantID+"/discovery/v2.0/keys", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST keys: %d", resp.StatusCode)
	}

	iss.SetBaseURL("https://idp.example/")
	md = nil
	get(t, srv.URL+"/"+tenantID+"/v2.0/.well-known/openid-configuration", &md)
	if md["issuer"] != "https://idp.example/"+tenantID+"/v2.0" {
		t.Errorf("issuer after SetBaseURL: %v", md["issuer"])
	}
}

// TestToken: the claims of v2.0 and v1.0, user and app tokens, and the
// overrides.
func TestToken(t *testing.T) {
	iss := newIssuer(t)
	const base = "http://127.0.0.1:1"
	at := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name   string
		req    idpsim.TokenRequest
		want   map[string]any // claim: value (nil: absent)
		header map[string]any
	}{
		{
			name: "v2 user",
			req:  idpsim.TokenRequest{BaseURL: base, Audience: "api://reinstate", Roles: []string{"Recovery.Read"}, ObjectID: "a11ce000-0000-4000-8000-000000000001", Name: "alice@contoso.com", AppID: "c11e0000-0000-4000-8000-000000000003", IssuedAt: at, Lifetime: 30 * time.Minute},
			want: map[string]any{
				"iss": base + "/" + tenantID + "/v2.0", "aud": "api://reinstate", "tid": tenantID, "ver": "2.0",
				"oid": "a11ce000-0000-4000-8000-000000000001", "azp": "c11e0000-0000-4000-8000-000000000003", "appid": nil,
				"preferred_username": "alice@contoso.com", "upn": nil, "scp": "user_impersonation", "roles": []any{"Recovery.Read"},
				"iat": float64(at.Unix()), "nbf": float64(at.Unix()), "exp": float64(at.Add(30 * time.Minute).Unix()),
			},
			header: map[string]any{"alg": "RS256", "typ": "JWT", "kid": iss.KeyID(), "x5t": nil},
		},
		{
			name: "v2 app",
			req:  idpsim.TokenRequest{BaseURL: base, Audience: "api://reinstate", App: true, Name: "ignored"},
			want: map[string]any{"scp": nil, "preferred_username": nil, "roles": nil, "azp": idpsim.DefaultAppID, "ver": "2.0"},
		},
		{
			name: "v1 user",
			req:  idpsim.TokenRequest{Version: "1.0", Audience: "api://reinstate", Name: "alice@contoso.com", AppID: "c11e0000-0000-4000-8000-000000000003"},
			want: map[string]any{
				"iss": "https://sts.windows.net/" + tenantID + "/", "ver": "1.0", "appid": "c11e0000-0000-4000-8000-000000000003", "azp": nil,
				"upn": "alice@contoso.com", "unique_name": "alice@contoso.com", "preferred_username": nil, "scp": "user_impersonation",
			},
			header: map[string]any{"kid": iss.KeyID(), "x5t": iss.KeyID()},
		},
		{
			name: "extra overrides and removes",
			req:  idpsim.TokenRequest{BaseURL: base, Audience: "x", Extra: map[string]any{"tid": "other", "oid": nil, "idtyp": "app"}},
			want: map[string]any{"tid": "other", "oid": nil, "idtyp": "app"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := iss.Token(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			claims := jwt.MapClaims{}
			tok, err := jwt.NewParser(jwt.WithoutClaimsValidation()).ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return iss.PublicKey(), nil })
			if err != nil {
				t.Fatalf("signature: %v", err)
			}
			for k, want := range tt.want {
				got, ok := claims[k]
				if want == nil {
					if ok {
						t.Errorf("%s = %v, want absent", k, got)
					}
					continue
				}
				gj, _ := json.Marshal(got)
				wj, _ := json.Marshal(want)
				if string(gj) != string(wj) {
					t.Errorf("%s = %s, want %s", k, gj, wj)
				}
			}
			for k, want := range tt.header {
				got, ok := tok.Header[k]
				if (want == nil && ok) || (want != nil && got != want) {
					t.Errorf("header %s = %v, want %v", k, got, want)
				}
			}
		})
	}
	for name, req := range map[string]idpsim.TokenRequest{
		"no audience":       {BaseURL: base},
		"v2 without base":   {Audience: "x"},
		"unknown version":   {BaseURL: base, Audience: "x", Version: "3.0"},
		"negative lifetime": {BaseURL: base, Audience: "x", Lifetime: -time.Second},
	} {
		if _, err := iss.Token(req); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRotateKey: the new key signs, and both stay published.
func TestRotateKey(t *testing.T) {
	iss := newIssuer(t)
	srv := httptest.NewServer(iss.Handler())
	defer srv.Close()
	oldKID := iss.KeyID()
	if err := iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	if iss.KeyID() == oldKID {
		t.Fatal("the kid did not change")
	}
	raw, err := iss.Token(idpsim.TokenRequest{BaseURL: srv.URL, Audience: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var set jwks
	get(t, srv.URL+"/"+tenantID+"/discovery/v2.0/keys", &set)
	keys := publicKeys(t, set)
	if len(keys) != 2 || keys[oldKID] == nil || keys[iss.KeyID()] == nil {
		t.Fatalf("published kids %v", keys)
	}
	if _, err := jwt.Parse(raw, func(tok *jwt.Token) (any, error) { return keys[tok.Header["kid"].(string)], nil }); err != nil {
		t.Errorf("token under the new kid: %v", err)
	}
}

// TestMount: POST /_sim/token mints tokens for the issuer at the request's
// host; other paths reach the next handler.
func TestMount(t *testing.T) {
	iss := newIssuer(t)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	srv := httptest.NewServer(iss.Mount(next))
	defer srv.Close()

	post := func(body string) (int, idpsim.SimTokenResponse) {
		t.Helper()
		resp, err := http.Post(srv.URL+idpsim.TokenPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out idpsim.SimTokenResponse
		if resp.StatusCode == 200 {
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, out
	}
	status, out := post(`{"audience":"api://reinstate","roles":["Recovery.Operate"],"name":"oncall@contoso.com","objectId":"a11ce000-0000-4000-8000-000000000001","lifetimeSeconds":600}`)
	if status != 200 || out.TokenType != "Bearer" || out.ExpiresIn != 600 {
		t.Fatalf("%d %+v", status, out)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(out.AccessToken, claims, func(*jwt.Token) (any, error) { return iss.PublicKey(), nil }); err != nil {
		t.Fatal(err)
	}
	if claims["iss"] != iss.Issuer(srv.URL) || claims["preferred_username"] != "oncall@contoso.com" || claims["oid"] != "a11ce000-0000-4000-8000-000000000001" || claims["scp"] == nil {
		t.Errorf("claims %v", claims)
	}
	if exp, _ := claims.GetExpirationTime(); exp == nil || time.Until(exp.Time) > 601*time.Second {
		t.Errorf("exp %v", exp)
	}
	if status, out := post(`{"audience":"api://reinstate","app":true}`); status != 200 || out.ExpiresIn != 3600 {
		t.Errorf("app token: %d %+v", status, out)
	}
	for name, body := range map[string]string{
		"no audience":       `{}`,
		"unknown field":     `{"audience":"x","tenant":"y"}`,
		"not JSON":          `audience=x`,
		"bad object id":     `{"audience":"x","objectId":"alice"}`,
		"lifetime too long": `{"audience":"x","lifetimeSeconds":86401}`,
		"negative lifetime": `{"audience":"x","lifetimeSeconds":-1}`,
	} {
		if status, _ := post(body); status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, status)
		}
	}
	if s := get(t, srv.URL+idpsim.TokenPath, nil); s != http.StatusMethodNotAllowed {
		t.Errorf("GET token: %d", s)
	}
	if s := get(t, srv.URL+"/"+tenantID+"/discovery/v2.0/keys", nil); s != 200 {
		t.Errorf("keys through Mount: %d", s)
	}
	for _, path := range []string{"/v1.0/users", "/_sim/state", "/" + tenantID} {
		if s := get(t, srv.URL+path, nil); s != http.StatusTeapot {
			t.Errorf("%s: %d, want the next handler's 418", path, s)
		}
	}
}
