// Package storetest is the conformance suite for store.Store. Every
// implementation runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
//	}
//
// The suite tests the contract documented in package store, never how an
// implementation keeps its data. Time is always passed in explicitly, so
// nothing sleeps.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
)

// Run runs the suite. Each subtest calls open for a fresh, empty store, and
// closes it when the subtest ends; open should register with t.Cleanup
// whatever else it needs to release. Subtests run one after another.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"ClaimFirstClaimedThenHeld", testClaimFirstClaimedThenHeld},
		{"ClaimLeaseBoundary", testClaimLeaseBoundary},
		{"ClaimDoneAfterComplete", testClaimDoneAfterComplete},
		{"ClaimExpiredLeaseReclaimed", testClaimExpiredLeaseReclaimed},
		{"ClaimKeysIndependent", testClaimKeysIndependent},
		{"CompleteIdempotent", testCompleteIdempotent},
		{"CompleteAfterLeaseExpired", testCompleteAfterLeaseExpired},
		{"CompleteUnknownKey", testCompleteUnknownKey},
		{"PeekClaimChangesNothing", testPeekClaimChangesNothing},
		{"ConcurrentClaimSameKey", testConcurrentClaimSameKey},
		{"ConcurrentReclaimSameKey", testConcurrentReclaimSameKey},
		{"ConcurrentClaimDistinctKeys", testConcurrentClaimDistinctKeys},
		{"ExpireClaimsCutoff", testExpireClaimsCutoff},
		{"ExpireClaimsFirstClaimed", testExpireClaimsFirstClaimed},
		{"ExpireClaimsPaging", testExpireClaimsPaging},
		{"ExpireClaimsBadLimit", testExpireClaimsBadLimit},
		{"AppendSetsIDAndTime", testAppendSetsIDAndTime},
		{"JournalRoundTrip", testJournalRoundTrip},
		{"JournalEmpty", testJournalEmpty},
		{"JournalNewestFirst", testJournalNewestFirst},
		{"JournalOrderIgnoresTime", testJournalOrderIgnoresTime},
		{"JournalLimit", testJournalLimit},
		{"JournalFilters", testJournalFilters},
		{"DeadLetterRoundTrip", testDeadLetterRoundTrip},
		{"DeadLettersNewestFirst", testDeadLettersNewestFirst},
		{"DeadLettersBadLimit", testDeadLettersBadLimit},
		{"EnqueueSetsFields", testEnqueueSetsFields},
		{"EnqueueInsertIfAbsent", testEnqueueInsertIfAbsent},
		{"EnqueueConcurrentSameKey", testEnqueueConcurrentSameKey},
		{"EnqueueInvalid", testEnqueueInvalid},
		{"IntentPayloadRoundTrip", testIntentPayloadRoundTrip},
		{"IntentNotFound", testIntentNotFound},
		{"LeaseSetsFields", testLeaseSetsFields},
		{"LeaseNotBefore", testLeaseNotBefore},
		{"LeaseLiveNotTaken", testLeaseLiveNotTaken},
		{"LeaseExpiredTakenOver", testLeaseExpiredTakenOver},
		{"LeaseOrder", testLeaseOrder},
		{"LeaseOnlyOwnKind", testLeaseOnlyOwnKind},
		{"LeaseOrderWithinKind", testLeaseOrderWithinKind},
		{"LeaseEmptyKindRefused", testLeaseEmptyKindRefused},
		{"LeaseLimit", testLeaseLimit},
		{"LeaseBadArguments", testLeaseBadArguments},
		{"ConcurrentLease", testConcurrentLease},
		{"RenewIntentLease", testRenewIntentLease},
		{"CompleteIntent", testCompleteIntent},
		{"RetryIntent", testRetryIntent},
		{"FailIntent", testFailIntent},
		{"IntentsList", testIntentsList},
		{"IntentsBadQuery", testIntentsBadQuery},
		{"ExpireIntentsOnlyFinished", testExpireIntentsOnlyFinished},
		{"ExpireIntentsPaging", testExpireIntentsPaging},
		{"ExpireIntentsBadLimit", testExpireIntentsBadLimit},
		{"Release", testRelease},
		{"ReleaseLeavesNoClaim", testReleaseLeavesNoClaim},
		{"RecordHitOnce", testRecordHitOnce},
		{"RecordHitInvalid", testRecordHitInvalid},
		{"HitsWindow", testHitsWindow},
		{"HitsOrderAndLimit", testHitsOrderAndLimit},
		{"ConcurrentRecordHit", testConcurrentRecordHit},
		{"ExpireHits", testExpireHits},
		{"ExpireHitsPaging", testExpireHitsPaging},
		{"Marks", testMarks},
		{"PutMarkInvalid", testPutMarkInvalid},
		{"ExpireMarks", testExpireMarks},
		{"ExpireMarksPaging", testExpireMarksPaging},
		{"PutSilenceSetsFields", testPutSilenceSetsFields},
		{"PutSilenceInvalid", testPutSilenceInvalid},
		{"SilencesActive", testSilencesActive},
		{"EndSilence", testEndSilence},
		{"ExpireSilences", testExpireSilences},
		{"ExpireSilencesPaging", testExpireSilencesPaging},
		{"LockAcquireHeldExpired", testLockAcquireHeldExpired},
		{"LockRenewAndRelease", testLockRenewAndRelease},
		{"LockInvalid", testLockInvalid},
		{"ConcurrentAcquireLock", testConcurrentAcquireLock},
		{"RecordCreateAndUpdate", testRecordCreateAndUpdate},
		{"RecordInvalid", testRecordInvalid},
		{"RecordsListAndExpire", testRecordsListAndExpire},
		{"ConcurrentPutRecord", testConcurrentPutRecord},
		{"CancelledContext", testCancelledContext},
		{"UseAfterClose", testUseAfterClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, fresh(t, open)) })
	}

	// Table-driven tests whose cases each need a store of their own, as
	// leasing takes whatever is due in the whole store.
	perCase := []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T) store.Store)
	}{
		{"TransitionsNeedTheLease", testTransitionsNeedTheLease},
		{"TransitionsAfterLeaseRanOut", testTransitionsAfterLeaseRanOut},
	}
	for _, tt := range perCase {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, open) })
	}
}

// fresh opens an empty store that is closed when t ends.
func fresh(t *testing.T, open func(t *testing.T) store.Store) store.Store {
	s := open(t)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// t0 is an arbitrary instant with nanoseconds, so that a store truncating
// times shows up.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)

const lease = time.Minute

func claim(t *testing.T, s store.Store, key string, now, leaseUntil time.Time) store.ClaimState {
	t.Helper()
	state, err := s.Claim(t.Context(), key, now, leaseUntil)
	if err != nil {
		t.Fatalf("Claim(%q, now %s): %v", key, now, err)
	}
	return state
}

func wantClaim(t *testing.T, s store.Store, key string, now, leaseUntil time.Time, want store.ClaimState) {
	t.Helper()
	if got := claim(t, s, key, now, leaseUntil); got != want {
		t.Fatalf("Claim(%q, now t0%+v) = %s, want %s", key, now.Sub(t0), got, want)
	}
}

func complete(t *testing.T, s store.Store, key string, now time.Time) {
	t.Helper()
	if err := s.Complete(t.Context(), key, now); err != nil {
		t.Fatalf("Complete(%q): %v", key, err)
	}
}

func testClaimFirstClaimedThenHeld(t *testing.T, s store.Store) {
	wantClaim(t, s, "k", t0, t0.Add(lease), store.Claimed)
	// A second caller, whether at the same instant or later in the lease,
	// and whatever lease it asks for.
	wantClaim(t, s, "k", t0, t0.Add(lease), store.Held)
	wantClaim(t, s, "k", t0.Add(lease/2), t0.Add(lease/2+lease), store.Held)
	wantClaim(t, s, "k", t0.Add(lease/2), t0.Add(time.Hour), store.Held)
}

func testClaimLeaseBoundary(t *testing.T, s store.Store) {
	// The lease is live while now is before leaseUntil.
	wantClaim(t, s, "k", t0, t0.Add(lease), store.Claimed)
	wantClaim(t, s, "k", t0.Add(lease-time.Nanosecond), t0.Add(2*lease), store.Held)
	wantClaim(t, s, "k", t0.Add(lease), t0.Add(2*lease), store.Claimed)
}

func testClaimDoneAfterComplete(t *testing.T, s store.Store) {
	wantClaim(t, s, "k", t0, t0.Add(lease), store.Claimed)
	complete(t, s, "k", t0.Add(time.Second))
	for _, after := range []time.Duration{time.Second, lease / 2, lease, 2 * lease, 30 * 24 * time.Hour} {
		wantClaim(t, s, "k", t0.Add(after), t0.Add(after+lease), store.Done)
	}
}

func testClaimExpiredLeaseReclaimed(t *testing.T, s store.Store) {
	wantClaim(t, s, "k", t0, t0.Add(lease), store.Claimed)
	// The owner crashed; a later caller takes over with a lease of its own,
	// which then holds off others as the first did.
	later := t0.Add(2 * lease)
	wantClaim(t, s, "k", later, later.Add(lease), store.Claimed)
	wantClaim(t, s, "k", later.Add(lease/2), later.Add(lease/2+lease), store.Held)
	complete(t, s, "k", later.Add(time.Second))
	wantClaim(t, s, "k", later.Add(2*lease), later.Add(3*lease), store.Done)
}

func testClaimKeysIndependent(t *testing.T, s store.Store) {
	wantClaim(t, s, "a", t0, t0.Add(lease), store.Claimed)
	wantClaim(t, s, "b", t0, t0.Add(lease), store.Claimed)
	complete(t, s, "a", t0)
	wantClaim(t, s, "a", t0, t0.Add(lease), store.Done)
	wantClaim(t, s, "b", t0, t0.Add(lease), store.Held)
	wantClaim(t, s, "c", t0, t0.Add(lease), store.Claimed)
}

func testCompleteIdempotent(t *testing.T, s store.Store) {
	wantClaim(t, s, "k", t0, t0.Add(lease), store.Claimed)
	complete(t, s, "k", t0.Add(time.Second))
	complete(t, s, "k", t0.Add(time.Second))
	complete(t, s, "k", t0.Add(time.Hour))
	wantClaim(t, s, "k", t0.Add(2*time.Hour), t0.Add(3*time.Hour), store.Done)
}

func testCompleteAfterLeaseExpired(t *testing.T, s store.Store) {
	// A slow owner finishing after its lease still settles the key.
	wantClaim(t, s, "k", t0, t0.Add(lease), store.Claimed)
	complete(t, s, "k", t0.Add(10*lease))
	wantClaim(t, s, "k", t0.Add(11*lease), t0.Add(12*lease), store.Done)
}

func testCompleteUnknownKey(t *testing.T, s store.Store) {
	err := s.Complete(t.Context(), "never-claimed", t0)
	if !errors.Is(err, store.ErrNotClaimed) {
		t.Fatalf("Complete(unknown key) = %v, want an error wrapping store.ErrNotClaimed", err)
	}
	// The failed Complete must not have created the key as done.
	wantClaim(t, s, "never-claimed", t0, t0.Add(lease), store.Claimed)
}

func wantPeek(t *testing.T, s store.Store, key string, now time.Time, want store.ClaimState) {
	t.Helper()
	got, err := s.PeekClaim(t.Context(), key, now)
	if err != nil {
		t.Fatalf("PeekClaim(%q): %v", key, err)
	}
	if got != want {
		t.Fatalf("PeekClaim(%q) at t0%+v = %v, want %v", key, now.Sub(t0), got, want)
	}
}

func testPeekClaimChangesNothing(t *testing.T, s store.Store) {
	// Peeking at a key nobody claimed leaves it free for the first Claim.
	wantPeek(t, s, "k", t0, store.Free)
	wantPeek(t, s, "k", t0, store.Free)
	wantClaim(t, s, "k", t0, t0.Add(lease), store.Claimed)
	// A live lease is Held, up to its boundary, and Free after it; peeking
	// after the lease does not take it over: the owner's Complete still
	// settles it and Claim by another finds it reclaimable.
	wantPeek(t, s, "k", t0.Add(lease-time.Nanosecond), store.Held)
	wantPeek(t, s, "k", t0.Add(lease), store.Free)
	wantClaim(t, s, "k", t0.Add(lease/2), t0.Add(lease), store.Held)
	complete(t, s, "k", t0.Add(time.Second))
	wantPeek(t, s, "k", t0.Add(time.Hour), store.Done)
	// Released claims are free again.
	wantClaim(t, s, "r", t0, t0.Add(lease), store.Claimed)
	if err := s.Release(t.Context(), "r"); err != nil {
		t.Fatalf("Release: %v", err)
	}
	wantPeek(t, s, "r", t0, store.Free)
	wantClaim(t, s, "r", t0, t0.Add(lease), store.Claimed)
}

const goroutines = 16

// Race calls try from n goroutines released together, i being 0 to n-1 in
// turn, and returns what each call returned, by i, and their errors joined.
// Implementations' own tests use it to race several handles on one store.
func Race[T any](n int, try func(i int) (T, error)) ([]T, error) {
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		got   = make([]T, n)
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			got[i], errs[i] = try(i)
		})
	}
	close(start)
	wg.Wait()
	return got, errors.Join(errs...)
}

// claimAll has every one of n goroutines Claim key at now, released together,
// and counts the outcomes.
func claimAll(t *testing.T, s store.Store, key string, now time.Time, n int) map[store.ClaimState]int {
	t.Helper()
	states, err := Race(n, func(int) (store.ClaimState, error) {
		return s.Claim(t.Context(), key, now, now.Add(lease))
	})
	if err != nil {
		t.Fatalf("concurrent Claim(%q): %v", key, err)
	}
	counts := map[store.ClaimState]int{}
	for _, state := range states {
		counts[state]++
	}
	return counts
}

func testConcurrentClaimSameKey(t *testing.T, s store.Store) {
	counts := claimAll(t, s, "k", t0, goroutines)
	if counts[store.Claimed] != 1 || counts[store.Held] != goroutines-1 {
		t.Fatalf("%d concurrent claims of one key: %v, want 1 claimed and %d held", goroutines, counts, goroutines-1)
	}
}

func testConcurrentReclaimSameKey(t *testing.T, s store.Store) {
	// Taking over an expired lease must be as exclusive as a first claim.
	wantClaim(t, s, "k", t0, t0.Add(lease), store.Claimed)
	counts := claimAll(t, s, "k", t0.Add(2*lease), goroutines)
	if counts[store.Claimed] != 1 || counts[store.Held] != goroutines-1 {
		t.Fatalf("%d concurrent claims of an expired lease: %v, want 1 claimed and %d held", goroutines, counts, goroutines-1)
	}
}

func testConcurrentClaimDistinctKeys(t *testing.T, s store.Store) {
	const perGoroutine = 4
	ctx := t.Context()
	_, err := Race(goroutines, func(g int) (struct{}, error) {
		var errs []error
		for i := range perGoroutine {
			key := fmt.Sprintf("k-%d-%d", g, i)
			state, err := s.Claim(ctx, key, t0, t0.Add(lease))
			if err != nil {
				errs = append(errs, fmt.Errorf("Claim(%q): %w", key, err))
				continue
			}
			if state != store.Claimed {
				errs = append(errs, fmt.Errorf("Claim(%q) = %s, want claimed", key, state))
				continue
			}
			if err := s.Complete(ctx, key, t0.Add(time.Second)); err != nil {
				errs = append(errs, fmt.Errorf("Complete(%q): %w", key, err))
			}
		}
		return struct{}{}, errors.Join(errs...)
	})
	if err != nil {
		t.Fatal(err)
	}
	for g := range goroutines {
		for i := range perGoroutine {
			wantClaim(t, s, fmt.Sprintf("k-%d-%d", g, i), t0.Add(time.Hour), t0.Add(time.Hour+lease), store.Done)
		}
	}
}

// expireFunc is the form of every Expire method of store.Store.
type expireFunc func(ctx context.Context, cutoff time.Time, limit int) (int, error)

// expire calls fn, the Expire method name names, and fails the test on an
// error.
func expire(t *testing.T, name string, fn expireFunc, cutoff time.Time, limit int) int {
	t.Helper()
	n, err := fn(t.Context(), cutoff, limit)
	if err != nil {
		t.Fatalf("%s(%s, %d): %v", name, at(cutoff), limit, err)
	}
	return n
}

// wantPaged calls fn, the Expire method name names, at cutoff until it
// deletes fewer than limit, and fails unless the pages add up to want (noun
// names what they hold). It stops after more pages than the want items could
// fill, so a store that never runs dry fails.
func wantPaged(t *testing.T, name string, fn expireFunc, cutoff time.Time, limit, want int, noun string) {
	t.Helper()
	var pages []int
	total := 0
	for {
		n := expire(t, name, fn, cutoff, limit)
		if n > limit {
			t.Fatalf("%s(limit %d) deleted %d", name, limit, n)
		}
		pages = append(pages, n)
		total += n
		if n < limit || len(pages) > want {
			break
		}
	}
	if total != want {
		t.Fatalf("paging deleted %d %s in pages %v, want %d", total, noun, pages, want)
	}
}

// wantLimitRefused checks that fn, the Expire method name names, refuses a
// limit that is not positive.
func wantLimitRefused(t *testing.T, name string, fn expireFunc, cutoff time.Time) {
	t.Helper()
	for _, limit := range []int{0, -1} {
		if n, err := fn(t.Context(), cutoff, limit); err == nil {
			t.Errorf("%s(limit %d) = %d, nil; want an error", name, limit, n)
		}
	}
}

func testExpireClaimsCutoff(t *testing.T, s store.Store) {
	// Keys first claimed an hour apart; some completed, some not.
	for i := range 4 {
		key := fmt.Sprintf("k%d", i)
		at := t0.Add(time.Duration(i) * time.Hour)
		wantClaim(t, s, key, at, at.Add(lease), store.Claimed)
		if i%2 == 0 {
			complete(t, s, key, at.Add(time.Second))
		}
	}
	// The cutoff is exclusive: k2, claimed exactly at it, stays.
	if n := expire(t, "ExpireClaims", s.ExpireClaims, t0.Add(2*time.Hour), 100); n != 2 {
		t.Fatalf("ExpireClaims deleted %d keys, want 2 (k0, k1)", n)
	}
	if n := expire(t, "ExpireClaims", s.ExpireClaims, t0.Add(2*time.Hour), 100); n != 0 {
		t.Fatalf("second ExpireClaims deleted %d keys, want 0", n)
	}

	now := t0.Add(3*time.Hour + lease/2) // k3's lease is still live
	for _, tc := range []struct {
		key  string
		want store.ClaimState
	}{
		{"k0", store.Claimed}, // expired: forgotten, so claimable anew
		{"k1", store.Claimed},
		{"k2", store.Done},
		{"k3", store.Held},
	} {
		wantClaim(t, s, tc.key, now, now.Add(lease), tc.want)
	}
}

func testExpireClaimsFirstClaimed(t *testing.T, s store.Store) {
	// Taking over an expired lease does not make the key newer: retention
	// counts from the first claim.
	wantClaim(t, s, "k", t0, t0.Add(lease), store.Claimed)
	wantClaim(t, s, "k", t0.Add(2*time.Hour), t0.Add(2*time.Hour+lease), store.Claimed)
	if n := expire(t, "ExpireClaims", s.ExpireClaims, t0.Add(time.Hour), 10); n != 1 {
		t.Fatalf("ExpireClaims deleted %d keys, want 1", n)
	}
}

func testExpireClaimsPaging(t *testing.T, s store.Store) {
	const old, limit = 7, 3
	for i := range old {
		wantClaim(t, s, fmt.Sprintf("old%d", i), t0.Add(time.Duration(i)*time.Minute), t0.Add(time.Hour), store.Claimed)
	}
	newer := t0.Add(24 * time.Hour)
	wantClaim(t, s, "new", newer, newer.Add(lease), store.Claimed)
	complete(t, s, "new", newer)

	wantPaged(t, "ExpireClaims", s.ExpireClaims, t0.Add(12*time.Hour), limit, old, "keys")
	wantClaim(t, s, "new", newer.Add(time.Hour), newer.Add(2*time.Hour), store.Done)
	wantClaim(t, s, "old0", newer, newer.Add(lease), store.Claimed)
}

func testExpireClaimsBadLimit(t *testing.T, s store.Store) {
	wantClaim(t, s, "k", t0, t0.Add(lease), store.Claimed)
	wantLimitRefused(t, "ExpireClaims", s.ExpireClaims, t0.Add(time.Hour))
	wantClaim(t, s, "k", t0, t0.Add(lease), store.Held)
}

func appendEntry(t *testing.T, s store.Store, e store.Entry) store.Entry {
	t.Helper()
	got, err := s.Append(t.Context(), e)
	if err != nil {
		t.Fatalf("Append(%+v): %v", e, err)
	}
	return got
}

func journal(t *testing.T, s store.Store, q store.JournalQuery) []store.Entry {
	t.Helper()
	entries, err := s.Journal(t.Context(), q)
	if err != nil {
		t.Fatalf("Journal(%+v): %v", q, err)
	}
	return entries
}

// each returns f of every element of xs, in order.
func each[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// details lists the Detail of each entry, which the tests use as a name.
func details(entries []store.Entry) []string {
	return each(entries, func(e store.Entry) string { return e.Detail })
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// diffEntry describes how got differs from want, or returns "". Times must
// be the same instant and in UTC.
func diffEntry(got, want store.Entry) string {
	if !got.Time.Equal(want.Time) {
		return fmt.Sprintf("Time = %s, want %s", got.Time.Format(time.RFC3339Nano), want.Time.Format(time.RFC3339Nano))
	}
	if got.Time.Location() != time.UTC {
		return fmt.Sprintf("Time is in %s, want UTC", got.Time.Location())
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if got != want {
		return fmt.Sprintf("got %+v\nwant %+v", got, want)
	}
	return ""
}

func testAppendSetsIDAndTime(t *testing.T, s store.Store) {
	given := appendEntry(t, s, store.Entry{Time: t0, Kind: store.KindEventReceived})
	if given.ID == "" {
		t.Fatal("Append left ID empty")
	}
	if !given.Time.Equal(t0) {
		t.Fatalf("Append changed a given Time to %s, want %s", given.Time, t0)
	}

	before := time.Now()
	zero := appendEntry(t, s, store.Entry{Kind: store.KindEventReceived})
	after := time.Now()
	if zero.Time.Before(before.Add(-time.Second)) || zero.Time.After(after.Add(time.Second)) {
		t.Fatalf("Append set a zero Time to %s, want about now (%s)", zero.Time, before)
	}

	seen := map[string]bool{given.ID: true, zero.ID: true}
	if len(seen) != 2 {
		t.Fatalf("two appends got the same ID %q", given.ID)
	}
	for range 50 {
		e := appendEntry(t, s, store.Entry{Time: t0, Kind: store.KindEventReceived})
		if seen[e.ID] {
			t.Fatalf("Append reused ID %q", e.ID)
		}
		seen[e.ID] = true
	}
}

func testJournalRoundTrip(t *testing.T, s store.Store) {
	in := store.Entry{
		ID:         "ignored: the store sets it",
		Time:       time.Date(2025, 2, 3, 4, 5, 6, 987654321, time.FixedZone("UTC+5:30", 5*3600+1800)),
		Kind:       store.KindEventReceived,
		EventID:    "Directory_0a1b2c3d-ffff-4e5f-9a8b-7c6d5e4f3a2b_ABCDE_123456789",
		Activity:   "Hard delete user",
		TargetID:   "6f1d8b9a-0000-4c2d-8e7f-112233445566",
		TargetType: "User",
		TargetName: "Zoë O'Brien \"ops\" — 東京",
		Actor:      "admin@contoso.example",
		Rule:       "restore-users",
		Action:     "restore",
		Outcome:    "success",
		Source:     "function=Ingest invocation=42 partition=3 seq=1001",
		Detail:     "line one\nline two\ttabbed; 100% ✓",
	}
	stored := appendEntry(t, s, in)
	want := in
	want.ID = stored.ID
	if d := diffEntry(stored, want); d != "" {
		t.Fatalf("Append returned a different entry: %s", d)
	}
	got := journal(t, s, store.JournalQuery{})
	if len(got) != 1 {
		t.Fatalf("Journal returned %d entries, want 1", len(got))
	}
	if d := diffEntry(got[0], want); d != "" {
		t.Fatalf("Journal entry differs from the appended one: %s", d)
	}

	// An entry with nothing but a kind comes back with empty fields.
	minimal := appendEntry(t, s, store.Entry{Time: t0, Kind: store.KindRecordSkipped})
	got = journal(t, s, store.JournalQuery{Limit: 1})
	if d := diffEntry(got[0], minimal); d != "" {
		t.Fatalf("minimal entry differs: %s", d)
	}
}

func testJournalEmpty(t *testing.T, s store.Store) {
	if got := journal(t, s, store.JournalQuery{}); len(got) != 0 {
		t.Fatalf("Journal of an empty store returned %d entries", len(got))
	}
}

func testJournalNewestFirst(t *testing.T, s store.Store) {
	// Appended in a tight loop with one Time, so only the store's own
	// ordering can tell them apart.
	const n = 20
	var want []string
	for i := range n {
		e := appendEntry(t, s, store.Entry{Time: t0, Kind: store.KindEventReceived, Detail: fmt.Sprint(i)})
		want = append([]string{e.Detail}, want...)
	}
	got := journal(t, s, store.JournalQuery{})
	if !equalStrings(details(got), want) {
		t.Fatalf("Journal order = %v, want %v", details(got), want)
	}
	// IDs order entries too: later entries have greater IDs.
	for i := 1; i < len(got); i++ {
		if got[i-1].ID <= got[i].ID {
			t.Fatalf("entry %s (ID %s) is newer than entry %s (ID %s) but its ID is not greater",
				got[i-1].Detail, got[i-1].ID, got[i].Detail, got[i].ID)
		}
	}
}

func testJournalOrderIgnoresTime(t *testing.T, s store.Store) {
	// Newest means appended last, whatever Time the caller gave: an old
	// event replayed today is the newest entry.
	times := []time.Duration{time.Hour, 3 * time.Hour, 0, 2 * time.Hour}
	var want []string
	for i, d := range times {
		e := appendEntry(t, s, store.Entry{Time: t0.Add(d), Kind: store.KindEventReceived, Detail: fmt.Sprint(i)})
		want = append([]string{e.Detail}, want...)
	}
	if got := details(journal(t, s, store.JournalQuery{})); !equalStrings(got, want) {
		t.Fatalf("Journal order = %v, want %v (reverse append order)", got, want)
	}
}

func testJournalLimit(t *testing.T, s store.Store) {
	total := store.DefaultJournalLimit + 5
	for i := range total {
		appendEntry(t, s, store.Entry{Time: t0, Kind: store.KindEventReceived, Detail: fmt.Sprint(i)})
	}
	for _, tc := range []struct {
		limit, want int
	}{
		{0, store.DefaultJournalLimit},
		{1, 1},
		{3, 3},
		{total, total},
		{total + 10, total},
	} {
		got := journal(t, s, store.JournalQuery{Limit: tc.limit})
		if len(got) != tc.want {
			t.Errorf("Journal(Limit %d) returned %d entries, want %d", tc.limit, len(got), tc.want)
			continue
		}
		if newest := fmt.Sprint(total - 1); got[0].Detail != newest {
			t.Errorf("Journal(Limit %d) starts with entry %s, want the newest, %s", tc.limit, got[0].Detail, newest)
		}
	}
	if _, err := s.Journal(t.Context(), store.JournalQuery{Limit: -1}); err == nil {
		t.Error("Journal(Limit -1) succeeded, want an error")
	}
}

func testJournalFilters(t *testing.T, s store.Store) {
	for _, e := range []store.Entry{
		{Detail: "a", EventID: "e1", TargetID: "o1", Time: t0},
		{Detail: "b", EventID: "e2", TargetID: "o2", Time: t0.Add(time.Hour)},
		{Detail: "c", EventID: "e1", TargetID: "o2", Time: t0.Add(2 * time.Hour)},
		{Detail: "d", Time: t0.Add(3 * time.Hour)},
		{Detail: "e", EventID: "e1", Time: t0.Add(4 * time.Hour)},
		{Detail: "f", EventID: "e2", Time: t0.Add(-time.Hour)}, // late arrival of an old event
	} {
		e.Kind = store.KindEventReceived
		appendEntry(t, s, e)
	}
	for _, tc := range []struct {
		name  string
		query store.JournalQuery
		want  []string
	}{
		{"all", store.JournalQuery{}, []string{"f", "e", "d", "c", "b", "a"}},
		{"since is inclusive", store.JournalQuery{Since: t0.Add(2 * time.Hour)}, []string{"e", "d", "c"}},
		{"since a nanosecond later", store.JournalQuery{Since: t0.Add(2*time.Hour + 1)}, []string{"e", "d"}},
		{"since in another zone", store.JournalQuery{Since: t0.Add(2 * time.Hour).In(time.FixedZone("", -7*3600))}, []string{"e", "d", "c"}},
		{"since after all", store.JournalQuery{Since: t0.Add(5 * time.Hour)}, nil},
		{"event", store.JournalQuery{EventID: "e1"}, []string{"e", "c", "a"}},
		{"unknown event", store.JournalQuery{EventID: "nope"}, nil},
		{"event and since", store.JournalQuery{EventID: "e1", Since: t0.Add(time.Hour)}, []string{"e", "c"}},
		{"event and limit", store.JournalQuery{EventID: "e2", Limit: 1}, []string{"f"}},
		{"since and limit", store.JournalQuery{Since: t0, Limit: 2}, []string{"e", "d"}},
		{"object", store.JournalQuery{TargetID: "o2"}, []string{"c", "b"}},
		{"object and event", store.JournalQuery{TargetID: "o2", EventID: "e1"}, []string{"c"}},
		{"object and since", store.JournalQuery{TargetID: "o2", Since: t0.Add(90 * time.Minute)}, []string{"c"}},
		{"unknown object", store.JournalQuery{TargetID: "nope"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := details(journal(t, s, tc.query)); !equalStrings(got, tc.want) {
				t.Fatalf("Journal(%+v) = %v, want %v", tc.query, got, tc.want)
			}
		})
	}
}

func putDeadLetter(t *testing.T, s store.Store, l store.DeadLetter) store.DeadLetter {
	t.Helper()
	got, err := s.PutDeadLetter(t.Context(), l)
	if err != nil {
		t.Fatalf("PutDeadLetter: %v", err)
	}
	return got
}

func deadLetters(t *testing.T, s store.Store, limit int) []store.DeadLetter {
	t.Helper()
	got, err := s.DeadLetters(t.Context(), limit)
	if err != nil {
		t.Fatalf("DeadLetters(%d): %v", limit, err)
	}
	return got
}

// diffDeadLetter describes how got differs from want, or returns "".
func diffDeadLetter(got, want store.DeadLetter) string {
	if !got.Time.Equal(want.Time) {
		return fmt.Sprintf("Time = %s, want %s", got.Time.Format(time.RFC3339Nano), want.Time.Format(time.RFC3339Nano))
	}
	if got.Time.Location() != time.UTC {
		return fmt.Sprintf("Time is in %s, want UTC", got.Time.Location())
	}
	if !bytes.Equal(got.Raw, want.Raw) {
		return fmt.Sprintf("Raw = %q, want %q", got.Raw, want.Raw)
	}
	if got.ID != want.ID || got.Source != want.Source || got.Location != want.Location || got.Reason != want.Reason {
		return fmt.Sprintf("got %+v\nwant %+v", got, want)
	}
	return ""
}

func testDeadLetterRoundTrip(t *testing.T, s store.Store) {
	in := store.DeadLetter{
		Time:     time.Date(2025, 2, 3, 4, 5, 6, 1, time.FixedZone("", -3*3600)),
		Source:   "function=Ingest invocation=7 partition=0 seq=99",
		Location: "event 3 records[4]",
		Reason:   "invalid character '\\x00' looking for beginning of value",
		// Not UTF-8, with NULs inside and at the end: kept byte for byte.
		Raw: []byte{'{', 0x00, 0xff, 0xfe, 0x80, 'x', 0xc3, 0x28, '\n', 0x00},
	}
	stored := putDeadLetter(t, s, in)
	if stored.ID == "" {
		t.Fatal("PutDeadLetter left ID empty")
	}
	want := in
	want.ID = stored.ID
	if d := diffDeadLetter(stored, want); d != "" {
		t.Fatalf("PutDeadLetter returned a different letter: %s", d)
	}
	got := deadLetters(t, s, 10)
	if len(got) != 1 {
		t.Fatalf("DeadLetters returned %d letters, want 1", len(got))
	}
	if d := diffDeadLetter(got[0], want); d != "" {
		t.Fatalf("stored letter differs: %s", d)
	}

	// Empty input is kept too, and a zero Time is set to about now.
	before := time.Now()
	empty := putDeadLetter(t, s, store.DeadLetter{Source: "s", Reason: "empty body"})
	if empty.Time.Before(before.Add(-time.Second)) || empty.Time.After(time.Now().Add(time.Second)) {
		t.Fatalf("PutDeadLetter set a zero Time to %s, want about now", empty.Time)
	}
	if empty.ID == stored.ID {
		t.Fatalf("two dead letters got the same ID %q", empty.ID)
	}
	got = deadLetters(t, s, 1)
	if d := diffDeadLetter(got[0], empty); d != "" {
		t.Fatalf("empty letter differs: %s", d)
	}
}

func testDeadLettersNewestFirst(t *testing.T, s store.Store) {
	const n = 5
	var ids []string
	for i := range n {
		l := putDeadLetter(t, s, store.DeadLetter{Time: t0, Source: "s", Reason: fmt.Sprint(i), Raw: []byte{byte(i)}})
		ids = append([]string{l.ID}, ids...)
	}
	for _, limit := range []int{1, 3, n, n + 10} {
		got := deadLetters(t, s, limit)
		want := ids[:min(limit, n)]
		if len(got) != len(want) {
			t.Fatalf("DeadLetters(%d) returned %d letters, want %d", limit, len(got), len(want))
		}
		for i := range got {
			if got[i].ID != want[i] {
				t.Fatalf("DeadLetters(%d)[%d] has reason %s, want newest first", limit, i, got[i].Reason)
			}
		}
	}
}

func testDeadLettersBadLimit(t *testing.T, s store.Store) {
	putDeadLetter(t, s, store.DeadLetter{Source: "s", Reason: "r", Raw: []byte("x")})
	for _, limit := range []int{0, -1} {
		if got, err := s.DeadLetters(t.Context(), limit); err == nil {
			t.Errorf("DeadLetters(%d) = %d letters, nil; want an error", limit, len(got))
		}
	}
}

// fixture is what setUpCalls leaves in a store for calls to act on.
type fixture struct {
	// leased is the intent with key "leased", leased at t0 until t0+lease.
	leased store.Intent
	// mark is the mark with key "mark", until t0.
	mark store.Mark
	// silence is a silence from t0 to t0+1h.
	silence store.Silence
}

// setUpCalls gives every call something it would change if it took effect:
// a claimed key, intents with keys "finished" (done at t0), "leased" and
// "pending" (due at t0), a hit "e1" in scope "scope" at t0, a mark and a
// silence.
func setUpCalls(t *testing.T, s store.Store) fixture {
	t.Helper()
	wantClaim(t, s, "claimed", t0, t0.Add(lease), store.Claimed)
	enqueueNew(t, s, "finished", t0)
	finished := wantLeased(t, s, t0, 10, "finished")[0]
	completeIntent(t, s, finished, t0, "ok")
	enqueueNew(t, s, "leased", t0)
	leased := wantLeased(t, s, t0, 10, "leased")[0]
	enqueueNew(t, s, "pending", t0)
	recordHit(t, s, "scope", "e1", t0)
	mark := store.Mark{Key: "mark", Value: "v", Until: t0, UpdatedAt: t0}
	putMark(t, s, mark, t0)
	silence := putSilence(t, s, newSilence("fixture", t0, t0.Add(time.Hour)), t0)
	return fixture{leased: leased, mark: mark, silence: silence}
}

// calls exercises every method of the Store except Close, each returning its
// error.
func calls(f fixture) []struct {
	name string
	call func(ctx context.Context, s store.Store) error
} {
	id, token := f.leased.ID, f.leased.LeaseToken
	return []struct {
		name string
		call func(ctx context.Context, s store.Store) error
	}{
		{"Claim", func(ctx context.Context, s store.Store) error {
			_, err := s.Claim(ctx, "new", t0, t0.Add(lease))
			return err
		}},
		{"Complete", func(ctx context.Context, s store.Store) error { return s.Complete(ctx, "claimed", t0) }},
		{"ExpireClaims", func(ctx context.Context, s store.Store) error {
			_, err := s.ExpireClaims(ctx, t0.Add(time.Hour), 10)
			return err
		}},
		{"Append", func(ctx context.Context, s store.Store) error {
			_, err := s.Append(ctx, store.Entry{Kind: store.KindEventReceived, Detail: "late"})
			return err
		}},
		{"Journal", func(ctx context.Context, s store.Store) error {
			_, err := s.Journal(ctx, store.JournalQuery{})
			return err
		}},
		{"PutDeadLetter", func(ctx context.Context, s store.Store) error {
			_, err := s.PutDeadLetter(ctx, store.DeadLetter{Source: "s", Reason: "late", Raw: []byte("x")})
			return err
		}},
		{"DeadLetters", func(ctx context.Context, s store.Store) error {
			_, err := s.DeadLetters(ctx, 10)
			return err
		}},
		{"Enqueue", func(ctx context.Context, s store.Store) error {
			_, _, err := s.Enqueue(ctx, newIntent("new", t0), t0)
			return err
		}},
		{"LeaseIntents", func(ctx context.Context, s store.Store) error {
			_, err := s.LeaseIntents(ctx, restoreKind, t0, t0.Add(lease), 10)
			return err
		}},
		{"RenewIntentLease", func(ctx context.Context, s store.Store) error {
			return s.RenewIntentLease(ctx, id, token, t0, t0.Add(2*lease))
		}},
		{"CompleteIntent", func(ctx context.Context, s store.Store) error {
			return s.CompleteIntent(ctx, id, token, t0, "restored")
		}},
		{"RetryIntent", func(ctx context.Context, s store.Store) error {
			return s.RetryIntent(ctx, id, token, t0, t0.Add(time.Hour), "throttled")
		}},
		{"FailIntent", func(ctx context.Context, s store.Store) error {
			return s.FailIntent(ctx, id, token, t0, "gone")
		}},
		{"Intent", func(ctx context.Context, s store.Store) error {
			_, err := s.Intent(ctx, id)
			return err
		}},
		{"IntentByKey", func(ctx context.Context, s store.Store) error {
			_, err := s.IntentByKey(ctx, "leased")
			return err
		}},
		{"Intents", func(ctx context.Context, s store.Store) error {
			_, err := s.Intents(ctx, store.IntentQuery{Limit: 10})
			return err
		}},
		{"ExpireIntents", func(ctx context.Context, s store.Store) error {
			_, err := s.ExpireIntents(ctx, t0.Add(time.Hour), 10)
			return err
		}},
		{"Release", func(ctx context.Context, s store.Store) error { return s.Release(ctx, "claimed") }},
		{"RecordHit", func(ctx context.Context, s store.Store) error {
			_, err := s.RecordHit(ctx, "scope", "e2", t0)
			return err
		}},
		{"CountHits", func(ctx context.Context, s store.Store) error {
			_, err := s.CountHits(ctx, "scope", t0, t0.Add(time.Hour))
			return err
		}},
		{"Hits", func(ctx context.Context, s store.Store) error {
			_, err := s.Hits(ctx, "scope", t0, t0.Add(time.Hour), 10)
			return err
		}},
		{"ExpireHits", func(ctx context.Context, s store.Store) error {
			_, err := s.ExpireHits(ctx, t0.Add(time.Hour), 10)
			return err
		}},
		{"PutMark", func(ctx context.Context, s store.Store) error {
			return s.PutMark(ctx, store.Mark{Key: f.mark.Key, Value: "changed", Until: t0.Add(time.Hour)}, t0.Add(time.Second))
		}},
		{"GetMark", func(ctx context.Context, s store.Store) error {
			_, err := s.GetMark(ctx, f.mark.Key)
			return err
		}},
		{"DeleteMark", func(ctx context.Context, s store.Store) error { return s.DeleteMark(ctx, f.mark.Key) }},
		{"PeekClaim", func(ctx context.Context, s store.Store) error {
			_, err := s.PeekClaim(ctx, "claimed", t0)
			return err
		}},
		{"ExpireMarks", func(ctx context.Context, s store.Store) error {
			_, err := s.ExpireMarks(ctx, t0.Add(time.Hour), 10)
			return err
		}},
		{"PutSilence", func(ctx context.Context, s store.Store) error {
			_, err := s.PutSilence(ctx, newSilence("late", t0, t0.Add(time.Hour)), t0)
			return err
		}},
		{"Silences", func(ctx context.Context, s store.Store) error {
			_, err := s.Silences(ctx, store.SilenceQuery{ActiveAt: t0, Limit: 10})
			return err
		}},
		{"EndSilence", func(ctx context.Context, s store.Store) error { return s.EndSilence(ctx, f.silence.ID, t0) }},
		{"ExpireSilences", func(ctx context.Context, s store.Store) error {
			_, err := s.ExpireSilences(ctx, t0.Add(2*time.Hour), 10)
			return err
		}},
	}
}

func testCancelledContext(t *testing.T, s store.Store) {
	f := setUpCalls(t, s)
	intentsBefore := listIntents(t, s, store.IntentQuery{Limit: 100})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, c := range calls(f) {
		if err := c.call(ctx, s); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want an error wrapping context.Canceled", c.name, err)
		}
	}
	// And none of them took effect.
	wantClaim(t, s, "claimed", t0, t0.Add(lease), store.Held)
	wantClaim(t, s, "new", t0, t0.Add(lease), store.Claimed)
	if got := journal(t, s, store.JournalQuery{}); len(got) != 0 {
		t.Errorf("cancelled Append left %d journal entries", len(got))
	}
	if got := deadLetters(t, s, 10); len(got) != 0 {
		t.Errorf("cancelled PutDeadLetter left %d dead letters", len(got))
	}
	if d := diffIntents(listIntents(t, s, store.IntentQuery{Limit: 100}), intentsBefore); d != "" {
		t.Errorf("cancelled calls changed the intents: %s", d)
	}
	if d := diffHits(listHits(t, s, "scope", allSince, allUntil, 10), []store.Hit{{Scope: "scope", ID: "e1", At: t0}}); d != "" {
		t.Errorf("cancelled calls changed the hits: %s", d)
	}
	wantMark(t, s, f.mark)
	if d := diffSilences(listSilences(t, s, store.SilenceQuery{Limit: 10}), []store.Silence{f.silence}); d != "" {
		t.Errorf("cancelled calls changed the silences: %s", d)
	}
}

func testUseAfterClose(t *testing.T, s store.Store) {
	f := setUpCalls(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, c := range calls(f) {
		if err := c.call(t.Context(), s); err == nil {
			t.Errorf("%s after Close succeeded, want an error", c.name)
		}
	}
	// Closing again must not panic; whether it reports an error is up to
	// the implementation. Run closes it once more when the test ends.
	_ = s.Close()
}
