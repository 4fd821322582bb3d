package graphsim

// Access tokens signed by a token issuer (JWTs), besides the seed's static
// tokens: what a service gets from an on-behalf-of exchange, or an app from
// client credentials, in local mode where pkg/idpsim stands in for Entra ID.

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// TokenIssuer is the token issuer whose access tokens graphsim accepts.
// *idpsim.Issuer implements it.
type TokenIssuer interface {
	// TenantID is the tenant the issuer signs for; tokens must carry it as
	// tid.
	TenantID() string
	// Issuer is the v2.0 iss of tokens minted for a server at baseURL.
	Issuer(baseURL string) string
	// KeyID and PublicKey are the current signing key's kid and public key.
	KeyID() string
	PublicKey() *rsa.PublicKey
}

// graphAudiences are the aud values of access tokens for Microsoft Graph:
// its App ID URI and its application id (Learn
// entra/identity-platform/access-token-claims-reference, "aud"; Graph's
// well-known app id 00000003-0000-0000-c000-000000000000).
var graphAudiences = []string{"https://graph.microsoft.com", "https://graph.microsoft.com/", "00000003-0000-0000-c000-000000000000"}

func looksLikeJWT(token string) bool { return strings.Count(token, ".") == 2 }

// msgExpired is what Graph answers an expired token.
// Unconfirmed: observed widely in issue threads, not documented.
const msgExpired = "Lifetime validation failed, the token is expired."

// jwtIdentity validates a JWT and maps it to a caller. It returns nil and
// the 401 message when the token is not acceptable: a bad signature or
// algorithm (RS256 only), another key id, an issuer other than the
// configured one (its v2.0 issuer for this server, or the v1.0
// https://sts.windows.net/{tenant}/), another tenant, an audience other
// than Microsoft Graph, a token expired or not yet valid by the server's
// clock.
//
// A token with scp (delegated) is the seed user whose id is oid, with the
// scp values as delegated permissions and the user's directory roles from
// the seed. A token with roles and no scp (application) is the app named by
// azp (v2.0) or appid (v1.0), with the roles as application permissions;
// its service principal is the live one with that appId, else oid. Any
// other token is refused.
func (s *Server) jwtIdentity(c *call, token string) (*Identity, string) {
	const invalid = "CompactToken parsing failed with error code: 80049217"
	iss := s.issuer
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != "" && kid != iss.KeyID() {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return iss.PublicKey(), nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(s.clock), jwt.WithExpirationRequired())
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, msgExpired
		}
		return nil, invalid
	}
	str := func(k string) string { v, _ := claims[k].(string); return v }
	if !strings.EqualFold(str("tid"), iss.TenantID()) {
		return nil, invalid
	}
	if i := str("iss"); i != iss.Issuer(c.base) && i != "https://sts.windows.net/"+iss.TenantID()+"/" {
		return nil, invalid
	}
	auds, err := claims.GetAudience()
	if err != nil || !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(graphAudiences, a) }) {
		return nil, invalid
	}
	appID := str("azp")
	if appID == "" {
		appID = str("appid")
	}
	oid := str("oid")
	s.mu.Lock()
	defer s.mu.Unlock()
	if scp := strings.Fields(str("scp")); len(scp) > 0 {
		u := s.t.liveByID(kindUser, oid)
		if u == nil {
			return nil, invalid
		}
		return &Identity{
			Type: "user", ID: u.id, AppID: appID, DisplayName: u.props.str("displayName"),
			UserPrincipalName: u.props.str("userPrincipalName"), Permissions: scp,
			roles: s.t.roles[strings.ToLower(u.id)],
		}, ""
	}
	rolesRaw, _ := claims["roles"].([]any)
	var roles []string
	for _, r := range rolesRaw {
		if v, ok := r.(string); ok {
			roles = append(roles, v)
		}
	}
	if len(roles) == 0 || appID == "" {
		return nil, invalid
	}
	ident := &Identity{Type: "app", AppID: appID, ID: oid, DisplayName: appID, Permissions: roles}
	for _, sp := range sorted(s.t.live, kindServicePrincipal, false) {
		if strings.EqualFold(sp.props.str("appId"), appID) {
			ident.ID, ident.DisplayName = sp.id, sp.props.str("displayName")
		}
	}
	return ident, ""
}
