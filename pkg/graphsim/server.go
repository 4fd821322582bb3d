package graphsim

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Logger receives one line per request. nil discards.
	Logger *slog.Logger
	// Clock is the simulated time: deletedDateTime, audit times, throttling
	// windows and storms all read it. nil means time.Now. Tests pin it to
	// step through windows without sleeping.
	Clock func() time.Time
	// TimeScale divides every throttling window (default 1); see
	// ThrottleConfig.
	TimeScale float64
	// Throttle overrides the documented quotas.
	Throttle ThrottleConfig
	// Faults is the initial fault configuration; POST /_sim/faults replaces
	// it at run time.
	Faults FaultConfig
	// FaultSeed seeds the random source of fault decisions (default 1).
	FaultSeed int64
	// Forward, when its URL is set, makes Run deliver new audit records to a
	// custom handler as a local Functions host would.
	Forward ForwardConfig
	// ForwardClient sends the forwarded invocations; nil means a client with
	// a 30 s timeout.
	ForwardClient *http.Client
	// Backup configures Microsoft Entra Backup and Recovery
	// (/directory/recovery): snapshot interval, job duration, the first
	// snapshot's age, and whether apps may create jobs.
	Backup BackupConfig
	// Issuer, when set, makes graphsim accept access tokens this issuer
	// signed for Microsoft Graph, besides the seed's static tokens: the
	// tokens an on-behalf-of exchange yields in local mode. *idpsim.Issuer
	// implements it. See jwt.go.
	Issuer TokenIssuer
}

// Server simulates Microsoft Graph for one tenant. It is an http.Handler and
// safe for concurrent use.
type Server struct {
	log   *slog.Logger
	clock func() time.Time

	mu         sync.Mutex
	t          *tenant
	audits     []*auditEntry
	throttle   *throttler
	faults     FaultConfig
	stormUntil time.Time
	rng        *rand.Rand
	stats      RequestStats
	fwd        *forwarder
	// fwdQueue holds records stored but not yet formed into Event Hubs
	// bodies; guarded by mu.
	fwdQueue []*auditEntry
	// backup holds Entra Backup and Recovery's snapshots and jobs; guarded
	// by mu.
	backup *backupState
	issuer TokenIssuer
}

// maxBodyBytes bounds a request body. Graph limits request payloads to 4 MB
// for most APIs (Learn graph/api/overview limits; JSON batching page).
const maxBodyBytes = 4 << 20

// New validates seed as a whole and returns a Server holding it. Seed errors
// are *SeedError values naming the key, index and field.
func New(seed Seed, opts Options) (*Server, error) {
	t, err := buildTenant(seed)
	if err != nil {
		return nil, err
	}
	if opts.TimeScale == 0 {
		opts.TimeScale = 1
	}
	if opts.TimeScale < 0 {
		return nil, fmt.Errorf("graphsim: time scale must be positive, got %v", opts.TimeScale)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.FaultSeed == 0 {
		opts.FaultSeed = 1
	}
	s := &Server{
		log:      opts.Logger,
		clock:    opts.Clock,
		t:        t,
		throttle: newThrottler(opts.Throttle, opts.TimeScale),
		rng:      rand.New(rand.NewPCG(uint64(opts.FaultSeed), uint64(opts.FaultSeed)>>1|1)),
		stats:    RequestStats{ByStatus: map[string]int{}, Faults: map[string]int{}},
		backup:   newBackupState(opts.Backup, opts.TimeScale),
		issuer:   opts.Issuer,
	}
	s.startBackups(s.now())
	if err := s.applyFaults(opts.Faults, s.now()); err != nil {
		return nil, fmt.Errorf("graphsim: faults: %w", err)
	}
	fwd, err := newForwarder(opts.Forward, opts.ForwardClient, seed.TenantID)
	if err != nil {
		return nil, err
	}
	s.fwd = fwd
	return s, nil
}

func (s *Server) now() time.Time { return s.clock().UTC() }

// Now is the simulated time (Options.Clock), for callers that mint tokens
// or date objects consistently with a pinned clock.
func (s *Server) Now() time.Time { return s.now() }

// RequestStats counts requests, for /_sim/state and tests.
type RequestStats struct {
	// Total counts Graph HTTP requests (not /_sim/), $batch counting once.
	Total int `json:"total"`
	// Graph counts Graph requests executed, each request inside a $batch
	// counting once.
	Graph int `json:"graph"`
	// ByStatus counts Graph requests by answered status.
	ByStatus map[string]int `json:"byStatus"`
	// Resets counts connections reset by the fault injector.
	Resets int `json:"resets"`
	// Faults counts injected 5xx answers by status.
	Faults map[string]int `json:"faults"`
}

// call is one Graph request, top-level or inside a $batch.
type call struct {
	method      string
	version     string // "v1.0" or "beta"
	segs        []string
	rawPath     string
	query       url.Values
	header      http.Header
	body        []byte
	ident       *Identity
	reqID       string
	clientReqID string
	base        string // scheme://host, for @odata.context and nextLink
	now         time.Time
}

// response is what a call answers.
type response struct {
	status int
	header http.Header
	body   any // marshalled as JSON; nil for no body
}

func newResponse(status int, body any) response {
	return response{status: status, header: http.Header{}, body: body}
}

type errDetail struct {
	Target string `json:"target,omitempty"`
	Code   string `json:"code"`
}

type innerError struct {
	Date            string `json:"date"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

type errorBody struct {
	Error struct {
		Code       string      `json:"code"`
		Message    string      `json:"message"`
		Details    []errDetail `json:"details,omitempty"`
		InnerError innerError  `json:"innerError"`
	} `json:"error"`
}

// fail builds Graph's error shape: {"error":{"code","message","innerError":
// {"date","request-id","client-request-id"}}} (Learn graph/errors).
func (c *call) fail(status int, code, message string, details ...errDetail) response {
	var b errorBody
	b.Error.Code = code
	b.Error.Message = message
	b.Error.Details = details
	b.Error.InnerError = innerError{Date: c.now.UTC().Format("2006-01-02T15:04:05"), RequestID: c.reqID, ClientRequestID: c.clientReqID}
	return newResponse(status, b)
}

func (c *call) notFound(id string) response {
	// The directory's standard 404 (reference §2.5; msgraph-sdk-powershell#987).
	return c.fail(404, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

func (c *call) forbidden() response {
	return c.fail(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
}

func (c *call) methodNotAllowed() response {
	// Learn graph/json-batching example response 4 shows this code and
	// message for a 405.
	return c.fail(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
}

func (c *call) unknownSegment(seg string) response {
	// Graph's answer for a path segment it cannot resolve (observed,
	// microsoftgraph/microsoft-graph-docs#4052, microsoft-graph-docs-contrib#5038).
	return c.fail(400, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", seg))
}

func (c *call) throttled(wait time.Duration, withRetryAfter bool) response {
	r := c.fail(429, "TooManyRequests", "Too many requests. Retry after the time in the Retry-After header.")
	if withRetryAfter {
		r.header.Set("Retry-After", fmt.Sprint(retryAfterSeconds(wait)))
	}
	return r
}

// ServeHTTP answers one request: a Graph request under /v1.0 or /beta, or a
// control request under /_sim/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := uuid.NewString()
	clientReqID := r.Header.Get("client-request-id")
	if clientReqID == "" {
		clientReqID = reqID
	}
	w.Header().Set("request-id", reqID)
	w.Header().Set("client-request-id", clientReqID)

	if strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.serveSim(w, r)
		return
	}

	s.mu.Lock()
	s.stats.Total++
	latency := time.Duration(s.faults.Latency)
	reset := s.faults.ConnectionResetRate > 0 && s.rng.Float64() < s.faults.ConnectionResetRate
	if reset {
		s.stats.Resets++
	}
	s.mu.Unlock()

	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	if reset && resetConnection(w) {
		s.log.Info("graphsim: connection reset (fault)", "method", r.Method, "path", r.URL.Path)
		return
	}

	c := &call{
		method:      r.Method,
		query:       r.URL.Query(),
		header:      r.Header,
		reqID:       reqID,
		clientReqID: clientReqID,
		base:        baseURL(r),
		now:         s.now(),
	}
	resp := s.serveGraph(c, r)
	s.write(w, resp)
	s.log.Info("graphsim", "method", r.Method, "path", r.URL.RequestURI(), "status", resp.status, "duration", time.Since(start))
}

// serveGraph parses the version, body and token, then executes the call.
func (s *Server) serveGraph(c *call, r *http.Request) response {
	segs, err := splitPath(r.URL.EscapedPath())
	if err != nil {
		return c.fail(400, "BadRequest", err.Error())
	}
	if len(segs) == 0 || (segs[0] != "v1.0" && segs[0] != "beta") {
		v := ""
		if len(segs) > 0 {
			v = segs[0]
		}
		// Unconfirmed: the text of Graph's answer to an unknown version.
		return c.fail(400, "BadRequest", fmt.Sprintf("Invalid version: %s", v))
	}
	c.version, c.segs = segs[0], segs[1:]
	c.rawPath = r.URL.EscapedPath()

	body, resp := readBody(c, r)
	if resp != nil {
		return *resp
	}
	c.body = body

	ident, resp := s.authenticate(c, r.Header.Get("Authorization"))
	if resp != nil {
		return *resp
	}
	c.ident = ident

	if len(c.segs) == 1 && c.segs[0] == "$batch" {
		if c.method != http.MethodPost {
			return c.methodNotAllowed()
		}
		return s.batch(c)
	}
	return s.exec(c)
}

// exec runs one authenticated Graph request: faults, then the route.
func (s *Server) exec(c *call) response {
	s.mu.Lock()
	s.stats.Graph++
	s.advanceBackup(c.now)
	if f := s.faultFor(c, c.now); f != nil {
		s.stats.ByStatus[fmt.Sprint(f.status)]++
		s.mu.Unlock()
		return *f
	}
	s.mu.Unlock()
	resp := s.route(c)
	s.mu.Lock()
	s.stats.ByStatus[fmt.Sprint(resp.status)]++
	s.mu.Unlock()
	return resp
}

// authenticate maps the bearer token to a seeded identity. Graph's answers:
// "Access token is empty." for no token (reference brief; widely observed),
// and "CompactToken parsing failed with error code: 80049217" for a token it
// cannot parse (observed: OfficeDev/outlook-dev-docs#508,
// microsoftgraph/msgraph-sdk-java#639).
func (s *Server) authenticate(c *call, header string) (*Identity, *response) {
	token, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		token, ok = strings.CutPrefix(header, "bearer ")
	}
	token = strings.TrimSpace(token)
	if strings.EqualFold(strings.TrimSpace(header), "Bearer") {
		ok, token = true, ""
	}
	if strings.TrimSpace(header) == "" || (ok && token == "") {
		r := c.fail(401, "InvalidAuthenticationToken", "Access token is empty.")
		r.header.Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		return nil, &r
	}
	s.mu.Lock()
	ident := s.t.identities[token]
	s.mu.Unlock()
	msg := "CompactToken parsing failed with error code: 80049217"
	if ok && ident == nil && s.issuer != nil && looksLikeJWT(token) {
		ident, msg = s.jwtIdentity(c, token)
	}
	if !ok || ident == nil {
		r := c.fail(401, "InvalidAuthenticationToken", msg)
		r.header.Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		return nil, &r
	}
	return ident, nil
}

// readBody reads the body, decompressing gzip: msgraph-sdk-go's Compression
// middleware gzips request bodies by default (reference §6.1,
// kiota-http-go compression_handler.go), and Graph accepts them. Another
// encoding is answered 415, which makes that middleware resend the body
// uncompressed.
func readBody(c *call, r *http.Request) ([]byte, *response) {
	if r.Body == nil {
		return nil, nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		resp := c.fail(400, "BadRequest", "Failed to read the request body.")
		return nil, &resp
	}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			resp := c.fail(400, "BadRequest", "The request body is not valid gzip.")
			return nil, &resp
		}
		raw, err = io.ReadAll(io.LimitReader(zr, maxBodyBytes+1))
		if err != nil {
			resp := c.fail(400, "BadRequest", "The request body is not valid gzip.")
			return nil, &resp
		}
	default:
		resp := c.fail(415, "UnsupportedMediaType", fmt.Sprintf("Content-Encoding '%s' is not supported.", enc))
		return nil, &resp
	}
	if len(raw) > maxBodyBytes {
		resp := c.fail(413, "RequestEntityTooLarge", "The request body exceeds the maximum size of 4 MB.")
		return nil, &resp
	}
	return raw, nil
}

// splitPath splits an escaped path into unescaped segments, dropping empty
// ones.
func splitPath(escaped string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(escaped, "/") {
		if p == "" {
			continue
		}
		u, err := url.PathUnescape(p)
		if err != nil {
			return nil, fmt.Errorf("invalid path segment %q", p)
		}
		out = append(out, u)
	}
	return out, nil
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// odataJSON is the content type Graph answers JSON with.
const odataJSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

func (s *Server) write(w http.ResponseWriter, resp response) {
	for k, vs := range resp.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if resp.body == nil {
		w.WriteHeader(resp.status)
		return
	}
	b, err := marshalJSON(resp.body)
	if err != nil {
		s.log.Error("graphsim: encode response", "err", err)
		w.WriteHeader(500)
		return
	}
	if resp.status < 300 {
		w.Header().Set("Content-Type", odataJSON)
		w.Header().Set("OData-Version", "4.0")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(resp.status)
	_, _ = w.Write(b)
}

// resetConnection closes the connection with a TCP reset. It reports false
// when the connection cannot be taken over (HTTP/2), in which case the
// request is answered normally.
func resetConnection(w http.ResponseWriter) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return false
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
	return true
}

// Run does background work until ctx ends: delivering audit records to the
// Forward URL every Forward.Interval, and once a second bringing backups up
// to the clock's time, so that automatic snapshots are taken, and recovery
// jobs apply their changes (and log them), even while nobody calls.
// Backups advance by Options.Clock either way; the ticker only looks.
// It returns nil when ctx ends.
func (s *Server) Run(ctx context.Context) error {
	backupTick := time.NewTicker(time.Second)
	defer backupTick.Stop()
	var fwdTick <-chan time.Time
	if s.fwd != nil {
		t := time.NewTicker(s.fwd.cfg.Interval)
		defer t.Stop()
		fwdTick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-backupTick.C:
			s.mu.Lock()
			s.advanceBackup(s.now())
			s.mu.Unlock()
		case <-fwdTick:
			if err := s.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Warn("graphsim: audit forwarding failed; will retry", "err", err)
			}
		}
	}
}
