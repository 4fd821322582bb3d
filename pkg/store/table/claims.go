package table

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
)

// Claim states as stored.
const (
	claimClaimed = "claimed"
	claimDone    = "done"
)

// claimKeys places the claim of key: partitioned by the first byte of its
// hash, so that a burst of audit records spreads over 256 partitions.
func claimKeys(key string) (pk, rk string) {
	h := hashKey(key)
	return bucket(h), h
}

// Claim implements store.Store.
//
// It reads the claim and then writes conditionally: AddEntity when there is
// none, which exactly one of racing callers wins, or UpdateEntity with the
// ETag read when taking over an expired lease, which exactly one of racing
// callers wins too. A loser reads again and finds the winner's live lease.
func (s *Store) Claim(ctx context.Context, key string, now, leaseUntil time.Time) (store.ClaimState, error) {
	state, err := s.claim(ctx, key, now, leaseUntil)
	if err != nil {
		return 0, fmt.Errorf("table store: claim %q: %w", key, err)
	}
	return state, nil
}

func (s *Store) claim(ctx context.Context, key string, now, leaseUntil time.Time) (store.ClaimState, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	nowNs, err := nanos(now)
	if err != nil {
		return 0, err
	}
	leaseNs, err := nanos(leaseUntil)
	if err != nil {
		return 0, err
	}
	pk, rk := claimKeys(key)
	for range maxRetries {
		e, err := get(ctx, s.claims, pk, rk)
		switch {
		case errors.Is(err, errGone):
			err = add(ctx, s.claims, pk, rk, map[string]any{
				"Key": key, "State": claimClaimed, "FirstClaimed": nowNs, "LeaseUntil": leaseNs,
			})
		case err != nil:
			return 0, err
		case e.str("State") == claimDone:
			return store.Done, nil
		case int64(nowNs) < e.i64("LeaseUntil"):
			return store.Held, nil
		default:
			// The owner's lease ran out before it completed: take over,
			// keeping FirstClaimed, which retention counts from.
			e.props["LeaseUntil"] = leaseNs
			err = replace(ctx, s.claims, pk, rk, e.etag, e.props)
		}
		switch {
		case err == nil:
			return store.Claimed, nil
		case errors.Is(err, errExists), errors.Is(err, errChanged), errors.Is(err, errGone):
			continue // another caller got there first: read what it wrote
		default:
			return 0, err
		}
	}
	return 0, errors.New("too much contention on the key")
}

// PeekClaim implements store.Store: one point read.
func (s *Store) PeekClaim(ctx context.Context, key string, now time.Time) (store.ClaimState, error) {
	state, err := s.peekClaim(ctx, key, now)
	if err != nil {
		return 0, fmt.Errorf("table store: peek claim %q: %w", key, err)
	}
	return state, nil
}

func (s *Store) peekClaim(ctx context.Context, key string, now time.Time) (store.ClaimState, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	nowNs, err := nanos(now)
	if err != nil {
		return 0, err
	}
	pk, rk := claimKeys(key)
	e, err := get(ctx, s.claims, pk, rk)
	switch {
	case errors.Is(err, errGone):
		return store.Free, nil
	case err != nil:
		return 0, err
	case e.str("State") == claimDone:
		return store.Done, nil
	case int64(nowNs) < e.i64("LeaseUntil"):
		return store.Held, nil
	}
	return store.Free, nil
}

// Complete implements store.Store. A repeat keeps the first completion
// time.
func (s *Store) Complete(ctx context.Context, key string, now time.Time) error {
	if err := s.complete(ctx, key, now); err != nil {
		return fmt.Errorf("table store: complete %q: %w", key, err)
	}
	return nil
}

func (s *Store) complete(ctx context.Context, key string, now time.Time) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	nowNs, err := nanos(now)
	if err != nil {
		return err
	}
	pk, rk := claimKeys(key)
	for range maxRetries {
		e, err := get(ctx, s.claims, pk, rk)
		switch {
		case errors.Is(err, errGone):
			return store.ErrNotClaimed
		case err != nil:
			return err
		case e.str("State") == claimDone:
			return nil
		}
		e.props["State"] = claimDone
		e.props["CompletedAt"] = nowNs
		switch err := replace(ctx, s.claims, pk, rk, e.etag, e.props); {
		case err == nil:
			return nil
		case errors.Is(err, errChanged), errors.Is(err, errGone):
			continue
		default:
			return err
		}
	}
	return errors.New("too much contention on the key")
}

// ExpireClaims implements store.Store. The contract asks for no order, so
// a page deletes the first expired claims the query returns and reads no
// further: claims are the largest table, one per audit record for 35 days.
func (s *Store) ExpireClaims(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	n, err := s.expireClaims(ctx, cutoff, limit)
	if err != nil {
		return n, fmt.Errorf("table store: expire claims: %w", err)
	}
	return n, nil
}

func (s *Store) expireClaims(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	cutoffNs, err := nanos(cutoff)
	if err != nil {
		return 0, err
	}
	return expireOldest(ctx, s.claims, "FirstClaimed lt "+i64Lit(cutoffNs), nil, limit, nil)
}

// Release implements store.Store. The delete names the ETag of the
// uncompleted claim it read, so a completion that slips in between wins.
func (s *Store) Release(ctx context.Context, key string) error {
	if err := s.release(ctx, key); err != nil {
		return fmt.Errorf("table store: release %q: %w", key, err)
	}
	return nil
}

func (s *Store) release(ctx context.Context, key string) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	pk, rk := claimKeys(key)
	for range maxRetries {
		e, err := get(ctx, s.claims, pk, rk)
		switch {
		case errors.Is(err, errGone):
			return nil
		case err != nil:
			return err
		case e.str("State") == claimDone:
			return nil
		}
		switch err := remove(ctx, s.claims, pk, rk, e.etag); {
		case err == nil, errors.Is(err, errGone):
			return nil
		case errors.Is(err, errChanged):
			continue
		default:
			return err
		}
	}
	return errors.New("too much contention on the key")
}
