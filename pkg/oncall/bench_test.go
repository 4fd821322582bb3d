package oncall_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/time/rate"

	"github.com/reinstate/reinstate/pkg/oncall"
)

// benchRequest serves one request straight into the API's handler (no
// socket), so that the figures are the API's own work: authentication,
// role, rate limit, the route.
func benchRequest(b *testing.B, h *harness, path, token string, want int) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, oncall.BasePath+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.Server.ServeHTTP(rec, req)
		if rec.Code != want {
			b.Fatalf("status %d, want %d: %s", rec.Code, want, rec.Body)
		}
	}
}

// BenchmarkAPI compares an unauthenticated route (health), a rejected
// token and an authenticated read, to show what token validation costs a
// request. The JWKS is fetched once, before the loop.
func BenchmarkAPI(b *testing.B) {
	h := newHarness(b, harnessOptions{rate: rate.Inf})
	valid := h.token(readRole, nil)
	warm := httptest.NewRequest(http.MethodGet, oncall.BasePath+"/journal?limit=1", nil)
	warm.Header.Set("Authorization", "Bearer "+valid)
	h.Server.ServeHTTP(httptest.NewRecorder(), warm) // fetch the metadata and keys
	b.Run("health", func(b *testing.B) { benchRequest(b, h, "/health", "", http.StatusOK) })
	b.Run("no-token", func(b *testing.B) { benchRequest(b, h, "/journal?limit=1", "", http.StatusUnauthorized) })
	b.Run("expired-token", func(b *testing.B) {
		expired := h.token(readRole, map[string]any{"exp": 1_000_000_000, "iat": 999_000_000, "nbf": 999_000_000})
		benchRequest(b, h, "/journal?limit=1", expired, http.StatusUnauthorized)
	})
	b.Run("journal-authenticated", func(b *testing.B) { benchRequest(b, h, "/journal?limit=1", valid, http.StatusOK) })
}
