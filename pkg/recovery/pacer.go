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

// Pacer spaces Graph writes so that a mass restore runs near the write quota
// without tripping it, and stops everyone when Graph says to back off. A
// token bucket at the quota's average rate, with a burst of a small part of
// the quota, keeps each sliding window under the limit.
type Pacer struct {
	limiter *rate.Limiter
	now     func() time.Time

	mu          sync.Mutex
	pausedUntil time.Time
}

// NewPacer paces writes at quota per window.
func NewPacer(quota int, window time.Duration) *Pacer {
	if quota <= 0 || window <= 0 {
		quota, window = DefaultWriteQuota, DefaultWriteWindow
	}
	perSecond := float64(quota) / window.Seconds()
	// A burst of 1% of the quota (at least one) lets a short queue go out at
	// once while a sustained run converges on the average rate.
	burst := max(1, quota/100)
	return &Pacer{limiter: rate.NewLimiter(rate.Limit(perSecond), burst), now: time.Now}
}

// Rate is the paced writes per second.
func (p *Pacer) Rate() float64 { return float64(p.limiter.Limit()) }

// Wait blocks until the next write may go, or ctx ends.
func (p *Pacer) Wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		pause := p.pausedUntil.Sub(p.now())
		p.mu.Unlock()
		if pause <= 0 {
			break
		}
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
	return p.limiter.Wait(ctx)
}

// PauseFor stops all writes for d, as Retry-After asks. A shorter pause than
// one already in force does not shorten it.
func (p *Pacer) PauseFor(d time.Duration) {
	until := p.now().Add(d)
	p.mu.Lock()
	if until.After(p.pausedUntil) {
		p.pausedUntil = until
	}
	p.mu.Unlock()
}
