package oncall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/graphapi"
	"github.com/reinstate/reinstate/pkg/store"
)

// MaxResponseBytes bounds what the client reads of an answer: the largest
// the API gives (a full page of the recycle bin with the bin copies) is far
// smaller, and a client that reads without a bound can be made to.
const MaxResponseBytes = 1 << 20

// FunctionKeyHeader carries the Functions host's function key: the OnCall
// function has authLevel "function", so the host refuses requests without
// it before Reinstate sees them.
const FunctionKeyHeader = "x-functions-key"

// DefaultClientTimeout bounds each call when Client.HTTP is nil: every
// route answers at once (restores are queued, not carried out), so a call
// that takes longer is stuck.
const DefaultClientTimeout = 30 * time.Second

// Client calls the on-call API, for the command line and for scripts that
// would otherwise hand-craft requests and get the idempotency, the problem
// answers and the token handling wrong. It is safe for concurrent use if
// Token is.
type Client struct {
	// BaseURL is the Function app's URL, such as
	// https://func-reinstate.azurewebsites.net; BasePath is appended (and
	// may be given already). It must be https, or http on loopback, so
	// that a token never crosses a network in clear text.
	BaseURL string
	// HTTP makes the calls; nil means a client with DefaultClientTimeout.
	// Redirects are never followed, whatever its CheckRedirect: the API
	// never redirects, and a redirect would carry the function key to
	// wherever it points.
	HTTP *http.Client
	// Token returns the bearer token for a call; nil sends none, which only
	// health accepts. It is called for every call, so it should cache
	// (azidentity credentials do).
	Token func(ctx context.Context) (string, error)
	// FunctionKey, when set, is sent as x-functions-key.
	FunctionKey string
}

// ProblemError is an RFC 9457 problem answer: the API refused the request
// and said why, so a caller can tell a fault of its own (4xx, with the
// field at fault) from one worth retrying (429, 502, 503).
type ProblemError struct {
	// Status is the answer's HTTP status, which wins over the body's.
	Status  int
	Problem Problem
	// RetryAfter is the answer's Retry-After, when it gave one in seconds
	// (429 does): how long to wait before asking again.
	RetryAfter time.Duration
}

// Error says the status, the title, the field at fault and the detail,
// which is all a person needs to act; the type URI adds nothing for them.
func (e *ProblemError) Error() string {
	title := e.Problem.Title
	if title == "" {
		title = http.StatusText(e.Status)
	}
	msg := fmt.Sprintf("HTTP %d %s", e.Status, title)
	switch p := e.Problem; {
	case p.Field != "" && p.Detail != "":
		// The server words details to follow the field's name.
		msg += ": " + p.Field + ": " + p.Detail
	case p.Detail != "":
		msg += ": " + p.Detail
	case p.Field != "":
		msg += " (field " + p.Field + ")"
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf("; retry after %s", e.RetryAfter)
	}
	return msg
}

// Restore asks for objectID's restore: POST /restores. idempotencyKey, when
// not empty, makes a retry of the same request answer the same restore
// rather than queue another; callers that may retry (after a timeout, say)
// should always send one.
func (c *Client) Restore(ctx context.Context, req RestoreRequest, idempotencyKey string) (RestoreStatus, error) {
	var header http.Header
	if idempotencyKey != "" {
		if !validIdempotencyKey(idempotencyKey) {
			return RestoreStatus{}, errors.New("oncall: the idempotency key must be 1 to 255 visible ASCII characters")
		}
		header = http.Header{IdempotencyKeyHeader: {idempotencyKey}}
	}
	var st RestoreStatus
	err := c.do(ctx, http.MethodPost, "/restores", nil, req, header, http.StatusAccepted, &st)
	return st, err
}

// Status follows a restore: GET /restores/{id}.
func (c *Client) Status(ctx context.Context, id string) (RestoreStatus, error) {
	if !validID(id) {
		return RestoreStatus{}, fmt.Errorf("oncall: %q is not a restore id", id)
	}
	var st RestoreStatus
	err := c.do(ctx, http.MethodGet, "/restores/"+id, nil, nil, nil, http.StatusOK, &st)
	return st, err
}

// Deleted lists a recycle bin with the rules' verdicts: GET /deleted.
// since is an RFC 3339 time or a duration back from now ("24h"); empty and
// a limit of 0 leave the server's defaults.
func (c *Client) Deleted(ctx context.Context, objectType, since string, limit int) (DeletedList, error) {
	q := url.Values{"type": {objectType}}
	if since != "" {
		q.Set("since", since)
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var list DeletedList
	err := c.do(ctx, http.MethodGet, "/deleted", q, nil, nil, http.StatusOK, &list)
	return list, err
}

// Silences lists the active silences, or all kept ones: GET /silences.
func (c *Client) Silences(ctx context.Context, all bool) (SilenceList, error) {
	var q url.Values
	if all {
		q = url.Values{"all": {"true"}}
	}
	var list SilenceList
	err := c.do(ctx, http.MethodGet, "/silences", q, nil, nil, http.StatusOK, &list)
	return list, err
}

// AddSilence sets a silence: POST /silences. The API records the caller as
// its author.
func (c *Client) AddSilence(ctx context.Context, req SilenceRequest) (store.Silence, error) {
	var s store.Silence
	err := c.do(ctx, http.MethodPost, "/silences", nil, req, nil, http.StatusCreated, &s)
	return s, err
}

// EndSilence ends a silence now: DELETE /silences/{id}.
func (c *Client) EndSilence(ctx context.Context, id string) error {
	if !validID(id) {
		return fmt.Errorf("oncall: %q is not a silence id", id)
	}
	var done Done
	return c.do(ctx, http.MethodDelete, "/silences/"+id, nil, nil, nil, http.StatusOK, &done)
}

// ResetBreaker closes a tripped breaker: POST /breaker/reset.
func (c *Client) ResetBreaker(ctx context.Context, req BreakerResetRequest) (Done, error) {
	var done Done
	err := c.do(ctx, http.MethodPost, "/breaker/reset", nil, req, nil, http.StatusOK, &done)
	return done, err
}

// Journal reads the journal, newest first: GET /journal. Empty since and
// objectID and a limit of 0 leave them out.
func (c *Client) Journal(ctx context.Context, since, objectID string, limit int) (JournalList, error) {
	q := url.Values{}
	if since != "" {
		q.Set("since", since)
	}
	if objectID != "" {
		q.Set("objectId", objectID)
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var list JournalList
	err := c.do(ctx, http.MethodGet, "/journal", q, nil, nil, http.StatusOK, &list)
	return list, err
}

// Health asks whether the API is up: GET /health, which needs no token,
// so none is sent.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.withoutToken().do(ctx, http.MethodGet, "/health", nil, nil, nil, http.StatusOK, &h)
	return h, err
}

func (c *Client) withoutToken() *Client {
	cp := *c
	cp.Token = nil
	return &cp
}

// endpoint is the URL of path under BasePath, after checking that BaseURL
// is safe to send a token to. Errors name the URL's scheme and host only:
// a base URL may carry a secret in its query, which is refused, not
// echoed.
func (c *Client) endpoint(path string, query url.Values) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(c.BaseURL))
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("oncall: the base URL is not an absolute URL such as https://func-reinstate.azurewebsites.net")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && graphapi.IsLoopback(u):
	default:
		return nil, fmt.Errorf("oncall: the base URL %s://%s must be https (http only on loopback): a token must not cross a network in clear text", u.Scheme, u.Host)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("oncall: the base URL %s://%s must not carry credentials, a query or a fragment; the function key goes in FunctionKey", u.Scheme, u.Host)
	}
	prefix := strings.TrimSuffix(strings.TrimRight(u.Path, "/"), BasePath)
	u.Path, u.RawPath = prefix+BasePath+path, ""
	u.RawQuery = query.Encode()
	return u, nil
}

// do sends one request and decodes an answer of status want into out;
// anything else becomes an error that never holds the token or the
// function key.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in any, header http.Header, want int, out any) error {
	op := method + " " + path
	u, err := c.endpoint(path, query)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("oncall: %s: encode the request: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("oncall: %s: %w", op, err)
	}
	for name, values := range header {
		req.Header[http.CanonicalHeaderKey(name)] = values
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	secrets := newRedactor(c.FunctionKey)
	if c.FunctionKey != "" {
		req.Header.Set(FunctionKeyHeader, c.FunctionKey)
	}
	if c.Token != nil {
		token, err := c.Token(ctx)
		if err != nil {
			return fmt.Errorf("oncall: %s: get an access token: %w", op, err)
		}
		secrets.add(token)
		if token == "" || strings.ContainsAny(token, " \t\r\n") {
			return fmt.Errorf("oncall: %s: the access token is empty or not a single word", op)
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}

	resp, err := c.httpClient().Do(req)
	if err != nil {
		return secrets.wrap(fmt.Sprintf("oncall: %s", op), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return secrets.wrap(fmt.Sprintf("oncall: %s: read the answer", op), err)
	}
	if len(data) > MaxResponseBytes {
		return fmt.Errorf("oncall: %s: the answer is larger than %d bytes", op, MaxResponseBytes)
	}
	if resp.StatusCode == want {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("oncall: %s: the answer is not the JSON expected: %w", op, err)
		}
		return nil
	}
	if p, ok := problemOf(resp, data); ok {
		pe := &ProblemError{Status: resp.StatusCode, Problem: secrets.problem(p)}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			pe.RetryAfter = time.Duration(s) * time.Second
		}
		return fmt.Errorf("oncall: %s: %w", op, pe)
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fmt.Errorf("oncall: %s: HTTP %d, a redirect, which the API never answers: check the base URL", op, resp.StatusCode)
	case resp.StatusCode == http.StatusUnauthorized:
		// The Functions host answers a missing or wrong function key with a
		// bare 401 before Reinstate sees the request.
		return fmt.Errorf("oncall: %s: HTTP 401 Unauthorized without a problem detail: the Functions host wants its function key", op)
	}
	return fmt.Errorf("oncall: %s: HTTP %d %s, answered with %q rather than a problem detail", op, resp.StatusCode, http.StatusText(resp.StatusCode), mediaType(resp))
}

// httpClient is c.HTTP, or the default, made never to follow a redirect.
func (c *Client) httpClient() *http.Client {
	hc := http.Client{Timeout: DefaultClientTimeout}
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

func mediaType(resp *http.Response) string {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		return "no media type"
	}
	return mt
}

// problemOf decodes an answer's problem detail, if it is one.
func problemOf(resp *http.Response, data []byte) (Problem, bool) {
	if mt := mediaType(resp); mt != "application/problem+json" && mt != "application/json" {
		return Problem{}, false
	}
	var p Problem
	if err := json.Unmarshal(data, &p); err != nil || (p.Title == "" && p.Status == 0) {
		return Problem{}, false
	}
	return p, true
}

// redactor keeps the secrets a request carried out of the errors made of
// its answer: the API never echoes them, but an error message is printed
// and logged, so it is not trusted to.
type redactor struct{ secrets []string }

func newRedactor(secrets ...string) *redactor {
	r := &redactor{}
	for _, s := range secrets {
		r.add(s)
	}
	return r
}

func (r *redactor) add(secret string) {
	if secret != "" {
		r.secrets = append(r.secrets, secret)
	}
}

func (r *redactor) redact(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

// wrap wraps err under msg, unless its text holds a secret: then only
// its redacted text survives, since a wrapped error can be unwrapped and
// printed.
func (r *redactor) wrap(msg string, err error) error {
	if text := err.Error(); r.redact(text) != text {
		return fmt.Errorf("%s: %s", msg, r.redact(text))
	}
	return fmt.Errorf("%s: %w", msg, err)
}

func (r *redactor) problem(p Problem) Problem {
	p.Type, p.Title, p.Detail, p.Field = r.redact(p.Type), r.redact(p.Title), r.redact(p.Detail), r.redact(p.Field)
	return p
}
