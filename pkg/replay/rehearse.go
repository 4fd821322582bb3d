package replay

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/store"
)

// ClaimPeeker reads a claim without taking it; store.Store is one.
type ClaimPeeker interface {
	PeekClaim(ctx context.Context, key string, now time.Time) (store.ClaimState, error)
}

// rehearsalPrefix keeps an observe-mode replay's claims on audit records
// apart from the service's.
const rehearsalPrefix = "rehearsal:"

// Rehearse wraps the pipeline's state for an observe-mode replay. An audit
// record the service has done (or is doing) is a duplicate, read with
// PeekClaim and never taken; any other is claimed under a key of the
// replay's own, so that repeating the rehearsal journals it once, while a
// later enforce replay, or the service, still finds it free and acts on
// it. Without this, rehearsing a window first would make every record in
// it a duplicate to the enforce replay that follows. Other keys (dead
// letters, kept once whoever keeps them) pass through unchanged.
func Rehearse(state pipeline.State, live ClaimPeeker) pipeline.State {
	return &rehearsal{State: state, live: live}
}

type rehearsal struct {
	pipeline.State
	live ClaimPeeker
}

func (r *rehearsal) Claim(ctx context.Context, key string, now, leaseUntil time.Time) (store.ClaimState, error) {
	if !isAuditKey(key) {
		return r.State.Claim(ctx, key, now, leaseUntil)
	}
	state, err := r.live.PeekClaim(ctx, key, now)
	if err != nil {
		return 0, fmt.Errorf("read the service's claim: %w", err)
	}
	if state == store.Done || state == store.Held {
		return state, nil
	}
	return r.State.Claim(ctx, rehearsalPrefix+key, now, leaseUntil)
}

func (r *rehearsal) Complete(ctx context.Context, key string, now time.Time) error {
	return r.State.Complete(ctx, r.own(key), now)
}

func (r *rehearsal) Release(ctx context.Context, key string) error {
	return r.State.Release(ctx, r.own(key))
}

func (r *rehearsal) own(key string) string {
	if isAuditKey(key) {
		return rehearsalPrefix + key
	}
	return key
}

func isAuditKey(key string) bool { return strings.HasPrefix(key, pipeline.DedupKey("")) }
