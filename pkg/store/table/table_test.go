package table

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/internal/tools/azurite"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/storetest"
)

// connection is the Azurite the tests use: the one `make test` started,
// named by azurite.EnvConnection, or one TestMain starts for this binary,
// so that plain `go test ./pkg/store/table/` works too.
var connection string

// TestMain starts Azurite from the repository's node_modules (running npm
// ci first if it is missing) unless one is named already. It fails rather
// than skips when it cannot: the shared store is tested against a real
// Azurite or not at all.
func TestMain(m *testing.M) {
	os.Exit(azurite.RunTests(m, &connection, "the Table Storage tests", "./pkg/store/table/"))
}

// open opens a store on tables of its own, so that every test starts empty.
func open(t testing.TB) *Store {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	s, err := Open(t.Context(), connection, WithTablePrefix("t"+hex.EncodeToString(b[:])))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// handles opens n stores on the same tables, as n instances of a scaled-out
// deployment would: each has its own clients and its own ID clock.
func handles(t *testing.T, n int) []*Store {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "t" + hex.EncodeToString(b[:])
	var hs []*Store
	for range n {
		s, err := Open(t.Context(), connection, WithTablePrefix(prefix))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		hs = append(hs, s)
	}
	return hs
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)

// exactlyOne races perHandle callers on each of several handles, rounds
// times, and fails unless exactly one caller wins each round.
func exactlyOne(t *testing.T, what string, rounds, callers int, try func(round, i int) (bool, error)) {
	t.Helper()
	for round := range rounds {
		won, err := storetest.Race(callers, func(i int) (bool, error) { return try(round, i) })
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ok := range won {
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("round %d: %d callers won %s, want exactly 1", round, n, what)
		}
	}
}

func TestHandlesRace(t *testing.T) {
	const rounds, perHandle = 5, 4
	hs := handles(t, 3)
	callers := len(hs) * perHandle
	h := func(i int) *Store { return hs[i/perHandle] }
	ctx := t.Context()
	t.Run("Claim", func(t *testing.T) {
		exactlyOne(t, "a claim", rounds, callers, func(round, i int) (bool, error) {
			state, err := h(i).Claim(ctx, fmt.Sprintf("k%d", round), t0, t0.Add(time.Minute))
			return state == store.Claimed, err
		})
	})
	t.Run("Reclaim", func(t *testing.T) {
		// Every key's first lease ran out: taking it over is as exclusive.
		exactlyOne(t, "a reclaim", rounds, callers, func(round, i int) (bool, error) {
			now := t0.Add(time.Hour)
			state, err := h(i).Claim(ctx, fmt.Sprintf("k%d", round), now, now.Add(time.Minute))
			return state == store.Claimed, err
		})
	})
	t.Run("Enqueue", func(t *testing.T) {
		exactlyOne(t, "an enqueue", rounds, callers, func(round, i int) (bool, error) {
			_, created, err := h(i).Enqueue(ctx, store.Intent{Key: fmt.Sprintf("i%d", round), Kind: "restore"}, t0)
			return created, err
		})
	})
	t.Run("LeaseIntents", func(t *testing.T) {
		// The intents enqueued above, leased by every caller at once: each
		// goes to exactly one.
		got, err := storetest.Race(callers, func(i int) ([]store.Intent, error) {
			return h(i).LeaseIntents(ctx, "restore", t0, t0.Add(time.Minute), 2)
		})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, ins := range got {
			for _, in := range ins {
				if seen[in.ID] {
					t.Fatalf("intent %s leased twice", in.ID)
				}
				seen[in.ID] = true
			}
		}
		if len(seen) != rounds {
			t.Fatalf("%d intents leased, want all %d", len(seen), rounds)
		}
	})
	t.Run("RecordHit", func(t *testing.T) {
		exactlyOne(t, "a hit", rounds, callers, func(round, i int) (bool, error) {
			return h(i).RecordHit(ctx, "deletions:someone", fmt.Sprintf("e%d", round), t0)
		})
	})
	t.Run("AcquireLock", func(t *testing.T) {
		exactlyOne(t, "a lock", rounds, callers, func(round, i int) (bool, error) {
			_, ok, err := h(i).AcquireLock(ctx, fmt.Sprintf("lock%d", round), fmt.Sprintf("racer %d", i), t0, t0.Add(time.Minute))
			return ok, err
		})
	})
	t.Run("PutRecord", func(t *testing.T) {
		exactlyOne(t, "a record create", rounds, callers, func(round, i int) (bool, error) {
			rec := store.Record{Kind: "case", ID: fmt.Sprintf("c%d", round), Until: t0.Add(time.Hour)}
			_, err := h(i).PutRecord(ctx, rec, t0)
			if errors.Is(err, store.ErrConflict) {
				return false, nil
			}
			return err == nil, err
		})
	})
}

func TestOpenRefusesBadPrefix(t *testing.T) {
	for _, prefix := range []string{"", "1abc", "has-dash", "x" + strings.Repeat("y", 60)} {
		if _, err := Open(t.Context(), connection, WithTablePrefix(prefix)); err == nil {
			t.Errorf("Open with prefix %q succeeded, want an error", prefix)
		}
	}
}

func TestKeyEncodings(t *testing.T) {
	// Inverted IDs sort in reverse.
	a, b := store.NewID(t0), store.NewID(t0.Add(time.Nanosecond))
	if !(invertID(b) < invertID(a)) {
		t.Errorf("invertID(%s) = %s is not before invertID(%s) = %s", b, invertID(b), a, invertID(a))
	}
	// A later day's partition sorts first.
	if !(dayPartition(store.NewID(t0.Add(24*time.Hour))) < dayPartition(a)) {
		t.Error("a later day's partition does not sort first")
	}
	// Keys with characters Table Storage refuses in keys still round-trip.
	s := open(t)
	ctx := t.Context()
	odd := "a/b\\c#d?e\x01f'g" + strings.Repeat("z", 2000)
	if state, err := s.Claim(ctx, odd, t0, t0.Add(time.Minute)); err != nil || state != store.Claimed {
		t.Fatalf("Claim(odd key) = %v, %v", state, err)
	}
	if err := s.PutMark(ctx, store.Mark{Key: odd, Value: "v", Until: t0}, t0); err != nil {
		t.Fatal(err)
	}
	if m, err := s.GetMark(ctx, odd); err != nil || m.Key != odd {
		t.Fatalf("GetMark(odd key) = %+v, %v", m, err)
	}
	if _, err := s.Intent(ctx, "no/such#id?"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Intent(odd id) = %v, want ErrNotFound", err)
	}
	if err := s.EndSilence(ctx, "no/such#id?", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("EndSilence(odd id) = %v, want ErrNotFound", err)
	}
	if _, err := s.PutRecord(ctx, store.Record{Kind: "k", ID: strings.Repeat("x", maxHexKey+1), Until: t0}, t0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("PutRecord(over-long id) = %v, want ErrInvalid", err)
	}
}

func TestDeadLetterLargeRaw(t *testing.T) {
	s := open(t)
	raw := make([]byte, 3*rawChunk+17)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	if _, err := s.PutDeadLetter(t.Context(), store.DeadLetter{Source: "s", Reason: "r", Raw: raw}); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeadLetters(t.Context(), 1)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].Raw, raw) {
		t.Fatalf("DeadLetters = %d letters, %v; raw not kept whole", len(got), err)
	}
}
