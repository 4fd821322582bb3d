// Package idpsim is a simulated Microsoft Entra ID token issuer for
// Reinstate's tests and local mode. It is never used against, and never
// stands in for, a real tenant: it signs whatever a test asks it to sign.
//
// An Issuer holds RSA signing keys for one tenant, serves the two documents
// a resource server reads to validate access tokens, shaped like Entra's
// (https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc,
// "Fetch the OpenID configuration document"),
//
//	GET /{tenant}/v2.0/.well-known/openid-configuration
//	GET /{tenant}/discovery/v2.0/keys
//
// and mints v2.0 or v1.0 access tokens with the claims Entra puts in them
// (https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference).
// It implements no sign-in endpoint: the metadata names it, as Entra's
// does, but users' tokens come from Token, or from POST /_sim/token where
// Mount serves it. It does implement the token endpoint,
//
//	POST /{tenant}/oauth2/v2.0/token
//
// for the on-behalf-of and client credentials grants of apps registered with
// RegisterApp (token.go). The base URL of the documents and of the v2.0
// issuer is that of the request (http://host, or https://host over TLS),
// unless SetBaseURL fixes it.
package idpsim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// DefaultAppID is the client application (azp or appid) of tokens that name
// none. It is made up.
const DefaultAppID = "5e1d1a7e-51a0-4c3b-9d1e-000000000001"

// Issuer is one simulated tenant's token issuer. It is safe for concurrent
// use.
type Issuer struct {
	tenant string

	mu      sync.Mutex
	keys    []signingKey // all published; the last one signs
	base    string
	apps    map[string]*App // by lowercase client id
	fetches atomic.Int64
}

type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

// New returns an Issuer for tenantID (a GUID) with one fresh RSA-2048 key.
func New(tenantID string) (*Issuer, error) {
	u, err := uuid.Parse(tenantID)
	if err != nil || len(tenantID) != 36 {
		return nil, fmt.Errorf("idpsim: tenant id %q is not a GUID", tenantID)
	}
	k, err := newKey()
	if err != nil {
		return nil, err
	}
	return &Issuer{tenant: u.String(), keys: []signingKey{k}}, nil
}

// newKey generates a key and a random kid. Entra's kids are 27-character
// base64url certificate thumbprints; 20 random bytes look the same.
func newKey() (signingKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return signingKey{}, fmt.Errorf("idpsim: generating a key: %w", err)
	}
	kid := make([]byte, 20)
	if _, err := rand.Read(kid); err != nil {
		return signingKey{}, fmt.Errorf("idpsim: generating a key id: %w", err)
	}
	return signingKey{kid: base64.RawURLEncoding.EncodeToString(kid), priv: priv}, nil
}

// TenantID is the tenant the issuer signs for, as a lowercase GUID.
func (i *Issuer) TenantID() string { return i.tenant }

// SetBaseURL fixes the base URL (scheme://host) the documents name, for a
// server reached under another name than its Host header says. "" goes back
// to the request's.
func (i *Issuer) SetBaseURL(u string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.base = strings.TrimRight(u, "/")
}

// Authority is the authority a verifier of this issuer's tokens is
// configured with: the base URL itself, as login.microsoftonline.com is for
// Entra.
func (i *Issuer) Authority(baseURL string) string { return strings.TrimRight(baseURL, "/") }

// Issuer is the v2.0 issuer (`iss`) of tokens and metadata served from
// baseURL, or from the base SetBaseURL fixed: one issuer serving on one
// listener (graphsim's) and minting on another (a TLS one, as MSAL wants)
// names the same issuer to both.
func (i *Issuer) Issuer(baseURL string) string {
	i.mu.Lock()
	if i.base != "" {
		baseURL = i.base
	}
	i.mu.Unlock()
	return strings.TrimRight(baseURL, "/") + "/" + i.tenant + "/v2.0"
}

// KeyID is the kid of the current signing key, for tests that forge tokens
// under it.
func (i *Issuer) KeyID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keys[len(i.keys)-1].kid
}

// PublicKey is the current signing key's public half, for tests that forge
// tokens with it (as an HMAC secret, say).
func (i *Issuer) PublicKey() *rsa.PublicKey {
	i.mu.Lock()
	defer i.mu.Unlock()
	return &i.keys[len(i.keys)-1].priv.PublicKey
}

// RotateKey makes a new key, with a new kid, the signing key. The old keys
// stay published, as Entra keeps publishing a key after it stops signing
// with it, so tokens already issued still verify.
func (i *Issuer) RotateKey() error {
	k, err := newKey()
	if err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = append(i.keys, k)
	return nil
}

// JWKSFetches counts the JWKS documents served, so that tests can see how
// often a verifier fetches keys.
func (i *Issuer) JWKSFetches() int { return int(i.fetches.Load()) }

// TokenRequest describes a token to mint. The zero value of each field but
// BaseURL and Audience has a default.
type TokenRequest struct {
	// BaseURL is the authority the v2.0 issuer names
	// (BaseURL/{tenant}/v2.0): the base URL of the server the verifier reads
	// the metadata from. Required for v2.0 tokens; v1.0 tokens name
	// https://sts.windows.net/{tenant}/ whatever the server.
	BaseURL string
	// Audience is `aud`: the API's client id or App ID URI. Required.
	Audience string
	// Roles is `roles`, omitted when empty.
	Roles []string
	// ObjectID is `oid`; default a random GUID.
	ObjectID string
	// Name is the user's sign-in name: preferred_username in v2.0 tokens,
	// upn and unique_name in v1.0 tokens. Ignored for app-only tokens.
	Name string
	// AppID is the client application: azp (v2.0) or appid (v1.0); default
	// DefaultAppID.
	AppID string
	// App makes an app-only token (client credentials): no scp and no name.
	// Otherwise scp is "user_impersonation".
	App bool
	// Version is "2.0" (default) or "1.0".
	Version string
	// Lifetime is exp - iat; default one hour.
	Lifetime time.Duration
	// IssuedAt is iat and nbf; default now.
	IssuedAt time.Time
	// Extra sets claims after all others, overriding them; a nil value
	// removes the claim. Tests forge bad tokens with it (another tid, iss,
	// no oid).
	Extra map[string]any
}

// Token mints an access token for req, signed RS256 with the current key and
// naming it in the kid header.
func (i *Issuer) Token(req TokenRequest) (string, error) {
	claims, err := i.claims(req)
	if err != nil {
		return "", err
	}
	i.mu.Lock()
	k := i.keys[len(i.keys)-1]
	i.mu.Unlock()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = k.kid
	if claims["ver"] == "1.0" {
		// v1.0 tokens also carry x5t, the same value as kid (claims
		// reference, header claims).
		t.Header["x5t"] = k.kid
	}
	s, err := t.SignedString(k.priv)
	if err != nil {
		return "", fmt.Errorf("idpsim: signing: %w", err)
	}
	return s, nil
}

func (i *Issuer) claims(req TokenRequest) (jwt.MapClaims, error) {
	if req.Audience == "" {
		return nil, errors.New("idpsim: token audience is required")
	}
	if req.Version == "" {
		req.Version = "2.0"
	}
	if req.Version != "2.0" && req.Version != "1.0" {
		return nil, fmt.Errorf("idpsim: token version %q is not 1.0 or 2.0", req.Version)
	}
	if req.Version == "2.0" && req.BaseURL == "" {
		return nil, errors.New("idpsim: base URL is required for a v2.0 token")
	}
	if req.Lifetime < 0 {
		return nil, fmt.Errorf("idpsim: negative lifetime %v", req.Lifetime)
	}
	if req.Lifetime == 0 {
		req.Lifetime = time.Hour
	}
	if req.IssuedAt.IsZero() {
		req.IssuedAt = time.Now()
	}
	if req.ObjectID == "" {
		req.ObjectID = uuid.NewString()
	}
	if req.AppID == "" {
		req.AppID = DefaultAppID
	}
	iat := req.IssuedAt.Unix()
	// sub is pairwise: one value per user and application (claims
	// reference); a hash of both gives that.
	sub := sha256.Sum256([]byte(req.ObjectID + "|" + req.Audience))
	uti := make([]byte, 16)
	if _, err := rand.Read(uti); err != nil {
		return nil, fmt.Errorf("idpsim: token id: %w", err)
	}
	c := jwt.MapClaims{
		"aud": req.Audience,
		"iat": iat,
		"nbf": iat,
		"exp": req.IssuedAt.Add(req.Lifetime).Unix(),
		"oid": req.ObjectID,
		"sub": base64.RawURLEncoding.EncodeToString(sub[:]),
		"tid": i.tenant,
		"uti": base64.RawURLEncoding.EncodeToString(uti),
		"ver": req.Version,
	}
	if len(req.Roles) > 0 {
		c["roles"] = append([]string(nil), req.Roles...)
	}
	if !req.App {
		c["scp"] = "user_impersonation"
	}
	// Client authentication: "1" is a client secret (claims reference,
	// appidacr / azpacr).
	if req.Version == "1.0" {
		c["iss"] = "https://sts.windows.net/" + i.tenant + "/"
		c["appid"] = req.AppID
		c["appidacr"] = "1"
		if !req.App && req.Name != "" {
			c["upn"] = req.Name
			c["unique_name"] = req.Name
		}
	} else {
		c["iss"] = i.Issuer(req.BaseURL)
		c["azp"] = req.AppID
		c["azpacr"] = "1"
		if !req.App && req.Name != "" {
			c["preferred_username"] = req.Name
		}
	}
	for k, v := range req.Extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c, nil
}

// Handler serves the metadata document, the keys and the token endpoint
// under /{tenant}/. Other tenants are answered as Entra answers an unknown
// one.
func (i *Issuer) Handler() http.Handler {
	return http.HandlerFunc(i.serve)
}

func (i *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(segs) < 2 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
		return
	}
	if !strings.EqualFold(segs[0], i.tenant) {
		// Unconfirmed: the exact text of Entra's AADSTS90002 answer.
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error":             "invalid_tenant",
			"error_description": fmt.Sprintf("AADSTS90002: Tenant '%s' not found.", segs[0]),
		})
		return
	}
	rest := strings.Join(segs[1:], "/")
	if rest == TokenEndpointPath {
		i.serveTokenEndpoint(w, r)
		return
	}
	if rest != "v2.0/.well-known/openid-configuration" && rest != "discovery/v2.0/keys" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed"})
		return
	}
	base := i.baseURL(r)
	if rest == "discovery/v2.0/keys" {
		writeJSON(w, http.StatusOK, i.jwks())
		i.fetches.Add(1)
		return
	}
	writeJSON(w, http.StatusOK, i.metadata(base))
}

func (i *Issuer) baseURL(r *http.Request) string {
	i.mu.Lock()
	base := i.base
	i.mu.Unlock()
	if base != "" {
		return base
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// metadata is the tenant-specific v2.0 OpenID configuration, shaped like
// Entra's: the endpoints as in the v2-protocols-oidc sample response.
// Unconfirmed: the other members and their values, as commonly seen in
// Entra's document. Of the URLs, jwks_uri and token_endpoint are served
// here. MSAL reads authorization_endpoint, token_endpoint and issuer, and
// requires the issuer's scheme and host to be the authority's.
func (i *Issuer) metadata(base string) map[string]any {
	t := base + "/" + i.tenant
	return map[string]any{
		"token_endpoint":                        t + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              t + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                t + "/v2.0",
		"request_uri_parameter_supported":       false,
		"authorization_endpoint":                t + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         t + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  t + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"tenant_region_scope":                   nil,
		"cloud_instance_name":                   "microsoftonline.com",
		"cloud_graph_host_name":                 "graph.windows.net",
		"msgraph_host":                          "graph.microsoft.com",
	}
}

// jwk is one published key: the members Entra publishes, less x5t and the
// x5c certificate chain, which verifiers do not need.
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func (i *Issuer) jwks() map[string][]jwk {
	i.mu.Lock()
	defer i.mu.Unlock()
	keys := make([]jwk, 0, len(i.keys))
	for _, k := range i.keys {
		pub := k.priv.PublicKey
		keys = append(keys, jwk{
			Kty: "RSA",
			Use: "sig",
			Kid: k.kid,
			N:   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E:   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		})
	}
	return map[string][]jwk{"keys": keys}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
