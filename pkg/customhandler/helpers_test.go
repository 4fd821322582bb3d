package customhandler

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fixtureDir holds realistic request bodies shared with other tests of the
// repository (see its README.md).
const fixtureDir = "../../testdata/customhandler"

// logBuffer collects log output from concurrent handlers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// entries returns the JSON log lines decoded.
func (b *logBuffer) entries(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func newTestLogger() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// wireReply is an answer as the host would read it.
type wireReply struct {
	Outputs     map[string]json.RawMessage
	Logs        []string
	ReturnValue json.RawMessage
}

// checkReply asserts the invariants every answer must meet (reference §A2
// response rules 2 and 3) and returns the decoded body.
func checkReply(t testing.TB, status int, header http.Header, body []byte) wireReply {
	t.Helper()
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("status %d: Content-Type = %q, want application/json", status, ct)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("status %d: body is not a JSON object: %v\n%s", status, err, body)
	}
	for _, key := range []string{"Outputs", "Logs"} {
		v, ok := top[key]
		if !ok || string(v) == "null" {
			t.Fatalf("status %d: %s missing or null in %s", status, key, body)
		}
	}
	if _, ok := top["ReturnValue"]; !ok {
		t.Fatalf("status %d: ReturnValue missing in %s", status, body)
	}
	var r wireReply
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("status %d: body does not match the response shape: %v\n%s", status, err, body)
	}
	if r.Outputs == nil || r.Logs == nil {
		t.Fatalf("status %d: Outputs is not an object or Logs not an array: %s", status, body)
	}
	return r
}

// do sends one request to s through httptest and checks the reply invariants.
func do(t *testing.T, s *Server, method, path string, body io.Reader, header map[string]string) (int, wireReply) {
	t.Helper()
	r := httptest.NewRequest(method, path, body)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	if method == http.MethodHead {
		if len(b) != 0 {
			t.Fatalf("HEAD answered with a body: %q", b)
		}
		return res.StatusCode, wireReply{}
	}
	return res.StatusCode, checkReply(t, res.StatusCode, res.Header, b)
}

// mustRequest decodes an envelope or fails the test.
func mustRequest(t *testing.T, body string) *Request {
	t.Helper()
	req, _, err := decodeEnvelope([]byte(body))
	if err != nil {
		t.Fatalf("decodeEnvelope(%s): %v", body, err)
	}
	return req
}
