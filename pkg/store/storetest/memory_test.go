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
// ordered by their position in the slice, IDs by a counter. Intents are kept
// by value, so that what a caller gets back never aliases what is stored
// except for Payload, which is copied on the way in and out.
type memory struct {
	mu      sync.Mutex
	closed  bool
	next    int
	claims  map[string]*claim
	journal []store.Entry
	letters []store.DeadLetter
	intents map[string]store.Intent // by ID
	keys    map[string]string       // intent ID by Key
}

func newMemory() *memory {
	return &memory{claims: map[string]*claim{}, intents: map[string]store.Intent{}, keys: map[string]string{}}
}

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

// copyIntent returns in with a Payload of its own.
func copyIntent(in store.Intent) store.Intent {
	in.Payload = append([]byte{}, in.Payload...)
	return in
}

func (m *memory) Enqueue(ctx context.Context, in store.Intent, now time.Time) (store.Intent, bool, error) {
	if in.Key == "" || in.Kind == "" || len(in.Payload) > store.MaxIntentPayload {
		return store.Intent{}, false, errors.New("bad intent")
	}
	if err := m.lock(ctx); err != nil {
		return store.Intent{}, false, err
	}
	defer m.mu.Unlock()
	if id, ok := m.keys[in.Key]; ok {
		return copyIntent(m.intents[id]), false, nil
	}
	if in.NotBefore.IsZero() {
		in.NotBefore = now
	}
	in = store.Intent{
		ID: m.id(), Key: in.Key, Kind: in.Kind, Payload: in.Payload, State: store.IntentPending,
		NotBefore: in.NotBefore.UTC(), CreatedAt: now.UTC(), UpdatedAt: now.UTC(),
	}
	m.intents[in.ID] = copyIntent(in)
	m.keys[in.Key] = in.ID
	return copyIntent(in), true, nil
}

// due says when in may be leased, and whether it ever may.
func due(in store.Intent) (time.Time, bool) {
	switch in.State {
	case store.IntentPending:
		return in.NotBefore, true
	case store.IntentLeased:
		return in.LeaseUntil, true
	}
	return time.Time{}, false
}

func (m *memory) LeaseIntents(ctx context.Context, now, leaseUntil time.Time, limit int) ([]store.Intent, error) {
	if limit <= 0 || !leaseUntil.After(now) {
		return nil, errors.New("bad lease")
	}
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var ready []store.Intent
	for _, in := range m.intents {
		if at, ok := due(in); ok && !at.After(now) {
			ready = append(ready, in)
		}
	}
	sort.Slice(ready, func(i, j int) bool {
		a, _ := due(ready[i])
		b, _ := due(ready[j])
		if !a.Equal(b) {
			return a.Before(b)
		}
		return ready[i].ID < ready[j].ID
	})
	out := []store.Intent{}
	for _, in := range ready[:min(limit, len(ready))] {
		m.next++
		in.State, in.LeaseToken, in.LeaseUntil = store.IntentLeased, fmt.Sprintf("token-%d", m.next), leaseUntil.UTC()
		in.Attempts++
		in.UpdatedAt = now.UTC()
		m.intents[in.ID] = in
		out = append(out, copyIntent(in))
	}
	return out, nil
}

// transition applies change to intent id if token holds its lease.
func (m *memory) transition(ctx context.Context, id, token string, now time.Time, change func(*store.Intent)) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	in, ok := m.intents[id]
	switch {
	case !ok:
		return store.ErrNotFound
	case in.State != store.IntentLeased || in.LeaseToken != token:
		return store.ErrLeaseLost
	}
	change(&in)
	if in.State != store.IntentLeased {
		in.LeaseToken, in.LeaseUntil = "", time.Time{}
	}
	in.UpdatedAt = now.UTC()
	m.intents[id] = in
	return nil
}

func (m *memory) RenewIntentLease(ctx context.Context, id, token string, now, leaseUntil time.Time) error {
	if !leaseUntil.After(now) {
		return errors.New("bad lease")
	}
	return m.transition(ctx, id, token, now, func(in *store.Intent) { in.LeaseUntil = leaseUntil.UTC() })
}

func (m *memory) CompleteIntent(ctx context.Context, id, token string, now time.Time, outcome string) error {
	return m.transition(ctx, id, token, now, func(in *store.Intent) {
		in.State, in.Outcome = store.IntentDone, outcome
	})
}

func (m *memory) RetryIntent(ctx context.Context, id, token string, now, notBefore time.Time, lastError string) error {
	if notBefore.IsZero() {
		notBefore = now
	}
	return m.transition(ctx, id, token, now, func(in *store.Intent) {
		in.State, in.NotBefore, in.LastError = store.IntentPending, notBefore.UTC(), lastError
	})
}

func (m *memory) FailIntent(ctx context.Context, id, token string, now time.Time, reason string) error {
	return m.transition(ctx, id, token, now, func(in *store.Intent) {
		in.State, in.Outcome, in.LastError = store.IntentFailed, reason, reason
	})
}

func (m *memory) Intent(ctx context.Context, id string) (store.Intent, error) {
	if err := m.lock(ctx); err != nil {
		return store.Intent{}, err
	}
	defer m.mu.Unlock()
	in, ok := m.intents[id]
	if !ok {
		return store.Intent{}, store.ErrNotFound
	}
	return copyIntent(in), nil
}

func (m *memory) IntentByKey(ctx context.Context, key string) (store.Intent, error) {
	if err := m.lock(ctx); err != nil {
		return store.Intent{}, err
	}
	defer m.mu.Unlock()
	id, ok := m.keys[key]
	if !ok {
		return store.Intent{}, store.ErrNotFound
	}
	return copyIntent(m.intents[id]), nil
}

func (m *memory) Intents(ctx context.Context, q store.IntentQuery) ([]store.Intent, error) {
	switch q.State {
	case "", store.IntentPending, store.IntentLeased, store.IntentDone, store.IntentFailed:
	default:
		return nil, errors.New("unknown state")
	}
	if q.Limit <= 0 {
		return nil, errors.New("limit not positive")
	}
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []store.Intent
	for _, in := range m.intents {
		if (q.State == "" || in.State == q.State) && (q.Kind == "" || in.Kind == q.Kind) {
			out = append(out, copyIntent(in))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out[:min(q.Limit, len(out))], nil
}

func (m *memory) ExpireIntents(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, errors.New("limit not positive")
	}
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	var old []store.Intent
	for _, in := range m.intents {
		if (in.State == store.IntentDone || in.State == store.IntentFailed) && in.UpdatedAt.Before(cutoff) {
			old = append(old, in)
		}
	}
	sort.Slice(old, func(i, j int) bool { return old[i].UpdatedAt.Before(old[j].UpdatedAt) })
	old = old[:min(limit, len(old))]
	for _, in := range old {
		delete(m.intents, in.ID)
		delete(m.keys, in.Key)
	}
	return len(old), nil
}

func (m *memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
