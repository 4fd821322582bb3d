package idpsim_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/reinstate/reinstate/pkg/idpsim"
)

const (
	apiClientID   = "c0ffee00-1234-4abc-8def-0123456789ab"
	apiURI        = "api://reinstate"
	apiSecret     = "reinstate-secret-value"
	otherClientID = "0be70000-0000-4000-8000-00000000000a"
	otherSecret   = "other-secret-value"
	aliceOID      = "a11ce000-0000-4000-8000-000000000001"
	miOID         = "3a9e0000-0000-4000-8000-00000000000b" // managed identity principal id
	miClientID    = "3a9e0000-0000-4000-8000-00000000000c"
	spaClientID   = "5ba00000-0000-4000-8000-00000000000d" // the approver's client app
)

var graphDelegated = []string{"EntraBackup.Read.All", "EntraBackup.ReadWrite.Preview", "EntraBackup.ReadWrite.Recovery"}

// tokenFixture is idpsim with Reinstate's app and another app registered,
// served over plain http: the endpoint itself does not care about TLS.
type tokenFixture struct {
	iss      *idpsim.Issuer
	srv      *httptest.Server
	endpoint string // from the metadata's token_endpoint
}

func newTokenFixture(t *testing.T) *tokenFixture {
	t.Helper()
	iss := newIssuer(t)
	for _, app := range []idpsim.App{{
		ClientID:          apiClientID,
		AppIDURI:          apiURI,
		Secret:            apiSecret,
		FederatedSubjects: []string{miOID},
		DelegatedScopes:   map[string][]string{idpsim.GraphResource: graphDelegated},
		AppRoles:          map[string][]string{idpsim.GraphResource: {"AuditLog.Read.All", "Directory.Read.All"}},
	}, {
		ClientID: otherClientID,
		Secret:   otherSecret,
		AppRoles: map[string][]string{apiURI: {"Recovery.Read"}},
	}} {
		if err := iss.RegisterApp(app); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(iss.Handler())
	t.Cleanup(srv.Close)
	var md map[string]any
	if s := get(t, srv.URL+"/"+tenantID+"/v2.0/.well-known/openid-configuration", &md); s != 200 {
		t.Fatalf("metadata status %d", s)
	}
	return &tokenFixture{iss: iss, srv: srv, endpoint: md["token_endpoint"].(string)}
}

// userToken is alice's token for Reinstate's API, as the approver's client
// app would get it; change adjusts the request.
func (f *tokenFixture) userToken(t *testing.T, change func(*idpsim.TokenRequest)) string {
	t.Helper()
	req := idpsim.TokenRequest{BaseURL: f.srv.URL, Audience: apiClientID, ObjectID: aliceOID, Name: "alice@contoso.example", AppID: spaClientID}
	if change != nil {
		change(&req)
	}
	tok, err := f.iss.Token(req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// miToken is the managed identity's token for api://AzureADTokenExchange,
// as IMDS would hand it out: app-only, sub and oid the principal id.
func (f *tokenFixture) miToken(t *testing.T, change func(*idpsim.TokenRequest)) string {
	t.Helper()
	req := idpsim.TokenRequest{BaseURL: f.srv.URL, Audience: idpsim.TokenExchangeAudience, ObjectID: miOID, AppID: miClientID, App: true, Extra: map[string]any{"sub": miOID}}
	if change != nil {
		change(&req)
	}
	tok, err := f.iss.Token(req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *tokenFixture) oboForm(t *testing.T) url.Values {
	return url.Values{
		"grant_type":          {idpsim.GrantTypeJWTBearer},
		"requested_token_use": {"on_behalf_of"},
		"client_id":           {apiClientID},
		"client_secret":       {apiSecret},
		"assertion":           {f.userToken(t, nil)},
		// What MSAL sends: the resource's .default and the OIDC scopes.
		"scope":       {"https://graph.microsoft.com/.default openid offline_access profile"},
		"client_info": {"1"},
	}
}

// post sends form to the token endpoint and returns the status, the raw
// body and the response headers.
func (f *tokenFixture) post(t *testing.T, form url.Values, header http.Header) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body, resp.Header
}

// parseIssued verifies tok's signature with the issuer's public key and
// returns its claims.
func parseIssued(t *testing.T, iss *idpsim.Issuer, tok string) jwt.MapClaims {
	t.Helper()
	var c jwt.MapClaims
	parsed, err := jwt.ParseWithClaims(tok, &c, func(tk *jwt.Token) (any, error) {
		if tk.Header["kid"] != iss.KeyID() {
			return nil, fmt.Errorf("kid %v", tk.Header["kid"])
		}
		return iss.PublicKey(), nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired())
	if err != nil || !parsed.Valid {
		t.Fatalf("issued token does not verify: %v", err)
	}
	return c
}

func scpSet(c jwt.MapClaims) []string {
	s, _ := c["scp"].(string)
	f := strings.Fields(s)
	slices.Sort(f)
	return f
}

// TestOnBehalfOfGrant: an on-behalf-of request, however the middle tier
// authenticates and however the user's token names it, yields a token for
// the resource that carries the user, the consented delegated permissions
// and the middle tier as azp, signed by the issuer.
func TestOnBehalfOfGrant(t *testing.T) {
	f := newTokenFixture(t)
	sortedGraph := slices.Sorted(slices.Values(graphDelegated))
	cases := []struct {
		name       string
		change     func(form url.Values, h http.Header)
		wantACR    string
		wantScp    []string
		wantScope  string // "" means every consented one and .default
		wantClient bool   // client_info expected
	}{
		{name: "secret in body", wantACR: "1", wantScp: sortedGraph, wantClient: true},
		{name: "secret in HTTP Basic", change: func(form url.Values, h http.Header) {
			form.Del("client_secret")
			form.Del("client_id")
			h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(apiClientID)+":"+url.QueryEscape(apiSecret))))
		}, wantACR: "1", wantScp: sortedGraph, wantClient: true},
		{name: "managed identity as federated credential", change: func(form url.Values, h http.Header) {
			form.Del("client_secret")
			form.Set("client_assertion_type", idpsim.ClientAssertionTypeJWTBearer)
			form.Set("client_assertion", f.miToken(t, nil))
		}, wantACR: "2", wantScp: sortedGraph, wantClient: true},
		{name: "assertion names the App ID URI", change: func(form url.Values, h http.Header) {
			form.Set("assertion", f.userToken(t, func(r *idpsim.TokenRequest) { r.Audience = apiURI }))
		}, wantACR: "1", wantScp: sortedGraph, wantClient: true},
		{name: "v1.0 assertion", change: func(form url.Values, h http.Header) {
			form.Set("assertion", f.userToken(t, func(r *idpsim.TokenRequest) { r.Version = "1.0" }))
		}, wantACR: "1", wantScp: sortedGraph, wantClient: true},
		{name: "one named permission", change: func(form url.Values, h http.Header) {
			form.Set("scope", "https://graph.microsoft.com/entrabackup.read.all offline_access")
			form.Del("client_info")
		}, wantACR: "1", wantScp: []string{"EntraBackup.Read.All"}, wantScope: "https://graph.microsoft.com/EntraBackup.Read.All"},
		{name: "bare permissions are Graph's", change: func(form url.Values, h http.Header) {
			form.Set("scope", "EntraBackup.ReadWrite.Preview EntraBackup.Read.All")
		}, wantACR: "1", wantScp: []string{"EntraBackup.Read.All", "EntraBackup.ReadWrite.Preview"}, wantScope: "https://graph.microsoft.com/EntraBackup.ReadWrite.Preview https://graph.microsoft.com/EntraBackup.Read.All", wantClient: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form, h := f.oboForm(t), http.Header{}
			if tc.change != nil {
				tc.change(form, h)
			}
			status, body, hdr := f.post(t, form, h)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			if hdr.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", hdr.Get("Cache-Control"))
			}
			var resp idpsim.TokenResponse
			if err := json.Unmarshal(body, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.TokenType != "Bearer" || resp.ExpiresIn != 3600 || resp.ExtExpiresIn != 3600 {
				t.Errorf("response %+v", resp)
			}
			wantScope := tc.wantScope
			if wantScope == "" {
				for _, s := range graphDelegated {
					wantScope += "https://graph.microsoft.com/" + s + " "
				}
				wantScope += "https://graph.microsoft.com/.default"
			}
			if resp.Scope != wantScope {
				t.Errorf("scope %q, want %q", resp.Scope, wantScope)
			}
			if tc.wantClient {
				raw, err := base64.RawURLEncoding.DecodeString(resp.ClientInfo)
				if err != nil || string(raw) != `{"uid":"`+aliceOID+`","utid":"`+tenantID+`"}` {
					t.Errorf("client_info %q (%s, %v)", resp.ClientInfo, raw, err)
				}
			} else if resp.ClientInfo != "" {
				t.Errorf("client_info %q unasked", resp.ClientInfo)
			}
			c := parseIssued(t, f.iss, resp.AccessToken)
			for k, want := range map[string]any{
				"aud":                idpsim.GraphResource,
				"iss":                f.iss.Issuer(f.srv.URL),
				"oid":                aliceOID,
				"tid":                tenantID,
				"preferred_username": "alice@contoso.example",
				"azp":                apiClientID,
				"azpacr":             tc.wantACR,
				"ver":                "2.0",
			} {
				if c[k] != want {
					t.Errorf("%s = %v, want %v", k, c[k], want)
				}
			}
			if got := scpSet(c); !slices.Equal(got, tc.wantScp) {
				t.Errorf("scp %v, want %v", got, tc.wantScp)
			}
			if c["roles"] != nil {
				t.Errorf("roles %v in a delegated token", c["roles"])
			}
			exp, _ := c.GetExpirationTime()
			if d := time.Until(exp.Time); d < 59*time.Minute || d > time.Hour {
				t.Errorf("expires in %v", d)
			}
		})
	}
}

// TestTokenEndpointErrors: every refusal has Entra's error shape, the error
// and AADSTS code for its cause, and never repeats a credential.
func TestTokenEndpointErrors(t *testing.T) {
	f := newTokenFixture(t)
	other, err := idpsim.New("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := idpsim.New(tenantID) // same tenant, keys the endpoint never published
	if err != nil {
		t.Fatal(err)
	}
	mint := func(iss *idpsim.Issuer, req idpsim.TokenRequest) string {
		tok, err := iss.Token(req)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	withMI := func(tok string) func(url.Values, http.Header) {
		return func(form url.Values, _ http.Header) {
			form.Del("client_secret")
			form.Set("client_assertion_type", idpsim.ClientAssertionTypeJWTBearer)
			form.Set("client_assertion", tok)
		}
	}
	set := func(k, v string) func(url.Values, http.Header) {
		return func(form url.Values, _ http.Header) { form.Set(k, v) }
	}
	del := func(k string) func(url.Values, http.Header) {
		return func(form url.Values, _ http.Header) { form.Del(k) }
	}
	cases := []struct {
		name   string
		change func(url.Values, http.Header)
		status int
		error  string
		code   int
	}{
		{"no grant_type", del("grant_type"), 400, "invalid_request", 900144},
		{"unsupported grant", set("grant_type", "password"), 400, "unsupported_grant_type", 70003},
		{"no client_id", del("client_id"), 400, "invalid_request", 900144},
		{"unknown client", set("client_id", uuid.NewString()), 400, "unauthorized_client", 700016},
		{"wrong secret", set("client_secret", "not-the-secret"), 401, "invalid_client", 7000215},
		{"other app's secret", set("client_secret", otherSecret), 401, "invalid_client", 7000215},
		{"no client credential", del("client_secret"), 401, "invalid_client", 7000218},
		{"secret and assertion", set("client_assertion", "x.y.z"), 400, "invalid_request", 90023},
		{"Basic and body secret", func(form url.Values, h http.Header) {
			h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(apiClientID+":"+apiSecret)))
		}, 400, "invalid_request", 90023},
		{"wrong client_assertion_type", func(form url.Values, h http.Header) {
			withMI(f.miToken(t, nil))(form, h)
			form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
		}, 400, "invalid_request", 90100},
		{"managed identity not trusted", withMI(f.miToken(t, func(r *idpsim.TokenRequest) {
			r.ObjectID = uuid.NewString()
			r.Extra = map[string]any{"sub": r.ObjectID}
		})), 400, "invalid_request", 70021},
		{"managed identity token for another audience", withMI(f.miToken(t, func(r *idpsim.TokenRequest) { r.Audience = idpsim.GraphResource })), 400, "invalid_request", 70021},
		{"delegated token as client assertion", withMI(f.miToken(t, func(r *idpsim.TokenRequest) { r.App = false })), 401, "invalid_client", 700229},
		{"expired client assertion", withMI(f.miToken(t, func(r *idpsim.TokenRequest) { r.IssuedAt = time.Now().Add(-2 * time.Hour) })), 401, "invalid_client", 700024},
		{"client assertion not signed by the issuer", withMI(mint(otherKey, idpsim.TokenRequest{BaseURL: f.srv.URL, Audience: idpsim.TokenExchangeAudience, ObjectID: miOID, App: true, Extra: map[string]any{"sub": miOID}})), 401, "invalid_client", 700027},
		{"client assertion from another issuer", withMI(mint(other, idpsim.TokenRequest{BaseURL: "https://elsewhere.example", Audience: idpsim.TokenExchangeAudience, ObjectID: miOID, App: true, Extra: map[string]any{"sub": miOID}})), 400, "invalid_request", 70021},
		{"no requested_token_use", del("requested_token_use"), 400, "invalid_request", 900144},
		{"wrong requested_token_use", set("requested_token_use", "logon_cert"), 400, "invalid_request", 90100},
		{"no assertion", del("assertion"), 400, "invalid_request", 900144},
		{"assertion not a JWT", set("assertion", "not-a-jwt"), 400, "invalid_request", 50027},
		{"expired assertion", set("assertion", f.userToken(t, func(r *idpsim.TokenRequest) { r.IssuedAt = time.Now().Add(-2 * time.Hour) })), 400, "invalid_grant", 500133},
		{"assertion not yet valid", set("assertion", f.userToken(t, func(r *idpsim.TokenRequest) { r.IssuedAt = time.Now().Add(time.Hour) })), 400, "invalid_grant", 500133},
		{"assertion from another tenant's issuer", set("assertion", mint(other, idpsim.TokenRequest{BaseURL: f.srv.URL, Audience: apiClientID, ObjectID: aliceOID})), 400, "invalid_grant", 50013},
		{"assertion signed with unpublished key", set("assertion", mint(otherKey, idpsim.TokenRequest{BaseURL: f.srv.URL, Audience: apiClientID, ObjectID: aliceOID})), 400, "invalid_grant", 50013},
		{"assertion naming another issuer", set("assertion", f.userToken(t, func(r *idpsim.TokenRequest) {
			r.Extra = map[string]any{"iss": "https://login.microsoftonline.com/" + tenantID + "/v2.0"}
		})), 400, "invalid_grant", 50013},
		{"assertion for another tenant", set("assertion", f.userToken(t, func(r *idpsim.TokenRequest) {
			r.Extra = map[string]any{"tid": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}
		})), 400, "invalid_grant", 50013},
		{"assertion for Graph", set("assertion", f.userToken(t, func(r *idpsim.TokenRequest) { r.Audience = idpsim.GraphResource })), 400, "invalid_grant", 500131},
		{"assertion for another app", set("assertion", f.userToken(t, func(r *idpsim.TokenRequest) { r.Audience = otherClientID })), 400, "invalid_grant", 500131},
		{"app-only assertion", set("assertion", f.userToken(t, func(r *idpsim.TokenRequest) { r.App = true })), 400, "invalid_grant", 7000114},
		{"assertion without oid", set("assertion", f.userToken(t, func(r *idpsim.TokenRequest) { r.Extra = map[string]any{"oid": nil} })), 400, "invalid_grant", 90016},
		{"no scope", del("scope"), 400, "invalid_request", 900144},
		{"only OIDC scopes", set("scope", "openid profile"), 400, "invalid_scope", 70011},
		{"two resources", set("scope", "https://graph.microsoft.com/.default api://reinstate/.default"), 400, "invalid_scope", 700022},
		{".default with a named scope", set("scope", "https://graph.microsoft.com/.default https://graph.microsoft.com/User.Read"), 400, "invalid_scope", 70011},
		{"unknown resource", set("scope", "https://vault.azure.net/.default"), 400, "invalid_resource", 500011},
		{"permission not consented", set("scope", "https://graph.microsoft.com/Directory.ReadWrite.All"), 400, "invalid_grant", 65001},
		{"resource without delegated consent", set("scope", "api://reinstate/.default"), 400, "invalid_grant", 65001},
		{"client credentials without .default", func(form url.Values, _ http.Header) {
			form.Set("grant_type", idpsim.GrantTypeClientCredentials)
			form.Set("scope", "https://graph.microsoft.com/AuditLog.Read.All")
		}, 400, "invalid_scope", 1002012},
		{"client credentials with a wrong secret", func(form url.Values, _ http.Header) {
			form.Set("grant_type", idpsim.GrantTypeClientCredentials)
			form.Set("client_secret", "nope")
		}, 401, "invalid_client", 7000215},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form, h := f.oboForm(t), http.Header{}
			tc.change(form, h)
			status, body, hdr := f.post(t, form, h)
			checkTokenError(t, status, body, tc.status, tc.error, tc.code)
			if hdr.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", hdr.Get("Cache-Control"))
			}
			for _, secret := range []string{form.Get("assertion"), form.Get("client_assertion"), form.Get("client_secret"), apiSecret} {
				if len(secret) > 8 && strings.Contains(string(body), secret) {
					t.Errorf("error body repeats a credential: %s", body)
				}
			}
		})
	}
}

func checkTokenError(t *testing.T, status int, body []byte, wantStatus int, wantError string, wantCode int) idpsim.TokenErrorResponse {
	t.Helper()
	var e idpsim.TokenErrorResponse
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("status %d, body %s: %v", status, body, err)
	}
	if status != wantStatus || e.Error != wantError || !slices.Equal(e.ErrorCodes, []int{wantCode}) {
		t.Fatalf("got %d %s %v, want %d %s [%d]: %s", status, e.Error, e.ErrorCodes, wantStatus, wantError, wantCode, e.ErrorDescription)
	}
	if !strings.HasPrefix(e.ErrorDescription, fmt.Sprintf("AADSTS%d: ", wantCode)) ||
		!strings.Contains(e.ErrorDescription, "\r\nTrace ID: "+e.TraceID) ||
		!strings.Contains(e.ErrorDescription, "\r\nCorrelation ID: "+e.CorrelationID) ||
		!strings.HasSuffix(e.ErrorDescription, "\r\nTimestamp: "+e.Timestamp) {
		t.Errorf("error_description %q", e.ErrorDescription)
	}
	if _, err := time.Parse("2006-01-02 15:04:05Z", e.Timestamp); err != nil {
		t.Errorf("timestamp %q: %v", e.Timestamp, err)
	}
	for _, id := range []string{e.TraceID, e.CorrelationID} {
		if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
			t.Errorf("id %q is not a GUID", id)
		}
	}
	if e.ErrorURI != fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", wantCode) {
		t.Errorf("error_uri %q", e.ErrorURI)
	}
	return e
}

// TestTokenEndpointRequestShape: only a form-encoded POST is a token
// request, and the correlation id a client sends comes back.
func TestTokenEndpointRequestShape(t *testing.T) {
	f := newTokenFixture(t)
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(f.endpoint + "?" + f.oboForm(t).Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		checkTokenError(t, resp.StatusCode, body, http.StatusMethodNotAllowed, "invalid_request", 900561)
		if resp.Header.Get("Allow") != http.MethodPost {
			t.Errorf("Allow %q", resp.Header.Get("Allow"))
		}
	})
	t.Run("JSON body", func(t *testing.T) {
		b, _ := json.Marshal(map[string]string{"grant_type": idpsim.GrantTypeClientCredentials, "client_id": apiClientID, "client_secret": apiSecret, "scope": "https://graph.microsoft.com/.default"})
		resp, err := http.Post(f.endpoint, "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		checkTokenError(t, resp.StatusCode, body, http.StatusBadRequest, "invalid_request", 900144)
	})
	t.Run("parameters in the query string", func(t *testing.T) {
		form := f.oboForm(t)
		req, _ := http.NewRequest(http.MethodPost, f.endpoint+"?"+url.Values{"client_secret": {apiSecret}}.Encode(), strings.NewReader(url.Values{
			"grant_type": {idpsim.GrantTypeClientCredentials}, "client_id": {apiClientID}, "scope": {form.Get("scope")},
		}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		checkTokenError(t, resp.StatusCode, body, http.StatusUnauthorized, "invalid_client", 7000218)
	})
	t.Run("oversized body", func(t *testing.T) {
		form := f.oboForm(t)
		form.Set("assertion", strings.Repeat("a", 70<<10))
		status, body, _ := f.post(t, form, nil)
		checkTokenError(t, status, body, http.StatusBadRequest, "invalid_request", 90004)
	})
	t.Run("correlation id", func(t *testing.T) {
		corr := uuid.NewString()
		form := f.oboForm(t)
		form.Set("client_secret", "wrong")
		status, body, hdr := f.post(t, form, http.Header{"Client-Request-Id": {corr}})
		e := checkTokenError(t, status, body, http.StatusUnauthorized, "invalid_client", 7000215)
		if e.CorrelationID != corr {
			t.Errorf("correlation_id %q, want %q", e.CorrelationID, corr)
		}
		if hdr.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	})
	t.Run("unknown tenant", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/"+idpsim.TokenEndpointPath, strings.NewReader(f.oboForm(t).Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
}

// TestClientCredentialsGrant: an app-only token carries the application
// permissions consented for the resource in roles, names the service
// principal as oid and sub, and has no scp; a registered API is addressed
// by its client id whatever it was asked for by.
func TestClientCredentialsGrant(t *testing.T) {
	f := newTokenFixture(t)
	cases := []struct {
		name      string
		form      url.Values
		wantAud   string
		wantRoles []string
		wantApp   string
		wantACR   string
	}{
		{"Graph with a secret", url.Values{"client_id": {apiClientID}, "client_secret": {apiSecret}, "scope": {"https://graph.microsoft.com/.default"}},
			idpsim.GraphResource, []string{"AuditLog.Read.All", "Directory.Read.All"}, apiClientID, "1"},
		{"Graph with a managed identity assertion", url.Values{"client_id": {apiClientID}, "client_assertion_type": {idpsim.ClientAssertionTypeJWTBearer}, "client_assertion": {f.miToken(t, nil)}, "scope": {"https://graph.microsoft.com/.default"}},
			idpsim.GraphResource, []string{"AuditLog.Read.All", "Directory.Read.All"}, apiClientID, "2"},
		{"Reinstate's API by App ID URI", url.Values{"client_id": {otherClientID}, "client_secret": {otherSecret}, "scope": {apiURI + "/.default"}},
			apiClientID, []string{"Recovery.Read"}, otherClientID, "1"},
		{"a resource with nothing consented", url.Values{"client_id": {otherClientID}, "client_secret": {otherSecret}, "scope": {"https://graph.microsoft.com/.default"}},
			idpsim.GraphResource, nil, otherClientID, "1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("grant_type", idpsim.GrantTypeClientCredentials)
			status, body, _ := f.post(t, tc.form, nil)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			var resp idpsim.TokenResponse
			if err := json.Unmarshal(body, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.TokenType != "Bearer" || resp.ExpiresIn != 3600 || resp.Scope != "" || resp.ClientInfo != "" {
				t.Errorf("response %+v", resp)
			}
			c := parseIssued(t, f.iss, resp.AccessToken)
			if c["aud"] != tc.wantAud || c["azp"] != tc.wantApp || c["azpacr"] != tc.wantACR || c["iss"] != f.iss.Issuer(f.srv.URL) {
				t.Errorf("aud %v azp %v azpacr %v iss %v", c["aud"], c["azp"], c["azpacr"], c["iss"])
			}
			if _, ok := c["scp"]; ok {
				t.Errorf("scp %v in an app-only token", c["scp"])
			}
			var roles []string
			if rs, ok := c["roles"].([]any); ok {
				for _, r := range rs {
					roles = append(roles, r.(string))
				}
			}
			if !slices.Equal(roles, tc.wantRoles) {
				t.Errorf("roles %v, want %v", roles, tc.wantRoles)
			}
			if oid, _ := c["oid"].(string); oid == "" || c["sub"] != oid || oid == tc.wantApp {
				t.Errorf("oid %v sub %v: want the service principal's id in both", c["oid"], c["sub"])
			}
		})
	}
}

// TestRegisterApp: an app needs a GUID and a credential; registering again
// replaces it, so an old secret stops working.
func TestRegisterApp(t *testing.T) {
	iss := newIssuer(t)
	for _, bad := range []idpsim.App{
		{ClientID: "reinstate", Secret: "x"},
		{ClientID: strings.ReplaceAll(apiClientID, "-", ""), Secret: "x"},
		{ClientID: apiClientID},
	} {
		if err := iss.RegisterApp(bad); err == nil {
			t.Errorf("RegisterApp(%+v) accepted", bad)
		}
	}
	f := newTokenFixture(t)
	form := url.Values{"grant_type": {idpsim.GrantTypeClientCredentials}, "client_id": {apiClientID}, "client_secret": {apiSecret}, "scope": {"https://graph.microsoft.com/.default"}}
	if status, body, _ := f.post(t, form, nil); status != http.StatusOK {
		t.Fatalf("before: %d %s", status, body)
	}
	if err := f.iss.RegisterApp(idpsim.App{ClientID: strings.ToUpper(apiClientID), Secret: "rotated"}); err != nil {
		t.Fatal(err)
	}
	status, body, _ := f.post(t, form, nil)
	checkTokenError(t, status, body, http.StatusUnauthorized, "invalid_client", 7000215)
	form.Set("client_secret", "rotated")
	if status, body, _ := f.post(t, form, nil); status != http.StatusOK {
		t.Fatalf("after: %d %s", status, body)
	}
}

// TestTokenEndpointThroughMount: local mode's single listener serves the
// token endpoint too.
func TestTokenEndpointThroughMount(t *testing.T) {
	iss := newIssuer(t)
	if err := iss.RegisterApp(idpsim.App{ClientID: apiClientID, Secret: apiSecret, AppRoles: map[string][]string{idpsim.GraphResource: {"AuditLog.Read.All"}}}); err != nil {
		t.Fatal(err)
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "graph", http.StatusTeapot) })
	srv := httptest.NewServer(iss.Mount(next))
	defer srv.Close()
	resp, err := http.PostForm(srv.URL+"/"+tenantID+"/"+idpsim.TokenEndpointPath, url.Values{
		"grant_type": {idpsim.GrantTypeClientCredentials}, "client_id": {apiClientID}, "client_secret": {apiSecret}, "scope": {"https://graph.microsoft.com/.default"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr idpsim.TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	if c := parseIssued(t, iss, tr.AccessToken); c["aud"] != idpsim.GraphResource {
		t.Errorf("aud %v", c["aud"])
	}
}

// TestClientCredentialsThroughAzidentity: azidentity's client credentials
// (MSAL underneath) accept idpsim over TLS as their authority, with a secret
// or with a managed identity token as client assertion, and get an app-only
// Graph token carrying the consented application permissions.
func TestClientCredentialsThroughAzidentity(t *testing.T) {
	t.Setenv("AZURE_REGIONAL_AUTHORITY_NAME", "")
	iss := newIssuer(t)
	if err := iss.RegisterApp(idpsim.App{
		ClientID:          apiClientID,
		Secret:            apiSecret,
		FederatedSubjects: []string{miOID},
		AppRoles:          map[string][]string{idpsim.GraphResource: {"AuditLog.Read.All"}},
	}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(iss.Handler())
	defer srv.Close()
	opts := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: srv.URL}, Transport: srv.Client()}
	miTok, err := iss.Token(idpsim.TokenRequest{BaseURL: srv.URL, Audience: idpsim.TokenExchangeAudience, ObjectID: miOID, App: true, Extra: map[string]any{"sub": miOID}})
	if err != nil {
		t.Fatal(err)
	}
	secretCred, err := azidentity.NewClientSecretCredential(tenantID, apiClientID, apiSecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	assertionCred, err := azidentity.NewClientAssertionCredential(tenantID, apiClientID, func(context.Context) (string, error) { return miTok, nil }, &azidentity.ClientAssertionCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		cred    azcore.TokenCredential
		wantACR string
	}{{"secret", secretCred, "1"}, {"managed identity assertion", assertionCred, "2"}} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := tc.cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
			if err != nil {
				t.Fatal(err)
			}
			c := parseIssued(t, iss, tok.Token)
			roles, _ := c["roles"].([]any)
			if c["aud"] != idpsim.GraphResource || c["azp"] != apiClientID || c["azpacr"] != tc.wantACR || len(roles) != 1 || roles[0] != "AuditLog.Read.All" || c["scp"] != nil {
				t.Errorf("claims %v", c)
			}
		})
	}
}
