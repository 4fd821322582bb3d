package customhandler

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// exercise calls every decoding accessor on req. Nothing here may panic, and
// every value it returns must be encodable again, as a handler would do.
func exercise(t *testing.T, req *Request) {
	_, _ = req.Strings("events")
	_, _ = req.String("events")
	_, _ = req.TimerInfo("timer")
	md := req.EventHubMetadata()
	rc, _ := req.RetryContext()
	if _, err := json.Marshal(md); err != nil {
		t.Fatalf("EventHubMetadata not encodable: %v (%+v)", err, md)
	}
	if _, err := json.Marshal(rc); err != nil {
		t.Fatalf("RetryContext not encodable: %v", err)
	}
	for name, raw := range req.Data {
		_, _ = req.Value(name)
		_, _ = req.Strings(name)
		_, _ = req.String(name)
		if ti, err := ParseTimerInfo(raw); err == nil {
			if _, err := json.Marshal(ti); err != nil {
				t.Fatalf("TimerInfo not encodable: %v (%+v)", err, ti)
			}
		}
	}
	for name := range req.Metadata {
		_, _ = req.MetadataValue(name)
	}
}

func FuzzEnvelope(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		eventsBody,
		`{"Data":{"events":"[{\"records\":[]}]"}}`,
		`{"Data":{"events":["a"]},"Metadata":{"EnqueuedTimeUtcArray":"[\"0000-01-01T00:00:00+01:00\"]"}}`,
		`{"Data":{"timer":{"ScheduleStatus":{"Last":"9999-12-31T23:59:59-05:00"}}}}`,
		`{"Data":null}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}

	const limit = 1 << 16
	s := NewServer(Options{Logger: discardLogger(), MaxRequestBytes: limit})
	s.Handle("AuditEvents", HandlerFunc(func(_ context.Context, req *Request) (*Response, error) {
		events, err := req.Strings("events")
		md := req.EventHubMetadata()
		rc, _ := req.RetryContext()
		ti, _ := req.TimerInfo("timer")
		// Echo what was decoded, so that encoding it is exercised too.
		resp := &Response{
			Outputs:     map[string]any{"metadata": md, "timer": ti},
			Logs:        events,
			ReturnValue: rc,
		}
		return resp, err // a decoding error is a permanent failure: 200
	}))

	f.Fuzz(func(t *testing.T, body []byte) {
		// Decode directly first, so that the server's recover cannot hide a
		// panic in the decoders.
		if req, _, err := decodeEnvelope(body); err == nil {
			exercise(t, req)
		}
		_, _ = ParseTimerInfo(body)

		r := httptest.NewRequest(http.MethodPost, "/AuditEvents", bytes.NewReader(body))
		r.Header.Set(InvocationIDHeader, "fuzz")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for body %q: %s", w.Code, body, w.Body.Bytes())
		}
		if len(body) > limit && w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d for a %d-byte body over the %d limit", w.Code, len(body), limit)
		}
		checkReply(t, w.Code, w.Header(), w.Body.Bytes())
	})
}
