package notify

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.value, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tt.value, got, tt.want)
		}
	}
}

// TestPostJudgesAnswers: 2xx is delivered; 429 and 5xx retryable, with
// Retry-After; other statuses final; no answer retryable; and no error
// shows the endpoint's path or query, where webhook secrets live.
func TestPostJudgesAnswers(t *testing.T) {
	var got struct {
		body, contentType string
	}
	status, header := 0, ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got.body, got.contentType = string(body), r.Header.Get("Content-Type")
		if header != "" {
			w.Header().Set("Retry-After", header)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("receiver says no"))
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/hook/SECRET?sig=SECRET"
	ln.Close()

	tests := []struct {
		name       string
		endpoint   string
		status     int
		retryAfter string
		wantErr    bool
		retryable  bool
		wantAfter  time.Duration
	}{
		{"delivered", srv.URL + "/hook/SECRET?sig=SECRET", http.StatusAccepted, "", false, false, 0},
		{"throttled", srv.URL + "/hook/SECRET?sig=SECRET", http.StatusTooManyRequests, "7", true, true, 7 * time.Second},
		{"receiver down", srv.URL + "/hook/SECRET?sig=SECRET", http.StatusServiceUnavailable, "", true, true, 0},
		{"refused", srv.URL + "/hook/SECRET?sig=SECRET", http.StatusBadRequest, "", true, false, 0},
		{"no answer", closed, 0, "", true, true, 0},
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, header = tt.status, tt.retryAfter
			err := post(context.Background(), client, "ops", tt.endpoint, http.Header{"Content-Type": {"application/json"}}, []byte(`{"a":1}`))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %t", err, tt.wantErr)
			}
			if err == nil {
				if got.body != `{"a":1}` || got.contentType != "application/json" {
					t.Errorf("receiver got %q (%s)", got.body, got.contentType)
				}
				return
			}
			var de *DeliveryError
			if !errors.As(err, &de) || de.Retryable != tt.retryable || de.RetryAfter != tt.wantAfter || de.Channel != "ops" {
				t.Errorf("err = %#v, want retryable %t after %s", err, tt.retryable, tt.wantAfter)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "hook") {
				t.Errorf("the error shows the endpoint's secret parts: %v", err)
			}
		})
	}
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
