package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
)

// AcquireLock implements store.Store.
func (s *Store) AcquireLock(ctx context.Context, name, owner string, now, until time.Time) (store.Lock, bool, error) {
	lock, ok, err := s.acquireLock(ctx, name, owner, now, until)
	if err != nil {
		return store.Lock{}, false, fmt.Errorf("sqlite store: acquire lock %q: %w", name, err)
	}
	return lock, ok, nil
}

func (s *Store) acquireLock(ctx context.Context, name, owner string, now, until time.Time) (store.Lock, bool, error) {
	if err := store.CheckLock(name, owner, now, until); err != nil {
		return store.Lock{}, false, err
	}
	nowNs, untilNs, err := leaseTimes(now, until)
	if err != nil {
		return store.Lock{}, false, err
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return store.Lock{}, false, err
	}
	defer func() { _ = tx.Rollback() }()
	var held store.Lock
	var acquired, heldUntil int64
	err = tx.QueryRowContext(ctx, `SELECT owner, acquired_at, until FROM locks WHERE name = ?`, name).Scan(&held.Owner, &acquired, &heldUntil)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return store.Lock{}, false, err
	case heldUntil > nowNs:
		held.Name, held.AcquiredAt, held.Until = name, fromUnixNano(acquired), fromUnixNano(heldUntil)
		return held, false, nil
	}
	lock := store.Lock{Name: name, Token: store.NewLeaseToken(), Owner: owner, AcquiredAt: fromUnixNano(nowNs), Until: fromUnixNano(untilNs)}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO locks (name, token, owner, acquired_at, until) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET token = excluded.token, owner = excluded.owner,
			acquired_at = excluded.acquired_at, until = excluded.until`,
		name, lock.Token, owner, nowNs, untilNs); err != nil {
		return store.Lock{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return store.Lock{}, false, err
	}
	return lock, true, nil
}

// RenewLock implements store.Store.
func (s *Store) RenewLock(ctx context.Context, name, token string, now, until time.Time) error {
	_, untilNs, err := leaseTimes(now, until)
	if err == nil {
		err = s.lockWrite(ctx, name, token, `UPDATE locks SET until = ? WHERE name = ? AND token = ?`, untilNs, name, token)
	}
	if errors.Is(err, errLockFree) {
		err = store.ErrLeaseLost
	}
	if err != nil {
		return fmt.Errorf("sqlite store: renew lock %q: %w", name, err)
	}
	return nil
}

// ReleaseLock implements store.Store.
func (s *Store) ReleaseLock(ctx context.Context, name, token string) error {
	err := s.lockWrite(ctx, name, token, `DELETE FROM locks WHERE name = ? AND token = ?`, name, token)
	if errors.Is(err, errLockFree) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite store: release lock %q: %w", name, err)
	}
	return nil
}

// errLockFree: the lock has no holder at all.
var errLockFree = errors.New("lock is free")

// lockWrite runs query, which changes the lock's row only for token, and
// tells why it changed nothing: the lock is free (errLockFree) or another
// token holds it (store.ErrLeaseLost).
func (s *Store) lockWrite(ctx context.Context, name, token, query string, args ...any) error {
	if token == "" {
		return store.ErrLeaseLost
	}
	res, err := s.write.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var one int
	switch err := s.read.QueryRowContext(ctx, `SELECT 1 FROM locks WHERE name = ?`, name).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return errLockFree
	case err != nil:
		return fmt.Errorf("%w (and reading the lock failed: %w)", store.ErrLeaseLost, err)
	}
	return store.ErrLeaseLost
}
