package table

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
)

// lockKeys places the lock name, spread over 256 partitions by its hash.
func lockKeys(name string) (pk, rk string) {
	h := hashKey(name)
	return bucket(h), h
}

// AcquireLock implements store.Store. A free lock is taken with AddEntity
// (never taken or released: no entity) or UpdateEntity on the ETag read
// (lease ran out), so of callers racing for it exactly one wins.
func (s *Store) AcquireLock(ctx context.Context, name, owner string, now, until time.Time) (store.Lock, bool, error) {
	lock, ok, err := s.acquireLock(ctx, name, owner, now, until)
	if err != nil {
		return store.Lock{}, false, fmt.Errorf("table store: acquire lock %q: %w", name, err)
	}
	return lock, ok, nil
}

func (s *Store) acquireLock(ctx context.Context, name, owner string, now, until time.Time) (store.Lock, bool, error) {
	if err := s.usable(ctx); err != nil {
		return store.Lock{}, false, err
	}
	if err := store.CheckLock(name, owner, now, until); err != nil {
		return store.Lock{}, false, err
	}
	nowNs, err := nanos(now)
	if err != nil {
		return store.Lock{}, false, err
	}
	untilNs, err := nanos(until)
	if err != nil {
		return store.Lock{}, false, err
	}
	pk, rk := lockKeys(name)
	lock := store.Lock{Name: name, Token: store.NewLeaseToken(), Owner: owner, AcquiredAt: now.UTC(), Until: until.UTC()}
	props := map[string]any{"Name": name, "Token": lock.Token, "Owner": owner, "AcquiredAt": nowNs, "Until": untilNs}
	for range maxRetries {
		e, err := get(ctx, s.locks, pk, rk)
		switch {
		case errors.Is(err, errGone):
			err = add(ctx, s.locks, pk, rk, props)
		case err != nil:
			return store.Lock{}, false, err
		case e.i64("Until") > int64(nowNs):
			return store.Lock{Name: name, Owner: e.str("Owner"), AcquiredAt: e.time("AcquiredAt"), Until: e.time("Until")}, false, nil
		default:
			err = replace(ctx, s.locks, pk, rk, e.etag, props)
		}
		switch {
		case err == nil:
			return lock, true, nil
		case errors.Is(err, errExists), errors.Is(err, errChanged), errors.Is(err, errGone):
			continue
		default:
			return store.Lock{}, false, err
		}
	}
	return store.Lock{}, false, errors.New("too much contention on the lock")
}

// RenewLock implements store.Store.
func (s *Store) RenewLock(ctx context.Context, name, token string, now, until time.Time) error {
	err := s.usable(ctx)
	if err == nil {
		_, err = leaseTimes(now, until)
	}
	if err == nil {
		err = s.lockWrite(ctx, name, token, func(e entity) error {
			untilNs, err := nanos(until)
			if err != nil {
				return err
			}
			e.props["Until"] = untilNs
			return replace(ctx, s.locks, e.pk, e.rk, e.etag, e.props)
		})
	}
	if errors.Is(err, errLockFree) {
		err = store.ErrLeaseLost
	}
	if err != nil {
		return fmt.Errorf("table store: renew lock %q: %w", name, err)
	}
	return nil
}

// ReleaseLock implements store.Store.
func (s *Store) ReleaseLock(ctx context.Context, name, token string) error {
	err := s.usable(ctx)
	if err == nil {
		err = s.lockWrite(ctx, name, token, func(e entity) error {
			return remove(ctx, s.locks, e.pk, e.rk, e.etag)
		})
	}
	if errors.Is(err, errLockFree) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("table store: release lock %q: %w", name, err)
	}
	return nil
}

// errLockFree: the lock has no holder at all.
var errLockFree = errors.New("lock is free")

// lockWrite reads the lock and, if token holds it, calls write, which must
// write on the ETag read; a write that lost to another reads again. It
// tells why it wrote nothing: the lock is free (errLockFree) or another
// token holds it (store.ErrLeaseLost).
func (s *Store) lockWrite(ctx context.Context, name, token string, write func(entity) error) error {
	if token == "" {
		return store.ErrLeaseLost
	}
	pk, rk := lockKeys(name)
	for range maxRetries {
		e, err := get(ctx, s.locks, pk, rk)
		switch {
		case errors.Is(err, errGone):
			return errLockFree
		case err != nil:
			return err
		case e.str("Token") != token:
			return store.ErrLeaseLost
		}
		switch err := write(e); {
		case err == nil:
			return nil
		case errors.Is(err, errChanged), errors.Is(err, errGone):
			continue
		default:
			return err
		}
	}
	return errors.New("too much contention on the lock")
}
