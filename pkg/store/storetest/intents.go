package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
)

// The intent outbox's part of the suite. Leasing takes whatever of its kind
// is due in the whole store, so each test arranges NotBefore times such that
// it knows exactly what is due when.

// restoreKind is the kind of the intents newIntent returns, and the kind
// leaseIntents and wantLeased lease.
const restoreKind = "restore"

// newIntent returns a restore intent with key, due at notBefore.
func newIntent(key string, notBefore time.Time) store.Intent {
	return store.Intent{
		Key:       key,
		Kind:      restoreKind,
		Payload:   []byte(`{"objectId":"` + key + `"}`),
		NotBefore: notBefore,
	}
}

// at names a time relative to t0 in messages.
func at(tm time.Time) string {
	if tm.IsZero() {
		return "zero"
	}
	if d := tm.Sub(t0); d < 0 {
		return "t0" + d.String()
	}
	return "t0+" + tm.Sub(t0).String()
}

func enqueue(t *testing.T, s store.Store, in store.Intent, now time.Time) (store.Intent, bool) {
	t.Helper()
	got, created, err := s.Enqueue(t.Context(), in, now)
	if err != nil {
		t.Fatalf("Enqueue(%q, now %s): %v", in.Key, at(now), err)
	}
	return got, created
}

// enqueueNew enqueues a new intent with key, due at now.
func enqueueNew(t *testing.T, s store.Store, key string, now time.Time) store.Intent {
	t.Helper()
	got, created := enqueue(t, s, newIntent(key, now), now)
	if !created {
		t.Fatalf("Enqueue(%q) found an existing intent", key)
	}
	return got
}

// leaseKind leases intents of kind for one lease period from now.
func leaseKind(t *testing.T, s store.Store, kind string, now time.Time, limit int) []store.Intent {
	t.Helper()
	got, err := s.LeaseIntents(t.Context(), kind, now, now.Add(lease), limit)
	if err != nil {
		t.Fatalf("LeaseIntents(%q, now %s, limit %d): %v", kind, at(now), limit, err)
	}
	return got
}

// wantLeased leases restore intents at now and checks that it got the
// intents with keys, in that order.
func wantLeased(t *testing.T, s store.Store, now time.Time, limit int, keys ...string) []store.Intent {
	t.Helper()
	return wantLeasedKind(t, s, restoreKind, now, limit, keys...)
}

// wantLeasedKind leases intents of kind at now and checks that it got the
// intents with keys, in that order.
func wantLeasedKind(t *testing.T, s store.Store, kind string, now time.Time, limit int, keys ...string) []store.Intent {
	t.Helper()
	got := leaseKind(t, s, kind, now, limit)
	if !equalStrings(intentKeys(got), keys) {
		t.Fatalf("LeaseIntents(%q, now %s, limit %d) leased %v, want %v", kind, at(now), limit, intentKeys(got), keys)
	}
	for _, in := range got {
		if in.Kind != kind {
			t.Fatalf("LeaseIntents(%q) leased %q, of kind %q", kind, in.Key, in.Kind)
		}
	}
	return got
}

func getIntent(t *testing.T, s store.Store, id string) store.Intent {
	t.Helper()
	got, err := s.Intent(t.Context(), id)
	if err != nil {
		t.Fatalf("Intent(%s): %v", id, err)
	}
	return got
}

func listIntents(t *testing.T, s store.Store, q store.IntentQuery) []store.Intent {
	t.Helper()
	got, err := s.Intents(t.Context(), q)
	if err != nil {
		t.Fatalf("Intents(%+v): %v", q, err)
	}
	return got
}

func completeIntent(t *testing.T, s store.Store, in store.Intent, now time.Time, outcome string) {
	t.Helper()
	if err := s.CompleteIntent(t.Context(), in.ID, in.LeaseToken, now, outcome); err != nil {
		t.Fatalf("CompleteIntent(%q): %v", in.Key, err)
	}
}

func intentKeys(intents []store.Intent) []string {
	return each(intents, func(in store.Intent) string { return in.Key })
}

// diffIntent describes how got differs from want, or returns "". Times must
// be the same instants, and in UTC unless zero.
func diffIntent(got, want store.Intent) string {
	for _, tm := range []struct {
		name      string
		got, want time.Time
	}{
		{"NotBefore", got.NotBefore, want.NotBefore},
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"UpdatedAt", got.UpdatedAt, want.UpdatedAt},
		{"LeaseUntil", got.LeaseUntil, want.LeaseUntil},
	} {
		if !tm.got.Equal(tm.want) {
			return fmt.Sprintf("intent %q: %s = %s, want %s", want.Key, tm.name, at(tm.got), at(tm.want))
		}
		if !tm.got.IsZero() && tm.got.Location() != time.UTC {
			return fmt.Sprintf("intent %q: %s is in %s, want UTC", want.Key, tm.name, tm.got.Location())
		}
	}
	if !bytes.Equal(got.Payload, want.Payload) {
		return fmt.Sprintf("intent %q: Payload = %q, want %q", want.Key, got.Payload, want.Payload)
	}
	got.NotBefore, got.CreatedAt, got.UpdatedAt, got.LeaseUntil, got.Payload = time.Time{}, time.Time{}, time.Time{}, time.Time{}, nil
	want.NotBefore, want.CreatedAt, want.UpdatedAt, want.LeaseUntil, want.Payload = time.Time{}, time.Time{}, time.Time{}, time.Time{}, nil
	if !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("got %+v\nwant %+v", got, want)
	}
	return ""
}

// diffIntents compares two lists of intents in order.
func diffIntents(got, want []store.Intent) string {
	return diffList("intents", got, want, intentKeys, diffIntent)
}

// diffList compares two lists of what in order: first their names, then
// each pair with diff. It returns "" when they match.
func diffList[T any](what string, got, want []T, names func([]T) []string, diff func(got, want T) string) string {
	if !equalStrings(names(got), names(want)) {
		return fmt.Sprintf("%s %v, want %v", what, names(got), names(want))
	}
	for i := range got {
		if d := diff(got[i], want[i]); d != "" {
			return d
		}
	}
	return ""
}

// wantIntent checks that the stored intent is want.
func wantIntent(t *testing.T, s store.Store, want store.Intent) {
	t.Helper()
	if d := diffIntent(getIntent(t, s, want.ID), want); d != "" {
		t.Fatalf("stored intent differs: %s", d)
	}
}

func testEnqueueSetsFields(t *testing.T, s store.Store) {
	zone := time.FixedZone("UTC-7", -7*3600)
	now := t0.In(zone)
	in := store.Intent{
		// Everything but Key, Kind, Payload and NotBefore is the store's
		// to set, so these are ignored.
		ID:         "forged",
		Key:        "restore:Directory_0a1b_ABCDE_123:6f1d8b9a-0000-4c2d-8e7f-112233445566",
		Kind:       "restore",
		Payload:    []byte(`{"objectId":"6f1d8b9a-0000-4c2d-8e7f-112233445566","type":"User"}`),
		State:      store.IntentDone,
		Attempts:   7,
		NotBefore:  t0.Add(time.Minute).In(zone),
		CreatedAt:  t0.Add(-time.Hour),
		UpdatedAt:  t0.Add(-time.Hour),
		LeaseToken: "forged",
		LeaseUntil: t0.Add(time.Hour),
		LastError:  "forged",
		Outcome:    "forged",
	}
	got, created := enqueue(t, s, in, now)
	if !created {
		t.Fatal("Enqueue into an empty store returned created false")
	}
	if got.ID == "" || got.ID == in.ID {
		t.Fatalf("Enqueue set ID %q, want a new one", got.ID)
	}
	want := store.Intent{
		ID:        got.ID,
		Key:       in.Key,
		Kind:      in.Kind,
		Payload:   in.Payload,
		State:     store.IntentPending,
		NotBefore: t0.Add(time.Minute),
		CreatedAt: t0,
		UpdatedAt: t0,
	}
	if d := diffIntent(got, want); d != "" {
		t.Fatalf("Enqueue returned a different intent: %s", d)
	}
	wantIntent(t, s, want)
	byKey, err := s.IntentByKey(t.Context(), in.Key)
	if err != nil {
		t.Fatalf("IntentByKey: %v", err)
	}
	if d := diffIntent(byKey, want); d != "" {
		t.Fatalf("IntentByKey returned a different intent: %s", d)
	}

	// A zero NotBefore means due at once.
	later := t0.Add(time.Second)
	second, _ := enqueue(t, s, store.Intent{Key: "k2", Kind: "restore"}, later)
	if !second.NotBefore.Equal(later) {
		t.Fatalf("Enqueue with a zero NotBefore set it to %s, want now (%s)", at(second.NotBefore), at(later))
	}
	if second.ID <= got.ID {
		t.Fatalf("the second intent's ID %s is not greater than the first's, %s", second.ID, got.ID)
	}
}

func testEnqueueInsertIfAbsent(t *testing.T, s store.Store) {
	// One intent in each state, then each key enqueued again with other
	// contents, later: the first intent stands, whatever its state.
	for _, key := range []string{"leased", "done", "failed"} {
		enqueueNew(t, s, key, t0)
	}
	leased := wantLeased(t, s, t0, 10, "leased", "done", "failed")
	completeIntent(t, s, leased[1], t0.Add(time.Second), "restored")
	if err := s.FailIntent(t.Context(), leased[2].ID, leased[2].LeaseToken, t0.Add(time.Second), "gone"); err != nil {
		t.Fatal(err)
	}
	enqueueNew(t, s, "pending", t0.Add(time.Hour))

	for _, key := range []string{"pending", "leased", "done", "failed"} {
		before, err := s.IntentByKey(t.Context(), key)
		if err != nil {
			t.Fatal(err)
		}
		again := store.Intent{Key: key, Kind: "other", Payload: []byte("other"), NotBefore: t0.Add(-time.Hour)}
		got, created := enqueue(t, s, again, t0.Add(2*time.Hour))
		if created {
			t.Errorf("Enqueue(%q) again returned created true", key)
		}
		if d := diffIntent(got, before); d != "" {
			t.Errorf("Enqueue(%q) again did not return the intent already there: %s", key, d)
		}
		wantIntent(t, s, before)
	}
	if got := listIntents(t, s, store.IntentQuery{Limit: 100}); len(got) != 4 {
		t.Fatalf("the store holds %d intents, want 4", len(got))
	}
}

func testEnqueueConcurrentSameKey(t *testing.T, s store.Store) {
	// Two instances handed the same audit event at once record one intent.
	type enqueued struct {
		in      store.Intent
		created bool
	}
	got, err := Race(goroutines, func(g int) (enqueued, error) {
		in := newIntent("k", t0)
		in.Payload = []byte(fmt.Sprint(g))
		stored, ok, err := s.Enqueue(t.Context(), in, t0)
		return enqueued{stored, ok}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	created, ids := 0, map[string]bool{}
	for _, e := range got {
		ids[e.in.ID] = true
		if e.created {
			created++
		}
	}
	if created != 1 || len(ids) != 1 {
		t.Fatalf("%d concurrent Enqueues of one key: %d created, %d distinct IDs returned; want 1 and 1",
			goroutines, created, len(ids))
	}
}

func testEnqueueInvalid(t *testing.T, s store.Store) {
	for _, tc := range []struct {
		name string
		in   store.Intent
	}{
		{"empty key", store.Intent{Kind: "restore", Payload: []byte("{}")}},
		{"empty kind", store.Intent{Key: "k", Payload: []byte("{}")}},
		{"payload too large", store.Intent{Key: "k", Kind: "restore", Payload: make([]byte, store.MaxIntentPayload+1)}},
	} {
		if got, _, err := s.Enqueue(t.Context(), tc.in, t0); err == nil {
			t.Errorf("Enqueue with %s = %+v, nil; want an error", tc.name, got)
		}
	}
	if got := listIntents(t, s, store.IntentQuery{Limit: 10}); len(got) != 0 {
		t.Fatalf("refused Enqueues left %d intents", len(got))
	}
	largest := bytes.Repeat([]byte{0xa5}, store.MaxIntentPayload)
	got, _ := enqueue(t, s, store.Intent{Key: "k", Kind: "restore", Payload: largest}, t0)
	if stored := getIntent(t, s, got.ID); !bytes.Equal(stored.Payload, largest) {
		t.Fatalf("a payload of MaxIntentPayload bytes came back as %d bytes", len(stored.Payload))
	}
}

func testIntentPayloadRoundTrip(t *testing.T, s store.Store) {
	// Not UTF-8, with NULs inside and at the end: kept byte for byte.
	payload := []byte{'{', 0x00, 0xff, 0xfe, 0x80, 'x', 0xc3, 0x28, '\n', 0x00}
	in := store.Intent{Key: "binary", Kind: "restore", Payload: bytes.Clone(payload), NotBefore: t0}
	got, _ := enqueue(t, s, in, t0)
	// The store keeps its own copy: the caller may reuse its buffer.
	for i := range in.Payload {
		in.Payload[i] = 'X'
	}
	check := func(where string, got []byte) {
		t.Helper()
		if !bytes.Equal(got, payload) {
			t.Fatalf("%s: Payload = %q, want %q", where, got, payload)
		}
	}
	check("Intent", getIntent(t, s, got.ID).Payload)
	byKey, err := s.IntentByKey(t.Context(), "binary")
	if err != nil {
		t.Fatal(err)
	}
	check("IntentByKey", byKey.Payload)
	check("Intents", listIntents(t, s, store.IntentQuery{Limit: 10})[0].Payload)
	leased := wantLeased(t, s, t0, 10, "binary")
	check("LeaseIntents", leased[0].Payload)
	completeIntent(t, s, leased[0], t0, "ok")
	check("after CompleteIntent", getIntent(t, s, got.ID).Payload)

	// An empty payload comes back empty.
	empty, _ := enqueue(t, s, store.Intent{Key: "empty", Kind: "restore"}, t0)
	if got := getIntent(t, s, empty.ID).Payload; len(got) != 0 {
		t.Fatalf("an empty payload came back as %q", got)
	}
}

func testIntentNotFound(t *testing.T, s store.Store) {
	enqueueNew(t, s, "k", t0)
	if _, err := s.Intent(t.Context(), "no-such-id"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Intent(unknown) = %v, want an error wrapping store.ErrNotFound", err)
	}
	if _, err := s.IntentByKey(t.Context(), "no-such-key"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("IntentByKey(unknown) = %v, want an error wrapping store.ErrNotFound", err)
	}
}

func testLeaseSetsFields(t *testing.T, s store.Store) {
	queued := enqueueNew(t, s, "k", t0)
	now, until := t0.Add(time.Second), t0.Add(time.Second+lease)
	got, err := s.LeaseIntents(t.Context(), restoreKind, now, until, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("LeaseIntents returned %d intents, want 1", len(got))
	}
	if got[0].LeaseToken == "" {
		t.Fatal("LeaseIntents left LeaseToken empty")
	}
	want := queued
	want.State = store.IntentLeased
	want.Attempts = 1
	want.UpdatedAt = now
	want.LeaseToken = got[0].LeaseToken
	want.LeaseUntil = until
	if d := diffIntent(got[0], want); d != "" {
		t.Fatalf("LeaseIntents returned %s", d)
	}
	wantIntent(t, s, want)
}

func testLeaseNotBefore(t *testing.T, s store.Store) {
	due := t0.Add(time.Hour)
	enqueueNew(t, s, "now", t0)
	enqueue(t, s, newIntent("later", due), t0)
	completeIntent(t, s, wantLeased(t, s, t0, 10, "now")[0], t0, "restored")
	// NotBefore is inclusive: due at it, not a nanosecond before.
	wantLeased(t, s, due.Add(-time.Nanosecond), 10)
	wantLeased(t, s, due, 10, "later")
}

func testLeaseLiveNotTaken(t *testing.T, s store.Store) {
	enqueueNew(t, s, "k", t0)
	first := wantLeased(t, s, t0, 10, "k")[0]
	// The lease is live while now is before LeaseUntil.
	for _, now := range []time.Time{t0, t0.Add(lease / 2), t0.Add(lease - time.Nanosecond)} {
		wantLeased(t, s, now, 10)
	}
	wantIntent(t, s, first)
}

func testLeaseExpiredTakenOver(t *testing.T, s store.Store) {
	enqueueNew(t, s, "k", t0)
	first := wantLeased(t, s, t0, 10, "k")[0]
	// The worker died; at the end of its lease the intent is due again.
	now := t0.Add(lease)
	second := wantLeased(t, s, now, 10, "k")[0]
	if second.LeaseToken == first.LeaseToken {
		t.Fatalf("taking over an expired lease kept the token %q", first.LeaseToken)
	}
	if second.Attempts != 2 {
		t.Fatalf("Attempts = %d after the second lease, want 2", second.Attempts)
	}
	if !second.LeaseUntil.Equal(now.Add(lease)) {
		t.Fatalf("LeaseUntil = %s, want %s", at(second.LeaseUntil), at(now.Add(lease)))
	}
	// The new lease holds off others as the first did.
	wantLeased(t, s, now.Add(lease/2), 10)
	wantIntent(t, s, second)
}

func testLeaseOrder(t *testing.T, s store.Store) {
	// Due times: a pending intent's NotBefore, a leased one's LeaseUntil.
	// Ties go to the intent enqueued first.
	enqueueNew(t, s, "expired", t0)
	if _, err := s.LeaseIntents(t.Context(), restoreKind, t0, t0.Add(2*time.Minute), 10); err != nil {
		t.Fatal(err) // due again at t0+2m, though its NotBefore is t0
	}
	enqueue(t, s, newIntent("3m", t0.Add(3*time.Minute)), t0)
	enqueue(t, s, newIntent("1m-first", t0.Add(time.Minute)), t0)
	enqueue(t, s, newIntent("1m-second", t0.Add(time.Minute)), t0)
	enqueue(t, s, newIntent("30s", t0.Add(30*time.Second)), t0)
	enqueue(t, s, newIntent("overdue", t0.Add(-time.Hour)), t0.Add(time.Second))

	now := t0.Add(4 * time.Minute)
	wantLeased(t, s, now, 2, "overdue", "30s")
	wantLeased(t, s, now, 10, "1m-first", "1m-second", "expired", "3m")
}

// enqueueKind enqueues a new intent with key and kind, due at notBefore.
func enqueueKind(t *testing.T, s store.Store, key, kind string, notBefore, now time.Time) store.Intent {
	t.Helper()
	in := newIntent(key, notBefore)
	in.Kind = kind
	got, created := enqueue(t, s, in, now)
	if !created {
		t.Fatalf("Enqueue(%q) found an existing intent", key)
	}
	return got
}

func testLeaseOnlyOwnKind(t *testing.T, s store.Store) {
	// Two kinds enqueued together, interleaved, all due at once: each
	// worker leases its own kind only, and leaves the other's untouched.
	var notify []store.Intent
	for i := range 3 {
		enqueueKind(t, s, fmt.Sprintf("restore-%d", i), restoreKind, t0, t0)
		notify = append(notify, enqueueKind(t, s, fmt.Sprintf("notify-%d", i), "notify", t0, t0))
	}
	restores := wantLeased(t, s, t0, 10, "restore-0", "restore-1", "restore-2")
	for _, in := range notify {
		wantIntent(t, s, in) // still pending, never leased
	}
	// A kind with no intents leases nothing, nor does a kind that differs
	// only in case.
	wantLeasedKind(t, s, "preview", t0, 10)
	wantLeasedKind(t, s, "Notify", t0, 10)
	wantLeasedKind(t, s, "notify", t0, 10, "notify-0", "notify-1", "notify-2")
	for _, in := range restores {
		wantIntent(t, s, in) // still held by the restore worker
	}

	// When the restore leases run out, only a restore worker takes them
	// over; a notify worker whose own leases are live finds nothing.
	wantLeasedKind(t, s, "notify", t0.Add(lease-time.Nanosecond), 10)
	expired := t0.Add(lease)
	wantLeased(t, s, expired, 1, "restore-0")
	wantLeasedKind(t, s, "notify", expired, 2, "notify-0", "notify-1")
	wantLeased(t, s, expired, 10, "restore-1", "restore-2")
	wantLeasedKind(t, s, "notify", expired, 10, "notify-2")
}

func testLeaseOrderWithinKind(t *testing.T, s store.Store) {
	// The due order of testLeaseOrder holds within a kind while another
	// kind's intents, due earlier and in between, are enqueued among them:
	// they neither come first nor count towards the limit.
	enqueueKind(t, s, "expired", restoreKind, t0, t0)
	if _, err := s.LeaseIntents(t.Context(), restoreKind, t0, t0.Add(2*time.Minute), 10); err != nil {
		t.Fatal(err) // due again at t0+2m, though its NotBefore is t0
	}
	enqueueKind(t, s, "notify-overdue", "notify", t0.Add(-2*time.Hour), t0)
	enqueueKind(t, s, "3m", restoreKind, t0.Add(3*time.Minute), t0)
	enqueueKind(t, s, "notify-1m", "notify", t0.Add(time.Minute), t0)
	enqueueKind(t, s, "1m-first", restoreKind, t0.Add(time.Minute), t0)
	enqueueKind(t, s, "notify-10s", "notify", t0.Add(10*time.Second), t0)
	enqueueKind(t, s, "1m-second", restoreKind, t0.Add(time.Minute), t0)
	enqueueKind(t, s, "30s", restoreKind, t0.Add(30*time.Second), t0)
	enqueueKind(t, s, "notify-later", "notify", t0.Add(time.Hour), t0)
	enqueueKind(t, s, "overdue", restoreKind, t0.Add(-time.Hour), t0.Add(time.Second))

	now := t0.Add(4 * time.Minute)
	wantLeased(t, s, now, 2, "overdue", "30s")
	wantLeasedKind(t, s, "notify", now, 1, "notify-overdue")
	wantLeased(t, s, now, 2, "1m-first", "1m-second")
	wantLeased(t, s, now, 10, "expired", "3m")
	wantLeasedKind(t, s, "notify", now, 10, "notify-10s", "notify-1m")
}

func testLeaseEmptyKindRefused(t *testing.T, s store.Store) {
	// An empty kind is refused, not taken to mean every kind: a worker
	// must never receive intents it cannot carry out.
	restore := enqueueKind(t, s, "restore", restoreKind, t0, t0)
	notify := enqueueKind(t, s, "notify", "notify", t0, t0)
	if got, err := s.LeaseIntents(t.Context(), "", t0, t0.Add(lease), 10); err == nil {
		t.Fatalf("LeaseIntents with an empty kind = %v, nil; want an error", intentKeys(got))
	}
	wantIntent(t, s, restore)
	wantIntent(t, s, notify)
}

func testLeaseLimit(t *testing.T, s store.Store) {
	for i := range 5 {
		enqueueNew(t, s, fmt.Sprint(i), t0)
	}
	wantLeased(t, s, t0, 2, "0", "1")
	wantLeased(t, s, t0, 2, "2", "3")
	wantLeased(t, s, t0, 2, "4")
	wantLeased(t, s, t0, 2)
}

func testLeaseBadArguments(t *testing.T, s store.Store) {
	enqueueNew(t, s, "k", t0)
	for _, tc := range []struct {
		name       string
		kind       string
		leaseUntil time.Time
		limit      int
	}{
		{"empty kind", "", t0.Add(lease), 10},
		{"zero limit", restoreKind, t0.Add(lease), 0},
		{"negative limit", restoreKind, t0.Add(lease), -1},
		{"lease ending now", restoreKind, t0, 10},
		{"lease ended", restoreKind, t0.Add(-time.Second), 10},
	} {
		if got, err := s.LeaseIntents(t.Context(), tc.kind, t0, tc.leaseUntil, tc.limit); err == nil {
			t.Errorf("LeaseIntents with %s = %v, nil; want an error", tc.name, intentKeys(got))
		}
	}
	wantLeased(t, s, t0, 10, "k")
}

func testConcurrentLease(t *testing.T, s store.Store) {
	const intents, limit = 50, 3
	for i := range intents {
		enqueueNew(t, s, fmt.Sprintf("k%02d", i), t0)
	}
	// Each goroutine leases until nothing is left, or it fails.
	got, err := Race(goroutines, func(int) ([]store.Intent, error) {
		var mine []store.Intent
		for {
			page, err := s.LeaseIntents(t.Context(), restoreKind, t0, t0.Add(lease), limit)
			mine = append(mine, page...)
			if err != nil || len(page) == 0 {
				return mine, err
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	leased, tokens := map[string]int{}, map[string]bool{}
	for _, mine := range got {
		for _, in := range mine {
			leased[in.Key]++
			tokens[in.LeaseToken] = true
		}
	}
	for i := range intents {
		if key := fmt.Sprintf("k%02d", i); leased[key] != 1 {
			t.Errorf("intent %s leased %d times, want exactly 1", key, leased[key])
		}
	}
	if len(tokens) != intents {
		t.Errorf("%d leases had %d distinct tokens", intents, len(tokens))
	}
}

func testRenewIntentLease(t *testing.T, s store.Store) {
	enqueueNew(t, s, "k", t0)
	held := wantLeased(t, s, t0, 10, "k")[0]
	renewedAt, until := t0.Add(lease/2), t0.Add(5*lease)
	if err := s.RenewIntentLease(t.Context(), held.ID, held.LeaseToken, renewedAt, until); err != nil {
		t.Fatalf("RenewIntentLease: %v", err)
	}
	want := held
	want.LeaseUntil, want.UpdatedAt = until, renewedAt
	wantIntent(t, s, want)
	// Not due at the end of the first lease, only at the end of the new one.
	wantLeased(t, s, t0.Add(lease), 10)
	wantLeased(t, s, until.Add(-time.Nanosecond), 10)

	// A renewal that would end the lease at once is refused.
	for _, bad := range []time.Time{renewedAt, renewedAt.Add(-time.Second)} {
		if err := s.RenewIntentLease(t.Context(), held.ID, held.LeaseToken, renewedAt, bad); err == nil {
			t.Errorf("RenewIntentLease until %s at %s succeeded, want an error", at(bad), at(renewedAt))
		}
	}
	wantIntent(t, s, want)

	taken := wantLeased(t, s, until, 10, "k")[0]
	if taken.Attempts != 2 {
		t.Fatalf("Attempts = %d after a renewal and a second lease, want 2", taken.Attempts)
	}
}

func testCompleteIntent(t *testing.T, s store.Store) {
	enqueueNew(t, s, "k", t0)
	held := wantLeased(t, s, t0, 10, "k")[0]
	completeIntent(t, s, held, t0.Add(time.Second), "restored")
	want := held
	want.State, want.Outcome, want.UpdatedAt = store.IntentDone, "restored", t0.Add(time.Second)
	want.LeaseToken, want.LeaseUntil = "", time.Time{}
	wantIntent(t, s, want)
	// Done for good: never leased again, not even once the lease it had
	// would have run out.
	wantLeased(t, s, t0.Add(24*time.Hour), 10)
}

func testRetryIntent(t *testing.T, s store.Store) {
	enqueueNew(t, s, "k", t0)
	held := wantLeased(t, s, t0, 10, "k")[0]
	retryAt, backoff := t0.Add(time.Second), t0.Add(time.Hour)
	if err := s.RetryIntent(t.Context(), held.ID, held.LeaseToken, retryAt, backoff, "graph: 429 Too Many Requests"); err != nil {
		t.Fatalf("RetryIntent: %v", err)
	}
	want := held
	want.State, want.NotBefore, want.LastError, want.UpdatedAt = store.IntentPending, backoff, "graph: 429 Too Many Requests", retryAt
	want.LeaseToken, want.LeaseUntil = "", time.Time{}
	wantIntent(t, s, want)

	// Due at notBefore, not before, although its lease would have run out.
	wantLeased(t, s, t0.Add(lease), 10)
	wantLeased(t, s, backoff.Add(-time.Nanosecond), 10)
	again := wantLeased(t, s, backoff, 10, "k")[0]
	if again.Attempts != 2 || again.LastError != want.LastError {
		t.Fatalf("leased again with Attempts %d and LastError %q, want 2 and %q", again.Attempts, again.LastError, want.LastError)
	}

	// A zero notBefore makes it due at once.
	now := backoff.Add(time.Second)
	if err := s.RetryIntent(t.Context(), again.ID, again.LeaseToken, now, time.Time{}, "timeout"); err != nil {
		t.Fatalf("RetryIntent: %v", err)
	}
	if got := getIntent(t, s, again.ID).NotBefore; !got.Equal(now) {
		t.Fatalf("RetryIntent with a zero notBefore set NotBefore to %s, want now (%s)", at(got), at(now))
	}
	third := wantLeased(t, s, now, 10, "k")[0]

	// Completing after retries keeps the last error for the record.
	completeIntent(t, s, third, now, "restored")
	if got := getIntent(t, s, third.ID); got.LastError != "timeout" || got.Outcome != "restored" || got.Attempts != 3 {
		t.Fatalf("completed intent has LastError %q, Outcome %q, Attempts %d; want timeout, restored, 3",
			got.LastError, got.Outcome, got.Attempts)
	}
}

func testFailIntent(t *testing.T, s store.Store) {
	enqueueNew(t, s, "k", t0)
	held := wantLeased(t, s, t0, 10, "k")[0]
	const reason = "graph: 404 object not in the recycle bin"
	if err := s.FailIntent(t.Context(), held.ID, held.LeaseToken, t0.Add(time.Second), reason); err != nil {
		t.Fatalf("FailIntent: %v", err)
	}
	want := held
	want.State, want.LastError, want.Outcome, want.UpdatedAt = store.IntentFailed, reason, reason, t0.Add(time.Second)
	want.LeaseToken, want.LeaseUntil = "", time.Time{}
	wantIntent(t, s, want)
	wantLeased(t, s, t0.Add(24*time.Hour), 10)
	// Enqueuing the key again does not revive it.
	if got, created := enqueue(t, s, newIntent("k", t0), t0.Add(time.Hour)); created || got.State != store.IntentFailed {
		t.Fatalf("Enqueue of a failed intent's key returned created %v, state %s", created, got.State)
	}
}

// transitions are the calls that need the caller to hold the lease.
var transitions = []struct {
	name string
	call func(ctx context.Context, s store.Store, id, token string, now time.Time) error
	// after is the state a successful call leaves.
	after store.IntentState
}{
	{"RenewIntentLease", func(ctx context.Context, s store.Store, id, token string, now time.Time) error {
		return s.RenewIntentLease(ctx, id, token, now, now.Add(lease))
	}, store.IntentLeased},
	{"CompleteIntent", func(ctx context.Context, s store.Store, id, token string, now time.Time) error {
		return s.CompleteIntent(ctx, id, token, now, "restored")
	}, store.IntentDone},
	{"RetryIntent", func(ctx context.Context, s store.Store, id, token string, now time.Time) error {
		return s.RetryIntent(ctx, id, token, now, now.Add(time.Hour), "throttled")
	}, store.IntentPending},
	{"FailIntent", func(ctx context.Context, s store.Store, id, token string, now time.Time) error {
		return s.FailIntent(ctx, id, token, now, "gone")
	}, store.IntentFailed},
}

func testTransitionsNeedTheLease(t *testing.T, open func(t *testing.T) store.Store) {
	// Each case leaves intent "k" in some state and returns the id, token
	// and time of a call that must fail with want.
	for _, tc := range []struct {
		name  string
		setUp func(t *testing.T, s store.Store) (id, token string, now time.Time)
		want  error
	}{
		{"wrong token", func(t *testing.T, s store.Store) (string, string, time.Time) {
			held := wantLeased(t, s, t0, 10, "k")[0]
			return held.ID, held.LeaseToken + "x", t0.Add(time.Second)
		}, store.ErrLeaseLost},
		{"empty token", func(t *testing.T, s store.Store) (string, string, time.Time) {
			held := wantLeased(t, s, t0, 10, "k")[0]
			return held.ID, "", t0.Add(time.Second)
		}, store.ErrLeaseLost},
		{"another intent's token", func(t *testing.T, s store.Store) (string, string, time.Time) {
			enqueueNew(t, s, "other", t0)
			held := wantLeased(t, s, t0, 10, "k", "other")
			return held[0].ID, held[1].LeaseToken, t0.Add(time.Second)
		}, store.ErrLeaseLost},
		{"taken over after it ran out", func(t *testing.T, s store.Store) (string, string, time.Time) {
			stale := wantLeased(t, s, t0, 10, "k")[0]
			wantLeased(t, s, t0.Add(lease+time.Second), 10, "k")
			return stale.ID, stale.LeaseToken, t0.Add(lease + 2*time.Second)
		}, store.ErrLeaseLost},
		{"taken over, caller's clock behind", func(t *testing.T, s store.Store) (string, string, time.Time) {
			// The stale worker believes its lease is live; the token says
			// otherwise.
			stale := wantLeased(t, s, t0, 10, "k")[0]
			wantLeased(t, s, t0.Add(lease+time.Second), 10, "k")
			return stale.ID, stale.LeaseToken, t0.Add(time.Second)
		}, store.ErrLeaseLost},
		{"never leased", func(t *testing.T, s store.Store) (string, string, time.Time) {
			in, err := s.IntentByKey(t.Context(), "k")
			if err != nil {
				t.Fatal(err)
			}
			return in.ID, "", t0.Add(time.Second)
		}, store.ErrLeaseLost},
		{"after retry", func(t *testing.T, s store.Store) (string, string, time.Time) {
			held := wantLeased(t, s, t0, 10, "k")[0]
			if err := s.RetryIntent(t.Context(), held.ID, held.LeaseToken, t0, t0.Add(time.Hour), "e"); err != nil {
				t.Fatal(err)
			}
			return held.ID, held.LeaseToken, t0.Add(time.Second)
		}, store.ErrLeaseLost},
		{"after complete", func(t *testing.T, s store.Store) (string, string, time.Time) {
			held := wantLeased(t, s, t0, 10, "k")[0]
			completeIntent(t, s, held, t0, "restored")
			return held.ID, held.LeaseToken, t0.Add(time.Second)
		}, store.ErrLeaseLost},
		{"after fail", func(t *testing.T, s store.Store) (string, string, time.Time) {
			held := wantLeased(t, s, t0, 10, "k")[0]
			if err := s.FailIntent(t.Context(), held.ID, held.LeaseToken, t0, "gone"); err != nil {
				t.Fatal(err)
			}
			return held.ID, held.LeaseToken, t0.Add(time.Second)
		}, store.ErrLeaseLost},
		{"unknown id", func(t *testing.T, s store.Store) (string, string, time.Time) {
			held := wantLeased(t, s, t0, 10, "k")[0]
			return "no-such-intent", held.LeaseToken, t0.Add(time.Second)
		}, store.ErrNotFound},
	} {
		for _, op := range transitions {
			t.Run(tc.name+"/"+op.name, func(t *testing.T) {
				s := fresh(t, open)
				enqueueNew(t, s, "k", t0)
				id, token, now := tc.setUp(t, s)
				before := listIntents(t, s, store.IntentQuery{Limit: 10})
				err := op.call(t.Context(), s, id, token, now)
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s = %v, want an error wrapping %v", op.name, err, tc.want)
				}
				if d := diffIntents(listIntents(t, s, store.IntentQuery{Limit: 10}), before); d != "" {
					t.Fatalf("the refused %s changed the intents: %s", op.name, d)
				}
			})
		}
	}
}

func testTransitionsAfterLeaseRanOut(t *testing.T, open func(t *testing.T) store.Store) {
	// A lease that ran out but that no one took over is still the caller's:
	// a slow worker's result stands.
	for _, op := range transitions {
		t.Run(op.name, func(t *testing.T) {
			s := fresh(t, open)
			enqueueNew(t, s, "k", t0)
			held := wantLeased(t, s, t0, 10, "k")[0]
			late := t0.Add(10 * lease)
			if err := op.call(t.Context(), s, held.ID, held.LeaseToken, late); err != nil {
				t.Fatalf("%s after the lease ran out, not taken over: %v", op.name, err)
			}
			got := getIntent(t, s, held.ID)
			if got.State != op.after || !got.UpdatedAt.Equal(late) {
				t.Fatalf("after %s the intent is %s, updated %s; want %s, updated %s",
					op.name, got.State, at(got.UpdatedAt), op.after, at(late))
			}
			if op.after == store.IntentLeased {
				// Renewed: live again, so not taken.
				wantLeased(t, s, late, 10)
			}
		})
	}
}

func testIntentsList(t *testing.T, s store.Store) {
	// Enqueued in this order, a second apart:
	//	leased restore, done notify, failed restore, pending restore, pending notify
	now := t0
	add := func(key, kind string) {
		in := newIntent(key, t0)
		in.Kind = kind
		enqueue(t, s, in, now)
		now = now.Add(time.Second)
	}
	add("leased", "restore")
	add("done", "notify")
	add("failed", "restore")
	held := wantLeased(t, s, now, 10, "leased", "failed")
	completeIntent(t, s, wantLeasedKind(t, s, "notify", now, 10, "done")[0], now, "sent")
	if err := s.FailIntent(t.Context(), held[1].ID, held[1].LeaseToken, now, "gone"); err != nil {
		t.Fatal(err)
	}
	add("pending", "restore")
	add("pending-notify", "notify")

	for _, tc := range []struct {
		name  string
		query store.IntentQuery
		want  []string
	}{
		{"all", store.IntentQuery{Limit: 10}, []string{"pending-notify", "pending", "failed", "done", "leased"}},
		{"limit", store.IntentQuery{Limit: 2}, []string{"pending-notify", "pending"}},
		{"pending", store.IntentQuery{State: store.IntentPending, Limit: 10}, []string{"pending-notify", "pending"}},
		{"leased", store.IntentQuery{State: store.IntentLeased, Limit: 10}, []string{"leased"}},
		{"done", store.IntentQuery{State: store.IntentDone, Limit: 10}, []string{"done"}},
		{"failed", store.IntentQuery{State: store.IntentFailed, Limit: 10}, []string{"failed"}},
		{"kind", store.IntentQuery{Kind: "restore", Limit: 10}, []string{"pending", "failed", "leased"}},
		{"kind and limit", store.IntentQuery{Kind: "notify", Limit: 1}, []string{"pending-notify"}},
		{"state and kind", store.IntentQuery{State: store.IntentPending, Kind: "restore", Limit: 10}, []string{"pending"}},
		{"state and other kind", store.IntentQuery{State: store.IntentDone, Kind: "restore", Limit: 10}, nil},
		{"unknown kind", store.IntentQuery{Kind: "nope", Limit: 10}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := listIntents(t, s, tc.query)
			if !equalStrings(intentKeys(got), tc.want) {
				t.Fatalf("Intents(%+v) = %v, want %v", tc.query, intentKeys(got), tc.want)
			}
			// Each listed intent is the whole intent.
			for _, in := range got {
				wantIntent(t, s, in)
			}
		})
	}
}

func testIntentsBadQuery(t *testing.T, s store.Store) {
	enqueueNew(t, s, "k", t0)
	for _, q := range []store.IntentQuery{
		{},
		{Limit: -1},
		{State: "bogus", Limit: 10},
		{State: store.IntentState(strings.ToUpper(string(store.IntentPending))), Limit: 10},
	} {
		if got, err := s.Intents(t.Context(), q); err == nil {
			t.Errorf("Intents(%+v) = %v, nil; want an error", q, intentKeys(got))
		}
	}
}

// finish enqueues key due at when, leases it then and completes it, or fails
// it when fail is set, at the same instant.
func finish(t *testing.T, s store.Store, key string, when time.Time, fail bool) store.Intent {
	t.Helper()
	enqueue(t, s, newIntent(key, when), when)
	held := wantLeased(t, s, when, 10, key)[0]
	if fail {
		if err := s.FailIntent(t.Context(), held.ID, held.LeaseToken, when, "gone"); err != nil {
			t.Fatal(err)
		}
	} else {
		completeIntent(t, s, held, when, "restored")
	}
	return getIntent(t, s, held.ID)
}

func testExpireIntentsOnlyFinished(t *testing.T, s store.Store) {
	longAgo := t0.Add(-30 * 24 * time.Hour)
	// Unfinished work from long ago: a pending intent backed off far into
	// the future and one under a long lease. Neither is ever expired.
	enqueue(t, s, newIntent("old-pending", t0.Add(1000*time.Hour)), longAgo)
	enqueue(t, s, newIntent("old-leased", longAgo), longAgo)
	if _, err := s.LeaseIntents(t.Context(), restoreKind, longAgo, t0.Add(1000*time.Hour), 10); err != nil {
		t.Fatal(err)
	}
	done1 := finish(t, s, "done-1h", t0.Add(time.Hour), false)
	failed2 := finish(t, s, "failed-2h", t0.Add(2*time.Hour), true)
	done3 := finish(t, s, "done-3h", t0.Add(3*time.Hour), false)

	// The cutoff is exclusive: done-3h, updated exactly at it, stays.
	if n := expire(t, "ExpireIntents", s.ExpireIntents, t0.Add(3*time.Hour), 100); n != 2 {
		t.Fatalf("ExpireIntents deleted %d intents, want 2 (done-1h, failed-2h)", n)
	}
	if n := expire(t, "ExpireIntents", s.ExpireIntents, t0.Add(3*time.Hour), 100); n != 0 {
		t.Fatalf("second ExpireIntents deleted %d intents, want 0", n)
	}
	for _, gone := range []store.Intent{done1, failed2} {
		if _, err := s.Intent(t.Context(), gone.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Intent(%q) after it expired = %v, want ErrNotFound", gone.Key, err)
		}
	}
	wantIntent(t, s, done3)

	// Even a cutoff after everything leaves the unfinished intents.
	if n := expire(t, "ExpireIntents", s.ExpireIntents, t0.Add(10000*time.Hour), 100); n != 1 {
		t.Fatalf("ExpireIntents deleted %d intents, want 1 (done-3h)", n)
	}
	if got := intentKeys(listIntents(t, s, store.IntentQuery{Limit: 10})); !equalStrings(got, []string{"old-leased", "old-pending"}) {
		t.Fatalf("after expiry the store holds %v, want the unfinished old-leased and old-pending", got)
	}

	// An expired key is free again.
	again, created := enqueue(t, s, newIntent("done-1h", t0), t0.Add(4*time.Hour))
	if !created || again.ID == done1.ID || again.State != store.IntentPending {
		t.Fatalf("Enqueue of an expired key = %+v, created %v; want a new pending intent", again, created)
	}
}

func testExpireIntentsPaging(t *testing.T, s store.Store) {
	const old, limit = 7, 3
	for i := range old {
		finish(t, s, fmt.Sprintf("old%d", i), t0.Add(time.Duration(i)*time.Minute), i%2 == 1)
	}
	newer := finish(t, s, "new", t0.Add(24*time.Hour), false)

	wantPaged(t, "ExpireIntents", s.ExpireIntents, t0.Add(12*time.Hour), limit, old, "intents")
	wantIntent(t, s, newer)
}

func testExpireIntentsBadLimit(t *testing.T, s store.Store) {
	done := finish(t, s, "k", t0, false)
	wantLimitRefused(t, "ExpireIntents", s.ExpireIntents, t0.Add(time.Hour))
	wantIntent(t, s, done)
}
