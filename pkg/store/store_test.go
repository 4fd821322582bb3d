package store

import (
	"regexp"
	"testing"
	"time"
)

func TestNewIDFormat(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)
	id := NewID(at)
	if !regexp.MustCompile(`^[0-9a-f]{16}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("NewID = %q, want 16 hex digits, a dash and 12 hex digits", id)
	}
	if other := NewID(at); other == id {
		t.Fatalf("two NewIDs for the same instant are both %q", id)
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, later := range []time.Duration{time.Nanosecond, time.Second, 24 * time.Hour, 200 * 365 * 24 * time.Hour} {
		a, b := NewID(base), NewID(base.Add(later))
		if a >= b {
			t.Errorf("NewID(t) = %s does not sort before NewID(t+%s) = %s", a, later, b)
		}
	}
}

func TestClaimStateString(t *testing.T) {
	for _, tc := range []struct {
		state ClaimState
		want  string
	}{
		{Claimed, "claimed"},
		{Held, "held"},
		{Done, "done"},
		{Free, "free"},
		{ClaimState(42), "unknown"},
	} {
		if got := tc.state.String(); got != tc.want {
			t.Errorf("ClaimState(%d).String() = %q, want %q", int(tc.state), got, tc.want)
		}
	}
}

func TestNewLeaseToken(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		token := NewLeaseToken()
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(token) {
			t.Fatalf("NewLeaseToken = %q, want 32 hex digits", token)
		}
		if seen[token] {
			t.Fatalf("NewLeaseToken repeated %q", token)
		}
		seen[token] = true
	}
}
