package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
)

// The rule guards' part of the suite: Release, hits, marks and silences.

func release(t *testing.T, s store.Store, key string) {
	t.Helper()
	if err := s.Release(t.Context(), key); err != nil {
		t.Fatalf("Release(%q): %v", key, err)
	}
}

func testRelease(t *testing.T, s store.Store) {
	// Each case sets up its own key, releases it (twice: Release is
	// idempotent) and checks what a later Claim gets.
	for _, tc := range []struct {
		name  string
		setUp func(t *testing.T, key string)
		want  store.ClaimState
	}{
		{"held is claimable at once", func(t *testing.T, key string) {
			wantClaim(t, s, key, t0, t0.Add(lease), store.Claimed)
		}, store.Claimed},
		{"taken over is claimable at once", func(t *testing.T, key string) {
			wantClaim(t, s, key, t0, t0.Add(lease), store.Claimed)
			wantClaim(t, s, key, t0.Add(2*lease), t0.Add(3*lease), store.Claimed)
		}, store.Claimed},
		{"done stays done", func(t *testing.T, key string) {
			wantClaim(t, s, key, t0, t0.Add(lease), store.Claimed)
			complete(t, s, key, t0)
		}, store.Done},
		{"absent stays absent", func(*testing.T, string) {}, store.Claimed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "k-" + tc.name
			tc.setUp(t, key)
			release(t, s, key)
			release(t, s, key)
			// Within what was the lease, and by a new claimer.
			now := t0.Add(time.Second)
			wantClaim(t, s, key, now, now.Add(lease), tc.want)
			if tc.want == store.Claimed {
				// The new claim holds off others as any claim does.
				wantClaim(t, s, key, now.Add(time.Second), now.Add(lease), store.Held)
			}
		})
	}
}

func testReleaseLeavesNoClaim(t *testing.T, s store.Store) {
	wantClaim(t, s, "k", t0, t0.Add(lease), store.Claimed)
	release(t, s, "k")
	if err := s.Complete(t.Context(), "k", t0); !errors.Is(err, store.ErrNotClaimed) {
		t.Fatalf("Complete after Release = %v, want an error wrapping store.ErrNotClaimed", err)
	}
	// Other keys are untouched.
	wantClaim(t, s, "other", t0, t0.Add(lease), store.Claimed)
	release(t, s, "k")
	wantClaim(t, s, "other", t0, t0.Add(lease), store.Held)
}

func recordHit(t *testing.T, s store.Store, scope, id string, at time.Time) bool {
	t.Helper()
	recorded, err := s.RecordHit(t.Context(), scope, id, at)
	if err != nil {
		t.Fatalf("RecordHit(%q, %q, %s): %v", scope, id, at, err)
	}
	return recorded
}

func countHits(t *testing.T, s store.Store, scope string, since, until time.Time) int {
	t.Helper()
	n, err := s.CountHits(t.Context(), scope, since, until)
	if err != nil {
		t.Fatalf("CountHits(%q, %s, %s): %v", scope, at(since), at(until), err)
	}
	return n
}

func listHits(t *testing.T, s store.Store, scope string, since, until time.Time, limit int) []store.Hit {
	t.Helper()
	hits, err := s.Hits(t.Context(), scope, since, until, limit)
	if err != nil {
		t.Fatalf("Hits(%q, %s, %s, %d): %v", scope, at(since), at(until), limit, err)
	}
	return hits
}

func hitIDs(hits []store.Hit) []string {
	return each(hits, func(h store.Hit) string { return h.ID })
}

// allSince and allUntil make a window holding every hit the tests record.
var allSince, allUntil = t0.Add(-365 * 24 * time.Hour), t0.Add(365 * 24 * time.Hour)

func testRecordHitOnce(t *testing.T, s store.Store) {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	if !recordHit(t, s, "deletions:alice", "e1", t0.In(zone)) {
		t.Fatal("RecordHit of a new hit returned false")
	}
	// Redelivered, later and with another time: counted once, and the
	// first time stands.
	for _, again := range []time.Time{t0, t0.Add(time.Hour), t0.Add(-time.Hour)} {
		if recordHit(t, s, "deletions:alice", "e1", again) {
			t.Fatalf("RecordHit of a recorded hit at %s returned true", at(again))
		}
	}
	want := []store.Hit{{Scope: "deletions:alice", ID: "e1", At: t0}}
	got := listHits(t, s, "deletions:alice", allSince, allUntil, 10)
	if d := diffHits(got, want); d != "" {
		t.Fatalf("after recording one hit again: %s", d)
	}
	// The same id in another scope is another hit.
	if !recordHit(t, s, "deletions:bob", "e1", t0) {
		t.Fatal("RecordHit of an id recorded in another scope returned false")
	}
	for scope, want := range map[string]int{"deletions:alice": 1, "deletions:bob": 1, "deletions:carol": 0} {
		if n := countHits(t, s, scope, allSince, allUntil); n != want {
			t.Errorf("CountHits(%q) = %d, want %d", scope, n, want)
		}
	}
}

// diffUTC describes how got, the time name of what, differs from want, or
// returns "": it must be the same instant, and in UTC.
func diffUTC(what, name string, got, want time.Time) string {
	if got.Equal(want) && got.Location() == time.UTC {
		return ""
	}
	return fmt.Sprintf("%s: %s = %s in %s, want %s in UTC", what, name, at(got), got.Location(), at(want))
}

// diffHits compares two lists of hits in order; times must be the same
// instants and in UTC.
func diffHits(got, want []store.Hit) string {
	if len(got) != len(want) {
		return fmt.Sprintf("hits %v, want %v", hitIDs(got), hitIDs(want))
	}
	for i := range got {
		if d := diffUTC(fmt.Sprintf("hit %q", want[i].ID), "At", got[i].At, want[i].At); d != "" {
			return d
		}
		g, w := got[i], want[i]
		g.At, w.At = time.Time{}, time.Time{}
		if g != w {
			return fmt.Sprintf("hit %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	return ""
}

func testRecordHitInvalid(t *testing.T, s store.Store) {
	for _, tc := range []struct{ name, scope, id string }{
		{"empty scope", "", "e1"},
		{"empty id", "deletions:alice", ""},
		{"both empty", "", ""},
	} {
		if recorded, err := s.RecordHit(t.Context(), tc.scope, tc.id, t0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("RecordHit with %s = %v, %v; want an error wrapping store.ErrInvalid", tc.name, recorded, err)
		}
	}
	for _, scope := range []string{"", "deletions:alice"} {
		if n := countHits(t, s, scope, allSince, allUntil); n != 0 {
			t.Errorf("refused RecordHits left %d hits in %q", n, scope)
		}
	}
}

func testHitsWindow(t *testing.T, s store.Store) {
	// One hit a minute in scope a, from t0 to t0+3m; scope b has hits at
	// the same times, which must never show in a.
	for i := range 4 {
		when := t0.Add(time.Duration(i) * time.Minute)
		recordHit(t, s, "a", fmt.Sprintf("a%d", i), when)
		recordHit(t, s, "b", fmt.Sprintf("b%d", i), when)
	}
	m := func(d time.Duration) time.Time { return t0.Add(d * time.Minute) }
	for _, tc := range []struct {
		name         string
		scope        string
		since, until time.Time
		want         []string
	}{
		{"all", "a", allSince, allUntil, []string{"a0", "a1", "a2", "a3"}},
		{"both ends inclusive", "a", m(1), m(2), []string{"a1", "a2"}},
		{"since a nanosecond later", "a", m(1).Add(1), m(2), []string{"a2"}},
		{"until a nanosecond earlier", "a", m(1), m(2).Add(-1), []string{"a1"}},
		{"one instant", "a", m(1), m(1), []string{"a1"}},
		{"between hits", "a", m(1).Add(1), m(2).Add(-1), nil},
		{"since after until", "a", m(2), m(1), nil},
		{"in another zone", "a", m(1).In(time.FixedZone("", -7*3600)), m(2).In(time.FixedZone("", 3600)), []string{"a1", "a2"}},
		{"other scope", "b", m(3), allUntil, []string{"b3"}},
		{"unknown scope", "c", allSince, allUntil, nil},
		{"scope is not a prefix", "", allSince, allUntil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n := countHits(t, s, tc.scope, tc.since, tc.until); n != len(tc.want) {
				t.Errorf("CountHits(%q, %s, %s) = %d, want %d", tc.scope, at(tc.since), at(tc.until), n, len(tc.want))
			}
			got := listHits(t, s, tc.scope, tc.since, tc.until, 10)
			if !equalStrings(hitIDs(got), tc.want) {
				t.Errorf("Hits(%q, %s, %s) = %v, want %v", tc.scope, at(tc.since), at(tc.until), hitIDs(got), tc.want)
			}
		})
	}
}

func testHitsOrderAndLimit(t *testing.T, s store.Store) {
	// Recorded out of order, three at one instant: oldest first, ties by
	// ID, whatever the recording order.
	for _, h := range []store.Hit{
		{ID: "late", At: t0.Add(time.Hour)},
		{ID: "tie-c", At: t0.Add(time.Minute)},
		{ID: "early", At: t0.Add(time.Nanosecond)},
		{ID: "tie-a", At: t0.Add(time.Minute)},
		{ID: "tie-b", At: t0.Add(time.Minute)},
	} {
		recordHit(t, s, "scope", h.ID, h.At)
	}
	all := []store.Hit{
		{Scope: "scope", ID: "early", At: t0.Add(time.Nanosecond)},
		{Scope: "scope", ID: "tie-a", At: t0.Add(time.Minute)},
		{Scope: "scope", ID: "tie-b", At: t0.Add(time.Minute)},
		{Scope: "scope", ID: "tie-c", At: t0.Add(time.Minute)},
		{Scope: "scope", ID: "late", At: t0.Add(time.Hour)},
	}
	for _, limit := range []int{1, 2, 4, 5, 100} {
		got := listHits(t, s, "scope", allSince, allUntil, limit)
		if d := diffHits(got, all[:min(limit, len(all))]); d != "" {
			t.Errorf("Hits(limit %d): %s", limit, d)
		}
	}
	for _, limit := range []int{0, -1} {
		if got, err := s.Hits(t.Context(), "scope", allSince, allUntil, limit); err == nil {
			t.Errorf("Hits(limit %d) = %v, nil; want an error", limit, hitIDs(got))
		}
	}
}

func testConcurrentRecordHit(t *testing.T, s store.Store) {
	// Instances handed the same audit event at once count it once.
	got, err := Race(goroutines, func(g int) (bool, error) {
		return s.RecordHit(t.Context(), "deletions:alice", "e1", t0.Add(time.Duration(g)))
	})
	if err != nil {
		t.Fatal(err)
	}
	recorded := trues(got)
	if n := countHits(t, s, "deletions:alice", allSince, allUntil); recorded != 1 || n != 1 {
		t.Fatalf("%d concurrent RecordHits of one hit: %d returned true, %d counted; want 1 and 1", goroutines, recorded, n)
	}
}

// trues counts the true values in bs.
func trues(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func testExpireHits(t *testing.T, s store.Store) {
	for i := range 3 {
		recordHit(t, s, "a", fmt.Sprint(i), t0.Add(time.Duration(i)*time.Hour))
		recordHit(t, s, "b", fmt.Sprint(i), t0.Add(time.Duration(i)*time.Hour))
	}
	// The cutoff is exclusive: hits exactly at it stay, in every scope.
	if n := expire(t, "ExpireHits", s.ExpireHits, t0.Add(time.Hour), 100); n != 2 {
		t.Fatalf("ExpireHits deleted %d hits, want 2 (a/0, b/0)", n)
	}
	if n := expire(t, "ExpireHits", s.ExpireHits, t0.Add(time.Hour), 100); n != 0 {
		t.Fatalf("second ExpireHits deleted %d hits, want 0", n)
	}
	for _, scope := range []string{"a", "b"} {
		if got := hitIDs(listHits(t, s, scope, allSince, allUntil, 10)); !equalStrings(got, []string{"1", "2"}) {
			t.Errorf("after expiry scope %q holds %v, want [1 2]", scope, got)
		}
	}
	// An expired hit can be recorded anew.
	if !recordHit(t, s, "a", "0", t0.Add(3*time.Hour)) {
		t.Fatal("RecordHit of an expired hit returned false")
	}
	// And a recorded one still cannot.
	if recordHit(t, s, "a", "1", t0.Add(3*time.Hour)) {
		t.Fatal("RecordHit of a hit that did not expire returned true")
	}
}

func testExpireHitsPaging(t *testing.T, s store.Store) {
	const old, limit = 7, 3
	for i := range old {
		recordHit(t, s, fmt.Sprintf("scope%d", i%2), fmt.Sprint(i), t0.Add(time.Duration(i)*time.Minute))
	}
	recordHit(t, s, "scope0", "new", t0.Add(24*time.Hour))
	wantPaged(t, "ExpireHits", s.ExpireHits, t0.Add(12*time.Hour), limit, old, "hits")
	if got := hitIDs(listHits(t, s, "scope0", allSince, allUntil, 10)); !equalStrings(got, []string{"new"}) {
		t.Fatalf("after paging the store holds %v, want [new]", got)
	}
	wantLimitRefused(t, "ExpireHits", s.ExpireHits, allUntil)
	if n := countHits(t, s, "scope0", allSince, allUntil); n != 1 {
		t.Fatalf("refused ExpireHits left %d hits, want 1", n)
	}
}

func putMark(t *testing.T, s store.Store, mark store.Mark, now time.Time) {
	t.Helper()
	if err := s.PutMark(t.Context(), mark, now); err != nil {
		t.Fatalf("PutMark(%q, now %s): %v", mark.Key, at(now), err)
	}
}

func getMark(t *testing.T, s store.Store, key string) store.Mark {
	t.Helper()
	mark, err := s.GetMark(t.Context(), key)
	if err != nil {
		t.Fatalf("GetMark(%q): %v", key, err)
	}
	return mark
}

// wantMark checks that the stored mark is want; times must be the same
// instants, in UTC.
func wantMark(t *testing.T, s store.Store, want store.Mark) {
	t.Helper()
	got := getMark(t, s, want.Key)
	for _, tm := range []struct {
		name      string
		got, want time.Time
	}{{"Until", got.Until, want.Until}, {"UpdatedAt", got.UpdatedAt, want.UpdatedAt}} {
		if d := diffUTC(fmt.Sprintf("mark %q", want.Key), tm.name, tm.got, tm.want); d != "" {
			t.Fatal(d)
		}
	}
	if got.Key != want.Key || got.Value != want.Value {
		t.Fatalf("mark = %+v, want %+v", got, want)
	}
}

func wantNoMark(t *testing.T, s store.Store, key string) {
	t.Helper()
	if got, err := s.GetMark(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetMark(%q) = %+v, %v; want an error wrapping store.ErrNotFound", key, got, err)
	}
}

func testMarks(t *testing.T, s store.Store) {
	zone := time.FixedZone("UTC-7", -7*3600)
	wantNoMark(t, s, "breaker:alice")

	first := store.Mark{
		Key:   "breaker:alice",
		Value: "tripped: 20 deletions in 10m — \"ops\" 東京\n",
		Until: t0.Add(time.Hour).In(zone),
		// The store sets UpdatedAt; this is ignored.
		UpdatedAt: t0.Add(-time.Hour),
	}
	putMark(t, s, first, t0.In(zone))
	wantMark(t, s, store.Mark{Key: first.Key, Value: first.Value, Until: t0.Add(time.Hour), UpdatedAt: t0})

	// Replaced whole, Value and Until, even by a shorter Until.
	putMark(t, s, store.Mark{Key: first.Key, Value: "reset", Until: t0.Add(time.Minute)}, t0.Add(time.Second))
	wantMark(t, s, store.Mark{Key: first.Key, Value: "reset", Until: t0.Add(time.Minute), UpdatedAt: t0.Add(time.Second)})
	// And an empty Value is a value.
	putMark(t, s, store.Mark{Key: first.Key, Until: t0.Add(2 * time.Minute)}, t0.Add(2*time.Second))
	wantMark(t, s, store.Mark{Key: first.Key, Until: t0.Add(2 * time.Minute), UpdatedAt: t0.Add(2 * time.Second)})

	// Other keys are other marks; a mark whose Until passed long ago is
	// still there until it is expired or deleted.
	putMark(t, s, store.Mark{Key: "cooldown:obj", Value: "1", Until: t0.Add(-24 * time.Hour)}, t0)
	wantMark(t, s, store.Mark{Key: "cooldown:obj", Value: "1", Until: t0.Add(-24 * time.Hour), UpdatedAt: t0})
	wantMark(t, s, store.Mark{Key: first.Key, Until: t0.Add(2 * time.Minute), UpdatedAt: t0.Add(2 * time.Second)})

	for range 2 { // DeleteMark is idempotent
		if err := s.DeleteMark(t.Context(), first.Key); err != nil {
			t.Fatalf("DeleteMark(%q): %v", first.Key, err)
		}
		wantNoMark(t, s, first.Key)
	}
	if err := s.DeleteMark(t.Context(), "never-put"); err != nil {
		t.Fatalf("DeleteMark of an absent mark: %v", err)
	}
	wantMark(t, s, store.Mark{Key: "cooldown:obj", Value: "1", Until: t0.Add(-24 * time.Hour), UpdatedAt: t0})
}

func testPutMarkInvalid(t *testing.T, s store.Store) {
	for _, tc := range []struct {
		name string
		mark store.Mark
	}{
		{"empty key", store.Mark{Value: "v", Until: t0.Add(time.Hour)}},
		{"zero until", store.Mark{Key: "k", Value: "v"}},
		{"value too large", store.Mark{Key: "k", Value: strings.Repeat("x", store.MaxMarkValue+1), Until: t0.Add(time.Hour)}},
	} {
		if err := s.PutMark(t.Context(), tc.mark, t0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutMark with %s = %v, want an error wrapping store.ErrInvalid", tc.name, err)
		}
	}
	wantNoMark(t, s, "k")
	largest := strings.Repeat("é", store.MaxMarkValue/2)
	putMark(t, s, store.Mark{Key: "k", Value: largest, Until: t0.Add(time.Hour)}, t0)
	if got := getMark(t, s, "k"); got.Value != largest {
		t.Fatalf("a value of MaxMarkValue bytes came back as %d bytes", len(got.Value))
	}
}

func testExpireMarks(t *testing.T, s store.Store) {
	// Until, not UpdatedAt, counts: "old" was put last.
	putMark(t, s, store.Mark{Key: "at-cutoff", Until: t0.Add(time.Hour)}, t0.Add(-time.Hour))
	putMark(t, s, store.Mark{Key: "later", Until: t0.Add(2 * time.Hour)}, t0.Add(-time.Hour))
	putMark(t, s, store.Mark{Key: "old", Until: t0}, t0)
	// The cutoff is exclusive: a mark until exactly it stays.
	if n := expire(t, "ExpireMarks", s.ExpireMarks, t0.Add(time.Hour), 100); n != 1 {
		t.Fatalf("ExpireMarks deleted %d marks, want 1 (old)", n)
	}
	wantNoMark(t, s, "old")
	getMark(t, s, "at-cutoff")
	getMark(t, s, "later")
	if n := expire(t, "ExpireMarks", s.ExpireMarks, t0.Add(time.Hour), 100); n != 0 {
		t.Fatalf("second ExpireMarks deleted %d marks, want 0", n)
	}
	// A mark put again with a later Until is not expired by its old one.
	putMark(t, s, store.Mark{Key: "at-cutoff", Until: t0.Add(3 * time.Hour)}, t0)
	if n := expire(t, "ExpireMarks", s.ExpireMarks, t0.Add(150*time.Minute), 100); n != 1 {
		t.Fatalf("ExpireMarks deleted %d marks, want 1 (later)", n)
	}
	getMark(t, s, "at-cutoff")
}

func testExpireMarksPaging(t *testing.T, s store.Store) {
	const old, limit = 7, 3
	for i := range old {
		putMark(t, s, store.Mark{Key: fmt.Sprintf("old%d", i), Until: t0.Add(time.Duration(i) * time.Minute)}, t0)
	}
	putMark(t, s, store.Mark{Key: "new", Until: t0.Add(24 * time.Hour)}, t0)
	wantPaged(t, "ExpireMarks", s.ExpireMarks, t0.Add(12*time.Hour), limit, old, "marks")
	wantLimitRefused(t, "ExpireMarks", s.ExpireMarks, allUntil)
	getMark(t, s, "new")
}

// newSilence returns a silence of rule, named by reason, from startsAt to
// endsAt.
func newSilence(reason string, startsAt, endsAt time.Time) store.Silence {
	return store.Silence{Rule: "restore-users", Reason: reason, CreatedBy: "oncall@contoso.example", StartsAt: startsAt, EndsAt: endsAt}
}

func putSilence(t *testing.T, s store.Store, sl store.Silence, now time.Time) store.Silence {
	t.Helper()
	got, err := s.PutSilence(t.Context(), sl, now)
	if err != nil {
		t.Fatalf("PutSilence(%q, now %s): %v", sl.Reason, at(now), err)
	}
	return got
}

func listSilences(t *testing.T, s store.Store, q store.SilenceQuery) []store.Silence {
	t.Helper()
	got, err := s.Silences(t.Context(), q)
	if err != nil {
		t.Fatalf("Silences(%+v): %v", q, err)
	}
	return got
}

// reasons lists the Reason of each silence, which the tests use as a name.
func reasons(silences []store.Silence) []string {
	return each(silences, func(sl store.Silence) string { return sl.Reason })
}

// diffSilence describes how got differs from want, or returns "". Times
// must be the same instants, in UTC.
func diffSilence(got, want store.Silence) string {
	for _, tm := range []struct {
		name      string
		got, want time.Time
	}{
		{"StartsAt", got.StartsAt, want.StartsAt},
		{"EndsAt", got.EndsAt, want.EndsAt},
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
	} {
		if d := diffUTC(fmt.Sprintf("silence %q", want.Reason), tm.name, tm.got, tm.want); d != "" {
			return d
		}
	}
	got.StartsAt, got.EndsAt, got.CreatedAt = time.Time{}, time.Time{}, time.Time{}
	want.StartsAt, want.EndsAt, want.CreatedAt = time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("got %+v\nwant %+v", got, want)
	}
	return ""
}

// diffSilences compares two lists of silences in order.
func diffSilences(got, want []store.Silence) string {
	return diffList("silences", got, want, reasons, diffSilence)
}

// silenceByID lists every silence and returns the one with id.
func silenceByID(t *testing.T, s store.Store, id string) store.Silence {
	t.Helper()
	for _, sl := range listSilences(t, s, store.SilenceQuery{Limit: 1000}) {
		if sl.ID == id {
			return sl
		}
	}
	t.Fatalf("no silence with ID %s", id)
	return store.Silence{}
}

func testPutSilenceSetsFields(t *testing.T, s store.Store) {
	zone := time.FixedZone("UTC+9", 9*3600)
	in := store.Silence{
		// The store sets ID and CreatedAt; these are ignored.
		ID:        "forged",
		CreatedAt: t0.Add(-time.Hour),
		Rule:      "restore-users",
		Initiator: "sync@contoso.example",
		ObjectID:  "6f1d8b9a-0000-4c2d-8e7f-112233445566",
		Reason:    "migration \"wave 2\" — 東京\nticket 42",
		CreatedBy: "oncall@contoso.example",
		StartsAt:  t0.Add(time.Minute).In(zone),
		EndsAt:    t0.Add(time.Hour).In(zone),
	}
	got := putSilence(t, s, in, t0.In(zone))
	if got.ID == "" || got.ID == in.ID {
		t.Fatalf("PutSilence set ID %q, want a new one", got.ID)
	}
	want := in
	want.ID, want.CreatedAt, want.StartsAt, want.EndsAt = got.ID, t0, t0.Add(time.Minute), t0.Add(time.Hour)
	if d := diffSilence(got, want); d != "" {
		t.Fatalf("PutSilence returned a different silence: %s", d)
	}
	if d := diffSilence(silenceByID(t, s, got.ID), want); d != "" {
		t.Fatalf("stored silence differs: %s", d)
	}

	// A zero StartsAt means now; one matcher is enough; later silences
	// have greater IDs.
	later := t0.Add(time.Second)
	second := putSilence(t, s, store.Silence{ObjectID: "obj", Reason: "second", EndsAt: t0.Add(time.Hour)}, later)
	if !second.StartsAt.Equal(later) {
		t.Fatalf("PutSilence with a zero StartsAt set it to %s, want now (%s)", at(second.StartsAt), at(later))
	}
	if second.ID <= got.ID {
		t.Fatalf("the second silence's ID %s is not greater than the first's, %s", second.ID, got.ID)
	}
	third := putSilence(t, s, store.Silence{Initiator: "bob", Reason: "third", EndsAt: t0.Add(time.Hour)}, t0)
	if third.ID <= second.ID {
		t.Fatalf("the third silence's ID %s is not greater than the second's, %s, though its now is earlier", third.ID, second.ID)
	}
}

func testPutSilenceInvalid(t *testing.T, s store.Store) {
	start, end := t0.Add(time.Minute), t0.Add(time.Hour)
	for _, tc := range []struct {
		name string
		in   store.Silence
	}{
		{"no matcher", store.Silence{Reason: "r", CreatedBy: "op", StartsAt: start, EndsAt: end}},
		{"empty reason", store.Silence{Rule: "r", StartsAt: start, EndsAt: end}},
		{"ends when it starts", store.Silence{Rule: "r", Reason: "r", StartsAt: start, EndsAt: start}},
		{"ends before it starts", store.Silence{Rule: "r", Reason: "r", StartsAt: end, EndsAt: start}},
		{"zero end", store.Silence{Rule: "r", Reason: "r", StartsAt: start}},
		{"starts now, ends now", store.Silence{Rule: "r", Reason: "r", EndsAt: t0}},
		{"starts now, ended", store.Silence{Rule: "r", Reason: "r", EndsAt: t0.Add(-time.Second)}},
	} {
		if got, err := s.PutSilence(t.Context(), tc.in, t0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutSilence with %s = %+v, %v; want an error wrapping store.ErrInvalid", tc.name, got, err)
		}
	}
	if got := listSilences(t, s, store.SilenceQuery{Limit: 10}); len(got) != 0 {
		t.Fatalf("refused PutSilences left %v", reasons(got))
	}
	// A silence that starts in the future, or started in the past, is fine.
	putSilence(t, s, store.Silence{Rule: "r", Reason: "future", StartsAt: end, EndsAt: end.Add(time.Hour)}, t0)
	putSilence(t, s, store.Silence{Rule: "r", Reason: "past", StartsAt: t0.Add(-2 * time.Hour), EndsAt: t0.Add(-time.Hour)}, t0)
}

func testSilencesActive(t *testing.T, s store.Store) {
	// Put in this order: a [t0, t0+1h), b [t0+30m, t0+2h), c [t0+3h, t0+4h).
	h := func(d time.Duration) time.Time { return t0.Add(d * time.Minute) }
	putSilence(t, s, newSilence("a", h(0), h(60)), t0)
	putSilence(t, s, newSilence("b", h(30), h(120)), t0)
	putSilence(t, s, newSilence("c", h(180), h(240)), t0)
	for _, tc := range []struct {
		name  string
		query store.SilenceQuery
		want  []string
	}{
		{"all, newest first", store.SilenceQuery{Limit: 10}, []string{"c", "b", "a"}},
		{"limit", store.SilenceQuery{Limit: 2}, []string{"c", "b"}},
		{"before any", store.SilenceQuery{ActiveAt: h(0).Add(-1), Limit: 10}, nil},
		{"starts inclusive", store.SilenceQuery{ActiveAt: h(0), Limit: 10}, []string{"a"}},
		{"overlap", store.SilenceQuery{ActiveAt: h(30), Limit: 10}, []string{"b", "a"}},
		{"overlap, limit", store.SilenceQuery{ActiveAt: h(30), Limit: 1}, []string{"b"}},
		{"just before an end", store.SilenceQuery{ActiveAt: h(60).Add(-1), Limit: 10}, []string{"b", "a"}},
		{"ends exclusive", store.SilenceQuery{ActiveAt: h(60), Limit: 10}, []string{"b"}},
		{"in another zone", store.SilenceQuery{ActiveAt: h(60).In(time.FixedZone("", -3600)), Limit: 10}, []string{"b"}},
		{"gap", store.SilenceQuery{ActiveAt: h(120), Limit: 10}, nil},
		{"later", store.SilenceQuery{ActiveAt: h(239), Limit: 10}, []string{"c"}},
		{"after all", store.SilenceQuery{ActiveAt: h(240), Limit: 10}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := listSilences(t, s, tc.query)
			if !equalStrings(reasons(got), tc.want) {
				t.Fatalf("Silences(%+v) = %v, want %v", tc.query, reasons(got), tc.want)
			}
			for _, sl := range got {
				if d := diffSilence(sl, silenceByID(t, s, sl.ID)); d != "" {
					t.Fatalf("listed silence differs from the stored one: %s", d)
				}
			}
		})
	}
	for _, q := range []store.SilenceQuery{{}, {Limit: -1}, {ActiveAt: h(30)}} {
		if got, err := s.Silences(t.Context(), q); err == nil {
			t.Errorf("Silences(%+v) = %v, nil; want an error", q, reasons(got))
		}
	}
}

func endSilence(t *testing.T, s store.Store, id string, now time.Time) {
	t.Helper()
	if err := s.EndSilence(t.Context(), id, now); err != nil {
		t.Fatalf("EndSilence(%s, now %s): %v", id, at(now), err)
	}
}

func testEndSilence(t *testing.T, s store.Store) {
	active := putSilence(t, s, newSilence("active", t0, t0.Add(time.Hour)), t0)
	other := putSilence(t, s, newSilence("other", t0, t0.Add(time.Hour)), t0)
	ended := putSilence(t, s, newSilence("ended", t0.Add(-2*time.Hour), t0.Add(-time.Hour)), t0)
	future := putSilence(t, s, newSilence("future", t0.Add(time.Hour), t0.Add(2*time.Hour)), t0)

	// Ended early: EndsAt becomes now, the rest stays.
	now := t0.Add(10 * time.Minute)
	endSilence(t, s, active.ID, now)
	want := active
	want.EndsAt = now
	if d := diffSilence(silenceByID(t, s, active.ID), want); d != "" {
		t.Fatalf("after EndSilence: %s", d)
	}
	if got := reasons(listSilences(t, s, store.SilenceQuery{ActiveAt: now, Limit: 10})); !equalStrings(got, []string{"other"}) {
		t.Fatalf("active at the end = %v, want [other]", got)
	}
	if got := reasons(listSilences(t, s, store.SilenceQuery{ActiveAt: now.Add(-1), Limit: 10})); !equalStrings(got, []string{"other", "active"}) {
		t.Fatalf("active just before the end = %v, want [other active]", got)
	}

	// Ending it again later does not move its end.
	endSilence(t, s, active.ID, now.Add(time.Minute))
	if d := diffSilence(silenceByID(t, s, active.ID), want); d != "" {
		t.Fatalf("after a second, later EndSilence: %s", d)
	}
	// A silence that already ended keeps its end.
	endSilence(t, s, ended.ID, now)
	if d := diffSilence(silenceByID(t, s, ended.ID), ended); d != "" {
		t.Fatalf("EndSilence of an ended silence changed it: %s", d)
	}
	// One that has not started never becomes active.
	endSilence(t, s, future.ID, now)
	for _, when := range []time.Time{now, future.StartsAt, future.StartsAt.Add(30 * time.Minute)} {
		for _, sl := range listSilences(t, s, store.SilenceQuery{ActiveAt: when, Limit: 10}) {
			if sl.ID == future.ID {
				t.Fatalf("a silence ended before it started is active at %s", at(when))
			}
		}
	}
	if d := diffSilence(silenceByID(t, s, other.ID), other); d != "" {
		t.Fatalf("EndSilence of others changed %q: %s", other.Reason, d)
	}

	if err := s.EndSilence(t.Context(), "no-such-silence", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("EndSilence(unknown) = %v, want an error wrapping store.ErrNotFound", err)
	}
}

func testExpireSilences(t *testing.T, s store.Store) {
	putSilence(t, s, newSilence("ended", t0.Add(-2*time.Hour), t0.Add(-time.Hour)), t0)
	atCutoff := putSilence(t, s, newSilence("at-cutoff", t0.Add(-2*time.Hour), t0), t0)
	ongoing := putSilence(t, s, newSilence("ongoing", t0.Add(-2*time.Hour), t0.Add(time.Hour)), t0)
	// EndsAt counts, whatever ended it: "early" ended before the cutoff.
	early := putSilence(t, s, newSilence("early", t0.Add(-2*time.Hour), t0.Add(time.Hour)), t0)
	endSilence(t, s, early.ID, t0.Add(-time.Minute))

	// The cutoff is exclusive: a silence ending exactly at it stays.
	if n := expire(t, "ExpireSilences", s.ExpireSilences, t0, 100); n != 2 {
		t.Fatalf("ExpireSilences deleted %d silences, want 2 (ended, early)", n)
	}
	if n := expire(t, "ExpireSilences", s.ExpireSilences, t0, 100); n != 0 {
		t.Fatalf("second ExpireSilences deleted %d silences, want 0", n)
	}
	if d := diffSilences(listSilences(t, s, store.SilenceQuery{Limit: 10}), []store.Silence{ongoing, atCutoff}); d != "" {
		t.Fatalf("after expiry: %s", d)
	}
	if err := s.EndSilence(t.Context(), early.ID, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("EndSilence of an expired silence = %v, want an error wrapping store.ErrNotFound", err)
	}
}

func testExpireSilencesPaging(t *testing.T, s store.Store) {
	const old, limit = 7, 3
	for i := range old {
		end := t0.Add(time.Duration(i+1) * time.Minute)
		putSilence(t, s, newSilence(fmt.Sprintf("old%d", i), t0, end), t0)
	}
	newer := putSilence(t, s, newSilence("new", t0, t0.Add(24*time.Hour)), t0)
	wantPaged(t, "ExpireSilences", s.ExpireSilences, t0.Add(12*time.Hour), limit, old, "silences")
	wantLimitRefused(t, "ExpireSilences", s.ExpireSilences, allUntil)
	if d := diffSilences(listSilences(t, s, store.SilenceQuery{Limit: 10}), []store.Silence{newer}); d != "" {
		t.Fatalf("after paging: %s", d)
	}
}
