package customhandler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Response is a handler's answer, written as the JSON body the host reads
// into HttpScriptInvocationResult (HOST; reference §A2 "Response from the
// handler"). The Server never sends null Outputs or Logs.
type Response struct {
	// Outputs holds output binding values by binding name.
	Outputs map[string]any `json:"Outputs"`
	// Logs are written by the host at Information level to the function's
	// logger (Application Insights traces; reference §A2 rule 4). They must
	// not contain personal data the operator does not want in traces.
	Logs []string `json:"Logs"`
	// ReturnValue is the $return binding's value.
	ReturnValue any `json:"ReturnValue"`
}

// Handler runs one function. A returned error marked with Transient makes the
// Server answer 500 so that the host retries the batch under the function's
// retry policy; any other error is a permanent failure: the Server answers
// 200 (retrying cannot help) with the error text appended to Logs, and logs
// it at error level. For the Event Hubs trigger a 200 lets the host
// checkpoint the batch, and so does a 500 once retries are exhausted
// (reference §A3): a handler must persist anything it cannot process.
type Handler interface {
	Invoke(ctx context.Context, req *Request) (*Response, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *Request) (*Response, error)

// Invoke calls f(ctx, req).
func (f HandlerFunc) Invoke(ctx context.Context, req *Request) (*Response, error) {
	return f(ctx, req)
}

// Defaults for Options fields left zero (or negative).
const (
	DefaultMaxRequestBytes   int64 = 128 << 20
	DefaultReadHeaderTimeout       = 10 * time.Second
	DefaultReadTimeout             = 2 * time.Minute
	// DefaultWriteTimeout exceeds the functionTimeout of 10 minutes set in
	// host.json, so that an invocation the host still waits for can answer.
	DefaultWriteTimeout  = 11 * time.Minute
	DefaultIdleTimeout   = 2 * time.Minute
	DefaultShutdownGrace = 30 * time.Second
)

// Options configure a Server. Zero or negative values take the defaults
// above.
type Options struct {
	// Logger receives one line per invocation and protocol errors. nil means
	// slog.Default().
	Logger *slog.Logger
	// MaxRequestBytes bounds a request body; larger bodies get 413.
	MaxRequestBytes int64
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout configure
	// the http.Server used by Serve. WriteTimeout must exceed the
	// functionTimeout in host.json; it also bounds each handler's context
	// (see ServeHTTP).
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownGrace is how long Serve lets in-flight invocations finish
	// after its context is cancelled.
	ShutdownGrace time.Duration
}

// Server answers the Functions host: the readiness probe on GET / and one
// POST /{FunctionName} per invocation. It is safe for concurrent use.
type Server struct {
	log      *slog.Logger
	maxBytes int64

	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	writeTimeout      time.Duration
	idleTimeout       time.Duration
	grace             time.Duration

	mu         sync.RWMutex
	handlers   map[string]registration // by strings.ToLower(name)
	httpRoutes []httpRoute             // forwarded HTTP functions (HandleHTTP)
}

type registration struct {
	name    string
	handler Handler
}

// NewServer returns a Server with no functions registered.
func NewServer(opts Options) *Server {
	s := &Server{
		log:               opts.Logger,
		maxBytes:          opts.MaxRequestBytes,
		readHeaderTimeout: orDefault(opts.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		readTimeout:       orDefault(opts.ReadTimeout, DefaultReadTimeout),
		writeTimeout:      orDefault(opts.WriteTimeout, DefaultWriteTimeout),
		idleTimeout:       orDefault(opts.IdleTimeout, DefaultIdleTimeout),
		grace:             orDefault(opts.ShutdownGrace, DefaultShutdownGrace),
		handlers:          map[string]registration{},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxRequestBytes
	}
	return s
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Handle registers h for the function functionName (its folder name in the
// app, which the host uses as the request path; reference §A2). Names are
// matched case-insensitively, as the host treats function names. It panics
// on an empty name, a name containing "/", a nil handler or a duplicate
// registration: all are programming errors.
func (s *Server) Handle(functionName string, h Handler) {
	if functionName == "" || strings.Contains(functionName, "/") {
		panic(fmt.Sprintf("customhandler: invalid function name %q", functionName))
	}
	if h == nil {
		panic(fmt.Sprintf("customhandler: nil handler for function %q", functionName))
	}
	key := strings.ToLower(functionName)
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, dup := s.handlers[key]; dup {
		panic(fmt.Sprintf("customhandler: function %q registered twice (already as %q)", functionName, prev.name))
	}
	s.handlers[key] = registration{name: functionName, handler: h}
}

func (s *Server) handler(name string) (registration, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	reg, ok := s.handlers[strings.ToLower(name)]
	return reg, ok
}

// readyBody answers the readiness probe. It has the shape of a Response so
// that every answer of this server parses the same way.
const readyBody = `{"Outputs":{},"Logs":[],"ReturnValue":null,"Status":"ready"}`

// record collects what the summary log line of one request reports.
type record struct {
	start        time.Time
	function     string
	invocationID string
	retry        RetryContext
	hasRetry     bool
	requestBytes int

	msg   string
	level slog.Level
	err   error
	stack []byte
}

// ServeHTTP answers one request from the host.
//
// Each handler runs with a context derived from the request's, so it ends
// when the host disconnects or when Serve's shutdown grace runs out, and with
// a deadline of WriteTimeout after the request arrived: past it the answer
// could no longer be written, and the host itself gives up after
// functionTimeout + 1 minute (HOST DefaultHttpWorkerService sets
// HttpClient.Timeout so; reference §A2), so further work would be done for
// nobody. An error returned after the context ended is answered with 500, as
// the invocation was interrupted rather than failed on its input (the answer
// is normally undeliverable by then anyway).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &record{
		start:        time.Now(),
		invocationID: truncate(r.Header.Get(InvocationIDHeader), 128),
	}
	if r.URL.Path == "/" {
		s.serveReadiness(w, r, rec)
		return
	}
	if h, ok := s.httpRoute(r.URL.Path); ok {
		// A request the host forwarded as it came: the HTTP function's
		// own handler answers it, status and all.
		h.ServeHTTP(w, r)
		return
	}

	name := strings.TrimPrefix(r.URL.Path, "/")
	reg, ok := s.handler(name)
	if !ok {
		// The host only calls functions it found in the app's folders, so
		// this is a deployment mismatch between function.json folders and
		// this build.
		rec.function = truncate(name, 128)
		s.protocolError(w, r, rec, http.StatusNotFound, slog.LevelError,
			fmt.Errorf("no function %q is registered in this handler (function.json folders and handler build disagree?)", rec.function))
		return
	}
	rec.function = reg.name
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.protocolError(w, r, rec, http.StatusMethodNotAllowed, slog.LevelWarn,
			fmt.Errorf("method %s not allowed; the host invokes functions with POST", r.Method))
		return
	}

	body, err := s.readBody(w, r)
	rec.requestBytes = len(body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.protocolError(w, r, rec, http.StatusRequestEntityTooLarge, slog.LevelError,
				fmt.Errorf("request body exceeds %d bytes (Options.MaxRequestBytes)", s.maxBytes))
			return
		}
		s.protocolError(w, r, rec, http.StatusBadRequest, slog.LevelError,
			fmt.Errorf("reading request body: %w", err))
		return
	}
	req, metadataIgnored, err := decodeEnvelope(body)
	if err != nil {
		// Bad envelopes come from the host or a stray client, never from the
		// events themselves (those sit inside Data as strings).
		s.protocolError(w, r, rec, http.StatusBadRequest, slog.LevelError, err)
		return
	}
	req.FunctionName = reg.name
	req.InvocationID = rec.invocationID
	rec.retry, rec.hasRetry = req.RetryContext()
	if metadataIgnored {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "custom handler: request Metadata is not a JSON object; ignored",
			slog.String("function", rec.function), slog.String("invocation_id", rec.invocationID))
	}

	ctx, cancel := context.WithDeadline(r.Context(), rec.start.Add(s.writeTimeout))
	defer cancel()
	resp, panicked, err := invoke(ctx, reg.handler, req)

	var status int
	switch {
	case panicked != nil:
		rec.msg, rec.level = "invocation panicked; the host will retry", slog.LevelError
		rec.err = fmt.Errorf("handler panicked: %v", panicked.value)
		rec.stack = panicked.stack
		status = http.StatusInternalServerError
		resp = &Response{Logs: []string{"internal error: the handler panicked; see the custom handler's log"}}
	case err == nil:
		rec.msg, rec.level = "invocation succeeded", slog.LevelInfo
		status = http.StatusOK
	case IsTransient(err):
		rec.msg, rec.level, rec.err = "invocation failed transiently; the host will retry", slog.LevelWarn, err
		status = http.StatusInternalServerError
		resp = withLog(resp, "transient failure, the host retries under the function's retry policy: "+err.Error())
	case ctx.Err() != nil:
		rec.msg, rec.level, rec.err = "invocation interrupted", slog.LevelWarn, err
		status = http.StatusInternalServerError
		resp = withLog(resp, "invocation interrupted before completion: "+err.Error())
	default:
		rec.msg, rec.level, rec.err = "invocation failed permanently; not retried", slog.LevelError, err
		status = http.StatusOK
		resp = withLog(resp, "permanent failure, not retried: "+err.Error())
	}
	s.reply(w, r, rec, status, resp)
}

// handlerPanic is a recovered panic and where it happened.
type handlerPanic struct {
	value any
	stack []byte
}

// invoke calls h, turning a panic into a value so that one buggy batch
// answers 500 (and is retried) instead of killing the process.
func invoke(ctx context.Context, h Handler, req *Request) (resp *Response, p *handlerPanic, err error) {
	defer func() {
		if v := recover(); v != nil {
			p = &handlerPanic{value: v, stack: debug.Stack()}
		}
	}()
	resp, err = h.Invoke(ctx, req)
	return resp, nil, err
}

// withLog returns a copy of resp (or an empty Response) with line appended
// to Logs, leaving the handler's slice untouched.
func withLog(resp *Response, line string) *Response {
	var out Response
	if resp != nil {
		out = *resp
	}
	out.Logs = append(append(make([]string, 0, len(out.Logs)+1), out.Logs...), line)
	return &out
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > s.maxBytes {
		return nil, &http.MaxBytesError{Limit: s.maxBytes}
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + 1)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.maxBytes))
	return buf.Bytes(), err
}

// serveReadiness answers the host's readiness probe at once. The host treats
// any answer to GET / as ready and polls every 25 ms until it gets one
// (HOST DefaultHttpWorkerService.IsWorkerReady; reference §A1).
func (s *Server) serveReadiness(w http.ResponseWriter, r *http.Request, rec *record) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.protocolError(w, r, rec, http.StatusMethodNotAllowed, slog.LevelWarn,
			fmt.Errorf("method %s not allowed on /; functions are at /{FunctionName}", r.Method))
		return
	}
	writeJSON(w, r, http.StatusOK, []byte(readyBody))
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "custom handler: readiness probe answered",
		slog.String("method", r.Method))
}

// protocolError answers a request that never reached a handler. The reason
// goes into Logs so that whoever reads the answer sees it.
func (s *Server) protocolError(w http.ResponseWriter, r *http.Request, rec *record, status int, level slog.Level, err error) {
	rec.msg, rec.level, rec.err = "invocation rejected: "+http.StatusText(status), level, err
	s.reply(w, r, rec, status, &Response{Logs: []string{"custom handler: " + err.Error()}})
}

// reply writes resp as JSON and logs the request's summary line.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, rec *record, status int, resp *Response) {
	body, err := encodeResponse(resp)
	if err != nil {
		// A handler put a value in its Response that JSON cannot hold: a bug.
		// 500 keeps the batch for a retry after the fix.
		rec.msg, rec.level = "invocation response could not be encoded; the host will retry", slog.LevelError
		rec.err = errors.Join(rec.err, fmt.Errorf("encoding the handler's response: %w", err))
		status = http.StatusInternalServerError
		body, _ = encodeResponse(&Response{Logs: []string{"internal error: the handler's response could not be encoded as JSON"}})
	}
	writeErr := writeJSON(w, r, status, body)
	s.logInvocation(r.Context(), rec, status, len(body), writeErr)
}

// writeJSON writes body with the JSON media type, which the host requires
// even for error answers (HOST ProcessDefaultInvocationRequest; reference §A2
// rule 2).
func writeJSON(w http.ResponseWriter, r *http.Request, status int, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(body)
	return err
}

// encodeResponse renders resp with non-null Outputs and Logs: the host
// completes an invocation only on a non-null result, so an empty or null
// body could leave it hanging until functionTimeout (reference §A2 rule 3).
func encodeResponse(resp *Response) ([]byte, error) {
	var out Response
	if resp != nil {
		out = *resp
	}
	if out.Outputs == nil {
		out.Outputs = map[string]any{}
	}
	if out.Logs == nil {
		out.Logs = []string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Logs are read by people in traces; keep <, > and & legible.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// logInvocation writes the one summary line of a request. Bodies are never
// logged: they hold audit records with personal data; sizes go to debug.
func (s *Server) logInvocation(ctx context.Context, rec *record, status, responseBytes int, writeErr error) {
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("function", rec.function),
		slog.String("invocation_id", rec.invocationID),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(rec.start)),
	)
	if rec.hasRetry {
		attrs = append(attrs,
			slog.Int("retry_count", rec.retry.RetryCount),
			slog.Int("max_retry_count", rec.retry.MaxRetryCount))
	}
	if rec.err != nil {
		attrs = append(attrs, slog.String("error", rec.err.Error()))
	}
	if rec.stack != nil {
		attrs = append(attrs, slog.String("stack", string(rec.stack)))
	}
	if writeErr != nil {
		attrs = append(attrs, slog.String("write_error", writeErr.Error()))
	}
	s.log.LogAttrs(ctx, rec.level, "custom handler: "+rec.msg, attrs...)
	s.log.LogAttrs(ctx, slog.LevelDebug, "custom handler: invocation sizes",
		slog.String("function", rec.function),
		slog.String("invocation_id", rec.invocationID),
		slog.Int("request_bytes", rec.requestBytes),
		slog.Int("response_bytes", responseBytes))
}

// truncate shortens s to at most n bytes for logging, so a stray client
// cannot flood the log with a long path.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Serve answers the host on ln until ctx is cancelled (SIGTERM in main),
// then shuts down gracefully: it stops accepting connections, lets in-flight
// invocations finish within ShutdownGrace, and returns nil. In-flight
// handlers keep a live context during the grace period: cancelling them at
// SIGTERM would abandon batches the host is waiting for. If the grace runs
// out, Serve cancels the remaining handlers' contexts, closes their
// connections and returns an error wrapping context.DeadlineExceeded,
// without waiting for those handlers to return. If the listener fails,
// Serve shuts down the same way and returns that error.
// Serve closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Handler contexts descend from base, not from ctx, so SIGTERM does not
	// reach them; base is cancelled only when the grace runs out.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.readHeaderTimeout,
		ReadTimeout:       s.readTimeout,
		WriteTimeout:      s.writeTimeout,
		IdleTimeout:       s.idleTimeout,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.LogAttrs(ctx, slog.LevelInfo, "custom handler: listening",
		slog.String("address", ln.Addr().String()))

	var serveErr error
	select {
	case <-ctx.Done():
		s.log.LogAttrs(ctx, slog.LevelInfo, "custom handler: shutting down; finishing in-flight invocations",
			slog.Duration("grace", s.grace))
	case err := <-served:
		serveErr = fmt.Errorf("customhandler: serving: %w", err)
		served = nil
		s.log.LogAttrs(ctx, slog.LevelError, "custom handler: listener failed; shutting down",
			slog.String("error", err.Error()))
	}

	graceCtx, cancelGrace := context.WithTimeout(context.WithoutCancel(ctx), s.grace)
	defer cancelGrace()
	shutdownErr := srv.Shutdown(graceCtx)
	if shutdownErr != nil {
		cancelBase()
		_ = srv.Close()
		s.log.LogAttrs(ctx, slog.LevelError, "custom handler: shutdown grace expired; in-flight invocations abandoned",
			slog.Duration("grace", s.grace))
		shutdownErr = fmt.Errorf("customhandler: shutdown grace of %s expired with invocations in flight: %w", s.grace, shutdownErr)
	}
	if served != nil {
		// Serve returns ErrServerClosed as soon as Shutdown or Close begins.
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) && serveErr == nil {
			serveErr = fmt.Errorf("customhandler: serving: %w", err)
		}
	}
	if serveErr == nil && shutdownErr == nil {
		s.log.LogAttrs(ctx, slog.LevelInfo, "custom handler: stopped")
	}
	return errors.Join(serveErr, shutdownErr)
}
