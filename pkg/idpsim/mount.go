package idpsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
)

// TokenPath is the control endpoint Mount serves for minting test tokens.
const TokenPath = "/_sim/token"

// maxLifetimeSeconds bounds a minted token's lifetime to a day, the longest
// access-token lifetime Entra's configurable token lifetimes allow.
const maxLifetimeSeconds = 24 * 60 * 60

// Mount serves the issuer's documents (/{tenant}/...) and POST /_sim/token
// in front of next, which gets every other request. graphsim uses it to
// offer one loopback listener for Graph and sign-in, as local mode needs.
func (i *Issuer) Mount(next http.Handler) http.Handler {
	docs := i.Handler()
	prefix := "/" + i.tenant + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == TokenPath:
			i.serveToken(w, r)
		case strings.HasPrefix(strings.ToLower(r.URL.Path), prefix):
			docs.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// SimTokenRequest is the JSON body of POST /_sim/token.
type SimTokenRequest struct {
	// Audience is the token's aud: the API's client id or App ID URI.
	// Required.
	Audience string `json:"audience"`
	// Roles are the app roles granted.
	Roles []string `json:"roles,omitempty"`
	// Name is the user's sign-in name; ignored with App.
	Name string `json:"name,omitempty"`
	// ObjectID is the caller's oid; default a random GUID.
	ObjectID string `json:"objectId,omitempty"`
	// App asks for an app-only token.
	App bool `json:"app,omitempty"`
	// LifetimeSeconds is the token's lifetime; default 3600, at most a day.
	LifetimeSeconds int `json:"lifetimeSeconds,omitempty"`
}

// SimTokenResponse is the answer of POST /_sim/token: the members of an
// OAuth 2.0 token response (RFC 6749 §5.1) a client reads.
type SimTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

// serveToken is POST /_sim/token: it mints a test token for local mode, for
// whoever can reach the loopback listener, with whatever roles the body
// asks for. It exists because local mode has no real tenant to sign in to;
// it is not Entra's token endpoint and takes no credentials.
func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil || len(body) > 64<<10 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "token request: body unreadable or larger than 64 KiB"})
		return
	}
	var req SimTokenRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("token request: %v", err)})
		return
	}
	if req.ObjectID != "" {
		if _, err := uuid.Parse(req.ObjectID); err != nil || len(req.ObjectID) != 36 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("token request: objectId %q is not a GUID", req.ObjectID)})
			return
		}
	}
	if req.LifetimeSeconds == 0 {
		req.LifetimeSeconds = 3600
	}
	if req.LifetimeSeconds < 0 || req.LifetimeSeconds > maxLifetimeSeconds {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("token request: lifetimeSeconds must be between 1 and %d", maxLifetimeSeconds)})
		return
	}
	tok, err := i.Token(TokenRequest{
		BaseURL:  i.baseURL(r),
		Audience: req.Audience,
		Roles:    req.Roles,
		Name:     req.Name,
		ObjectID: req.ObjectID,
		App:      req.App,
		Lifetime: time.Duration(req.LifetimeSeconds) * time.Second,
	})
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	// A token response must not be cached (RFC 6749 §5.1).
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, SimTokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: req.LifetimeSeconds})
}
