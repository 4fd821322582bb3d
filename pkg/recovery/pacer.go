package recovery

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Documented directory write limits (Learn graph/throttling-limits, "Identity
// and access service limits"; reference graph-recovery-apis.md §3.2): 3,000
// writes per 150 s per app and tenant, 18,000 per 5 min per tenant. One app
// is bound by the first: 20 writes/s.
const (
	DefaultWriteQuota  = 3000
	DefaultWriteWindow = 150 * time.Second
)

// Documented Conditional Access limit (same page, "Identity protection and
// conditional access service limits"; reference §3.3): 1 request per second
// per tenant, for all apps, reads included, and a 429 without Retry-After.
const (
	DefaultCAQuota  = 1
	DefaultCAWindow = time.Second
)

// minSlack is the least time a pacer adds to its window to absorb the
// difference between when a request leaves here and when Graph counts it.
const minSlack = 100 * time.Millisecond

// Pacer spaces Graph requests so that a mass restore runs near a quota
// without tripping it, and stops everyone when Graph says to back off.
//
// Graph's write quotas are sliding windows (at most quota requests in any
// window). A token bucket with burst b at rate r lets through fewer than
// b + r·W requests in any span W, so the rate is chosen to make that at most
// the quota, over a window stretched by a little slack for network jitter:
// a bucket at the plain average rate (quota/window) overshoots every window
// by its burst once it has run for a window, and Graph answers 429.
type Pacer struct {
	limiter *rate.Limiter
	now     func() time.Time

	mu          sync.Mutex
	pausedUntil time.Time
}

// NewPacer paces requests at quota per window. A quota or window that is
// not positive takes the directory write defaults.
func NewPacer(quota int, window time.Duration) *Pacer {
	if quota <= 0 || window <= 0 {
		quota, window = DefaultWriteQuota, DefaultWriteWindow
	}
	// A burst of 1% of the quota (at least one) lets a short queue go out at
	// once while a sustained run converges on the average rate.
	burst := max(1, quota/100)
	slack := max(window/50, minSlack)
	// quota-burst+1 tokens over the stretched window: see the type's comment.
	perSecond := float64(quota-burst+1) / (window + slack).Seconds()
	return &Pacer{limiter: rate.NewLimiter(rate.Limit(perSecond), burst), now: time.Now}
}

// Rate is the paced requests per second.
func (p *Pacer) Rate() float64 { return float64(p.limiter.Limit()) }

// Wait blocks until the next request may go, or ctx ends.
func (p *Pacer) Wait(ctx context.Context) error {
	for {
		if err := p.waitPause(ctx); err != nil {
			return err
		}
		if err := p.limiter.Wait(ctx); err != nil {
			return err
		}
		// A 429 may have come in while this caller waited for a token; the
		// token is spent, but sending now would only earn another 429.
		if !p.paused() {
			return nil
		}
	}
}

func (p *Pacer) waitPause(ctx context.Context) error {
	for {
		p.mu.Lock()
		pause := p.pausedUntil.Sub(p.now())
		p.mu.Unlock()
		if pause <= 0 {
			return nil
		}
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

func (p *Pacer) paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.now().Before(p.pausedUntil)
}

// PauseFor stops all requests for d, as Retry-After asks. A shorter pause
// than one already in force does not shorten it.
func (p *Pacer) PauseFor(d time.Duration) {
	until := p.now().Add(d)
	p.mu.Lock()
	if until.After(p.pausedUntil) {
		p.pausedUntil = until
	}
	p.mu.Unlock()
}

// WaitN blocks until n requests may go, or ctx ends: a $batch carries n
// writes, and Graph counts each of them against the quota, so the batch
// must wait for a token per inner write before it is sent.
func (p *Pacer) WaitN(ctx context.Context, n int) error {
	for range n {
		if err := p.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}
