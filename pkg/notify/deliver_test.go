package notify

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://prod-01.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SECRET", "https://prod-01.westeurope.logic.azure.com:443/…"},
		{"https://hooks.slack.com/services/T000/B000/SECRET", "https://hooks.slack.com/…"},
		{"https://user:SECRET@example.com", "https://example.com"},
		{"https://example.com/", "https://example.com"},
		{"not a url at all SECRET", "(endpoint redacted)"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want || strings.Contains(got, "SECRET") {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestPostJudgesAnswers: 2xx is delivered; 429 and 5xx retryable, with
// Retry-After; other statuses final; no answer retryable; and no error
// shows the endpoint's path or query, where webhook secrets live.
func TestPostJudgesAnswers(t *testing.T) {
	client := &http.Client{Timeout: 5 * time.Second}
	CheckAnswers(t, AnswerChannel{
		Name: "ops",
		Send: func(t *testing.T, rcv *Receiver) error {
			return post(context.Background(), client, "ops", rcv.URL+"/hook/SECRET?sig=SECRET", http.Header{"Content-Type": {"application/json"}}, []byte(`{"a":1}`))
		},
		Reply: func([]byte) string { return "receiver says no" },
		Delivered: func(t *testing.T, got Request) {
			if string(got.Body) != `{"a":1}` || got.Header.Get("Content-Type") != "application/json" {
				t.Errorf("receiver got %q (%s)", got.Body, got.Header.Get("Content-Type"))
			}
		},
		Secrets: []string{"SECRET", "hook"},
	}, []AnswerCase{
		{Name: "delivered", Status: http.StatusAccepted},
		{Name: "throttled", Status: http.StatusTooManyRequests, RetryAfter: "7", Retryable: true, After: 7 * time.Second},
		{Name: "receiver down", Status: http.StatusServiceUnavailable, Retryable: true},
		{Name: "refused", Status: http.StatusBadRequest},
		{Name: "no answer", Retryable: true},
	})
}

func TestSettings(t *testing.T) {
	tests := []struct {
		name    string
		values  map[string]any
		wantErr string
	}{
		{"https", map[string]any{"url": "https://example.com/hook?sig=SECRET"}, ""},
		{"http to loopback", map[string]any{"url": "http://127.0.0.1:9/hook"}, ""},
		{"missing", map[string]any{}, "channel ops: url is required"},
		{"not a string", map[string]any{"url": 42}, "channel ops: url must be a non-empty string"},
		{"http elsewhere", map[string]any{"url": "http://example.com/hook?sig=SECRET"}, "must be https"},
		{"not a url", map[string]any{"url": "::SECRET"}, "url is not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := settings{channel: "ops", values: tt.values}
			s.url("url", true)
			err := errors.Join(s.errs...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "SECRET"):
				t.Errorf("the error shows the value: %v", err)
			}
		})
	}
}
