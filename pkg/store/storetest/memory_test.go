package storetest_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/storetest"
)

// TestSuiteOnMemoryStore runs the suite against a minimal in-memory model of
// the contract, which shares nothing with the SQLite store. It shows that the
// suite asks for the documented behaviour only, and that the model passes.
func TestSuiteOnMemoryStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return newMemory() })
}

type claim struct {
	done                     bool
	firstClaimed, leaseUntil time.Time
}

// memory keeps everything in slices and maps under one mutex. Appends are
// ordered by their position in the slice, IDs by a counter.
type memory struct {
	mu      sync.Mutex
	closed  bool
	next    int
	claims  map[string]*claim
	journal []store.Entry
	letters []store.DeadLetter
}

func newMemory() *memory { return &memory{claims: map[string]*claim{}} }

var errClosed = errors.New("memory store: closed")

// lock takes the mutex if the call may proceed; the caller unlocks.
func (m *memory) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errClosed
	}
	return nil
}

func (m *memory) id() string {
	m.next++
	return fmt.Sprintf("%020d", m.next)
}

func (m *memory) Claim(ctx context.Context, key string, now, leaseUntil time.Time) (store.ClaimState, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	c, ok := m.claims[key]
	switch {
	case !ok:
		m.claims[key] = &claim{firstClaimed: now, leaseUntil: leaseUntil}
	case c.done:
		return store.Done, nil
	case now.Before(c.leaseUntil):
		return store.Held, nil
	default:
		c.leaseUntil = leaseUntil
	}
	return store.Claimed, nil
}

func (m *memory) Complete(ctx context.Context, key string, _ time.Time) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	c, ok := m.claims[key]
	if !ok {
		return store.ErrNotClaimed
	}
	c.done = true
	return nil
}

func (m *memory) ExpireClaims(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, errors.New("limit not positive")
	}
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	var old []string
	for k, c := range m.claims {
		if c.firstClaimed.Before(cutoff) {
			old = append(old, k)
		}
	}
	sort.Slice(old, func(i, j int) bool { return m.claims[old[i]].firstClaimed.Before(m.claims[old[j]].firstClaimed) })
	old = old[:min(limit, len(old))]
	for _, k := range old {
		delete(m.claims, k)
	}
	return len(old), nil
}

func (m *memory) Append(ctx context.Context, e store.Entry) (store.Entry, error) {
	if err := m.lock(ctx); err != nil {
		return store.Entry{}, err
	}
	defer m.mu.Unlock()
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.ID, e.Time = m.id(), e.Time.UTC()
	m.journal = append(m.journal, e)
	return e, nil
}

func (m *memory) Journal(ctx context.Context, q store.JournalQuery) ([]store.Entry, error) {
	if q.Limit < 0 {
		return nil, errors.New("negative limit")
	}
	if q.Limit == 0 {
		q.Limit = store.DefaultJournalLimit
	}
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []store.Entry
	for i := len(m.journal) - 1; i >= 0 && len(out) < q.Limit; i-- {
		e := m.journal[i]
		if (q.Since.IsZero() || !e.Time.Before(q.Since)) && (q.EventID == "" || e.EventID == q.EventID) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memory) PutDeadLetter(ctx context.Context, l store.DeadLetter) (store.DeadLetter, error) {
	if err := m.lock(ctx); err != nil {
		return store.DeadLetter{}, err
	}
	defer m.mu.Unlock()
	if l.Time.IsZero() {
		l.Time = time.Now()
	}
	l.ID, l.Time = m.id(), l.Time.UTC()
	l.Raw = append([]byte(nil), l.Raw...)
	m.letters = append(m.letters, l)
	return l, nil
}

func (m *memory) DeadLetters(ctx context.Context, limit int) ([]store.DeadLetter, error) {
	if limit <= 0 {
		return nil, errors.New("limit not positive")
	}
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []store.DeadLetter
	for i := len(m.letters) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, m.letters[i])
	}
	return out, nil
}

func (m *memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
