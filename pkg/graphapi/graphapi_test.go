package graphapi

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

func TestParseBaseURL(t *testing.T) {
	tests := []struct {
		raw, want, wantErr string
	}{
		{"https://graph.microsoft.com", "https://graph.microsoft.com", ""},
		{"https://graph.microsoft.us/", "https://graph.microsoft.us", ""},
		{"http://127.0.0.1:4100", "http://127.0.0.1:4100", ""},
		{"http://localhost:4100/", "http://localhost:4100", ""},
		{"http://graph.microsoft.com", "", "https"},
		{"http://10.0.0.5:4100", "", "https"},
		{"https://graph.microsoft.com/v1.0", "", "version"},
		{"https://graph.microsoft.com/beta/", "", "version"},
		{"https://user:pw@graph.microsoft.com", "", "credentials"},
		{"graph.microsoft.com", "", "absolute"},
	}
	for _, tt := range tests {
		u, err := ParseBaseURL(tt.raw)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseBaseURL(%q) error = %v, want one about %q", tt.raw, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("ParseBaseURL(%q): %v", tt.raw, err)
		case u.String() != tt.want:
			t.Errorf("ParseBaseURL(%q) = %s, want %s", tt.raw, u, tt.want)
		}
	}
}

func TestNewRefusesUnauthenticatedOrTestTokensOffLoopback(t *testing.T) {
	tests := []struct {
		cfg     Config
		wantErr string
	}{
		{Config{BaseURL: "https://graph.microsoft.com", Auth: AuthNone}, "loopback"},
		{Config{BaseURL: "https://graph.microsoft.com", Auth: AuthStatic, Token: "t"}, "loopback"},
		{Config{BaseURL: "http://127.0.0.1:1", Auth: AuthStatic}, "token"},
		{Config{BaseURL: "https://graph.microsoft.com", Auth: AuthAzure}, "credential"},
		{Config{BaseURL: "http://127.0.0.1:1", Auth: "basic"}, "basic"},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("New(%+v) error = %v, want one about %q", tt.cfg, err, tt.wantErr)
		}
	}
	if _, err := New(Config{BaseURL: "http://127.0.0.1:1", Auth: AuthStatic, Token: "t"}); err != nil {
		t.Errorf("static token on loopback: %v", err)
	}
}

// tokenSource is an azcore.TokenCredential that hands out a fixed token and
// records the scopes asked for.
type tokenSource struct {
	token  string
	scopes []string
}

func (s *tokenSource) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	s.scopes = opts.Scopes
	if s.token == "" {
		return azcore.AccessToken{}, errors.New("no token")
	}
	return azcore.AccessToken{Token: s.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func jwt(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

func TestTokenIdentity(t *testing.T) {
	tests := []struct {
		name, token, wantApp, wantOID, wantErr string
	}{
		{"v1 token", jwt(`{"appid":"4e6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c2e","oid":"f2b4d6e8-3a5c-4b7d-9f1a-2c4e6a8c0d32"}`), "4e6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c2e", "f2b4d6e8-3a5c-4b7d-9f1a-2c4e6a8c0d32", ""},
		{"v2 token", jwt(`{"azp":"4e6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c2e","oid":"f2b4d6e8-3a5c-4b7d-9f1a-2c4e6a8c0d32"}`), "4e6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c2e", "f2b4d6e8-3a5c-4b7d-9f1a-2c4e6a8c0d32", ""},
		{"no oid", jwt(`{"appid":"a"}`), "", "", "oid"},
		{"not a JWT", "opaque-token", "", "", "JWT"},
		{"bad payload", "a.!!!.c", "", "", "payload"},
		{"no token", "", "", "", "no token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &tokenSource{token: tt.token}
			app, oid, err := TokenIdentity(context.Background(), src, "https://graph.microsoft.us")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one about %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || app != tt.wantApp || oid != tt.wantOID {
				t.Fatalf("TokenIdentity = %q, %q, %v; want %q, %q", app, oid, err, tt.wantApp, tt.wantOID)
			}
			if len(src.scopes) != 1 || src.scopes[0] != "https://graph.microsoft.us/.default" {
				t.Errorf("asked for scopes %v, want the configured Graph's .default", src.scopes)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"0", 0, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	}
	for _, tt := range tests {
		if got, ok := ParseRetryAfter(tt.value, now); got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %s, %t; want %s, %t", tt.value, got, ok, tt.want, tt.wantOK)
		}
	}
}
