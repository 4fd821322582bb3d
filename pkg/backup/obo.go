package backup

// On-behalf-of credentials. Creating Entra Backup and Recovery preview and
// recovery jobs has no application permission, only the delegated
// EntraBackup.ReadWrite.Preview and EntraBackup.ReadWrite.Recovery
// (reference graph-recovery-apis.md §1.8), so Reinstate creates them as the
// approver who asked it to: it exchanges the approver's token for Reinstate's
// API (apiauth.Caller.Token) for a Graph token through the OAuth 2.0
// on-behalf-of flow
// (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-on-behalf-of-flow).
//
// What azidentity v1.15.0 and MSAL Go v1.10.1 need of the authority, read in
// their source and exercised against pkg/idpsim by obo_test.go:
//
//   - https, always: azidentity's setAuthorityHost refuses any other scheme
//     ("cannot use an authority host without https"), and so does MSAL's
//     NewInfoFromAuthorityURI ("authority url scheme must be https"). Local
//     mode and tests therefore serve idpsim over TLS (httptest.NewTLSServer)
//     and pass its client as Transport.
//   - Instance discovery, unless disabled: for a host not on MSAL's list of
//     Entra hosts, MSAL first asks
//     GET https://login.microsoftonline.com/common/discovery/instance,
//     naming the authority's authorize URL in the query (azidentity's option
//     comment says login.microsoft.com; MSAL's code, and obo_test.go with
//     discovery switched on, say login.microsoftonline.com). A private
//     authority must not depend on that, so discovery is disabled for any
//     authority other than the public cloud's.
//   - GET {authority}/{tenant}/v2.0/.well-known/openid-configuration, whose
//     authorization_endpoint, token_endpoint and issuer must be present, and
//     whose issuer must have the authority's scheme and host.
//   - POST to that token_endpoint: grant_type jwt-bearer,
//     requested_token_use=on_behalf_of, assertion, client_id, client_info=1,
//     scope "{resource}/.default openid offline_access profile", and
//     client_secret or client_assertion_type + client_assertion; with CAE, a
//     claims parameter too. MSAL refuses an answer whose scope omits a
//     requested scope.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"

	"github.com/reinstate/reinstate/pkg/graphapi"
)

// DefaultAuthorityHost is the public cloud's sign-in host, the authority of
// every on-behalf-of exchange unless OnBehalfOfConfig says otherwise.
const DefaultAuthorityHost = "https://login.microsoftonline.com"

// TokenExchangeScope is the scope of the managed identity token that
// authenticates Reinstate's app registration when the managed identity is
// one of its federated identity credentials: the audience the credential
// names, api://AzureADTokenExchange in the global cloud
// (https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity;
// US Government and China use api://AzureADTokenExchangeUSGov and
// api://AzureADTokenExchangeChina).
const TokenExchangeScope = "api://AzureADTokenExchange/.default"

// maxCallerTokenBytes bounds a caller token: apiauth refuses Authorization
// headers above 16 KiB, so no verified token is larger.
const maxCallerTokenBytes = 16 << 10

// OnBehalfOfConfig configures OnBehalfOf: who Reinstate's API app
// registration is, where it signs in, and how it proves it is itself.
type OnBehalfOfConfig struct {
	// TenantID is the tenant, as a GUID: the one apiauth accepts callers
	// from, and so the one their tokens can be exchanged in.
	TenantID string
	// ClientID is the application (client) id of Reinstate's API app
	// registration: the audience of callers' tokens, and the client of the
	// exchange. A GUID.
	ClientID string
	// AuthorityHost is the sign-in host; DefaultAuthorityHost if empty. It
	// must be https, because azidentity and MSAL accept nothing else; a
	// loopback host is the local simulator (pkg/idpsim over TLS).
	AuthorityHost string
	// ClientAssertion returns a client assertion that authenticates the app,
	// such as ManagedIdentityAssertion's managed identity token: no secret to
	// store or rotate. Exactly one of ClientAssertion and ClientSecret.
	ClientAssertion func(ctx context.Context) (string, error)
	// ClientSecret authenticates the app with a secret. Local mode and tests
	// only: it is refused unless AuthorityHost is loopback.
	ClientSecret string
	// Transport sends the requests to the authority; nil means azcore's
	// default. Tests pass the TLS test server's client.
	Transport policy.Transporter
}

// OnBehalfOf makes credentials that act as the caller whose token
// Reinstate's API received, so that Graph sees the approver, with the
// approver's roles and the app's consented delegated permissions, and not
// Reinstate. It is safe for concurrent use.
type OnBehalfOf struct {
	tenant, clientID string
	assertion        func(context.Context) (string, error)
	secret           string
	opts             azidentity.OnBehalfOfCredentialOptions
}

// NewOnBehalfOf checks cfg. It does not touch the network.
func NewOnBehalfOf(cfg OnBehalfOfConfig) (*OnBehalfOf, error) {
	tenant, err := guid(cfg.TenantID)
	if err != nil {
		return nil, fmt.Errorf("on-behalf-of: tenant id %q: %w", cfg.TenantID, err)
	}
	clientID, err := guid(cfg.ClientID)
	if err != nil {
		return nil, fmt.Errorf("on-behalf-of: client id %q: %w", cfg.ClientID, err)
	}
	host, err := authorityHost(cfg.AuthorityHost)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.ClientAssertion != nil && cfg.ClientSecret != "":
		return nil, errors.New("on-behalf-of: set one client authentication, ClientAssertion or ClientSecret, not both")
	case cfg.ClientAssertion == nil && cfg.ClientSecret == "":
		return nil, errors.New("on-behalf-of: a client authentication is required: ClientAssertion (a managed identity as federated credential) or, locally, ClientSecret")
	case cfg.ClientSecret != "" && !graphapi.IsLoopback(host):
		// A secret is a long-lived credential that leaks with configuration;
		// in Azure the managed identity needs none.
		return nil, fmt.Errorf("on-behalf-of: a client secret is allowed only with a loopback authority (local mode), not %s; use ClientAssertion", host.Host)
	}
	o := &OnBehalfOf{tenant: tenant, clientID: clientID, assertion: cfg.ClientAssertion, secret: cfg.ClientSecret}
	o.opts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: host.String()}
	o.opts.Transport = cfg.Transport
	// Instance discovery asks login.microsoftonline.com about the
	// authority; a private authority such as idpsim is not known there, and
	// tests and local mode must not reach it. The public cloud's host is on MSAL's
	// trusted list and needs no discovery either way.
	o.opts.DisableInstanceDiscovery = !strings.EqualFold(host.Host, "login.microsoftonline.com")
	return o, nil
}

// guid accepts only the 36-character form Entra uses, as apiauth does.
func guid(s string) (string, error) {
	u, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return "", errors.New("not a GUID")
	}
	return u.String(), nil
}

// authorityHost parses the sign-in host: https, a host, and nothing else.
func authorityHost(s string) (*url.URL, error) {
	if s == "" {
		s = DefaultAuthorityHost
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error repeats the URL, which may hold a password: unwrap it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("on-behalf-of: authority host: %w", err)
	}
	if u.Scheme != "https" {
		// azidentity and MSAL refuse anything but https; saying so here
		// beats their error at the first exchange.
		return nil, fmt.Errorf("on-behalf-of: authority host %q must be https (azidentity and MSAL accept nothing else; serve idpsim over TLS locally)", u.Redacted())
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("on-behalf-of: authority host %q must be a bare https URL such as %s", u.Redacted(), DefaultAuthorityHost)
	}
	return &url.URL{Scheme: "https", Host: u.Host, Path: "/"}, nil
}

// Credential returns an azidentity on-behalf-of credential for the caller
// whose access token for Reinstate's API is callerToken. Pass it to a
// graphapi client for the one request made on the caller's behalf, and drop
// it: it holds the caller's token. It checks only that callerToken looks
// like a JWT; Entra checks the rest at the first GetToken. Neither its
// errors nor the credential's repeat the token.
func (o *OnBehalfOf) Credential(callerToken string) (azcore.TokenCredential, error) {
	switch {
	case callerToken == "":
		return nil, errors.New("on-behalf-of: no caller token: the request was not authenticated with a bearer token")
	case len(callerToken) > maxCallerTokenBytes:
		return nil, fmt.Errorf("on-behalf-of: caller token of %d bytes exceeds %d", len(callerToken), maxCallerTokenBytes)
	case strings.Count(callerToken, ".") != 2 || strings.ContainsAny(callerToken, " \t\r\n"):
		return nil, errors.New("on-behalf-of: caller token is not a JWT")
	}
	opts := o.opts
	var (
		cred *azidentity.OnBehalfOfCredential
		err  error
	)
	if o.assertion != nil {
		cred, err = azidentity.NewOnBehalfOfCredentialWithClientAssertions(o.tenant, o.clientID, callerToken, o.assertion, &opts)
	} else {
		cred, err = azidentity.NewOnBehalfOfCredentialWithSecret(o.tenant, o.clientID, callerToken, o.secret, &opts)
	}
	if err != nil {
		// azidentity's constructors fail on configuration, never on the
		// token, and do not print it.
		return nil, fmt.Errorf("on-behalf-of: %w", err)
	}
	return cred, nil
}

// ManagedIdentityAssertion returns a client assertion function that answers
// with cred's token for TokenExchangeScope: the user-assigned managed
// identity, configured as a federated identity credential of Reinstate's app
// registration, authenticates the app without a secret. cred caches the
// token until shortly before it expires.
func ManagedIdentityAssertion(cred *azidentity.ManagedIdentityCredential) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		if cred == nil {
			return "", errors.New("on-behalf-of: no managed identity credential")
		}
		tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{TokenExchangeScope}})
		if err != nil {
			return "", fmt.Errorf("on-behalf-of: managed identity token for %s: %w", TokenExchangeScope, err)
		}
		return tok.Token, nil
	}
}

// AsCaller returns what Options.AsCaller wants: for each caller's token, a
// Client over Graph at graphURL acting as that caller through o. scope is
// what to ask the credential for; empty means graphURL's own ".default",
// and a local Graph that accepts Microsoft Graph's tokens wants
// "https://graph.microsoft.com/.default".
func (o *OnBehalfOf) AsCaller(graphURL, scope string, version Version) func(ctx context.Context, token string) (Jobs, error) {
	return func(_ context.Context, token string) (Jobs, error) {
		cred, err := o.Credential(token)
		if err != nil {
			return nil, err
		}
		gc, err := graphapi.New(graphapi.Config{BaseURL: graphURL, Auth: graphapi.AuthAzure, Credential: cred, Scope: scope})
		if err != nil {
			return nil, err
		}
		return NewClient(gc, version)
	}
}
