package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"golang.org/x/time/rate"

	"github.com/reinstate/reinstate/pkg/graphapi"
	"github.com/reinstate/reinstate/pkg/pipeline"
)

// Defaults for GraphOptions.
const (
	// Microsoft Graph's limit for the identity and access reports
	// (directoryAudit, signIn): 5 requests per 10 s per app per tenant
	// (Learn graph/throttling-limits, "Identity and access reports
	// service limits"; reference graph-recovery-apis.md §3.3).
	DefaultAuditQuota  = 5
	DefaultAuditWindow = 10 * time.Second
	// DefaultAuditPage is the $top asked for. Unconfirmed: the largest
	// page directoryAudit serves; Learn graph/api/directoryaudit-list
	// documents $top without a maximum. 1000 is what the reporting API
	// has served in practice.
	DefaultAuditPage = 1000
	// DefaultGraphAttempts bounds the tries of one page when Graph
	// throttles or fails.
	DefaultGraphAttempts = 8
)

// GraphOptions choose the window and the pace of a Graph replay.
type GraphOptions struct {
	// Since and Until bound activityDateTime, both inclusive. Until
	// defaults to the time NewGraph is called.
	Since, Until time.Time
	// PageSize is the $top of each request.
	PageSize int
	// Quota requests per Window pace the reads, below Graph's limit, so
	// that a replay is not throttled and does not starve other readers
	// of the audit log under the same app.
	Quota  int
	Window time.Duration
	// Attempts bounds the tries of one page that Graph throttles (429,
	// honouring Retry-After) or fails (5xx, no answer).
	Attempts int
	Logger   *slog.Logger
}

// Graph reads /auditLogs/directoryAudits page by page, oldest first: each
// page (Graph's {"value":[...]} shape, which audit.Decode reads as it is)
// is one body. Its progress is in seconds of the window read.
type Graph struct {
	graph *graphapi.Client
	opts  GraphOptions
	pace  *pacer
	next  *url.URL
	pages int
	// refused is set once a page's @odata.nextLink was refused: the
	// replay cannot go on, and must not look finished.
	refused error

	mu      sync.Mutex
	reached time.Time // activityDateTime of the last record read
	ended   bool
}

// NewGraph prepares a replay of the audit log between opts.Since and
// opts.Until. It needs AuditLog.Read.All and Directory.Read.All (Learn
// graph/api/directoryaudit-list, permissions table).
func NewGraph(client *graphapi.Client, opts GraphOptions) (*Graph, error) {
	if opts.Until.IsZero() {
		opts.Until = time.Now().UTC()
	}
	if opts.Since.IsZero() || !opts.Since.Before(opts.Until) {
		return nil, fmt.Errorf("graph replay: the window %s to %s is empty", opts.Since.Format(time.RFC3339), opts.Until.Format(time.RFC3339))
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultAuditPage
	}
	if opts.Quota <= 0 || opts.Window <= 0 {
		opts.Quota, opts.Window = DefaultAuditQuota, DefaultAuditWindow
	}
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultGraphAttempts
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	first, err := url.Parse(client.URL("v1.0", "auditLogs/directoryAudits"))
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	// Graph's datetime literals are unquoted; the window is inclusive at
	// both ends (Learn directoryaudit-list: activityDateTime supports eq,
	// ge, le and $orderby).
	q.Set("$filter", fmt.Sprintf("activityDateTime ge %s and activityDateTime le %s",
		opts.Since.UTC().Format(time.RFC3339Nano), opts.Until.UTC().Format(time.RFC3339Nano)))
	q.Set("$orderby", "activityDateTime asc")
	q.Set("$top", fmt.Sprint(opts.PageSize))
	first.RawQuery = q.Encode()
	return &Graph{graph: client, opts: opts, pace: newPacer(opts.Quota, opts.Window), next: first, reached: opts.Since}, nil
}

// pacer spaces the reads of the audit log below Quota per Window, as
// Graph counts them: when they arrive.
type pacer struct {
	// every lets one request go every Window/Quota, never a burst: a burst
	// of Quota followed by steady Quota per Window would exceed Quota in
	// some Window-long stretch.
	every  *rate.Limiter
	quota  int
	window time.Duration
	// answered holds when the last (up to) Quota answers came. Spacing
	// requests as they are sent is not enough: a slow answer followed by
	// fast ones brings Quota+1 arrivals within one Window (a first request
	// slowed by its connection's set-up is throttled that way). A request
	// sent Window after the answer Quota requests back arrives more than
	// Window after that request did, whatever the latencies.
	answered []time.Time
}

func newPacer(quota int, window time.Duration) *pacer {
	return &pacer{every: rate.NewLimiter(rate.Every(window/time.Duration(quota)), 1), quota: quota, window: window}
}

// wait returns when the next request may be sent.
func (p *pacer) wait(ctx context.Context) error {
	if err := p.every.Wait(ctx); err != nil {
		return err
	}
	if len(p.answered) < p.quota {
		return nil
	}
	wait := time.Until(p.answered[0].Add(p.window))
	if wait <= 0 {
		return nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// done records that a request came back, answered or not: one that failed
// may still have reached Graph and counted.
func (p *pacer) done(at time.Time) {
	p.answered = append(p.answered, at)
	if len(p.answered) > p.quota {
		p.answered = p.answered[1:]
	}
}

// Progress implements Source: seconds of the window read, of its length.
func (g *Graph) Progress() (done, total int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	total = int64(g.opts.Until.Sub(g.opts.Since) / time.Second)
	if g.ended {
		return total, total
	}
	return min(int64(g.reached.Sub(g.opts.Since)/time.Second), total), total
}

// Pages counts the pages read so far.
func (g *Graph) Pages() int { return g.pages }

// Next implements Source: up to max pages. A page whose @odata.nextLink
// is refused comes with the refusal, which every later call returns again:
// the rest of the window cannot be read, and must not look read.
func (g *Graph) Next(ctx context.Context, max int) ([]pipeline.Body, error) {
	if g.refused != nil {
		return nil, g.refused
	}
	var bodies []pipeline.Body
	for len(bodies) < max && g.next != nil {
		body, err := g.page(ctx)
		if body.Data != nil {
			bodies = append(bodies, body)
		}
		if err != nil {
			return bodies, err
		}
	}
	if len(bodies) == 0 {
		g.mu.Lock()
		g.ended = true
		g.mu.Unlock()
		return nil, io.EOF
	}
	return bodies, nil
}

// page reads the page g.next names and moves g.next on. A page whose
// nextLink is refused is returned with the error: its records are good,
// and what was read is never dropped.
func (g *Graph) page(ctx context.Context) (pipeline.Body, error) {
	where := fmt.Sprintf("graph directoryAudits page %d", g.pages+1)
	data, err := g.get(ctx, g.next, where)
	if err != nil {
		return pipeline.Body{}, err
	}
	var page struct {
		Value []struct {
			ActivityDateTime string `json:"activityDateTime"`
		} `json:"value"`
		NextLink string `json:"@odata.nextLink"`
	}
	// Only the paging and the progress are read here; the records are the
	// pipeline's to decode, and one it cannot use becomes a dead letter.
	if err := json.Unmarshal(data, &page); err != nil {
		return pipeline.Body{}, fmt.Errorf("%s: not a Graph collection page: %w", where, err)
	}
	g.pages++
	g.next = nil
	var refused error
	if page.NextLink != "" {
		u, err := g.next0().Parse(page.NextLink)
		if err == nil {
			err = g.onGraph(u)
		}
		if err != nil {
			// Never send the token off the configured Graph.
			refused = fmt.Errorf("%s: refusing @odata.nextLink: %w", where, err)
			g.refused = refused
		} else {
			g.next = u
		}
	}
	g.mu.Lock()
	for _, rec := range page.Value {
		if at, err := time.Parse(time.RFC3339Nano, rec.ActivityDateTime); err == nil && at.After(g.reached) {
			g.reached = at
		}
	}
	g.mu.Unlock()
	g.opts.Logger.Debug("audit page read", "page", g.pages, "records", len(page.Value), "more", g.next != nil)
	return pipeline.Body{Data: data, Source: fmt.Sprintf("%s (%d records)", where, len(page.Value))}, refused
}

// next0 is the base nextLinks resolve against: the collection URL.
func (g *Graph) next0() *url.URL {
	u, _ := url.Parse(g.graph.URL("v1.0", "auditLogs/directoryAudits"))
	return u
}

// onGraph accepts only links on the configured Graph's scheme and host.
func (g *Graph) onGraph(u *url.URL) error {
	base := g.next0()
	if !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) || u.User != nil {
		return fmt.Errorf("%s://%s%s is not on %s://%s", u.Scheme, u.Host, u.Path, base.Scheme, base.Host)
	}
	return nil
}

// get sends one paced GET, retrying what Graph throttles or fails.
func (g *Graph) get(ctx context.Context, u *url.URL, where string) ([]byte, error) {
	backoff := 2 * time.Second
	for attempt := 1; ; attempt++ {
		if err := g.pace.wait(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		ri := abstractions.NewRequestInformation()
		ri.Method = abstractions.GET
		ri.SetUri(*u)
		ri.Headers.TryAdd("Accept", "application/json")
		result, err := g.graph.Adapter.SendPrimitive(ctx, ri, "[]byte", graphapi.ErrorMappings)
		g.pace.done(time.Now())
		if err == nil {
			data, _ := result.([]byte)
			return data, nil
		}
		gerr := graphapi.AsError(err)
		if ctx.Err() != nil || !gerr.Retryable() || attempt == g.opts.Attempts {
			return nil, fmt.Errorf("%s: %w", where, gerr)
		}
		wait := backoff
		if gerr.HasRetryAfter {
			wait = gerr.RetryAfter
		}
		backoff = min(2*backoff, time.Minute)
		g.opts.Logger.Warn("audit log read to be retried", "page", g.pages+1, "attempt", attempt, "wait", wait.String(), "error", gerr.Error())
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w", where, ctx.Err())
		case <-time.After(wait):
		}
	}
}
