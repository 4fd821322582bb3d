package graphapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// TokenIdentity learns who Reinstate is from an access token its credential
// issues for the Graph at baseURL: the application id (claim appid in v1
// tokens, azp in v2) and the object id of its service principal or managed
// identity (oid). Reinstate uses them to recognise its own writes in the
// audit log. The token is not validated: it is Reinstate's own, fresh from
// its own credential, and only read for these two claims
// (Learn entra/identity-platform/access-token-claims-reference).
func TokenIdentity(ctx context.Context, cred azcore.TokenCredential, baseURL string) (appID, objectID string, err error) {
	base, err := ParseBaseURL(baseURL)
	if err != nil {
		return "", "", err
	}
	token, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{base.Scheme + "://" + base.Host + "/.default"}})
	if err != nil {
		return "", "", fmt.Errorf("get a Graph token: %w", err)
	}
	return tokenClaims(token.Token)
}

// tokenClaims reads appid/azp and oid from a JWT's payload.
func tokenClaims(jwt string) (appID, objectID string, err error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", "", errors.New("access token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", "", fmt.Errorf("access token payload: %w", err)
	}
	var claims struct {
		AppID string `json:"appid"`
		AZP   string `json:"azp"`
		OID   string `json:"oid"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", "", fmt.Errorf("access token claims: %w", err)
	}
	appID = claims.AppID
	if appID == "" {
		appID = claims.AZP
	}
	if appID == "" || claims.OID == "" {
		return "", "", errors.New("access token carries no appid/azp or oid claim")
	}
	return appID, claims.OID, nil
}
