package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/graphapi"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
)

// Seed objects whose deletion graphsim logs (testdata/graphsim/README.md).
const (
	adele      = "a1c3e5f7-2b4d-4c6e-8a0b-1d3f5a7c9e21"
	megan      = "b2d4f6a8-3c5e-4d7f-9b1c-2e4a6c8e0f32"
	isaiah     = "c3e5a7b9-4d6f-4e8a-8c2d-3f5b7d9f1a43"
	payments   = "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65"
	falcon     = "f6b8d0e2-7a9c-4b1d-9f5a-6c8e0a2c4d76"
	printers   = "a7c9e1f3-8b0d-4c2e-8a6b-7d9f1b3d5e87"
	payrollApp = "d0f2b4c6-1e3a-4f5b-9d9e-0a2c4e6a8b10"
)

func seedPath() string { return filepath.Join(testdata, "graphsim", "seed.json") }

// deleteAll deletes each collection/id as the IT Admin and returns the ids
// of the audit records graphsim logged, in order.
func deleteAll(t *testing.T, tn *simtest.Tenant, objects ...[2]string) []string {
	t.Helper()
	var ids []string
	for _, o := range objects {
		ids = append(ids, eventIDs(t, tn.DeleteAs(t, "admin-token", o[0], o[1]))...)
	}
	return ids
}

// exchange is one HTTP exchange with Graph, as the client saw it.
type exchange struct {
	url        string
	sent, done time.Time
	status     int
	retryAfter string
}

// recorder is the transport under the SDK's middleware: it sees every
// request the replay sends, when, and what came back.
type recorder struct {
	mu        sync.Mutex
	exchanges []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	sent := time.Now()
	resp, err := http.DefaultTransport.RoundTrip(req)
	e := exchange{url: req.URL.String(), sent: sent, done: time.Now()}
	if resp != nil {
		e.status, e.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	}
	r.mu.Lock()
	r.exchanges = append(r.exchanges, e)
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) all() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.exchanges)
}

// graphClient is Reinstate's Graph client for the app identity, which may
// read the audit log, over rec when set.
func graphClient(t *testing.T, url string, rec *recorder) *graphapi.Client {
	t.Helper()
	cfg := graphapi.Config{BaseURL: url, Auth: graphapi.AuthStatic, Token: "reinstate-token", Timeout: 10 * time.Second}
	if rec != nil {
		cfg.HTTPClient = &http.Client{Transport: rec}
	}
	c, err := graphapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// page is what a replayed Graph page holds.
type page struct {
	Value []struct {
		ID               string `json:"id"`
		ActivityDateTime string `json:"activityDateTime"`
	} `json:"value"`
}

func TestGraphReadsEveryRecordOfTheWindowOldestFirstPageByPage(t *testing.T) {
	clock := simtest.NewClock(time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))
	tn := simtest.Start(t, seedPath(), simtest.WithClock(clock))
	step := func(d time.Duration) time.Time { clock.Advance(d); return clock.Now() }

	deleteAll(t, tn, [2]string{"users", adele}) // before the window
	since := step(time.Minute)
	inside := deleteAll(t, tn, [2]string{"groups", printers}) // at its start: the window is inclusive
	step(10 * time.Second)
	inside = append(inside, deleteAll(t, tn, [2]string{"users", megan})...)
	step(10 * time.Second)
	inside = append(inside, deleteAll(t, tn, [2]string{"groups", falcon})...)
	until := step(10 * time.Second)
	inside = append(inside, deleteAll(t, tn, [2]string{"applications", payrollApp})...) // at its end
	step(time.Minute)
	deleteAll(t, tn, [2]string{"users", isaiah}) // after it
	if len(inside) < 5 {
		t.Fatalf("%d records in the window, want at least 5 to fill several pages", len(inside))
	}
	const pageSize = 2
	wantPages := (len(inside) + pageSize - 1) / pageSize
	opts := GraphOptions{Since: since, Until: until, PageSize: pageSize, Quota: 1000, Window: time.Second}

	t.Run("pages", func(t *testing.T) {
		g, err := NewGraph(graphClient(t, tn.URL, nil), opts)
		if err != nil {
			t.Fatal(err)
		}
		if done, total := g.Progress(); done != 0 || total != 30 {
			t.Errorf("before reading, progress %d of %d s, want 0 of 30", done, total)
		}
		var got []string
		var last time.Time
		for n := 1; ; n++ {
			bodies, err := g.Next(context.Background(), 1)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || len(bodies) != 1 {
				t.Fatalf("page %d: %d bodies, %v", n, len(bodies), err)
			}
			var p page
			if err := json.Unmarshal(bodies[0].Data, &p); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("graph directoryAudits page %d (%d records)", n, len(p.Value)); bodies[0].Source != want {
				t.Errorf("page source %q, want %q", bodies[0].Source, want)
			}
			for _, rec := range p.Value {
				at, err := time.Parse(time.RFC3339Nano, rec.ActivityDateTime)
				if err != nil || at.Before(last) || at.Before(since) || at.After(until) {
					t.Errorf("record %s at %s (after %s), window %s to %s", rec.ID, rec.ActivityDateTime, last, since, until)
				}
				last = at
				got = append(got, rec.ID)
			}
			// Progress is how far into the window the records reached.
			if done, _ := g.Progress(); done != int64(last.Sub(since)/time.Second) {
				t.Errorf("after page %d, progress %d s, want %s", n, done, last.Sub(since))
			}
		}
		if !slices.Equal(got, inside) {
			t.Errorf("read %q, want the window's records oldest first, %q", got, inside)
		}
		if g.Pages() != wantPages {
			t.Errorf("%d pages, want %d", g.Pages(), wantPages)
		}
		if done, total := g.Progress(); done != total || total != 30 {
			t.Errorf("at EOF, progress %d of %d s", done, total)
		}
	})

	t.Run("through the pipeline", func(t *testing.T) {
		// A window that goes on past its last record: progress reaches
		// its end only because the log was read to the end.
		opts := opts
		opts.Until = until.Add(30 * time.Second)
		g, err := NewGraph(graphClient(t, tn.URL, nil), opts)
		if err != nil {
			t.Fatal(err)
		}
		st := openStore(t)
		status, err := Run(context.Background(), g, newPipeline(t, st, st, rules.ModeObserve), Options{Name: "replay --from-graph", Batch: 1})
		if err != nil {
			t.Fatal(err)
		}
		if r := status.Report; r.New != len(inside) || r.Records != len(inside) || r.Bodies != wantPages || status.Batches != wantPages {
			t.Errorf("report %s in %d batches; want %d new records in %d pages", r, status.Batches, len(inside), wantPages)
		}
		if got := received(t, st); !slices.Equal(got, inside) {
			t.Errorf("journaled %q, want %q", got, inside)
		}
		if status.Done != 60 || status.Total != 60 {
			t.Errorf("progress %d of %d s at the end, want 60 of 60", status.Done, status.Total)
		}
		// The journal names the page each record came from.
		for _, e := range journal(t, st) {
			if e.Kind != store.KindEventReceived {
				continue
			}
			n := slices.Index(inside, e.EventID)/pageSize + 1
			if want := fmt.Sprintf("(graph directoryAudits page %d (", n); !strings.Contains(e.Source, want) {
				t.Errorf("record %s journaled from %q, want page %d", e.EventID, e.Source, n)
			}
		}
	})
}

func TestNewGraphRefusesAnEmptyWindow(t *testing.T) {
	client := graphClient(t, "http://127.0.0.1:1", nil)
	at := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	for name, opts := range map[string]GraphOptions{
		"no start":             {Until: at},
		"start after the end":  {Since: at.Add(time.Second), Until: at},
		"start at the end":     {Since: at, Until: at},
		"start in the future":  {Since: time.Now().Add(time.Hour)},
		"end before the start": {Since: at, Until: at.Add(-time.Nanosecond)},
	} {
		if _, err := NewGraph(client, opts); err == nil || !strings.Contains(err.Error(), "is empty") {
			t.Errorf("%s: NewGraph error %v, want the window refused", name, err)
		}
	}
}

// throttledTenant is graphsim on the real clock (its throttle counts real
// time) allowing quota audit reads per window, with six deletions logged:
// the records of one replay.
func throttledTenant(t *testing.T, quota int, window time.Duration) (tn *simtest.Tenant, ids []string, since, until time.Time) {
	t.Helper()
	tn = simtest.Start(t, seedPath(), func(o *graphsim.Options) {
		o.Throttle.AuditQuota, o.Throttle.AuditWindow = quota, window
	})
	since = tn.Sim.Now().Add(-time.Second)
	ids = deleteAll(t, tn, [2]string{"users", adele}, [2]string{"users", megan}, [2]string{"users", isaiah},
		[2]string{"groups", payments}, [2]string{"groups", falcon}, [2]string{"groups", printers})
	return tn, ids, since, tn.Sim.Now().Add(time.Second)
}

func auditThrottled(tn *simtest.Tenant) int { return tn.Sim.State().Throttle.Throttled["auditLogs"] }

func TestGraphPacedAtGraphsQuotaIsNeverThrottled(t *testing.T) {
	const quota, window = 3, 600 * time.Millisecond
	tn, ids, since, until := throttledTenant(t, quota, window)
	rec := &recorder{}
	g, err := NewGraph(graphClient(t, tn.URL, rec), GraphOptions{Since: since, Until: until, PageSize: 1, Quota: quota, Window: window})
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	status, err := Run(context.Background(), g, newPipeline(t, st, st, rules.ModeObserve), Options{Name: "replay --from-graph"})
	if err != nil {
		t.Fatal(err)
	}
	// More pages than the quota: unpaced, the reads would be throttled.
	if g.Pages() != len(ids) || g.Pages() <= quota {
		t.Fatalf("%d pages, want %d (more than the quota of %d)", g.Pages(), len(ids), quota)
	}
	if n := auditThrottled(tn); n != 0 {
		t.Errorf("graphsim throttled %d audit reads, want none", n)
	}
	if n := tn.Reads("reinstate-token"); n != int64(g.Pages()) {
		t.Errorf("%d reads for %d pages, want one each", n, g.Pages())
	}
	if r := status.Report; r.New != len(ids) || r.Duplicates != 0 || !slices.Equal(received(t, st), ids) {
		t.Errorf("report %s, journal %q: want each of %q once", r, received(t, st), ids)
	}
}

func TestGraphThrottledHonoursRetryAfterAndReadsEachRecordOnce(t *testing.T) {
	// graphsim allows one read per 500 ms; the replay is paced far faster.
	tn, ids, since, until := throttledTenant(t, 1, 500*time.Millisecond)
	rec := &recorder{}
	g, err := NewGraph(graphClient(t, tn.URL, rec), GraphOptions{Since: since, Until: until, PageSize: 2, Quota: 100, Window: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	status, err := Run(context.Background(), g, newPipeline(t, st, st, rules.ModeObserve), Options{Name: "replay --from-graph"})
	if err != nil {
		t.Fatal(err)
	}
	throttled := auditThrottled(tn)
	if throttled == 0 {
		t.Fatal("graphsim throttled nothing: the test does not test throttling")
	}
	exchanges := rec.all()
	if len(exchanges) != g.Pages()+throttled || int64(len(exchanges)) != tn.Reads("reinstate-token") {
		t.Errorf("%d requests (graphsim counted %d) for %d pages and %d 429s", len(exchanges), tn.Reads("reinstate-token"), g.Pages(), throttled)
	}
	for i, e := range exchanges {
		if e.status != http.StatusTooManyRequests {
			continue
		}
		wait, ok := graphapi.ParseRetryAfter(e.retryAfter, e.done)
		if !ok || i+1 == len(exchanges) {
			t.Fatalf("429 without Retry-After (%q) or without a retry", e.retryAfter)
		}
		// Retried no sooner than Graph asked, and then admitted: one 429
		// a throttled page, for Retry-After outlasts graphsim's window.
		next := exchanges[i+1]
		if gap := next.sent.Sub(e.done); gap < wait {
			t.Errorf("retried %s after a 429 asking for %s", gap, wait)
		}
		if next.status != http.StatusOK || next.url != e.url {
			t.Errorf("retry of %s answered %d for %s", e.url, next.status, next.url)
		}
	}
	if r := status.Report; r.New != len(ids) || r.Records != len(ids) || r.Duplicates != 0 || !slices.Equal(received(t, st), ids) {
		t.Errorf("report %s, journal %q: want each of %q read once", r, received(t, st), ids)
	}
}

func TestGraphRefusesANextLinkOffTheConfiguredGraph(t *testing.T) {
	// Another server on loopback, where a misdirected request would go.
	var strays sync.Map
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		strays.Store(r.URL.String(), r.Header.Get("Authorization"))
		http.Error(w, "not Graph", http.StatusTeapot)
	}))
	defer elsewhere.Close()
	// A stand-in for Graph misbehaving: a page with the nextLink of the
	// case, then an empty page.
	var next string
	var served sync.Map
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Store(r.URL.RequestURI(), true)
		body := map[string]any{"value": []any{}}
		if r.URL.Query().Get("$skiptoken") == "" {
			body["@odata.nextLink"] = next
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}))
	defer graph.Close()
	host := strings.TrimPrefix(graph.URL, "http://")

	tests := []struct {
		name, link string
		refused    bool
	}{
		{"another host", "https://graph.example.invalid/v1.0/auditLogs/directoryAudits?$skiptoken=2", true},
		{"another port on loopback", elsewhere.URL + "/v1.0/auditLogs/directoryAudits?$skiptoken=2", true},
		{"another scheme", "https://" + host + "/v1.0/auditLogs/directoryAudits?$skiptoken=2", true},
		{"credentials in the link", "http://user:secret@" + host + "/v1.0/auditLogs/directoryAudits?$skiptoken=2", true},
		{"same Graph", graph.URL + "/v1.0/auditLogs/directoryAudits?$skiptoken=2", false},
		{"relative to the same Graph", "/v1.0/auditLogs/directoryAudits?$skiptoken=2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next = tt.link
			// One attempt a page: a link wrongly followed fails at once.
			g, err := NewGraph(graphClient(t, graph.URL, nil), GraphOptions{Since: time.Now().Add(-time.Hour), Quota: 1000, Window: time.Second, Attempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			bodies, err := g.Next(context.Background(), 10)
			if !tt.refused {
				if err != nil || g.Pages() != 2 {
					t.Fatalf("%d pages, %v: want the link followed", g.Pages(), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "graph directoryAudits page 1: refusing @odata.nextLink") {
				t.Errorf("error %v, want the nextLink refused", err)
			}
			// The page itself is good: it is handed over with the error.
			if len(bodies) != 1 || bodies[0].Source != "graph directoryAudits page 1 (0 records)" {
				t.Errorf("bodies with the refusal: %q, want page 1", sources(bodies))
			}
			// Nothing went anywhere but the configured Graph, and it was
			// not asked for the link either.
			strays.Range(func(k, v any) bool {
				t.Errorf("request to %s with %q", k, v)
				return true
			})
			if _, ok := served.Load("/v1.0/auditLogs/directoryAudits?$skiptoken=2"); ok {
				t.Error("the link was followed on the configured Graph")
			}
			// A source that refused a link stays stopped, and never looks
			// finished: the rest of the window was not read.
			if again, err2 := g.Next(context.Background(), 10); len(again) != 0 || err2 == nil || err2.Error() != err.Error() {
				t.Errorf("Next after the refusal: %d bodies, %v; want the refusal again", len(again), err2)
			}
		})
	}
}
