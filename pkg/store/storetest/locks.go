package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
)

func acquire(t *testing.T, s store.Store, name, owner string, now, until time.Time) (store.Lock, bool) {
	t.Helper()
	l, ok, err := s.AcquireLock(t.Context(), name, owner, now, until)
	if err != nil {
		t.Fatalf("AcquireLock(%q, %q): %v", name, owner, err)
	}
	return l, ok
}

func testLockAcquireHeldExpired(t *testing.T, s store.Store) {
	first, ok := acquire(t, s, "backup-job", "instance-a", t0, t0.Add(lease))
	if !ok || first.Token == "" || first.Owner != "instance-a" || !first.AcquiredAt.Equal(t0) || !first.Until.Equal(t0.Add(lease)) {
		t.Fatalf("first acquire = %+v, %v", first, ok)
	}
	if first.Until.Location() != time.UTC {
		t.Errorf("Until in %v, want UTC", first.Until.Location())
	}
	held, ok := acquire(t, s, "backup-job", "instance-b", t0.Add(lease-1), t0.Add(2*lease))
	if ok || held.Token != "" || held.Owner != "instance-a" || !held.Until.Equal(first.Until) {
		t.Fatalf("acquire while held = %+v, %v; want the holder, without its token, and false", held, ok)
	}
	if other, ok := acquire(t, s, "another-lock", "instance-b", t0, t0.Add(lease)); !ok || other.Token == first.Token {
		t.Errorf("locks are not independent: %+v, %v", other, ok)
	}
	// The lease ends at Until: at that instant the lock is free.
	second, ok := acquire(t, s, "backup-job", "instance-b", t0.Add(lease), t0.Add(2*lease))
	if !ok || second.Token == first.Token || second.Owner != "instance-b" {
		t.Fatalf("acquire after the lease ran out = %+v, %v", second, ok)
	}
	// The first holder's token no longer works.
	if err := s.RenewLock(t.Context(), "backup-job", first.Token, t0.Add(lease), t0.Add(3*lease)); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("renew with a taken-over token: %v, want ErrLeaseLost", err)
	}
	if err := s.ReleaseLock(t.Context(), "backup-job", first.Token); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("release with a taken-over token: %v, want ErrLeaseLost", err)
	}
	if _, ok := acquire(t, s, "backup-job", "instance-c", t0.Add(lease+1), t0.Add(3*lease)); ok {
		t.Error("a stale holder's release freed the lock")
	}
}

func testLockRenewAndRelease(t *testing.T, s store.Store) {
	l, _ := acquire(t, s, "lock", "a", t0, t0.Add(lease))
	// A lease that ran out but was not taken over is still the holder's.
	if err := s.RenewLock(t.Context(), "lock", l.Token, t0.Add(lease+time.Second), t0.Add(3*lease)); err != nil {
		t.Fatalf("renew: %v", err)
	}
	if held, ok := acquire(t, s, "lock", "b", t0.Add(2*lease), t0.Add(4*lease)); ok || !held.Until.Equal(t0.Add(3*lease)) {
		t.Fatalf("acquire within the renewed lease = %+v, %v", held, ok)
	}
	if err := s.ReleaseLock(t.Context(), "lock", l.Token); err != nil {
		t.Fatalf("release: %v", err)
	}
	if err := s.ReleaseLock(t.Context(), "lock", l.Token); err != nil {
		t.Errorf("release of a free lock: %v, want nil", err)
	}
	if err := s.RenewLock(t.Context(), "lock", l.Token, t0, t0.Add(lease)); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("renew after release: %v, want ErrLeaseLost", err)
	}
	if next, ok := acquire(t, s, "lock", "b", t0.Add(time.Second), t0.Add(lease)); !ok || next.Token == l.Token {
		t.Errorf("acquire after release = %+v, %v", next, ok)
	}
	if err := s.ReleaseLock(t.Context(), "never-taken", "x"); err != nil {
		t.Errorf("release of a lock never taken: %v, want nil", err)
	}
}

func testLockInvalid(t *testing.T, s store.Store) {
	for _, tc := range []struct {
		name, owner string
		until       time.Time
	}{
		{"", "a", t0.Add(lease)},
		{"lock", "", t0.Add(lease)},
		{"lock", "a", t0},
		{"lock", "a", t0.Add(-time.Second)},
	} {
		if _, ok, err := s.AcquireLock(t.Context(), tc.name, tc.owner, t0, tc.until); !errors.Is(err, store.ErrInvalid) || ok {
			t.Errorf("AcquireLock(%q, %q, until %v) = %v, %v; want ErrInvalid", tc.name, tc.owner, tc.until, ok, err)
		}
	}
	l, _ := acquire(t, s, "lock", "a", t0, t0.Add(lease))
	if err := s.RenewLock(t.Context(), "lock", l.Token, t0, t0); err == nil {
		t.Error("RenewLock to now succeeded")
	}
	if err := s.RenewLock(t.Context(), "lock", "", t0, t0.Add(lease)); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("RenewLock with an empty token: %v, want ErrLeaseLost", err)
	}
}

func testConcurrentAcquireLock(t *testing.T, s store.Store) {
	got, err := Race(goroutines, func(int) (bool, error) {
		_, ok, err := s.AcquireLock(t.Context(), "contended", "racer", t0, t0.Add(lease))
		return ok, err
	})
	if err != nil {
		t.Fatal(err)
	}
	won := 0
	for _, ok := range got {
		if ok {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d of %d racers acquired the lock, want exactly 1", won, goroutines)
	}
}
