package idpsim

// The token endpoint, POST /{tenant}/oauth2/v2.0/token, for the two grants a
// confidential middle tier such as Reinstate uses:
//
//   - the OAuth 2.0 on-behalf-of flow, as Entra documents it in
//     https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-on-behalf-of-flow
//     ("Middle-tier access token request" and "... response"; source
//     MicrosoftDocs/entra-docs docs/identity-platform/v2-oauth2-on-behalf-of-flow.md,
//     ms.date 01/10/2024): grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer,
//     requested_token_use=on_behalf_of, assertion (the user's access token
//     for the middle tier), client_id, scope, and either client_secret (or
//     HTTP Basic, which the page says is also supported) or
//     client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
//     with client_assertion;
//   - the client credentials grant, which the same endpoint serves
//     (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
//
// The client assertion supported is the "managed identity as a federated
// identity credential" one
// (https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity):
// an app-only token this issuer signed, for audience api://AzureADTokenExchange,
// whose sub is the managed identity's object (principal) id registered on
// the app. Anything else goes to App.ValidateClientAssertion.
//
// Errors have Entra's shape (reference-error-codes, "Handling error codes in
// your application"): error, error_description starting "AADSTSnnnn: ",
// error_codes, timestamp, trace_id, correlation_id, error_uri. The AADSTS
// codes are those the error-code reference lists for the condition; where
// the mapping from condition to code, the `error` value or the HTTP status
// is not documented, the code says Unconfirmed. No error description ever
// repeats a token or a secret.

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Protocol constants of the token endpoint, as the on-behalf-of page spells
// them.
const (
	// GrantTypeJWTBearer is the grant_type of an on-behalf-of request.
	GrantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// GrantTypeClientCredentials is the grant_type of an app-only request.
	GrantTypeClientCredentials = "client_credentials"
	// ClientAssertionTypeJWTBearer is the client_assertion_type that goes
	// with a client_assertion.
	ClientAssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// TokenExchangeAudience is the aud a managed identity token must carry
	// to be used as a federated credential in the global cloud (the
	// managed-identity trust page; US Government and China use
	// api://AzureADTokenExchangeUSGov and api://AzureADTokenExchangeChina).
	TokenExchangeAudience = "api://AzureADTokenExchange"
	// GraphResource is Microsoft Graph's resource identifier: the aud of
	// the tokens minted for it, and the resource of bare scopes such as
	// "User.Read".
	GraphResource = "https://graph.microsoft.com"
)

const (
	// TokenEndpointPath is where, under /{tenant}/, the token endpoint is
	// served, as the metadata's token_endpoint names it.
	TokenEndpointPath = "oauth2/v2.0/token"
	// maxTokenRequestBytes bounds a token request body. Access tokens are a
	// few kilobytes; 64 KiB leaves room for two of them and then some.
	maxTokenRequestBytes = 64 << 10
	// issuedLifetime is the lifetime of minted tokens. Entra's default is
	// 60-90 minutes, randomised (configurable-token-lifetimes); an hour is
	// inside it.
	issuedLifetime = time.Hour
	// stsV1 is the issuer host of v1.0 tokens, which Entra also accepts as
	// assertions.
	stsV1 = "https://sts.windows.net/"
)

// App is an application registered in the simulated tenant, with the
// credentials it authenticates with and the permissions an administrator
// consented to for it. Only registered apps can use the token endpoint, as
// only registered apps can use Entra's.
type App struct {
	// ClientID is the application (client) id, a GUID. Required.
	ClientID string
	// AppIDURI is the Application ID URI (api://...), if any: a user's token
	// for the app may carry it as aud instead of the client id.
	AppIDURI string
	// ObjectID is the object id of the app's service principal, the oid
	// (and sub) of its app-only tokens; default a GUID derived from
	// ClientID, so that it is stable across runs.
	ObjectID string
	// Secret is a client secret; "" means the app has none.
	Secret string
	// FederatedSubjects are the object (principal) ids of user-assigned
	// managed identities trusted as federated identity credentials: a
	// client assertion that is this issuer's own app-only token for
	// TokenExchangeAudience whose sub is one of them authenticates the app.
	FederatedSubjects []string
	// ValidateClientAssertion, when set, decides client assertions that this
	// issuer did not sign (a certificate-signed JWT, another identity
	// provider's token). A nil error authenticates the app. Its error is not
	// shown to the client.
	ValidateClientAssertion func(assertion string) error
	// DelegatedScopes are the delegated permissions consented for the app,
	// by resource identifier (GraphResource, or another app's App ID URI or
	// client id): what an on-behalf-of token for that resource carries in
	// scp. For Reinstate and Graph: EntraBackup.Read.All,
	// EntraBackup.ReadWrite.Preview, EntraBackup.ReadWrite.Recovery.
	DelegatedScopes map[string][]string
	// AppRoles are the application permissions consented for the app, by
	// resource identifier: what a client credentials token carries in roles.
	AppRoles map[string][]string
}

// RegisterApp adds app to the tenant, or replaces the app with the same
// client id. It refuses an app that could never authenticate.
func (i *Issuer) RegisterApp(app App) error {
	id, err := uuid.Parse(app.ClientID)
	if err != nil || len(app.ClientID) != 36 {
		return fmt.Errorf("idpsim: app client id %q is not a GUID", app.ClientID)
	}
	if app.Secret == "" && len(app.FederatedSubjects) == 0 && app.ValidateClientAssertion == nil {
		return fmt.Errorf("idpsim: app %s has no credential: set Secret, FederatedSubjects or ValidateClientAssertion", app.ClientID)
	}
	app.ClientID = id.String()
	if app.ObjectID == "" {
		app.ObjectID = uuid.NewSHA1(id, []byte("service principal")).String()
	}
	app.FederatedSubjects = slices.Clone(app.FederatedSubjects)
	app.DelegatedScopes = cloneScopes(app.DelegatedScopes)
	app.AppRoles = cloneScopes(app.AppRoles)
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.apps == nil {
		i.apps = map[string]*App{}
	}
	i.apps[app.ClientID] = &app
	return nil
}

func cloneScopes(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[strings.TrimRight(k, "/")] = slices.Clone(v)
	}
	return out
}

func (i *Issuer) app(clientID string) *App {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.apps[strings.ToLower(clientID)]
}

// TokenResponse is the token endpoint's success answer, as on the
// on-behalf-of page ("Middle-tier access token response").
type TokenResponse struct {
	// TokenType is always Bearer.
	TokenType string `json:"token_type"`
	// Scope lists the granted scopes, qualified by resource. Absent from
	// client credentials answers, as in the client-credentials page's
	// sample.
	Scope string `json:"scope,omitempty"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int `json:"expires_in"`
	// ExtExpiresIn is the extended lifetime Entra reports alongside
	// (the on-behalf-of page's sample has it); here the same as ExpiresIn.
	ExtExpiresIn int `json:"ext_expires_in"`
	// AccessToken is the minted token.
	AccessToken string `json:"access_token"`
	// ClientInfo is base64url({"uid":oid,"utid":tid}), returned on
	// client_info=1 as MSAL asks for it. Unconfirmed: Learn's on-behalf-of
	// page does not mention it; MSAL's protocol handling does.
	ClientInfo string `json:"client_info,omitempty"`
}

// TokenErrorResponse is the token endpoint's error answer, in Entra's shape
// (reference-error-codes, "Handling error codes in your application").
type TokenErrorResponse struct {
	// Error classifies the error (invalid_request, invalid_grant,
	// invalid_client, ...): what a client reacts to.
	Error string `json:"error"`
	// ErrorDescription starts with "AADSTSnnnn: " and ends with the trace
	// id, correlation id and timestamp, as Entra's does.
	ErrorDescription string `json:"error_description"`
	// ErrorCodes holds the AADSTS number.
	ErrorCodes []int `json:"error_codes"`
	// Timestamp is when the error happened, "2006-01-02 15:04:05Z".
	Timestamp string `json:"timestamp"`
	// TraceID is a fresh GUID per error.
	TraceID string `json:"trace_id"`
	// CorrelationID is the request's client-request-id header when it is a
	// GUID, else a fresh one.
	CorrelationID string `json:"correlation_id"`
	// ErrorURI points at Entra's error lookup page for the code.
	ErrorURI string `json:"error_uri,omitempty"`
}

// oauthError is a refusal on its way to the client.
type oauthError struct {
	status int
	err    string
	code   int
	desc   string
}

func (e *oauthError) Error() string { return fmt.Sprintf("%s AADSTS%d", e.err, e.code) }

func badRequest(err string, code int, format string, a ...any) *oauthError {
	return &oauthError{status: http.StatusBadRequest, err: err, code: code, desc: fmt.Sprintf(format, a...)}
}

// badClient is a client authentication failure. RFC 6749 §5.2 allows 401
// for invalid_client. Unconfirmed: that Entra answers 401 rather than 400.
func badClient(code int, format string, a ...any) *oauthError {
	return &oauthError{status: http.StatusUnauthorized, err: "invalid_client", code: code, desc: fmt.Sprintf(format, a...)}
}

func missing(param string) *oauthError {
	// AADSTS900144 and its text are documented.
	return badRequest("invalid_request", 900144, "The request body must contain the following parameter: '%s'.", param)
}

func (i *Issuer) writeTokenError(w http.ResponseWriter, r *http.Request, e *oauthError) {
	now := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	trace := uuid.NewString()
	corr := r.Header.Get("client-request-id")
	if u, err := uuid.Parse(corr); err != nil || len(corr) != 36 {
		corr = uuid.NewString()
	} else {
		corr = u.String()
	}
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+i.tenant+`"`)
	}
	writeJSON(w, e.status, TokenErrorResponse{
		Error:            e.err,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", e.code, e.desc, trace, corr, now),
		ErrorCodes:       []int{e.code},
		Timestamp:        now,
		TraceID:          trace,
		CorrelationID:    corr,
		ErrorURI:         fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", e.code),
	})
}

// serveTokenEndpoint is POST /{tenant}/oauth2/v2.0/token.
func (i *Issuer) serveTokenEndpoint(w http.ResponseWriter, r *http.Request) {
	// A token response must not be cached (RFC 6749 §5.1), nor an error
	// (§5.2 refers to the same headers).
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	resp, oerr := i.token(w, r)
	if oerr != nil {
		i.writeTokenError(w, r, oerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (i *Issuer) token(w http.ResponseWriter, r *http.Request) (TokenResponse, *oauthError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		// AADSTS900561 and its text are documented. Unconfirmed: the 405.
		e := badRequest("invalid_request", 900561, "The endpoint only accepts POST requests. Received a %s request.", r.Method)
		e.status = http.StatusMethodNotAllowed
		return TokenResponse{}, e
	}
	form, oerr := readForm(w, r)
	if oerr != nil {
		return TokenResponse{}, oerr
	}
	grant := form.Get("grant_type")
	switch grant {
	case "":
		return TokenResponse{}, missing("grant_type")
	case GrantTypeJWTBearer, GrantTypeClientCredentials:
	default:
		// AADSTS70003 is UnsupportedGrantType. Unconfirmed: the text.
		return TokenResponse{}, badRequest("unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'.", grant)
	}
	base := i.baseURL(r)
	app, acr, oerr := i.authenticateClient(r, form, base)
	if oerr != nil {
		return TokenResponse{}, oerr
	}
	if grant == GrantTypeClientCredentials {
		return i.clientCredentials(app, acr, form, base)
	}
	return i.onBehalfOf(app, acr, form, base)
}

// readForm reads the form-encoded body, and only the body: parameters in
// the query string are not the request's.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		// Another body (JSON, say) has no form parameters, so the first
		// required one is missing. Unconfirmed: that Entra answers so.
		return nil, missing("grant_type")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequestBytes)
	if err := r.ParseForm(); err != nil {
		// AADSTS90004 is InvalidRequestFormat. Unconfirmed: its use here.
		return nil, badRequest("invalid_request", 90004, "The request isn't properly formatted.")
	}
	return r.PostForm, nil
}

// authenticateClient finds the app and checks its credential: a client
// secret in the body or in HTTP Basic, or a client assertion. It returns the
// azpacr value the credential earns: "1" for a secret, "2" for an assertion
// (claims reference: "2" is a certificate; Unconfirmed for a federated
// credential).
func (i *Issuer) authenticateClient(r *http.Request, form url.Values, base string) (*App, string, *oauthError) {
	clientID := form.Get("client_id")
	secret := form.Get("client_secret")
	if user, pass, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: both are form-encoded before going into Basic.
		u, err1 := url.QueryUnescape(user)
		p, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return nil, "", badRequest("invalid_request", 90004, "The request isn't properly formatted.")
		}
		if clientID != "" && !strings.EqualFold(clientID, u) || secret != "" {
			// Unconfirmed: Entra's answer to two sets of client credentials.
			return nil, "", badRequest("invalid_request", 90023, "The request carries client credentials both in the body and in the Authorization header.")
		}
		clientID, secret = u, p
	}
	if clientID == "" {
		return nil, "", missing("client_id")
	}
	app := i.app(clientID)
	if app == nil {
		// AADSTS700016 is documented (UnauthorizedClient_DoesNotMatchRequest).
		// Unconfirmed: the `error` value and the text past the first sentence.
		return nil, "", badRequest("unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", clientID, i.tenant)
	}
	assertion := form.Get("client_assertion")
	assertionType := form.Get("client_assertion_type")
	switch {
	case secret != "" && (assertion != "" || assertionType != ""):
		// Unconfirmed: Entra's answer to both kinds of credential.
		return nil, "", badRequest("invalid_request", 90023, "The request must contain either 'client_secret' or 'client_assertion', not both.")
	case secret != "":
		if app.Secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(app.Secret)) != 1 {
			// AADSTS7000215 is documented ("Invalid client secret is
			// provided"). Unconfirmed: the rest of the text.
			return nil, "", badClient(7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", app.ClientID)
		}
		return app, "1", nil
	case assertion != "" || assertionType != "":
		if assertionType != ClientAssertionTypeJWTBearer {
			// AADSTS90100 is InvalidRequestParameter. Unconfirmed: its use here.
			return nil, "", badRequest("invalid_request", 90100, "The parameter 'client_assertion_type' is empty or not valid: it must be '%s'.", ClientAssertionTypeJWTBearer)
		}
		if assertion == "" {
			return nil, "", missing("client_assertion")
		}
		if oerr := i.checkClientAssertion(app, assertion, base); oerr != nil {
			return nil, "", oerr
		}
		return app, "2", nil
	default:
		// AADSTS7000218 and its text are documented. Unconfirmed: the
		// `error` value and status.
		return nil, "", badClient(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
}

// checkClientAssertion authenticates app by a client assertion. This
// issuer's own tokens are managed identity tokens offered as a federated
// identity credential: Entra matches the credential's issuer, subject and
// audience against iss, sub and aud (managed-identity trust page).
func (i *Issuer) checkClientAssertion(app *App, assertion, base string) *oauthError {
	iss := unverifiedIssuer(assertion)
	if iss != i.Issuer(base) {
		if app.ValidateClientAssertion != nil {
			if err := app.ValidateClientAssertion(assertion); err != nil {
				// AADSTS700027 is documented ("Client assertion failed
				// signature validation"); its use for any refusal is not.
				return badClient(700027, "Client assertion failed signature validation.")
			}
			return nil
		}
		return noFederatedRecord(iss, "", "")
	}
	claims, err := i.verify(assertion)
	if err != nil {
		return badClient(700027, "Client assertion failed signature validation.")
	}
	if oerr := checkLifetime(claims, func(now, exp string) *oauthError {
		// Unconfirmed: AADSTS700024 and its text; not in the error-code
		// reference.
		return badClient(700024, "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s to %s.", now, claimTime(claims, "nbf"), exp)
	}); oerr != nil {
		return oerr
	}
	sub, _ := claims["sub"].(string)
	aud := audiences(claims)
	if _, delegated := claims["scp"]; delegated {
		// AADSTS700229 and its meaning are documented (ForbiddenTokenType:
		// only app-only tokens are federated credentials for an Entra
		// issuer). Unconfirmed: the `error` value and status.
		return badClient(700229, "ForbiddenTokenType: Only app-only tokens can be used as Federated Identity Credentials for Microsoft Entra issuer.")
	}
	if claims["tid"] != i.tenant || !slices.Contains(aud, TokenExchangeAudience) || !slices.Contains(app.FederatedSubjects, sub) {
		return noFederatedRecord(iss, sub, strings.Join(aud, " "))
	}
	return nil
}

// noFederatedRecord is AADSTS70021, whose text and invalid_request are as
// seen in a public Entra answer quoted by Azure/azure-workload-identity's
// troubleshooting guide (docs/book/src/troubleshooting.md). The issuer,
// subject and audience are claims, not the token.
func noFederatedRecord(iss, sub, aud string) *oauthError {
	return badRequest("invalid_request", 70021, "No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.", iss, sub, aud)
}

// unverifiedIssuer reads iss without checking anything, to choose how to
// check the rest.
func unverifiedIssuer(raw string) string {
	var c jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &c); err != nil {
		return ""
	}
	iss, _ := c["iss"].(string)
	return iss
}

// verify checks raw's RS256 signature against every key this issuer has
// published, chosen by kid, and returns its claims unvalidated: callers
// check the lifetime and the claims themselves, to answer with the code
// Entra uses for each failure.
func (i *Issuer) verify(raw string) (jwt.MapClaims, error) {
	var c jwt.MapClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		i.mu.Lock()
		defer i.mu.Unlock()
		for _, k := range i.keys {
			if k.kid == kid {
				return &k.priv.PublicKey, nil
			}
		}
		return nil, errors.New("the key was not found")
	}, jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}), jwt.WithoutClaimsValidation())
	if err != nil {
		return nil, err
	}
	return c, nil
}

// checkLifetime refuses a token past exp or before nbf, or without exp.
func checkLifetime(c jwt.MapClaims, refuse func(now, exp string) *oauthError) *oauthError {
	now := time.Now()
	exp, err := c.GetExpirationTime()
	nbf, err2 := c.GetNotBefore()
	if err != nil || err2 != nil || exp == nil || !now.Before(exp.Time) || nbf != nil && now.Before(nbf.Time) {
		e := "(none)"
		if exp != nil {
			e = exp.UTC().Format(time.RFC3339)
		}
		return refuse(now.UTC().Format(time.RFC3339), e)
	}
	return nil
}

func claimTime(c jwt.MapClaims, name string) string {
	v, ok := c[name].(float64)
	if !ok {
		return "(none)"
	}
	return time.Unix(int64(v), 0).UTC().Format(time.RFC3339)
}

// audiences reads aud, a string or an array of strings.
func audiences(c jwt.MapClaims) []string {
	aud, err := c.GetAudience()
	if err != nil {
		return nil
	}
	return aud
}

// onBehalfOf exchanges the user's token for the middle tier (assertion) for
// a token for the resource in scope, carrying the same user and the
// delegated permissions consented for the middle tier.
func (i *Issuer) onBehalfOf(app *App, acr string, form url.Values, base string) (TokenResponse, *oauthError) {
	if use := form.Get("requested_token_use"); use == "" {
		return TokenResponse{}, missing("requested_token_use")
	} else if use != "on_behalf_of" {
		// The page: "In the OBO flow, the value must be set to on_behalf_of".
		// Unconfirmed: the code Entra answers another value with.
		return TokenResponse{}, badRequest("invalid_request", 90100, "The parameter 'requested_token_use' is empty or not valid: it must be 'on_behalf_of'.")
	}
	raw := form.Get("assertion")
	if raw == "" {
		return TokenResponse{}, missing("assertion")
	}
	scopeParam := form.Get("scope")
	if scopeParam == "" {
		return TokenResponse{}, missing("scope")
	}
	user, oerr := i.checkUserAssertion(app, raw, base)
	if oerr != nil {
		return TokenResponse{}, oerr
	}
	sc, oerr := i.parseScope(scopeParam)
	if oerr != nil {
		return TokenResponse{}, oerr
	}
	consented := app.DelegatedScopes[sc.resource]
	granted := consented
	if !sc.dflt {
		granted = nil
		for _, p := range sc.perms {
			k := slices.IndexFunc(consented, func(c string) bool { return strings.EqualFold(c, p) })
			if k < 0 {
				granted = nil
				break
			}
			granted = append(granted, consented[k])
		}
	}
	if len(granted) == 0 {
		// AADSTS65001 (DelegationDoesNotExist) is documented. Unconfirmed:
		// invalid_grant and the text, as commonly seen.
		return TokenResponse{}, badRequest("invalid_grant", 65001, "The user or administrator has not consented to use the application with ID '%s' for the requested permissions on '%s'. Send an interactive authorization request for this user and resource.", app.ClientID, sc.resource)
	}
	extra := map[string]any{"scp": strings.Join(granted, " "), "azpacr": acr}
	// Claims that describe the user, not the audience, carry over.
	for _, k := range []string{"name", "wids"} {
		if v, ok := user[k]; ok {
			extra[k] = v
		}
	}
	oid, _ := user["oid"].(string)
	tok, err := i.Token(TokenRequest{
		BaseURL:  base,
		Audience: i.audienceOf(sc.resource),
		ObjectID: oid,
		Name:     userName(user),
		AppID:    app.ClientID,
		Lifetime: issuedLifetime,
		Extra:    extra,
	})
	if err != nil {
		return TokenResponse{}, &oauthError{status: http.StatusInternalServerError, err: "server_error", code: 50000, desc: "There was an error issuing a token."}
	}
	scopes := make([]string, 0, len(granted)+1)
	for _, g := range granted {
		scopes = append(scopes, sc.resource+"/"+g)
	}
	if sc.dflt {
		// MSAL Go fails a response whose scope omits a requested scope
		// ("declined scopes are present"), so a .default request gets
		// .default back. Unconfirmed: what Entra lists for .default.
		scopes = append(scopes, sc.resource+"/.default")
	}
	resp := TokenResponse{
		TokenType:    "Bearer",
		Scope:        strings.Join(scopes, " "),
		ExpiresIn:    int(issuedLifetime / time.Second),
		ExtExpiresIn: int(issuedLifetime / time.Second),
		AccessToken:  tok,
	}
	if form.Get("client_info") == "1" {
		ci, _ := json.Marshal(map[string]string{"uid": oid, "utid": i.tenant})
		resp.ClientInfo = base64.RawURLEncoding.EncodeToString(ci)
	}
	return resp, nil
}

// checkUserAssertion validates the on-behalf-of assertion: a token this
// issuer signed, in its lifetime, for this tenant, whose aud is the app
// making the request (the page: "This token must have an audience (aud)
// claim of the app making this OBO request"), and issued to a user: "the
// OBO flow only works for user principals" (the page, "Client
// limitations").
func (i *Issuer) checkUserAssertion(app *App, raw, base string) (jwt.MapClaims, *oauthError) {
	if strings.Count(raw, ".") != 2 {
		// AADSTS50027 (InvalidJwtToken, "token format isn't proper") is
		// documented. Unconfirmed: invalid_request and its use here.
		return nil, badRequest("invalid_request", 50027, "JWT token is invalid or malformed.")
	}
	claims, err := i.verify(raw)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenMalformed) {
			return nil, badRequest("invalid_request", 50027, "JWT token is invalid or malformed.")
		}
		// AADSTS50013 (InvalidAssertion) is documented. Unconfirmed: the text.
		return nil, badRequest("invalid_grant", 50013, "Assertion failed signature validation. [Reason - The key was not found.]")
	}
	if oerr := checkLifetime(claims, func(now, exp string) *oauthError {
		// AADSTS500133 and its text are documented.
		return badRequest("invalid_grant", 500133, "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: %s, expiry time of assertion %s.", now, exp)
	}); oerr != nil {
		return nil, oerr
	}
	iss, _ := claims["iss"].(string)
	if iss != i.Issuer(base) && iss != stsV1+i.tenant+"/" || claims["tid"] != i.tenant {
		// AADSTS50013: "The token issuer doesn't match the API version
		// within its valid time range" is among the documented reasons.
		// Unconfirmed: the text.
		return nil, badRequest("invalid_grant", 50013, "Assertion is invalid: its issuer '%s' is not this tenant's.", iss)
	}
	aud := audiences(claims)
	if len(aud) != 1 || !strings.EqualFold(aud[0], app.ClientID) && (app.AppIDURI == "" || aud[0] != app.AppIDURI) {
		// AADSTS500131 and this text are as seen in a public Entra answer
		// (microsoft/azuretre-deployment#65). Unconfirmed: that it is
		// invalid_grant.
		return nil, badRequest("invalid_grant", 500131, "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '%s' and the expected audience is '%s' or one of the Application Uris of this application with App ID '%s'.", strings.Join(aud, " "), app.ClientID, app.ClientID)
	}
	if scp, _ := claims["scp"].(string); strings.TrimSpace(scp) == "" {
		// AADSTS7000114 ("Application '{appIdentifier}' isn't allowed to
		// make application on-behalf-of calls.") is documented.
		// Unconfirmed: that it is the answer to an app-only assertion, and
		// invalid_grant.
		azp, _ := claims["azp"].(string)
		if azp == "" {
			azp, _ = claims["appid"].(string)
		}
		return nil, badRequest("invalid_grant", 7000114, "Application '%s' is not allowed to make application on-behalf-of calls.", azp)
	}
	if oid, _ := claims["oid"].(string); oid == "" {
		// AADSTS90016 (MissingRequiredClaim) is documented. Unconfirmed:
		// its use here.
		return nil, badRequest("invalid_grant", 90016, "The access token isn't valid. The required claim 'oid' is missing.")
	}
	return claims, nil
}

// userName is the sign-in name of a v2.0 (preferred_username) or v1.0 (upn,
// unique_name) token.
func userName(c jwt.MapClaims) string {
	for _, k := range []string{"preferred_username", "upn", "unique_name"} {
		if s, _ := c[k].(string); s != "" {
			return s
		}
	}
	return ""
}

// scopeRequest is a parsed scope parameter: one resource, and either its
// .default or named permissions.
type scopeRequest struct {
	resource string
	perms    []string
	dflt     bool
}

// oidcScopes are the OpenID Connect scopes, which name no resource; MSAL
// adds openid, offline_access and profile to every request.
var oidcScopes = []string{"openid", "profile", "offline_access", "email"}

// parseScope reads a space-separated scope list (permissions-consent-overview:
// a scope is the resource identifier followed by the permission; a bare
// permission is Microsoft Graph's).
func (i *Issuer) parseScope(s string) (scopeRequest, *oauthError) {
	var sc scopeRequest
	for _, f := range strings.Fields(s) {
		if slices.ContainsFunc(oidcScopes, func(o string) bool { return strings.EqualFold(o, f) }) {
			continue
		}
		resource, perm := GraphResource, f
		if k := strings.LastIndex(f, "/"); k >= 0 {
			resource, perm = strings.TrimRight(f[:k], "/"), f[k+1:]
		}
		if resource == "" || perm == "" {
			// AADSTS70011 (InvalidScope) is documented.
			return sc, badRequest("invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", f)
		}
		if sc.resource != "" && sc.resource != resource {
			// AADSTS700022 (InvalidMultipleResourcesScope) is documented.
			return sc, badRequest("invalid_scope", 700022, "The provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.", s)
		}
		sc.resource = resource
		if perm == ".default" {
			sc.dflt = true
		} else {
			sc.perms = append(sc.perms, perm)
		}
	}
	if sc.resource == "" {
		return sc, badRequest("invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope %s names no resource.", s)
	}
	if sc.dflt && len(sc.perms) > 0 {
		// Unconfirmed: Entra's answer to .default mixed with named scopes.
		return sc, badRequest("invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. '.default' cannot be combined with other scopes of the same resource.")
	}
	if !i.knownResource(sc.resource) {
		// AADSTS500011 and its text are documented. Unconfirmed:
		// invalid_resource (the error table lists it for this case).
		return sc, badRequest("invalid_resource", 500011, "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", sc.resource, i.tenant)
	}
	return sc, nil
}

// knownResource reports whether a service principal exists for resource in
// the simulated tenant: Microsoft Graph, a registered app, or a resource
// some app has consented permissions on.
func (i *Issuer) knownResource(resource string) bool {
	if resource == GraphResource {
		return true
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, a := range i.apps {
		if strings.EqualFold(resource, a.ClientID) || a.AppIDURI != "" && resource == a.AppIDURI {
			return true
		}
		if _, ok := a.DelegatedScopes[resource]; ok {
			return true
		}
		if _, ok := a.AppRoles[resource]; ok {
			return true
		}
	}
	return false
}

// audienceOf is the aud of a token for resource: a registered app's client
// id, however it was named, because v2.0 tokens always carry the API's
// client id (claims reference, aud); any other resource as named.
func (i *Issuer) audienceOf(resource string) string {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, a := range i.apps {
		if strings.EqualFold(resource, a.ClientID) || a.AppIDURI != "" && resource == a.AppIDURI {
			return a.ClientID
		}
	}
	return resource
}

// clientCredentials issues an app-only token for the resource's .default,
// carrying the application permissions consented for the app in roles.
func (i *Issuer) clientCredentials(app *App, acr string, form url.Values, base string) (TokenResponse, *oauthError) {
	scopeParam := form.Get("scope")
	if scopeParam == "" {
		return TokenResponse{}, missing("scope")
	}
	sc, oerr := i.parseScope(scopeParam)
	if oerr != nil {
		return TokenResponse{}, oerr
	}
	if !sc.dflt {
		// The client-credentials page requires {resource}/.default.
		// Unconfirmed: AADSTS1002012 and its text.
		return TokenResponse{}, badRequest("invalid_scope", 1002012, "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scopeParam)
	}
	tok, err := i.Token(TokenRequest{
		BaseURL:  base,
		Audience: i.audienceOf(sc.resource),
		Roles:    app.AppRoles[sc.resource],
		ObjectID: app.ObjectID,
		AppID:    app.ClientID,
		App:      true,
		Lifetime: issuedLifetime,
		// An app-only token's subject is the service principal itself, as
		// federated credentials for managed identities rely on (the trust
		// page matches the credential's subject, the principal id, against
		// sub).
		Extra: map[string]any{"sub": app.ObjectID, "azpacr": acr},
	})
	if err != nil {
		return TokenResponse{}, &oauthError{status: http.StatusInternalServerError, err: "server_error", code: 50000, desc: "There was an error issuing a token."}
	}
	return TokenResponse{
		TokenType:    "Bearer",
		ExpiresIn:    int(issuedLifetime / time.Second),
		ExtExpiresIn: int(issuedLifetime / time.Second),
		AccessToken:  tok,
	}, nil
}
