// Package graphapi builds Reinstate's Microsoft Graph client: msgraph-sdk-go
// over a configurable base URL, with the credential chosen deliberately and
// the SDK's own retries switched off, because the recovery executor paces
// writes and honours Retry-After itself (a retry hidden inside the SDK would
// hammer a throttled tenant without the pacer knowing).
package graphapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	absauth "github.com/microsoft/kiota-abstractions-go/authentication"
	kiotaazure "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
)

// DefaultBaseURL is the global Graph endpoint.
const DefaultBaseURL = "https://graph.microsoft.com"

// AuthMode says how requests are authenticated.
type AuthMode string

// Auth modes.
const (
	// AuthAzure uses an azidentity credential: managed identity in Azure,
	// the developer's credentials elsewhere.
	AuthAzure AuthMode = "azure"
	// AuthNone sends no Authorization header. Loopback Graph URLs only.
	AuthNone AuthMode = "none"
	// AuthStatic sends a fixed bearer token, as graphsim's seeded
	// identities expect. Loopback Graph URLs only.
	AuthStatic AuthMode = "static"
)

// Config describes the client.
type Config struct {
	// BaseURL is the Graph root without a version, such as
	// https://graph.microsoft.com or http://127.0.0.1:PORT for graphsim.
	BaseURL string
	Auth    AuthMode
	// Credential is required for AuthAzure.
	Credential azcore.TokenCredential
	// Scope is what AuthAzure asks the credential for; default the base
	// URL's "/.default". A local Graph (graphsim) that accepts Microsoft
	// Graph's own tokens needs "https://graph.microsoft.com/.default".
	Scope string
	// Token is required for AuthStatic. It is never logged.
	Token string
	// Timeout bounds each HTTP exchange; default 60s.
	Timeout time.Duration
	// HTTPClient, when set, replaces the transport under the SDK middleware
	// (tests use it to count requests); its Timeout is kept.
	HTTPClient *http.Client
}

// Client is Graph through msgraph-sdk-go, for both API versions.
type Client struct {
	// V1 is the typed SDK client for /v1.0.
	V1 *msgraphsdk.GraphServiceClient
	// Adapter sends raw requests (any version) through the same middleware
	// and authentication as V1.
	Adapter abstractions.RequestAdapter
	base    *url.URL
}

// ParseBaseURL validates a Graph base URL: https, or http on a loopback host
// (graphsim). The result has no trailing slash and no version segment.
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(raw), "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q must not carry a query, fragment or credentials", raw)
	}
	if last := u.Path[strings.LastIndex(u.Path, "/")+1:]; last == "v1.0" || last == "beta" {
		return nil, fmt.Errorf("%q names an API version; give the root, such as %s", raw, DefaultBaseURL)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && IsLoopback(u):
	default:
		return nil, fmt.Errorf("%q must use https (http is allowed only for a loopback Graph such as graphsim)", raw)
	}
	return u, nil
}

// IsLoopback reports whether u's host is a loopback address or localhost.
func IsLoopback(u *url.URL) bool {
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// New builds the client. It refuses AuthNone and AuthStatic for a Graph that
// is not on loopback, so a misconfiguration can never send an unauthenticated
// request, or a test token, to a real tenant.
func New(cfg Config) (*Client, error) {
	base, err := ParseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	auth, err := authProvider(cfg, base)
	if err != nil {
		return nil, err
	}
	httpClient := newHTTPClient(cfg)
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, httpClient)
	if err != nil {
		return nil, fmt.Errorf("graph request adapter: %w", err)
	}
	// kiota resets each request's base URL to the adapter's on every send
	// (reference graph-recovery-apis.md §6.1), so this covers typed builders.
	adapter.SetBaseUrl(base.String() + "/v1.0")
	return &Client{V1: msgraphsdk.NewGraphServiceClient(adapter), Adapter: adapter, base: base}, nil
}

// URL returns the absolute URL of path under version ("v1.0" or "beta").
func (c *Client) URL(version, path string) string {
	return c.base.String() + "/" + version + "/" + strings.TrimPrefix(path, "/")
}

// Host is the Graph host requests go to, for logs.
func (c *Client) Host() string { return c.base.Host }

func authProvider(cfg Config, base *url.URL) (absauth.AuthenticationProvider, error) {
	mode := cfg.Auth
	if mode == "" {
		mode = AuthAzure
	}
	if mode != AuthAzure && !IsLoopback(base) {
		return nil, fmt.Errorf("graph auth %q is allowed only for a loopback Graph URL, not %s", mode, base.Host)
	}
	switch mode {
	case AuthAzure:
		if cfg.Credential == nil {
			return nil, errors.New("graph auth azure needs a credential")
		}
		// The token provider silently sends no token to hosts outside its
		// allow-list (reference §6.1). Allow exactly the configured host, so
		// that a sovereign cloud works and nothing else ever gets a token.
		scope := cfg.Scope
		if scope == "" {
			scope = base.Scheme + "://" + base.Host + "/.default"
		}
		provider, err := kiotaazure.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cfg.Credential, []string{scope}, []string{base.Hostname()})
		if err != nil {
			return nil, fmt.Errorf("graph authentication: %w", err)
		}
		return provider, nil
	case AuthNone:
		return &absauth.AnonymousAuthenticationProvider{}, nil
	case AuthStatic:
		if cfg.Token == "" {
			return nil, errors.New("graph auth static needs a token")
		}
		return &staticToken{token: cfg.Token, host: base.Host}, nil
	}
	return nil, fmt.Errorf("graph auth %q is not azure, none or static", mode)
}

// staticToken authenticates requests to one host with a fixed bearer token.
type staticToken struct {
	token string
	host  string
}

// AuthenticateRequest adds the token to requests for the configured host only.
func (s *staticToken) AuthenticateRequest(_ context.Context, request *abstractions.RequestInformation, _ map[string]any) error {
	u, err := request.GetUri()
	if err != nil {
		return fmt.Errorf("static token: %w", err)
	}
	if u.Host == s.host {
		request.Headers.Add("Authorization", "Bearer "+s.token)
	}
	return nil
}

// newHTTPClient is msgraph-sdk-go-core's default pipeline with the retry
// middleware told never to retry: throttling is the executor's business.
func newHTTPClient(cfg Config) *http.Client {
	never := &khttp.RetryHandlerOptions{ShouldRetry: func(time.Duration, int, *http.Request, *http.Response) bool { return false }}
	kiota, _ := khttp.GetDefaultMiddlewaresWithOptions(never) // only fails for unknown option types
	// The Graph handlers go in front of kiota's, in the order
	// msgraph-sdk-go-core's GetDefaultMiddlewaresWithOptions uses.
	middleware := append([]khttp.Middleware{
		msgraphcore.NewGraphTelemetryHandler(&msgraphcore.GraphClientOptions{}),
		khttp.NewUrlReplaceHandler(true, msgraphcore.ReplacementPairs),
	}, kiota...)
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	var transport http.RoundTripper = http.DefaultTransport
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		transport = cfg.HTTPClient.Transport
	}
	return &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(transport, middleware...),
		Timeout:   timeout,
	}
}

// ParseRetryAfter reads a Retry-After header value: delay-seconds, or an
// HTTP date (RFC 9110 §10.2.3). A date already past is a zero wait. ok is
// false for an absent or unreadable value, so that callers can tell "retry
// now" (Retry-After: 0) from no advice at all. Graph and every notification
// receiver answer with the same header, so one reading serves both.
func ParseRetryAfter(value string, now time.Time) (wait time.Duration, ok bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if seconds, err := strconv.Atoi(value); err == nil {
		if seconds < 0 {
			return 0, false
		}
		return time.Duration(seconds) * time.Second, true
	}
	if at, err := http.ParseTime(value); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}
