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
	mu       sync.Mutex
	closed   bool
	next     int
	claims   map[string]*claim
	journal  []store.Entry
	letters  []store.DeadLetter
	intents  map[string]store.Intent // by ID
	keys     map[string]string       // intent ID by Key
	hits     map[hitKey]time.Time    // At by scope and id
	marks    map[string]store.Mark   // by Key
	silences map[string]store.Silence
	locks    map[string]store.Lock // by Name, with Token
	records  map[[2]string]store.Record
}

// hitKey names a hit.
type hitKey struct{ scope, id string }

func newMemory() *memory {
	return &memory{
		claims:   map[string]*claim{},
		intents:  map[string]store.Intent{},
		keys:     map[string]string{},
		hits:     map[hitKey]time.Time{},
		marks:    map[string]store.Mark{},
		silences: map[string]store.Silence{},
		locks:    map[string]store.Lock{},
		records:  map[[2]string]store.Record{},
	}
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

func (m *memory) PeekClaim(ctx context.Context, key string, now time.Time) (store.ClaimState, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	c, ok := m.claims[key]
	switch {
	case !ok:
		return store.Free, nil
	case c.done:
		return store.Done, nil
	case now.Before(c.leaseUntil):
		return store.Held, nil
	}
	return store.Free, nil
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
	return m.expire(ctx, limit, func() int {
		return len(expireOldest(m.claims, cutoff, limit, func(c *claim) (time.Time, bool) { return c.firstClaimed, true }))
	})
}

// expire checks limit and runs del, which deletes and returns how many it
// did, holding the mutex.
func (m *memory) expire(ctx context.Context, limit int, del func() int) (int, error) {
	if limit <= 0 {
		return 0, errors.New("limit not positive")
	}
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	return del(), nil
}

// expireOldest deletes from items, oldest first, at most limit of those
// whose time (as when gives it, when it gives one) is before cutoff, and
// returns them. The caller holds the mutex.
func expireOldest[K comparable, V any](items map[K]V, cutoff time.Time, limit int, when func(V) (time.Time, bool)) []V {
	var old []K
	for k, v := range items {
		if tm, ok := when(v); ok && tm.Before(cutoff) {
			old = append(old, k)
		}
	}
	timeOf := func(k K) time.Time {
		tm, _ := when(items[k])
		return tm
	}
	sort.Slice(old, func(i, j int) bool { return timeOf(old[i]).Before(timeOf(old[j])) })
	old = old[:min(limit, len(old))]
	deleted := make([]V, len(old))
	for i, k := range old {
		deleted[i] = items[k]
		delete(items, k)
	}
	return deleted
}

func (m *memory) Release(ctx context.Context, key string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if c, ok := m.claims[key]; ok && !c.done {
		delete(m.claims, key)
	}
	return nil
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
		if (q.Since.IsZero() || !e.Time.Before(q.Since)) && (q.EventID == "" || e.EventID == q.EventID) && (q.TargetID == "" || e.TargetID == q.TargetID) {
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

func (m *memory) LeaseIntents(ctx context.Context, kind string, now, leaseUntil time.Time, limit int) ([]store.Intent, error) {
	if kind == "" || limit <= 0 || !leaseUntil.After(now) {
		return nil, errors.New("bad lease")
	}
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var ready []store.Intent
	for _, in := range m.intents {
		if at, ok := due(in); ok && in.Kind == kind && !at.After(now) {
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
	return m.expire(ctx, limit, func() int {
		old := expireOldest(m.intents, cutoff, limit, func(in store.Intent) (time.Time, bool) {
			return in.UpdatedAt, in.State == store.IntentDone || in.State == store.IntentFailed
		})
		for _, in := range old {
			delete(m.keys, in.Key)
		}
		return len(old)
	})
}

func (m *memory) RecordHit(ctx context.Context, scope, id string, at time.Time) (bool, error) {
	if err := store.CheckHit(scope, id); err != nil {
		return false, err
	}
	if err := m.lock(ctx); err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	k := hitKey{scope, id}
	if _, ok := m.hits[k]; ok {
		return false, nil
	}
	m.hits[k] = at.UTC()
	return true, nil
}

// window returns the hits in scope with since <= At <= until, oldest first,
// ties by ID. The caller holds the mutex.
func (m *memory) window(scope string, since, until time.Time) []store.Hit {
	var out []store.Hit
	for k, at := range m.hits {
		if k.scope == scope && !at.Before(since) && !at.After(until) {
			out = append(out, store.Hit{Scope: k.scope, ID: k.id, At: at})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (m *memory) CountHits(ctx context.Context, scope string, since, until time.Time) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	return len(m.window(scope, since, until)), nil
}

func (m *memory) Hits(ctx context.Context, scope string, since, until time.Time, limit int) ([]store.Hit, error) {
	if limit <= 0 {
		return nil, errors.New("limit not positive")
	}
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	hits := m.window(scope, since, until)
	return hits[:min(limit, len(hits))], nil
}

func (m *memory) ExpireHits(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	return m.expire(ctx, limit, func() int {
		return len(expireOldest(m.hits, cutoff, limit, func(at time.Time) (time.Time, bool) { return at, true }))
	})
}

func (m *memory) PutMark(ctx context.Context, mark store.Mark, now time.Time) error {
	if err := store.CheckMark(mark); err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	mark.Until, mark.UpdatedAt = mark.Until.UTC(), now.UTC()
	m.marks[mark.Key] = mark
	return nil
}

func (m *memory) GetMark(ctx context.Context, key string) (store.Mark, error) {
	if err := m.lock(ctx); err != nil {
		return store.Mark{}, err
	}
	defer m.mu.Unlock()
	mark, ok := m.marks[key]
	if !ok {
		return store.Mark{}, store.ErrNotFound
	}
	return mark, nil
}

func (m *memory) DeleteMark(ctx context.Context, key string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	delete(m.marks, key)
	return nil
}

func (m *memory) ExpireMarks(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	return m.expire(ctx, limit, func() int {
		return len(expireOldest(m.marks, cutoff, limit, func(mark store.Mark) (time.Time, bool) { return mark.Until, true }))
	})
}

func (m *memory) PutSilence(ctx context.Context, sl store.Silence, now time.Time) (store.Silence, error) {
	if sl.StartsAt.IsZero() {
		sl.StartsAt = now
	}
	if err := store.CheckSilence(sl); err != nil {
		return store.Silence{}, err
	}
	if err := m.lock(ctx); err != nil {
		return store.Silence{}, err
	}
	defer m.mu.Unlock()
	sl.ID, sl.CreatedAt = m.id(), now.UTC()
	sl.StartsAt, sl.EndsAt = sl.StartsAt.UTC(), sl.EndsAt.UTC()
	m.silences[sl.ID] = sl
	return sl, nil
}

func (m *memory) Silences(ctx context.Context, q store.SilenceQuery) ([]store.Silence, error) {
	if q.Limit <= 0 {
		return nil, errors.New("limit not positive")
	}
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []store.Silence
	for _, sl := range m.silences {
		if q.ActiveAt.IsZero() || !sl.StartsAt.After(q.ActiveAt) && q.ActiveAt.Before(sl.EndsAt) {
			out = append(out, sl)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out[:min(q.Limit, len(out))], nil
}

func (m *memory) EndSilence(ctx context.Context, id string, now time.Time) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	sl, ok := m.silences[id]
	if !ok {
		return store.ErrNotFound
	}
	if sl.EndsAt.After(now) {
		sl.EndsAt = now.UTC()
		m.silences[id] = sl
	}
	return nil
}

func (m *memory) ExpireSilences(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	return m.expire(ctx, limit, func() int {
		return len(expireOldest(m.silences, cutoff, limit, func(sl store.Silence) (time.Time, bool) { return sl.EndsAt, true }))
	})
}

func (m *memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memory) AcquireLock(ctx context.Context, name, owner string, now, until time.Time) (store.Lock, bool, error) {
	if err := m.lock(ctx); err != nil {
		return store.Lock{}, false, err
	}
	defer m.mu.Unlock()
	if err := store.CheckLock(name, owner, now, until); err != nil {
		return store.Lock{}, false, err
	}
	if held, ok := m.locks[name]; ok && held.Until.After(now) {
		held.Token = ""
		return held, false, nil
	}
	l := store.Lock{Name: name, Token: store.NewLeaseToken(), Owner: owner, AcquiredAt: now.UTC(), Until: until.UTC()}
	m.locks[name] = l
	return l, true, nil
}

func (m *memory) RenewLock(ctx context.Context, name, token string, now, until time.Time) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if !until.After(now) {
		return store.ErrInvalid
	}
	held, ok := m.locks[name]
	if !ok || token == "" || held.Token != token {
		return store.ErrLeaseLost
	}
	held.Until = until.UTC()
	m.locks[name] = held
	return nil
}

func (m *memory) ReleaseLock(ctx context.Context, name, token string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	held, ok := m.locks[name]
	switch {
	case !ok:
		return nil
	case token == "" || held.Token != token:
		return store.ErrLeaseLost
	}
	delete(m.locks, name)
	return nil
}

func (m *memory) PutRecord(ctx context.Context, rec store.Record, now time.Time) (store.Record, error) {
	if err := m.lock(ctx); err != nil {
		return store.Record{}, err
	}
	defer m.mu.Unlock()
	if err := store.CheckRecord(rec); err != nil {
		return store.Record{}, err
	}
	key := [2]string{rec.Kind, rec.ID}
	old, exists := m.records[key]
	switch {
	case rec.Version == 0 && exists:
		return store.Record{}, store.ErrConflict
	case rec.Version != 0 && !exists:
		return store.Record{}, store.ErrNotFound
	case rec.Version != 0 && old.Version != rec.Version:
		return store.Record{}, store.ErrConflict
	}
	if rec.Value == nil {
		rec.Value = []byte{}
	}
	rec.Value = append([]byte(nil), rec.Value...)
	rec.Version++
	rec.Until, rec.UpdatedAt = rec.Until.UTC(), now.UTC()
	m.records[key] = rec
	return rec, nil
}

func (m *memory) GetRecord(ctx context.Context, kind, id string) (store.Record, error) {
	if err := m.lock(ctx); err != nil {
		return store.Record{}, err
	}
	defer m.mu.Unlock()
	rec, ok := m.records[[2]string{kind, id}]
	if !ok {
		return store.Record{}, store.ErrNotFound
	}
	return rec, nil
}

func (m *memory) Records(ctx context.Context, kind string, limit int) ([]store.Record, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if limit <= 0 {
		return nil, errors.New("limit must be positive")
	}
	var out []store.Record
	for key, rec := range m.records {
		if key[0] == kind {
			out = append(out, rec)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m *memory) ExpireRecords(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	if limit <= 0 {
		return 0, errors.New("limit must be positive")
	}
	var old []store.Record
	for _, rec := range m.records {
		if rec.Until.Before(cutoff) {
			old = append(old, rec)
		}
	}
	sort.Slice(old, func(i, j int) bool { return old[i].Until.Before(old[j].Until) })
	if len(old) > limit {
		old = old[:limit]
	}
	for _, rec := range old {
		delete(m.records, [2]string{rec.Kind, rec.ID})
	}
	return len(old), nil
}
