package backup_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/reinstate/reinstate/pkg/backup"
	"github.com/reinstate/reinstate/pkg/idpsim"
)

const (
	oboTenant   = "7d3c5b2a-1e4f-4a6b-9c8d-0e1f2a3b4c5d"
	oboClientID = "c0ffee00-1234-4abc-8def-0123456789ab" // Reinstate's API app registration
	oboAppIDURI = "api://reinstate"
	oboSecret   = "reinstate-local-secret"
	aliceOID    = "a11ce000-0000-4000-8000-000000000001"
	spaClientID = "5ba00000-0000-4000-8000-00000000000d" // the approver's client app
	miOID       = "3a9e0000-0000-4000-8000-00000000000b" // user-assigned managed identity, principal id
	miClientID  = "3a9e0000-0000-4000-8000-00000000000c"
	graphScope  = "https://graph.microsoft.com/.default"
)

// consented is what an administrator consented to for Reinstate on Graph:
// the delegated permissions job creation needs (reference §1.8).
var consented = []string{"EntraBackup.Read.All", "EntraBackup.ReadWrite.Preview", "EntraBackup.ReadWrite.Recovery"}

// authority is idpsim behind TLS, as azidentity requires, recording every
// request that reaches it or that tries to leave for another host.
type authority struct {
	iss *idpsim.Issuer
	srv *httptest.Server
	tr  *guardTransport
}

type guardTransport struct {
	client *http.Client
	host   string

	mu       sync.Mutex
	requests []string // "METHOD path" at the authority
	escaped  []string // hosts other than the authority
}

// Do is policy.Transporter: the authority's requests go through the test
// server's TLS client; any other host is answered 400 and recorded, so that
// a test sees MSAL reaching for instance discovery at once, instead of
// after azcore's retries of a transport error or a hang on the network.
func (g *guardTransport) Do(req *http.Request) (*http.Response, error) {
	g.mu.Lock()
	if req.URL.Host != g.host {
		g.escaped = append(g.escaped, req.URL.Host)
		g.mu.Unlock()
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(rec, `{"error":"invalid_request","error_description":"test transport: %s is not the authority"}`, req.URL.Host)
		resp := rec.Result()
		resp.Request = req
		return resp, nil
	}
	g.requests = append(g.requests, req.Method+" "+req.URL.Path)
	g.mu.Unlock()
	return g.client.Do(req)
}

func (g *guardTransport) seen() (requests, escaped []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.requests), slices.Clone(g.escaped)
}

func startAuthority(t *testing.T) *authority {
	t.Helper()
	// An explicit region makes MSAL rewrite the authority; auto-detection
	// would probe IMDS. Neither belongs in these tests.
	t.Setenv("AZURE_REGIONAL_AUTHORITY_NAME", "")
	iss, err := idpsim.New(oboTenant)
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.RegisterApp(idpsim.App{
		ClientID:          oboClientID,
		AppIDURI:          oboAppIDURI,
		Secret:            oboSecret,
		FederatedSubjects: []string{miOID},
		DelegatedScopes:   map[string][]string{idpsim.GraphResource: consented},
		AppRoles:          map[string][]string{idpsim.GraphResource: {"AuditLog.Read.All"}},
	}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(iss.Handler())
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return &authority{iss: iss, srv: srv, tr: &guardTransport{client: srv.Client(), host: u.Host}}
}

// callerToken is a token for Reinstate's API, as apiauth would have
// verified it; change adjusts it.
func (a *authority) callerToken(t *testing.T, change func(*idpsim.TokenRequest)) string {
	t.Helper()
	req := idpsim.TokenRequest{BaseURL: a.srv.URL, Audience: oboClientID, ObjectID: aliceOID, Name: "alice@contoso.example", AppID: spaClientID}
	if change != nil {
		change(&req)
	}
	tok, err := a.iss.Token(req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// miToken is what IMDS hands the managed identity for
// api://AzureADTokenExchange: app-only, sub and oid its principal id.
func (a *authority) miToken(t *testing.T, principal string) string {
	t.Helper()
	tok, err := a.iss.Token(idpsim.TokenRequest{BaseURL: a.srv.URL, Audience: idpsim.TokenExchangeAudience, ObjectID: principal, AppID: miClientID, App: true, Extra: map[string]any{"sub": principal}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (a *authority) config() backup.OnBehalfOfConfig {
	return backup.OnBehalfOfConfig{TenantID: oboTenant, ClientID: oboClientID, AuthorityHost: a.srv.URL, Transport: a.tr}
}

// imds fakes the Azure Instance Metadata Service's token endpoint for a
// user-assigned managed identity, answering with token and recording the
// resource asked for. MSAL caches managed identity tokens process-wide, by
// client id and resource, so every test needs its own clientID.
type imds struct {
	clientID string
	token    func() string
	resource atomic.Value
	calls    atomic.Int64
}

func (m *imds) Do(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	q := req.URL.Query()
	switch {
	case req.URL.Host != "169.254.169.254" || req.URL.Path != "/metadata/identity/oauth2/token":
		rec.WriteHeader(http.StatusNotFound)
	case req.Header.Get("Metadata") != "true" || q.Get("client_id") != m.clientID:
		rec.WriteHeader(http.StatusBadRequest)
	default:
		m.calls.Add(1)
		m.resource.Store(q.Get("resource"))
		rec.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rec).Encode(map[string]any{
			"access_token": m.token(), "expires_in": "3599", "expires_on": fmt.Sprint(time.Now().Add(time.Hour).Unix()),
			"resource": q.Get("resource"), "token_type": "Bearer", "client_id": m.clientID,
		})
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

func managedIdentity(t *testing.T, m *imds) *azidentity.ManagedIdentityCredential {
	t.Helper()
	// No managed identity environment but IMDS: the credential must go to
	// the fake, not to App Service or Arc endpoints.
	for _, v := range []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"} {
		t.Setenv(v, "")
	}
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: azcore.ClientOptions{Transport: m},
		ID:            azidentity.ClientID(m.clientID),
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// verifyGraphToken checks tok's signature with the issuer's public key and
// returns its claims.
func verifyGraphToken(t *testing.T, a *authority, tok string) jwt.MapClaims {
	t.Helper()
	var c jwt.MapClaims
	_, err := jwt.ParseWithClaims(tok, &c, func(tk *jwt.Token) (any, error) {
		if tk.Header["kid"] != a.iss.KeyID() {
			return nil, errors.New("unknown kid")
		}
		return a.iss.PublicKey(), nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(a.iss.Issuer(a.srv.URL)), jwt.WithAudience(idpsim.GraphResource), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("Graph token does not verify: %v", err)
	}
	return c
}

// getGraphToken asks cred for a Graph token the way graphapi's kiota
// provider does: .default, with CAE on.
func getGraphToken(cred azcore.TokenCredential) (azcore.AccessToken, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{graphScope}, EnableCAE: true})
}

// TestOnBehalfOfExchange: through azidentity and MSAL, against idpsim, the
// exchange yields a Graph token, signed by the issuer, for the caller (oid,
// name, tenant) with exactly the consented delegated permissions and
// Reinstate as the client, whichever client authentication is configured;
// MSAL reads only the tenant metadata and the token endpoint, reaches for
// no other host, and serves a second request from its cache.
func TestOnBehalfOfExchange(t *testing.T) {
	cases := []struct {
		name    string
		auth    func(t *testing.T, a *authority, cfg *backup.OnBehalfOfConfig) (check func(t *testing.T))
		wantACR string
	}{
		{name: "client secret", wantACR: "1", auth: func(t *testing.T, a *authority, cfg *backup.OnBehalfOfConfig) func(*testing.T) {
			cfg.ClientSecret = oboSecret
			return nil
		}},
		{name: "client assertion func", wantACR: "2", auth: func(t *testing.T, a *authority, cfg *backup.OnBehalfOfConfig) func(*testing.T) {
			var calls atomic.Int64
			assertion := a.miToken(t, miOID)
			cfg.ClientAssertion = func(context.Context) (string, error) {
				calls.Add(1)
				return assertion, nil
			}
			return func(t *testing.T) {
				if calls.Load() != 1 {
					t.Errorf("assertion func called %d times, want 1", calls.Load())
				}
			}
		}},
		{name: "managed identity as federated credential", wantACR: "2", auth: func(t *testing.T, a *authority, cfg *backup.OnBehalfOfConfig) func(*testing.T) {
			m := &imds{clientID: uuid.NewString(), token: func() string { return a.miToken(t, miOID) }}
			cfg.ClientAssertion = backup.ManagedIdentityAssertion(managedIdentity(t, m))
			return func(t *testing.T) {
				if m.calls.Load() != 1 || m.resource.Load() != "api://AzureADTokenExchange" {
					t.Errorf("IMDS calls %d, resource %v; want 1 for api://AzureADTokenExchange", m.calls.Load(), m.resource.Load())
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := startAuthority(t)
			cfg := a.config()
			check := tc.auth(t, a, &cfg)
			obo, err := backup.NewOnBehalfOf(cfg)
			if err != nil {
				t.Fatal(err)
			}
			cred, err := obo.Credential(a.callerToken(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			tok, err := getGraphToken(cred)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Until(tok.ExpiresOn); d < 55*time.Minute || d > time.Hour {
				t.Errorf("ExpiresOn in %v", d)
			}
			c := verifyGraphToken(t, a, tok.Token)
			for k, want := range map[string]any{"oid": aliceOID, "tid": oboTenant, "preferred_username": "alice@contoso.example", "azp": oboClientID, "azpacr": tc.wantACR} {
				if c[k] != want {
					t.Errorf("%s = %v, want %v", k, c[k], want)
				}
			}
			scp, _ := c["scp"].(string)
			if got := slices.Sorted(slices.Values(strings.Fields(scp))); !slices.Equal(got, consented) {
				t.Errorf("scp %q, want %v", scp, consented)
			}
			if c["roles"] != nil {
				t.Errorf("roles %v: application permissions leaked into a delegated token", c["roles"])
			}

			// MSAL caches the exchanged token under the caller's token.
			again, err := getGraphToken(cred)
			if err != nil || again.Token != tok.Token {
				t.Errorf("second GetToken: %v, same token %v", err, again.Token == tok.Token)
			}
			requests, escaped := a.tr.seen()
			want := []string{
				"GET /" + oboTenant + "/v2.0/.well-known/openid-configuration",
				"POST /" + oboTenant + "/oauth2/v2.0/token",
			}
			if !slices.Equal(requests, want) || len(escaped) > 0 {
				t.Errorf("requests %q (other hosts %q), want %q", requests, escaped, want)
			}
			if check != nil {
				check(t)
			}
		})
	}
}

// TestOnBehalfOfRefused: Entra's refusals come back as errors that name the
// AADSTS code and never repeat the caller's token, the secret or the client
// assertion; no token is returned.
func TestOnBehalfOfRefused(t *testing.T) {
	a := startAuthority(t)
	otherIssuer, err := idpsim.New(oboTenant) // same tenant, keys idpsim never published
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := otherIssuer.Token(idpsim.TokenRequest{BaseURL: a.srv.URL, Audience: oboClientID, ObjectID: aliceOID})
	if err != nil {
		t.Fatal(err)
	}
	untrustedMI := a.miToken(t, uuid.NewString())
	cases := []struct {
		name      string
		caller    string
		secret    string
		assertion func(context.Context) (string, error)
		want      string // in the error text
	}{
		{name: "bad client secret", caller: a.callerToken(t, nil), secret: "not-the-secret", want: "AADSTS7000215"},
		{name: "app-only caller token", caller: a.callerToken(t, func(r *idpsim.TokenRequest) { r.App = true }), secret: oboSecret, want: "AADSTS7000114"},
		{name: "expired caller token", caller: a.callerToken(t, func(r *idpsim.TokenRequest) { r.IssuedAt = time.Now().Add(-90 * time.Minute) }), secret: oboSecret, want: "AADSTS500133"},
		{name: "caller token from another issuer", caller: foreign, secret: oboSecret, want: "AADSTS50013"},
		{name: "caller token for Graph, not Reinstate", caller: a.callerToken(t, func(r *idpsim.TokenRequest) { r.Audience = idpsim.GraphResource }), secret: oboSecret, want: "AADSTS500131"},
		{name: "managed identity not trusted by the app", caller: a.callerToken(t, nil), assertion: func(context.Context) (string, error) { return untrustedMI, nil }, want: "AADSTS70021"},
		{name: "client assertion unavailable", caller: a.callerToken(t, nil), assertion: func(context.Context) (string, error) { return "", errors.New("imds unreachable") }, want: "imds unreachable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := a.config()
			cfg.ClientSecret, cfg.ClientAssertion = tc.secret, tc.assertion
			obo, err := backup.NewOnBehalfOf(cfg)
			if err != nil {
				t.Fatal(err)
			}
			cred, err := obo.Credential(tc.caller)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := getGraphToken(cred)
			if err == nil || tok.Token != "" {
				t.Fatalf("got a token (%d bytes), err %v", len(tok.Token), err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error does not mention %s: %s", tc.want, msg)
			}
			for _, secret := range []string{tc.caller, oboSecret, tc.secret, untrustedMI} {
				if secret != "" && strings.Contains(msg, secret) {
					t.Errorf("error text repeats a credential: %s", msg)
				}
			}
			var afe *azidentity.AuthenticationFailedError
			if strings.HasPrefix(tc.want, "AADSTS") && !errors.As(err, &afe) {
				t.Errorf("error %T is not an AuthenticationFailedError", err)
			}
		})
	}
}

// TestNewOnBehalfOfConfig: exactly one client authentication, GUIDs, an
// https authority, and a secret only on loopback.
func TestNewOnBehalfOfConfig(t *testing.T) {
	assertion := func(context.Context) (string, error) { return "x", nil }
	good := backup.OnBehalfOfConfig{TenantID: oboTenant, ClientID: oboClientID, ClientAssertion: assertion}
	cases := []struct {
		name   string
		change func(*backup.OnBehalfOfConfig)
		want   string // error text; "" means accepted
	}{
		{"assertion, public cloud", nil, ""},
		{"assertion, sovereign cloud", func(c *backup.OnBehalfOfConfig) { c.AuthorityHost = "https://login.microsoftonline.us/" }, ""},
		{"secret on loopback", func(c *backup.OnBehalfOfConfig) {
			c.ClientAssertion, c.ClientSecret, c.AuthorityHost = nil, "s", "https://127.0.0.1:8443"
		}, ""},
		{"secret on localhost", func(c *backup.OnBehalfOfConfig) {
			c.ClientAssertion, c.ClientSecret, c.AuthorityHost = nil, "s", "https://localhost:8443"
		}, ""},
		{"secret in the public cloud", func(c *backup.OnBehalfOfConfig) { c.ClientAssertion, c.ClientSecret = nil, "s" }, "only with a loopback authority"},
		{"both authentications", func(c *backup.OnBehalfOfConfig) { c.ClientSecret = "s" }, "not both"},
		{"no authentication", func(c *backup.OnBehalfOfConfig) { c.ClientAssertion = nil }, "client authentication is required"},
		{"tenant by name", func(c *backup.OnBehalfOfConfig) { c.TenantID = "contoso.onmicrosoft.com" }, "tenant id"},
		{"client id not a GUID", func(c *backup.OnBehalfOfConfig) { c.ClientID = "reinstate" }, "client id"},
		{"http authority", func(c *backup.OnBehalfOfConfig) { c.AuthorityHost = "http://127.0.0.1:8080" }, "must be https"},
		{"authority with a path", func(c *backup.OnBehalfOfConfig) { c.AuthorityHost = "https://login.microsoftonline.com/" + oboTenant }, "bare https URL"},
		{"authority with credentials", func(c *backup.OnBehalfOfConfig) { c.AuthorityHost = "https://u:p@127.0.0.1" }, "bare https URL"},
		{"authority that does not parse", func(c *backup.OnBehalfOfConfig) { c.AuthorityHost = "https://u:p@127.0.0.1:port" }, "authority host"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			if tc.change != nil {
				tc.change(&cfg)
			}
			obo, err := backup.NewOnBehalfOf(cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "" && obo == nil:
				t.Fatal("nil OnBehalfOf")
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), ":p@"):
				t.Fatalf("error repeats the authority's password: %v", err)
			}
		})
	}
}

// TestCredentialRefusesNonJWT: what cannot be an access token is refused
// before any request, and the refusal does not repeat it.
func TestCredentialRefusesNonJWT(t *testing.T) {
	a := startAuthority(t)
	cfg := a.config()
	cfg.ClientSecret = oboSecret
	obo, err := backup.NewOnBehalfOf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "opaque-reference-token", "a.b", "a.b.c.d", "a.b c.d", strings.Repeat("x", 8<<10) + "." + strings.Repeat("y", 9<<10) + ".z"} {
		cred, err := obo.Credential(bad)
		if err == nil || cred != nil {
			t.Errorf("Credential(%.20q) accepted", bad)
			continue
		}
		if len(bad) > 3 && strings.Contains(err.Error(), bad) {
			t.Errorf("error repeats the token: %v", err)
		}
	}
	if requests, escaped := a.tr.seen(); len(requests)+len(escaped) > 0 {
		t.Errorf("requests made: %q %q", requests, escaped)
	}
}

// TestAzidentityRequiresHTTPS pins the finding NewOnBehalfOf's https rule
// rests on: azidentity itself refuses an http authority, even on loopback,
// so local mode must serve idpsim over TLS. If a later azidentity accepts
// http, this fails and the rule can be revisited.
func TestAzidentityRequiresHTTPS(t *testing.T) {
	_, err := azidentity.NewOnBehalfOfCredentialWithSecret(oboTenant, oboClientID, "a.b.c", oboSecret, &azidentity.OnBehalfOfCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: "http://127.0.0.1:1/"}},
		DisableInstanceDiscovery: true,
	})
	if err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("azidentity accepted an http authority (err %v)", err)
	}
}

// TestManagedIdentityAssertion: the assertion is the managed identity's
// token for api://AzureADTokenExchange, and a failure to get one is an
// error, not an empty assertion.
func TestManagedIdentityAssertion(t *testing.T) {
	m := &imds{clientID: uuid.NewString(), token: func() string { return "mi.token.value" }}
	got, err := backup.ManagedIdentityAssertion(managedIdentity(t, m))(context.Background())
	if err != nil || got != "mi.token.value" {
		t.Fatalf("assertion %q, %v", got, err)
	}
	if m.resource.Load() != "api://AzureADTokenExchange" {
		t.Errorf("resource %v", m.resource.Load())
	}
	if _, err := backup.ManagedIdentityAssertion(nil)(context.Background()); err == nil {
		t.Error("nil credential gave an assertion")
	}
	// IMDS answers 400 for an identity not assigned to the resource.
	failingIMDS := policyFunc(func(req *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		rec.WriteHeader(http.StatusBadRequest)
		_, _ = rec.WriteString(`{"error":"invalid_request","error_description":"Identity not found"}`)
		resp := rec.Result()
		resp.Request = req
		return resp, nil
	})
	failing, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: azcore.ClientOptions{Transport: failingIMDS},
		ID:            azidentity.ClientID(uuid.NewString()),
	})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := backup.ManagedIdentityAssertion(failing)(context.Background()); err == nil || tok != "" {
		t.Errorf("failing IMDS gave %q, %v", tok, err)
	}
}

type policyFunc func(*http.Request) (*http.Response, error)

func (f policyFunc) Do(req *http.Request) (*http.Response, error) { return f(req) }
