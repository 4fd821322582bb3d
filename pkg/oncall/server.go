// Package oncall is Reinstate's on-call HTTP API: restore a deleted object
// with one authenticated call, follow its status, browse the recycle bin
// with what the rules would do, set and end silences, reset the breaker,
// read the journal, and start and approve Backup & Recovery previews.
//
// It can write to the directory, so it is built to refuse: every route but
// health needs an Entra ID access token for the Reinstate API with the
// route's app role, bodies are small and strict, ids are GUIDs before
// anything reads Graph, every caller is rate limited, the object must be in
// the recycle bin (as Graph, not the caller, says) before a restore is
// queued, and every write is journaled before and after with the caller.
// Errors are RFC 9457 problem details that tell an attacker nothing.
//
// The API is a plain http.Handler under BasePath: the Functions host
// forwards requests to it (functions/OnCall), and tests and the local mode
// call it directly.
package oncall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
)

// BasePath is where the API lives: the Functions host's default route
// prefix "api" and the OnCall function's route "recovery/{*path}".
const BasePath = "/api/recovery"

// Limits.
const (
	// MaxBodyBytes bounds a request body; the largest valid one is far
	// smaller.
	MaxBodyBytes = 16 << 10
	// MaxSilence is the longest silence the API sets: a mute that outlives
	// a week is a rule to change, not a silence.
	MaxSilence = 7 * 24 * time.Hour
	// MaxReason bounds reasons, which end up in every message.
	MaxReason = 500
	// DefaultRate and DefaultBurst limit each caller: one request a second
	// on average, in bursts of up to 20.
	DefaultRate  = rate.Limit(1)
	DefaultBurst = 20
)

// Authenticator checks a request's bearer token; *apiauth.Verifier is the
// real one.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (apiauth.Caller, error)
}

// Store is what the API needs from the store.
type Store interface {
	Enqueue(ctx context.Context, intent store.Intent, now time.Time) (store.Intent, bool, error)
	Intent(ctx context.Context, id string) (store.Intent, error)
	IntentByKey(ctx context.Context, key string) (store.Intent, error)
	Append(ctx context.Context, entry store.Entry) (store.Entry, error)
	Journal(ctx context.Context, query store.JournalQuery) ([]store.Entry, error)
	PutSilence(ctx context.Context, silence store.Silence, now time.Time) (store.Silence, error)
	Silences(ctx context.Context, query store.SilenceQuery) ([]store.Silence, error)
	EndSilence(ctx context.Context, id string, now time.Time) error
	guard.State
}

// Bin reads the recycle bins; *recovery.Executor is the real one.
type Bin interface {
	FindDeleted(ctx context.Context, id string) (recovery.DeletedItem, error)
	ListDeleted(ctx context.Context, t audit.TargetType, since time.Time, limit int) ([]recovery.DeletedItem, bool, error)
}

// Guards judges on-call's restores; *guard.Guards is the real one.
type Guards interface {
	OnCall(ctx context.Context, objectID string, prior *guard.Prior, now time.Time) (guard.OnCallCheck, error)
	StartCooldown(ctx context.Context, objectID, value string, now time.Time) error
}

// Options configure a Server. Auth, Store, Bin, Guards and Rules are
// required.
type Options struct {
	Auth   Authenticator
	Store  Store
	Bin    Bin
	Guards Guards
	Rules  *rules.Table
	// TenantID is the tenant served, for the events the rules judge.
	TenantID string
	// Wake is called after a restore intent is recorded, to start the
	// worker at once rather than at its next poll.
	Wake func()
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// Now is the clock; tests pin it.
	Now func() time.Time
	// Rate and Burst limit each caller; zero takes DefaultRate and
	// DefaultBurst.
	Rate  rate.Limit
	Burst int
	// Version is shown by health.
	Version string
	// Previews serves the Backup & Recovery case routes; nil (a deployment
	// without Backup & Recovery) answers them 503.
	Previews Previews
}

// Server is the API. It is an http.Handler, safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	limiter *callerLimits
	// allowed lists each path's methods, for the 405 of the others.
	allowed map[string][]string
}

// New returns the API server.
func New(opts Options) (*Server, error) {
	if opts.Auth == nil || opts.Store == nil || opts.Bin == nil || opts.Guards == nil || opts.Rules == nil {
		return nil, errors.New("oncall: Auth, Store, Bin, Guards and Rules are required")
	}
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, mux: http.NewServeMux(), allowed: map[string][]string{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	r, burst := opts.Rate, opts.Burst
	if r <= 0 {
		r = DefaultRate
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	s.limiter = &callerLimits{rate: r, burst: burst, limiters: map[string]*rate.Limiter{}}

	s.mux.HandleFunc("GET "+BasePath+"/health", s.health)
	s.route("POST /restores", apiauth.RoleOperate, s.createRestore)
	s.route("GET /restores/{id}", apiauth.RoleRead, s.restoreStatus)
	s.route("GET /deleted", apiauth.RoleRead, s.listDeleted)
	s.route("GET /silences", apiauth.RoleRead, s.listSilences)
	s.route("POST /silences", apiauth.RoleOperate, s.createSilence)
	s.route("DELETE /silences/{id}", apiauth.RoleOperate, s.endSilence)
	s.route("POST /breaker/reset", apiauth.RoleOperate, s.resetBreaker)
	s.route("GET /journal", apiauth.RoleRead, s.journal)
	s.route("GET /previews", apiauth.RoleRead, s.listPreviews)
	s.route("GET /previews/{id}", apiauth.RoleRead, s.getPreview)
	s.route("POST /previews/{id}/start", apiauth.RoleApprove, s.startPreview)
	s.route("POST /previews/{id}/approve", apiauth.RoleApprove, s.approveRecovery)
	s.mux.HandleFunc(BasePath+"/", func(w http.ResponseWriter, r *http.Request) {
		s.problem(w, r, http.StatusNotFound, "", "")
	})
	// Another method on a known path gets 405 with Allow, as a problem
	// like every other answer (the mux's own 405 is plain text).
	s.allowed["/health"] = append(s.allowed["/health"], http.MethodGet)
	for path, methods := range s.allowed {
		allow := strings.Join(methods, ", ")
		s.mux.HandleFunc(BasePath+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			s.problem(w, r, http.StatusMethodNotAllowed, "", "")
		})
	}
	return s, nil
}

// Routes lists the API's routes as "METHOD /path", for the test that holds
// docs/openapi.yaml to them.
func Routes() []string {
	return []string{
		"GET /health", "POST /restores", "GET /restores/{id}", "GET /deleted", "GET /silences",
		"POST /silences", "DELETE /silences/{id}", "POST /breaker/reset", "GET /journal",
		"GET /previews", "GET /previews/{id}", "POST /previews/{id}/start", "POST /previews/{id}/approve",
	}
}

// callerKey carries the authenticated caller in a request's context.
type callerKey struct{}

// route registers h for "METHOD /path" under BasePath, behind
// authentication, the role and the caller's rate limit.
func (s *Server) route(pattern, role string, h func(http.ResponseWriter, *http.Request, apiauth.Caller)) {
	method, path, _ := strings.Cut(pattern, " ")
	s.allowed[path] = append(s.allowed[path], method)
	s.mux.HandleFunc(method+" "+BasePath+path, func(w http.ResponseWriter, r *http.Request) {
		caller, err := s.opts.Auth.Authenticate(r.Context(), r)
		switch {
		case errors.Is(err, apiauth.ErrUnavailable):
			s.log.ErrorContext(r.Context(), "on-call API: token keys unavailable", "error", err.Error())
			s.problem(w, r, http.StatusServiceUnavailable, "", "")
			return
		case err != nil:
			// The reason goes to the log only: telling a caller which check
			// failed helps whoever forges tokens.
			s.log.WarnContext(r.Context(), "on-call API: authentication refused", "method", r.Method, "path", r.URL.Path, "reason", err.Error())
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			s.problem(w, r, http.StatusUnauthorized, "", "")
			return
		}
		if !caller.HasRole(role) {
			s.log.WarnContext(r.Context(), "on-call API: role missing", "caller", caller, "role", role, "method", r.Method, "path", r.URL.Path)
			s.problem(w, r, http.StatusForbidden, "", "")
			return
		}
		if ok, wait := s.limiter.allow(caller.ObjectID, s.now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+1)))
			s.problem(w, r, http.StatusTooManyRequests, "", "")
			return
		}
		s.log.InfoContext(r.Context(), "on-call API request", "method", r.Method, "path", r.URL.Path, "caller", caller)
		h(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller)), caller)
	})
}

// ServeHTTP answers one request. Every answer is JSON, never cached, and
// never sniffed as anything else.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	s.mux.ServeHTTP(w, r)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Health{Status: "ok", Version: s.opts.Version})
}

// callerLimits keeps a token bucket per caller.
type callerLimits struct {
	rate     rate.Limit
	burst    int
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

// maxCallers bounds the buckets kept; past it they start over, which only
// ever gives callers a fresh burst.
const maxCallers = 10_000

func (c *callerLimits) allow(caller string, now time.Time) (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.limiters[caller]
	if !ok {
		if len(c.limiters) >= maxCallers {
			clear(c.limiters)
		}
		l = rate.NewLimiter(c.rate, c.burst)
		c.limiters[caller] = l
	}
	res := l.ReserveN(now, 1)
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// Problem types: one URI per kind of refusal, documented in
// docs/openapi.yaml.
const problemBase = "https://reinstate.dev/problems/"

// problem answers an RFC 9457 problem. 401, 403, 404, 429 and 503 carry
// only their standard title: nothing that helps an attacker. The one
// exception is a 403 that passes on Microsoft Graph's refusal of a caller
// Reinstate already authorized (previews.go), which says what Graph wants.
func (s *Server) problem(w http.ResponseWriter, r *http.Request, status int, detail, field string) {
	p := Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Field: field}
	if detail != "" {
		p.Type = problemBase + strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "-")
	}
	body, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"title":"Internal Server Error","status":500}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// fieldError is a request that names its fault.
type fieldError struct {
	status int
	field  string
	msg    string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func badField(field, format string, args ...any) error {
	return &fieldError{status: http.StatusBadRequest, field: field, msg: fmt.Sprintf(format, args...)}
}

// decodeStrict reads one JSON object into v: application/json only,
// unknown fields refused, nothing after it.
func decodeStrict(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return &fieldError{status: http.StatusUnsupportedMediaType, field: "Content-Type", msg: "must be application/json"}
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return &fieldError{status: http.StatusRequestEntityTooLarge, field: "body", msg: fmt.Sprintf("larger than %d bytes", MaxBodyBytes)}
		}
		return badField("body", "%s", jsonMessage(err))
	}
	if dec.More() {
		return badField("body", "more than one JSON value")
	}
	if _, err := dec.Token(); err == nil {
		return badField("body", "data after the JSON object")
	}
	return nil
}

// jsonMessage says what is wrong with a body without echoing it.
func jsonMessage(err error) string {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("not JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q must be %s", typeErr.Field, typeErr.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.Is(err, io.EOF):
		return "empty body"
	}
	return "not a JSON object"
}

// fail answers err: a fieldError with its status and field, anything else
// as a 500 whose detail stays in the log.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *fieldError
	if errors.As(err, &fe) {
		s.problem(w, r, fe.status, fe.msg, fe.field)
		return
	}
	s.log.ErrorContext(r.Context(), "on-call API: request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	s.problem(w, r, http.StatusInternalServerError, "", "")
}
