package recovery_test

// Mass restore benchmarks: 2,000 soft-deleted groups restored against
// graphsim's directory write quota, time-scaled, once through the executor
// with its Pacer set to that quota and once as a naive script would.
// Run with -benchtime 1x: one iteration is a whole mass restore.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/recovery"
)

const (
	benchGroups = 2000
	// benchScale divides graphsim's windows (150 s becomes 5 s) and the
	// injected latency stands for a real one 30 times longer.
	benchScale       = 30
	benchWindow      = 150 * time.Second
	benchConcurrency = 16
)

// benchRegime is a tenant the mass restore runs against.
type benchRegime struct {
	name string
	// quota is graphsim's write quota per benchWindow (before scaling), and
	// the Pacer's.
	quota int
	// latency is added to every Graph request, already scaled.
	latency time.Duration
}

var benchRegimes = []benchRegime{
	// The documented 3,000 writes per 150 s and about 150 ms a request:
	// 2,000 restores fit in one window, and latency, not the quota, holds a
	// sequential script back.
	{name: "documented-quota", quota: 3000, latency: 150 * time.Millisecond / benchScale},
	// A quota smaller than the batch, on loopback without latency: the
	// restores span about 1.7 windows, so writing faster than the quota
	// is met with 429s.
	{name: "small-quota", quota: 1200},
}

// quotaRate is the quota's average rate in writes per second of real
// (scaled) time.
func (r benchRegime) quotaRate() float64 {
	return float64(r.quota) / (benchWindow / benchScale).Seconds()
}

// massRestore is graphsim holding benchGroups deleted groups.
type massRestore struct {
	*sim
	regime benchRegime
	ids    []string
}

func newMassRestore(b *testing.B, r benchRegime) *massRestore {
	ids := make([]string, benchGroups)
	s := newSim(b, simConfig{
		realClock: true,
		opts: graphsim.Options{
			TimeScale: benchScale,
			Throttle:  graphsim.ThrottleConfig{AppWriteQuota: r.quota, AppWriteWindow: benchWindow},
			Faults:    graphsim.FaultConfig{Latency: graphsim.Duration(r.latency)},
		},
		seed: func(seed *graphsim.Seed) {
			for i := range ids {
				ids[i] = uuid.NewString()
				raw, err := json.Marshal(map[string]any{
					"@odata.type": "#microsoft.graph.group", "id": ids[i],
					"displayName": "bench-group-" + strconv.Itoa(i), "mailNickname": "bench-group-" + strconv.Itoa(i),
					"groupTypes": []string{}, "mailEnabled": false, "securityEnabled": true,
					"deletedDateTime": "2025-06-01T00:00:00Z",
				})
				if err != nil {
					b.Fatal(err)
				}
				seed.DeletedItems = append(seed.DeletedItems, raw)
			}
		},
	})
	return &massRestore{sim: s, regime: r, ids: ids}
}

// lost counts the groups that are not live at the end.
func (m *massRestore) lost() int {
	live := map[string]bool{}
	for _, raw := range m.srv.State().Live["groups"] {
		live[strings.ToLower(decode(m.t, raw).ID)] = true
	}
	n := 0
	for _, id := range m.ids {
		if !live[strings.ToLower(id)] {
			n++
		}
	}
	return n
}

// report checks that nothing was lost and reports the run.
func (m *massRestore) report(b *testing.B, wall time.Duration) {
	b.Helper()
	if lost := m.lost(); lost > 0 {
		b.Fatalf("%d of %d groups are not live after the mass restore", lost, benchGroups)
	}
	st := m.srv.State()
	if st.Throttle.AdmittedWrites != benchGroups {
		b.Fatalf("%d writes admitted, want one per group (%d)", st.Throttle.AdmittedWrites, benchGroups)
	}
	rate := float64(benchGroups) / wall.Seconds()
	b.ReportMetric(rate, "writes/s")
	b.ReportMetric(rate/m.regime.quotaRate(), "quota-fraction")
	b.ReportMetric(float64(st.Throttle.Throttled["write"]), "429s")
	b.ReportMetric(0, "lost")
	// HTTP requests, a $batch counting once: what batching saves.
	b.ReportMetric(float64(st.Requests.Total), "http-requests")
	b.ReportMetric(wall.Seconds(), "wall-s")
}

// pacedWalls keeps the paced runs' wall times by regime, so that the naive
// benchmark, which runs after it, can report the ratio of the medians.
var pacedWalls struct {
	sync.Mutex
	d map[string][]time.Duration
}

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}

// BenchmarkMassRestorePaced restores every group through the executor, from
// benchConcurrency goroutines, its Pacer set to graphsim's write quota. A
// RetryError is retried, as the worker would, after the pacer's pause.
func BenchmarkMassRestorePaced(b *testing.B) {
	for _, r := range benchRegimes {
		b.Run(r.name, func(b *testing.B) {
			for range b.N {
				massRestorePaced(b, r)
			}
		})
	}
}

func massRestorePaced(b *testing.B, r benchRegime) {
	b.StopTimer()
	m := newMassRestore(b, r)
	x := m.executor(reinstateTok, recovery.ExecutorOptions{Pacer: recovery.NewPacer(r.quota, benchWindow/benchScale)})
	work := make(chan string)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		failure error
	)
	ctx := context.Background()
	b.StartTimer()
	start := time.Now()
	for range benchConcurrency {
		wg.Go(func() {
			for id := range work {
				for {
					out, err := x.Restore(ctx, recovery.Request{ObjectID: id, ObjectType: audit.TargetGroup})
					var retry *recovery.RetryError
					if errors.As(err, &retry) {
						continue // the pacer is paused for Retry-After
					}
					if err == nil && out.Status != recovery.StatusRestored {
						err = fmt.Errorf("%s: %s %s", id, out.Status, out.Detail)
					}
					if err != nil {
						mu.Lock()
						failure = err
						mu.Unlock()
					}
					break
				}
			}
		})
	}
	for _, id := range m.ids {
		work <- id
	}
	close(work)
	wg.Wait()
	wall := time.Since(start)
	b.StopTimer()
	if failure != nil {
		b.Fatal(failure)
	}
	m.report(b, wall)
	pacedWalls.Lock()
	if pacedWalls.d == nil {
		pacedWalls.d = map[string][]time.Duration{}
	}
	pacedWalls.d[r.name] = append(pacedWalls.d[r.name], wall)
	pacedWalls.Unlock()
}

// BenchmarkMassRestoreBatched restores every group through RestoreMany, so
// JSON batching carries 20 requests to a round trip, the Pacer set to
// graphsim's write quota as in BenchmarkMassRestorePaced. The items that
// come back with a RetryError are passed to RestoreMany again, as the
// worker would retry their intents; the pacer's pause holds the writes.
func BenchmarkMassRestoreBatched(b *testing.B) {
	compareWithPaced(b, massRestoreBatched, "paced/batched-wall")
}

// compareWithPaced runs one restore strategy over every regime and reports
// the paced benchmark's median wall time over its own, when that ran first.
func compareWithPaced(b *testing.B, restore func(*testing.B, benchRegime) time.Duration, metric string) {
	for _, r := range benchRegimes {
		b.Run(r.name, func(b *testing.B) {
			var walls []time.Duration
			for range b.N {
				walls = append(walls, restore(b, r))
			}
			pacedWalls.Lock()
			defer pacedWalls.Unlock()
			if paced := pacedWalls.d[r.name]; len(paced) > 0 {
				b.ReportMetric(median(paced).Seconds()/median(walls).Seconds(), metric)
			}
		})
	}
}

func massRestoreBatched(b *testing.B, r benchRegime) time.Duration {
	b.StopTimer()
	m := newMassRestore(b, r)
	x := m.executor(reinstateTok, recovery.ExecutorOptions{Pacer: recovery.NewPacer(r.quota, benchWindow/benchScale)})
	ctx := context.Background()
	reqs := make([]recovery.Request, len(m.ids))
	for i, id := range m.ids {
		reqs[i] = recovery.Request{ObjectID: id, ObjectType: audit.TargetGroup}
	}
	b.StartTimer()
	start := time.Now()
	for round := 0; len(reqs) > 0; round++ {
		if round > 100 {
			b.Fatalf("%d groups still not restored after 100 rounds", len(reqs))
		}
		var again []recovery.Request
		for i, res := range x.RestoreMany(ctx, reqs) {
			var retry *recovery.RetryError
			switch {
			case errors.As(res.Err, &retry):
				again = append(again, reqs[i])
			case res.Err != nil:
				b.Fatalf("%s: %v", reqs[i].ObjectID, res.Err)
			case res.Outcome.Status != recovery.StatusRestored:
				b.Fatalf("%s: %s %s", reqs[i].ObjectID, res.Outcome.Status, res.Outcome.Detail)
			}
		}
		reqs = again
	}
	wall := time.Since(start)
	b.StopTimer()
	m.report(b, wall)
	return wall
}

// BenchmarkMassRestoreNaive restores every group one at a time with the
// SDK's typed restore call and no pacing, and on a 429 sleeps Retry-After
// and tries again, as a script would.
func BenchmarkMassRestoreNaive(b *testing.B) {
	compareWithPaced(b, massRestoreNaive, "paced/naive-wall")
}

func massRestoreNaive(b *testing.B, r benchRegime) time.Duration {
	b.StopTimer()
	m := newMassRestore(b, r)
	graph := m.client(reinstateTok)
	ctx := context.Background()
	b.StartTimer()
	start := time.Now()
	for _, id := range m.ids {
		for {
			_, err := graph.V1.Directory().DeletedItems().ByDirectoryObjectId(id).Restore().Post(ctx, nil)
			if err == nil {
				break
			}
			var odata *odataerrors.ODataError
			if !errors.As(err, &odata) || odata.ResponseStatusCode != 429 {
				b.Fatalf("restore %s: %v", id, err)
			}
			wait := time.Second
			if h := odata.GetResponseHeaders().Get("Retry-After"); len(h) > 0 {
				if s, err := strconv.Atoi(h[0]); err == nil {
					wait = time.Duration(s) * time.Second
				}
			}
			time.Sleep(wait)
		}
	}
	wall := time.Since(start)
	b.StopTimer()
	m.report(b, wall)
	return wall
}
