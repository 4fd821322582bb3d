package recovery

import (
	"testing"
	"time"
)

// TestPacerKeepsSlidingWindows runs a pacer flat out on a virtual clock and
// counts its requests in every sliding window, as Graph's write quota (and
// graphsim) counts them: at most quota in any window, even when each request
// reaches Graph up to the slack later or earlier than the next.
func TestPacerKeepsSlidingWindows(t *testing.T) {
	cases := []struct {
		name   string
		quota  int
		window time.Duration
		// minFraction is the least share of quota/window the pacer must
		// reach over a long run.
		minFraction float64
	}{
		{"directory writes", DefaultWriteQuota, DefaultWriteWindow, 0.96},
		{"conditional access", DefaultCAQuota, DefaultCAWindow, 0.9},
		{"benchmark, time-scaled by 30", 3000, 5 * time.Second, 0.95},
		{"small quota", 50, 10 * time.Second, 0.95},
		{"short window", 300, time.Second, 0.85},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPacer(tc.quota, tc.window)
			start := time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)
			n := 5*tc.quota + 10
			at := make([]time.Time, n)
			now := start
			for i := range at {
				r := p.limiter.ReserveN(now, 1)
				if !r.OK() {
					t.Fatal("reservation refused")
				}
				now = now.Add(r.DelayFrom(now))
				at[i] = now
			}
			// Requests i and i+quota must be more than a window apart,
			// with room for jitter: nearly all of the slack (the rest is
			// float rounding).
			jitter := max(tc.window/50, minSlack) * 95 / 100
			for i := 0; i+tc.quota < n; i++ {
				if gap := at[i+tc.quota].Sub(at[i]); gap <= tc.window+jitter {
					t.Fatalf("requests %d and %d are %s apart: %d requests in a window of %s (+%s)", i, i+tc.quota, gap, tc.quota+1, tc.window, jitter)
				}
			}
			got := float64(n-1) / at[n-1].Sub(at[0]).Seconds()
			want := float64(tc.quota) / tc.window.Seconds()
			if got < tc.minFraction*want {
				t.Errorf("%.3f requests/s, want at least %.0f%% of %.3f", got, 100*tc.minFraction, want)
			}
			t.Logf("%.3f requests/s: %.1f%% of the quota rate", got, 100*got/want)
		})
	}
}
