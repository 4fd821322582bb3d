package customhandler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

const eventsBody = `{"Data":{"events":"[\"{\\\"records\\\":[]}\"]"},"Metadata":{"SequenceNumberArray":"[59]"}}`

func TestReadiness(t *testing.T) {
	s := NewServer(Options{Logger: discardLogger()})
	status, reply := do(t, s, http.MethodGet, "/", nil, nil)
	if status != http.StatusOK || len(reply.Logs) != 0 || len(reply.Outputs) != 0 {
		t.Fatalf("GET / = %d %+v", status, reply)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodHead, "/", nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" || w.Body.Len() != 0 {
		t.Fatalf("HEAD / = %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	w = httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(eventsBody)))
	checkReply(t, w.Code, w.Header(), w.Body.Bytes())
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST / = %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
}

// chunked hides the length of a body so that the server must count it.
type chunked struct{ io.Reader }

func TestReplies(t *testing.T) {
	errPermanent := errors.New("record 3 has no target id")
	tests := []struct {
		name        string
		method      string
		path        string
		body        io.Reader
		ctx         func() context.Context // nil: background
		handler     HandlerFunc
		wantStatus  int
		wantLogs    []string // exact Logs; nil means check wantLogPart instead
		wantLogPart string   // substring of the last Logs line
		wantLevel   string   // level of the summary log line
	}{
		{
			name: "success passes Outputs, Logs and ReturnValue through",
			handler: func(context.Context, *Request) (*Response, error) {
				return &Response{Outputs: map[string]any{"res": map[string]any{"body": "ok"}}, Logs: []string{"processed 1 event <ok> & done"}, ReturnValue: "rv"}, nil
			},
			wantStatus: http.StatusOK,
			wantLogs:   []string{"processed 1 event <ok> & done"},
			wantLevel:  "INFO",
		},
		{
			name:       "success with nil response still answers a full envelope",
			handler:    func(context.Context, *Request) (*Response, error) { return nil, nil },
			wantStatus: http.StatusOK,
			wantLogs:   []string{},
			wantLevel:  "INFO",
		},
		{
			name: "transient error answers 500 so the host retries",
			handler: func(context.Context, *Request) (*Response, error) {
				return nil, Transient(errors.New("graph: 503 service unavailable"))
			},
			wantStatus:  http.StatusInternalServerError,
			wantLogPart: "graph: 503 service unavailable",
			wantLevel:   "WARN",
		},
		{
			name: "transient error wrapped further is still transient",
			handler: func(context.Context, *Request) (*Response, error) {
				return nil, fmt.Errorf("event 2: %w", Transient(errors.New("store locked")))
			},
			wantStatus:  http.StatusInternalServerError,
			wantLogPart: "event 2: store locked",
			wantLevel:   "WARN",
		},
		{
			name: "permanent error answers 200 with the handler's Logs plus one line",
			handler: func(context.Context, *Request) (*Response, error) {
				return &Response{Logs: []string{"decoded 3 records"}}, fmt.Errorf("journal: %w", errPermanent)
			},
			wantStatus: http.StatusOK,
			wantLogs:   []string{"decoded 3 records", "permanent failure, not retried: journal: record 3 has no target id"},
			wantLevel:  "ERROR",
		},
		{
			name:        "panic answers 500",
			handler:     func(context.Context, *Request) (*Response, error) { panic("nil map in rule 7") },
			wantStatus:  http.StatusInternalServerError,
			wantLogPart: "panicked",
			wantLevel:   "ERROR",
		},
		{
			name: "unencodable response answers 500",
			handler: func(context.Context, *Request) (*Response, error) {
				return &Response{Outputs: map[string]any{"bad": make(chan int)}}, nil
			},
			wantStatus:  http.StatusInternalServerError,
			wantLogPart: "could not be encoded",
			wantLevel:   "ERROR",
		},
		{
			name: "error after the context ended is an interruption: 500",
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			handler: func(ctx context.Context, _ *Request) (*Response, error) {
				return nil, fmt.Errorf("restoring: %w", ctx.Err())
			},
			wantStatus:  http.StatusInternalServerError,
			wantLogPart: "interrupted",
			wantLevel:   "WARN",
		},
		{
			name:        "unknown function: 404",
			path:        "/NoSuchFunction",
			wantStatus:  http.StatusNotFound,
			wantLogPart: `no function "NoSuchFunction"`,
			wantLevel:   "ERROR",
		},
		{
			name:        "nested path: 404",
			path:        "/AuditEvents/x",
			wantStatus:  http.StatusNotFound,
			wantLogPart: "no function",
			wantLevel:   "ERROR",
		},
		{
			name:        "GET on a function: 405",
			method:      http.MethodGet,
			body:        http.NoBody,
			wantStatus:  http.StatusMethodNotAllowed,
			wantLogPart: "method GET not allowed",
			wantLevel:   "WARN",
		},
		{
			name:        "body not JSON: 400",
			body:        strings.NewReader(`Data=1`),
			wantStatus:  http.StatusBadRequest,
			wantLogPart: "not a JSON object",
			wantLevel:   "ERROR",
		},
		{
			name:        "body invalid JSON: 400",
			body:        strings.NewReader(`{"Data":`),
			wantStatus:  http.StatusBadRequest,
			wantLogPart: "not valid JSON",
			wantLevel:   "ERROR",
		},
		{
			name:        "body a JSON array: 400",
			body:        strings.NewReader(`[]`),
			wantStatus:  http.StatusBadRequest,
			wantLogPart: "not a JSON object",
			wantLevel:   "ERROR",
		},
		{
			name:        "Data missing: 400",
			body:        strings.NewReader(`{"Metadata":{}}`),
			wantStatus:  http.StatusBadRequest,
			wantLogPart: "no Data",
			wantLevel:   "ERROR",
		},
		{
			name:        "empty body: 400",
			body:        http.NoBody,
			wantStatus:  http.StatusBadRequest,
			wantLogPart: "empty",
			wantLevel:   "ERROR",
		},
		{
			name:        "body over the limit, length announced: 413",
			body:        strings.NewReader(`{"Data":{"events":"` + strings.Repeat("x", 2048) + `"}}`),
			wantStatus:  http.StatusRequestEntityTooLarge,
			wantLogPart: "exceeds 1024 bytes",
			wantLevel:   "ERROR",
		},
		{
			name:        "body over the limit, chunked: 413",
			body:        chunked{strings.NewReader(`{"Data":{"events":"` + strings.Repeat("x", 2048) + `"}}`)},
			wantStatus:  http.StatusRequestEntityTooLarge,
			wantLogPart: "exceeds 1024 bytes",
			wantLevel:   "ERROR",
		},
		{
			name: "function name matched case-insensitively",
			path: "/auditevents",
			handler: func(_ context.Context, req *Request) (*Response, error) {
				return &Response{Logs: []string{req.FunctionName}}, nil
			},
			wantStatus: http.StatusOK,
			wantLogs:   []string{"AuditEvents"},
			wantLevel:  "INFO",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, logs := newTestLogger()
			s := NewServer(Options{Logger: logger, MaxRequestBytes: 1024})
			h := tt.handler
			if h == nil {
				h = func(context.Context, *Request) (*Response, error) {
					t.Error("handler called")
					return nil, nil
				}
			}
			s.Handle("AuditEvents", h)
			method, path, body := tt.method, tt.path, tt.body
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/AuditEvents"
			}
			if body == nil {
				body = strings.NewReader(eventsBody)
			}
			r := httptest.NewRequest(method, path, body)
			if _, ok := body.(chunked); ok {
				r.ContentLength = -1
			}
			if tt.ctx != nil {
				r = r.WithContext(tt.ctx())
			}
			r.Header.Set(InvocationIDHeader, "inv-1")
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)

			reply := checkReply(t, w.Code, w.Header(), w.Body.Bytes())
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantStatus, w.Body.Bytes())
			}
			if tt.wantLogs != nil {
				if !reflect.DeepEqual(reply.Logs, tt.wantLogs) {
					t.Fatalf("Logs = %q, want %q", reply.Logs, tt.wantLogs)
				}
			} else if len(reply.Logs) == 0 || !strings.Contains(reply.Logs[len(reply.Logs)-1], tt.wantLogPart) {
				t.Fatalf("Logs = %q, want a last line containing %q", reply.Logs, tt.wantLogPart)
			}
			if tt.wantStatus == http.StatusMethodNotAllowed && w.Header().Get("Allow") != http.MethodPost {
				t.Fatalf("Allow = %q", w.Header().Get("Allow"))
			}

			var summary map[string]any
			for _, e := range logs.entries(t) {
				if _, ok := e["status"]; ok {
					if summary != nil {
						t.Fatalf("more than one summary log line: %v and %v", summary, e)
					}
					summary = e
				}
			}
			if summary == nil {
				t.Fatalf("no summary log line in\n%s", logs)
			}
			if summary["level"] != tt.wantLevel || summary["invocation_id"] != "inv-1" ||
				summary["status"] != float64(tt.wantStatus) || summary["function"] == nil || summary["duration"] == nil {
				t.Fatalf("summary log line = %v; want level %s, status %d", summary, tt.wantLevel, tt.wantStatus)
			}
			if tt.wantLevel != "INFO" && summary["error"] == nil {
				t.Fatalf("failure logged without error: %v", summary)
			}
			if strings.Contains(tt.name, "panic") && !strings.Contains(fmt.Sprint(summary["stack"]), "server_test.go") {
				t.Fatalf("panic logged without the stack: %v", summary)
			}
		})
	}
}

func TestInvocationLogging(t *testing.T) {
	const secret = "alex.secret@contoso.example"
	body := `{"Data":{"events":"[\"{\\\"upn\\\":\\\"` + secret + `\\\"}\"]"},` +
		`"Metadata":{"RetryContext":{"RetryCount":2,"MaxRetryCount":5,"Exception":{"Message":"` + secret + `"}}}}`
	logger, logs := newTestLogger()
	s := NewServer(Options{Logger: logger})
	var seen *Request
	s.Handle("AuditEvents", HandlerFunc(func(_ context.Context, req *Request) (*Response, error) {
		seen = req
		return nil, errors.New("no rule matched")
	}))
	status, _ := do(t, s, http.MethodPost, "/AuditEvents", strings.NewReader(body),
		map[string]string{InvocationIDHeader: "0f8fad5b-d9cb-469f-a165-70867728950e"})
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	if seen == nil || seen.InvocationID != "0f8fad5b-d9cb-469f-a165-70867728950e" || seen.FunctionName != "AuditEvents" {
		t.Fatalf("handler saw %+v", seen)
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatalf("request body content reached the log:\n%s", logs)
	}
	var summary, sizes map[string]any
	for _, e := range logs.entries(t) {
		switch {
		case e["status"] != nil:
			summary = e
		case e["request_bytes"] != nil:
			sizes = e
		}
	}
	if summary["retry_count"] != float64(2) || summary["max_retry_count"] != float64(5) ||
		summary["invocation_id"] != "0f8fad5b-d9cb-469f-a165-70867728950e" || summary["error"] != "no rule matched" {
		t.Fatalf("summary = %v", summary)
	}
	if sizes == nil || sizes["level"] != "DEBUG" || sizes["request_bytes"] != float64(len(body)) {
		t.Fatalf("sizes = %v", sizes)
	}
}

func TestHandlerContextDeadline(t *testing.T) {
	s := NewServer(Options{Logger: discardLogger(), WriteTimeout: 50 * time.Millisecond})
	var ctxErr error
	s.Handle("Slow", HandlerFunc(func(ctx context.Context, _ *Request) (*Response, error) {
		select {
		case <-ctx.Done():
			ctxErr = ctx.Err()
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return nil, nil
		}
	}))
	status, _ := do(t, s, http.MethodPost, "/Slow", strings.NewReader(eventsBody), nil)
	if status != http.StatusInternalServerError || !errors.Is(ctxErr, context.DeadlineExceeded) {
		t.Fatalf("status %d, handler ctx err %v", status, ctxErr)
	}
}

func TestPermanentErrorDoesNotMutateHandlerLogs(t *testing.T) {
	s := NewServer(Options{Logger: discardLogger()})
	logs := make([]string, 1, 4)
	logs[0] = "mine"
	s.Handle("F", HandlerFunc(func(context.Context, *Request) (*Response, error) {
		return &Response{Logs: logs}, errors.New("bad")
	}))
	_, reply := do(t, s, http.MethodPost, "/F", strings.NewReader(eventsBody), nil)
	if len(reply.Logs) != 2 || logs[:2][1] != "" {
		t.Fatalf("reply Logs %q; handler slice backing array changed: %q", reply.Logs, logs[:2])
	}
}

func TestHandlePanics(t *testing.T) {
	ok := HandlerFunc(func(context.Context, *Request) (*Response, error) { return nil, nil })
	tests := []struct {
		name string
		fn   func(s *Server)
	}{
		{"duplicate", func(s *Server) { s.Handle("F", ok); s.Handle("F", ok) }},
		{"duplicate differing in case", func(s *Server) { s.Handle("F", ok); s.Handle("f", ok) }},
		{"empty name", func(s *Server) { s.Handle("", ok) }},
		{"slash in name", func(s *Server) { s.Handle("a/b", ok) }},
		{"nil handler", func(s *Server) { s.Handle("F", nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tt.fn(NewServer(Options{Logger: discardLogger()}))
		})
	}
}

func TestNewServerDefaults(t *testing.T) {
	s := NewServer(Options{MaxRequestBytes: -1, WriteTimeout: -time.Second})
	if s.maxBytes != 128<<20 || s.readHeaderTimeout != 10*time.Second || s.readTimeout != 2*time.Minute ||
		s.writeTimeout != 11*time.Minute || s.idleTimeout != 2*time.Minute || s.grace != 30*time.Second || s.log == nil {
		t.Fatalf("defaults: %+v", s)
	}
}
