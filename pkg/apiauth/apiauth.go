// Package apiauth authenticates callers of Reinstate's on-call HTTP API with
// Microsoft Entra ID access tokens issued for the Reinstate API app
// registration, in one tenant.
//
// A Verifier checks what a web API must check before trusting a token
// (https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens,
// "Validate tokens"): the RS256 signature with a key the tenant's OpenID
// Connect metadata publishes, selected by the token's `kid`; the lifetime
// (`exp`, `nbf`, `iat`, with a small clock skew); the issuer (`iss`), the
// audience (`aud`) and the tenant (`tid`); and that the caller is named by
// an object id (`oid`). Claim names and formats follow
// https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference.
// Roles are returned, not checked: each route of the HTTP layer needs its
// own.
//
// Failures come in three kinds, so that the HTTP layer can answer without
// reading messages: ErrNoToken and ErrInvalidToken (401; the wrapped detail
// is for logs only) and ErrUnavailable (503: the signing keys cannot be
// fetched, which says nothing about the token).
//
// A Verifier never logs a token, and neither does anything that prints a
// Caller.
package apiauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/reinstate/reinstate/pkg/graphapi"
)

// Errors returned by Authenticate and Verify. Each returned error wraps
// exactly one of them; test with errors.Is.
var (
	// ErrNoToken means the request carries no bearer token at all: no or an
	// empty Authorization header, or another scheme. The HTTP layer answers
	// 401 with a WWW-Authenticate challenge.
	ErrNoToken = errors.New("apiauth: no bearer token")
	// ErrInvalidToken means a token was presented and is not acceptable, for
	// whatever reason: the wrapped detail helps whoever reads the log, and
	// the caller gets a generic 401 so that it learns nothing about the
	// checks.
	ErrInvalidToken = errors.New("apiauth: invalid token")
	// ErrUnavailable means the token could not be checked because the
	// tenant's metadata or signing keys could not be fetched: a 503, which a
	// client may retry, not a 401, which would send a person to sign in
	// again for nothing.
	ErrUnavailable = errors.New("apiauth: token validation unavailable")
)

// Limits and defaults.
const (
	// DefaultAuthority is the Entra ID public cloud's sign-in host.
	DefaultAuthority = "https://login.microsoftonline.com"
	// MaxHeaderBytes bounds the Authorization header (and a raw token):
	// Entra access tokens are a few kilobytes even with group claims (JWTs
	// stop listing groups at 200, access-token-claims-reference "Groups
	// overage claim"), so anything larger is refused before parsing.
	MaxHeaderBytes = 16 << 10
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
	DefaultLeeway = time.Minute
	// MaxLeeway bounds Leeway: a larger skew would keep expired tokens alive.
	MaxLeeway = 5 * time.Minute
	// DefaultRefreshUnknownKIDEvery is how often a token with an unknown
	// `kid` may make the Verifier fetch the JWKS again (keyfunc's default).
	DefaultRefreshUnknownKIDEvery = 5 * time.Minute

	// metadataRetryEvery is the shortest interval between two attempts to
	// load the metadata and keys after a failure, so that a storm of
	// requests during an outage does not become a storm of fetches.
	metadataRetryEvery = 10 * time.Second
	// fetchTimeout bounds each metadata and JWKS fetch.
	fetchTimeout = 10 * time.Second
	// unknownKIDWaitMax bounds how long a request with an unknown kid waits
	// for the refresh rate limiter, and the refresh itself (keyfunc applies
	// the one deadline to both): the request fails fast rather than
	// blocking (keyfunc's default is a minute).
	unknownKIDWaitMax = time.Second
	// keysRefreshEvery is the periodic JWKS refresh. Learn suggests checking
	// for new keys every 24 hours (access-tokens, "Validate the signature");
	// hourly costs little and picks up rotations sooner.
	keysRefreshEvery = time.Hour
	// maxMetadataBytes bounds the metadata document (Entra's is ~2 KB).
	maxMetadataBytes = 1 << 20
	// stsV1Host is the issuer host of v1.0 access tokens in the public cloud.
	// Unconfirmed for sovereign clouds, which use other hosts; they are not
	// supported here.
	stsV1Host = "https://sts.windows.net/"
)

// Config configures a Verifier.
type Config struct {
	// TenantID is the one tenant whose tokens are accepted, as a GUID. A
	// domain name is refused: the issuer and `tid` name the tenant by GUID.
	TenantID string
	// Audiences are the accepted `aud` values: the API's client id (v2.0
	// tokens always carry it) and/or its Application ID URI such as
	// api://reinstate (v1.0 tokens carry whichever the client asked for).
	// At least one; none empty.
	Audiences []string
	// Authority is the sign-in host (DefaultAuthority if empty). It must be
	// https, or http on loopback for the local simulator (pkg/idpsim).
	Authority string
	// HTTPClient fetches the metadata and the keys. nil means a client with
	// a 10 s timeout that follows no redirects.
	HTTPClient *http.Client
	// Leeway is the clock skew allowed on exp, nbf and iat: DefaultLeeway if
	// zero, at most MaxLeeway.
	Leeway time.Duration
	// RefreshUnknownKIDEvery is how often a token whose `kid` is not in the
	// cached keys may trigger a JWKS fetch (DefaultRefreshUnknownKIDEvery if
	// zero). Entra rotates keys rarely and publishes new ones before
	// signing with them, so a short interval only helps attackers make us
	// fetch; tests shorten it to see a rotation picked up.
	RefreshUnknownKIDEvery time.Duration
	// Now is the clock for token lifetimes and the metadata retry throttle;
	// nil means time.Now.
	Now func() time.Time
	// Logger receives metadata and key refresh failures and, at debug level,
	// why a token was rejected. nil discards.
	Logger *slog.Logger
}

// Verifier validates access tokens. It is safe for concurrent use. It
// fetches the tenant's metadata and keys on first use, not in New, so that a
// process starts even while Entra ID is unreachable.
type Verifier struct {
	tenant         string // lowercase GUID
	audiences      []string
	authority      string // no trailing slash
	issuers        [2]string
	client         *http.Client
	leeway         time.Duration
	refreshUnknown time.Duration
	now            func() time.Time
	log            *slog.Logger

	ctx    context.Context // ends the key refresh goroutine
	cancel context.CancelFunc
	closed atomic.Bool

	keys atomic.Pointer[keyfunc.Keyfunc]
	// sem admits one metadata load at a time; holding it guards lastTry,
	// lastErr and stopKeys.
	sem      chan struct{}
	lastTry  time.Time
	lastErr  error
	stopKeys context.CancelFunc
}

// New checks cfg and returns a Verifier. It does not touch the network.
func New(cfg Config) (*Verifier, error) {
	tenant, err := parseGUID(cfg.TenantID)
	if err != nil {
		return nil, fmt.Errorf("apiauth: tenant id %q: %w", cfg.TenantID, err)
	}
	if len(cfg.Audiences) == 0 {
		return nil, errors.New("apiauth: at least one audience is required (the API's client id or App ID URI)")
	}
	for i, a := range cfg.Audiences {
		if strings.TrimSpace(a) == "" {
			return nil, fmt.Errorf("apiauth: audience %d is empty", i)
		}
	}
	authority, err := parseAuthority(cfg.Authority)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	case cfg.Leeway < 0 || cfg.Leeway > MaxLeeway:
		return nil, fmt.Errorf("apiauth: leeway %v must be between 0 and %v", cfg.Leeway, MaxLeeway)
	}
	switch {
	case cfg.RefreshUnknownKIDEvery == 0:
		cfg.RefreshUnknownKIDEvery = DefaultRefreshUnknownKIDEvery
	case cfg.RefreshUnknownKIDEvery < 0:
		return nil, fmt.Errorf("apiauth: unknown-kid refresh interval %v must be positive", cfg.RefreshUnknownKIDEvery)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout: fetchTimeout,
			// Entra answers the metadata and keys directly; a redirect could
			// only lead somewhere the configuration did not name, perhaps
			// over plain http.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Verifier{
		tenant:    tenant,
		audiences: append([]string(nil), cfg.Audiences...),
		authority: authority,
		// v2.0 and v1.0 access tokens name different issuers (claims
		// reference, `iss`; access-tokens "v1.0 and v2.0 tokens"). The API's
		// accessTokenAcceptedVersion decides which one clients get.
		issuers:        [2]string{authority + "/" + tenant + "/v2.0", stsV1Host + tenant + "/"},
		client:         cfg.HTTPClient,
		leeway:         cfg.Leeway,
		refreshUnknown: cfg.RefreshUnknownKIDEvery,
		now:            cfg.Now,
		log:            cfg.Logger,
		ctx:            ctx,
		cancel:         cancel,
		sem:            make(chan struct{}, 1),
	}, nil
}

// parseGUID accepts only the 36-character form Entra uses in claims and
// URLs, and returns it in lower case.
func parseGUID(s string) (string, error) {
	if len(s) != 36 {
		return "", errors.New("not a GUID")
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", errors.New("not a GUID")
	}
	return u.String(), nil
}

func parseAuthority(s string) (string, error) {
	if s == "" {
		return DefaultAuthority, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("apiauth: authority %q: %w", s, err)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("apiauth: authority %q must be a plain https URL such as %s", s, DefaultAuthority)
	}
	if err := checkScheme(u); err != nil {
		return "", fmt.Errorf("apiauth: authority %q: %w", s, err)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// checkScheme allows https anywhere and http only on loopback: keys fetched
// in clear text from elsewhere could be replaced on the way.
func checkScheme(u *url.URL) error {
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && graphapi.IsLoopback(u):
		return nil
	case u.Scheme == "http":
		return errors.New("http is allowed only on loopback; use https")
	default:
		return fmt.Errorf("scheme %q is not https", u.Scheme)
	}
}

// Close stops the background key refresh. Verify fails with ErrUnavailable
// afterwards.
func (v *Verifier) Close() {
	v.closed.Store(true)
	v.cancel()
}

// Authenticate verifies the request's "Authorization: Bearer <token>"
// header (RFC 6750 §2.1; the scheme is case-insensitive, RFC 9110 §11.1).
func (v *Verifier) Authenticate(ctx context.Context, r *http.Request) (Caller, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return Caller{}, ErrNoToken
	}
	if len(values) > 1 {
		return Caller{}, fmt.Errorf("%w: more than one Authorization header", ErrInvalidToken)
	}
	h := values[0]
	if len(h) > MaxHeaderBytes {
		return Caller{}, fmt.Errorf("%w: Authorization header of %d bytes exceeds %d", ErrInvalidToken, len(h), MaxHeaderBytes)
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// Another scheme (Basic, say) is not a bearer token at all: the
		// client gets the challenge, as for no header.
		return Caller{}, ErrNoToken
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return Caller{}, ErrNoToken
	}
	return v.Verify(ctx, token)
}

// claims are the payload claims Verify reads. A claim of the wrong JSON type
// fails decoding, and so the token.
type claims struct {
	jwt.RegisteredClaims
	TenantID          string   `json:"tid"`
	ObjectID          string   `json:"oid"`
	UPN               string   `json:"upn"`
	PreferredUsername string   `json:"preferred_username"`
	UniqueName        string   `json:"unique_name"`
	AppID             string   `json:"appid"` // v1.0
	AZP               string   `json:"azp"`   // v2.0
	Roles             []string `json:"roles"`
	Scope             *string  `json:"scp"`
}

// Verify validates raw, a compact JWS access token, and returns its caller.
func (v *Verifier) Verify(ctx context.Context, raw string) (Caller, error) {
	c, err := v.verify(ctx, raw)
	if err != nil {
		// The reason, never the token: it is a credential until it expires.
		v.log.DebugContext(ctx, "apiauth: token rejected", "err", err)
		return Caller{}, err
	}
	return c, nil
}

func (v *Verifier) verify(ctx context.Context, raw string) (Caller, error) {
	if v.closed.Load() {
		return Caller{}, fmt.Errorf("%w: verifier closed", ErrUnavailable)
	}
	if raw == "" {
		return Caller{}, ErrNoToken
	}
	if len(raw) > MaxHeaderBytes {
		return Caller{}, fmt.Errorf("%w: token of %d bytes exceeds %d", ErrInvalidToken, len(raw), MaxHeaderBytes)
	}
	var unavailable error
	keyFunc := func(t *jwt.Token) (any, error) {
		// Learn: "Use the kid claim to validate the token" (access-tokens,
		// "Validate the signature"). Without a kid, keyfunc would try every
		// cached key; Entra always sends one.
		kid, ok := t.Header["kid"].(string)
		if !ok || kid == "" {
			return nil, errors.New("no kid in the token header")
		}
		kf, err := v.keyfunc(ctx)
		if err != nil {
			unavailable = err
			return nil, err
		}
		return kf.KeyfuncCtx(ctx)(t)
	}
	parser := jwt.NewParser(
		// RS256 only: Entra signs access tokens for registered APIs with
		// RS256 (access-tokens, "Validate the signature"). Naming it here
		// refuses alg "none", and HS256 "signed" with our public key as the
		// HMAC secret, before any key is looked up.
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithAudience(v.audiences...),
	)
	var cl claims
	if _, err := parser.ParseWithClaims(raw, &cl, keyFunc); err != nil {
		if unavailable != nil {
			return Caller{}, unavailable
		}
		return Caller{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	// Issuer: exact match (OpenID Connect Core, quoted in access-tokens
	// "Validate the issuer"), against the issuer of either token version of
	// our tenant.
	if cl.Issuer != v.issuers[0] && cl.Issuer != v.issuers[1] {
		return Caller{}, fmt.Errorf("%w: issuer %q is not %q or %q", ErrInvalidToken, cl.Issuer, v.issuers[0], v.issuers[1])
	}
	// Tenant: the issuer names it, and Learn asks to check `tid` against it
	// too (access-tokens, "Validate the issuer": the tid claim is a GUID
	// and matches the issuer).
	if !strings.EqualFold(cl.TenantID, v.tenant) {
		return Caller{}, fmt.Errorf("%w: tenant %q is not %q", ErrInvalidToken, cl.TenantID, v.tenant)
	}
	oid, err := parseGUID(cl.ObjectID)
	if err != nil {
		return Caller{}, fmt.Errorf("%w: object id (oid) %q: %w", ErrInvalidToken, cl.ObjectID, err)
	}
	appID := cl.AppID
	if appID == "" {
		appID = cl.AZP
	}
	// Every access token names its client (appid in v1.0, azp in v2.0,
	// claims reference); an ID token names neither. Requiring one keeps an
	// ID token for an app that shares the API's client id from passing as
	// an app-only access token. Unconfirmed: that Entra never omits both in
	// an access token.
	if appID == "" {
		return Caller{}, fmt.Errorf("%w: no client application (appid or azp)", ErrInvalidToken)
	}
	c := Caller{
		ObjectID: oid,
		TenantID: v.tenant,
		AppID:    appID,
		Roles:    cl.Roles,
		App:      cl.Scope == nil,
		token:    raw,
	}
	if cl.Scope != nil {
		c.Scopes = strings.Fields(*cl.Scope)
		c.Name = firstNonEmpty(cl.UPN, cl.PreferredUsername, cl.UniqueName)
	}
	return c, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// keyfunc returns the key lookup, loading the metadata and keys on first
// use. One load runs at a time; after a failure the next waits
// metadataRetryEvery, and calls in between fail at once.
func (v *Verifier) keyfunc(ctx context.Context) (keyfunc.Keyfunc, error) {
	if kf := v.keys.Load(); kf != nil {
		return *kf, nil
	}
	select {
	case v.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for the signing keys: %w", ErrUnavailable, ctx.Err())
	}
	defer func() { <-v.sem }()
	if kf := v.keys.Load(); kf != nil {
		return *kf, nil
	}
	if v.closed.Load() {
		return nil, fmt.Errorf("%w: verifier closed", ErrUnavailable)
	}
	now := v.now()
	if !v.lastTry.IsZero() {
		if since := now.Sub(v.lastTry); since >= 0 && since < metadataRetryEvery {
			return nil, fmt.Errorf("%w: signing keys not loaded (next attempt in %v): %w", ErrUnavailable, (metadataRetryEvery - since).Round(time.Millisecond), v.lastErr)
		}
	}
	v.lastTry = now
	kf, err := v.load()
	if err != nil {
		v.lastErr = err
		v.log.Warn("apiauth: loading the tenant's signing keys failed", "authority", v.authority, "tenant", v.tenant, "err", err)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	v.keys.Store(&kf)
	return kf, nil
}

// metadata is the part of the OpenID Connect metadata document Verify uses
// (v2-protocols-oidc, "Fetch the OpenID configuration document").
type metadata struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// load fetches the tenant's v2.0 OpenID Connect metadata and builds a key
// cache on its jwks_uri. Unconfirmed: v1.0 tokens are checked with the keys
// of the v2.0 document; Learn tells v1.0 validators to read the v1.0
// document (access-tokens, "v1.0 and v2.0 tokens"), but both documents
// publish the same tenant signing keys.
func (v *Verifier) load() (keyfunc.Keyfunc, error) {
	md, err := v.fetchMetadata()
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(v.ctx)
	noErrorFirst := false
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{md.JWKSURI}, keyfunc.Override{
		Client:      v.client,
		HTTPTimeout: fetchTimeout,
		// Fail New when the first fetch fails, so that it is reported as
		// ErrUnavailable and retried, rather than leaving an empty cache
		// that would reject every token as having an unknown kid.
		NoErrorReturnFirstHTTPReq: &noErrorFirst,
		RateLimitWaitMax:          unknownKIDWaitMax,
		RefreshInterval:           keysRefreshEvery,
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(v.refreshUnknown), 1),
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				v.log.WarnContext(ctx, "apiauth: refreshing the signing keys failed; the cached keys stay in use", "jwks", u, "err", err)
			}
		},
	})
	if err != nil {
		stop() // ends the refresh goroutine the failed attempt started
		return nil, fmt.Errorf("signing keys from %s: %w", md.JWKSURI, err)
	}
	if v.stopKeys != nil {
		v.stopKeys()
	}
	v.stopKeys = stop
	return kf, nil
}

func (v *Verifier) fetchMetadata() (metadata, error) {
	// The tenant-specific v2.0 metadata document
	// (https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc,
	// "Find your app's OpenID configuration document URI"): its issuer is
	// the tenant's, so comparing it proves we read the right document.
	u := v.authority + "/" + v.tenant + "/v2.0/.well-known/openid-configuration"
	ctx, cancel := context.WithTimeout(v.ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return metadata{}, fmt.Errorf("metadata %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return metadata{}, fmt.Errorf("metadata %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return metadata{}, fmt.Errorf("metadata %s: status %d", u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes+1))
	if err != nil {
		return metadata{}, fmt.Errorf("metadata %s: %w", u, err)
	}
	if len(body) > maxMetadataBytes {
		return metadata{}, fmt.Errorf("metadata %s: larger than %d bytes", u, maxMetadataBytes)
	}
	var md metadata
	if err := json.Unmarshal(body, &md); err != nil {
		return metadata{}, fmt.Errorf("metadata %s: %w", u, err)
	}
	if md.Issuer != v.issuers[0] {
		return metadata{}, fmt.Errorf("metadata %s: issuer %q, want %q", u, md.Issuer, v.issuers[0])
	}
	ju, err := url.Parse(md.JWKSURI)
	if err != nil || ju.Host == "" {
		return metadata{}, fmt.Errorf("metadata %s: jwks_uri %q is not an absolute URL", u, md.JWKSURI)
	}
	if err := checkScheme(ju); err != nil {
		return metadata{}, fmt.Errorf("metadata %s: jwks_uri %q: %w", u, md.JWKSURI, err)
	}
	return md, nil
}
