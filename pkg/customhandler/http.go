package customhandler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// HandleHTTP registers h as the function functionName, an httpTrigger
// (binding trigger) with an http output (binding output), whose route
// lives under pathPrefix (such as "/api/recovery/").
//
// The host can hand such a request over in two ways, and h sees the same
// method, path, headers and body either way:
//   - forwarded or proxied as it came (host.json customHandler
//     enableForwardingHttpRequest or enableProxyingHttpRequest, for
//     functions whose only bindings are httpTrigger in and http out):
//     the request arrives at its own path, which ServeHTTP sends to h;
//   - in the default envelope, POST /{functionName} with the request as
//     Data[trigger] (reference §A2 "HTTP trigger without forwarding"):
//     the request is rebuilt from it, and h's answer becomes the http
//     output binding {statusCode, headers, body}.
//
// It panics like Handle, and on a prefix that does not start and end with
// "/".
func (s *Server) HandleHTTP(functionName, pathPrefix, trigger, output string, h http.Handler) {
	if !strings.HasPrefix(pathPrefix, "/") || !strings.HasSuffix(pathPrefix, "/") || pathPrefix == "/" {
		panic(fmt.Sprintf("customhandler: invalid HTTP path prefix %q", pathPrefix))
	}
	s.Handle(functionName, &httpEnvelope{trigger: trigger, output: output, h: h})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.httpRoutes = append(s.httpRoutes, httpRoute{prefix: pathPrefix, exact: strings.TrimSuffix(pathPrefix, "/"), h: h})
}

// httpRoute is a path prefix served by an http.Handler.
type httpRoute struct {
	prefix, exact string
	h             http.Handler
}

func (s *Server) httpRoute(path string) (http.Handler, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.httpRoutes {
		if strings.HasPrefix(path, r.prefix) || path == r.exact {
			return r.h, true
		}
	}
	return nil, false
}

// envelopeRequest is the host's JSON form of an HTTP request (HOST
// Extensions/HttpRequestExtensions.GetRequestAsJObject; reference §A2).
// Query is an object of strings in the code, though the docs show a
// string: the URL carries the query anyway, so Query is not read.
type envelopeRequest struct {
	URL     string              `json:"Url"`
	Method  string              `json:"Method"`
	Headers map[string][]string `json:"Headers"`
	Body    *string             `json:"Body"`
}

// httpEnvelope adapts an envelope invocation to an http.Handler.
type httpEnvelope struct {
	trigger, output string
	h               http.Handler
}

// Invoke rebuilds the request from Data[trigger], serves it with h and
// returns h's answer as the output binding. The invocation itself always
// succeeds: a 4xx or 5xx is h's answer to the caller, not a failed
// invocation for the host to retry.
func (e *httpEnvelope) Invoke(ctx context.Context, req *Request) (*Response, error) {
	raw, ok := req.Value(e.trigger)
	if !ok {
		return nil, fmt.Errorf("binding %q: %w", e.trigger, ErrNoValue)
	}
	var in envelopeRequest
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("binding %q is not an HTTP request: %w", e.trigger, err)
	}
	u, err := url.Parse(in.URL)
	if err != nil || in.Method == "" {
		return nil, fmt.Errorf("binding %q: the request has no valid Url and Method", e.trigger)
	}
	var body []byte
	if in.Body != nil {
		body = []byte(*in.Body)
	}
	r, err := http.NewRequestWithContext(ctx, in.Method, u.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("binding %q: %w", e.trigger, err)
	}
	r.Host = u.Host
	for name, values := range in.Headers {
		for _, v := range values {
			r.Header.Add(name, v)
		}
	}
	rec := &responseRecorder{header: http.Header{}}
	e.h.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	headers := make(map[string]string, len(rec.header))
	for name, values := range rec.header {
		headers[name] = strings.Join(values, ", ")
	}
	// The body goes as a string, so that the host writes it as it is. A
	// JSON text never decodes as base64 (its braces and quotes are not in
	// the alphabet), so the host's try-base64 on output values (reference
	// §A2 rule 5) leaves it alone.
	return &Response{Outputs: map[string]any{e.output: map[string]any{
		"statusCode": strconv.Itoa(rec.status),
		"headers":    headers,
		"body":       rec.body.String(),
	}}}, nil
}

// responseRecorder collects an http.Handler's answer.
type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *responseRecorder) Header() http.Header { return r.header }

func (r *responseRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *responseRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}
