package graphsim

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFaultErrorRate(t *testing.T) {
	run := func(seed int64) []int {
		e := newEnv(t, nil, Options{FaultSeed: seed, Faults: FaultConfig{ErrorRate: 0.5}})
		var statuses []int
		for range 40 {
			r := e.do("GET", "/v1.0/users/"+adeleID, readerTok, nil)
			statuses = append(statuses, r.status)
			switch r.status {
			case 200:
			case 500, 502, 503, 504:
				code := r.errCode(t)
				if code == "" || r.json(t)["error"].(map[string]any)["innerError"] == nil {
					t.Fatalf("fault body not Graph-shaped: %s", r.body)
				}
				if (r.status == 503) != (r.header.Get("Retry-After") != "") {
					t.Fatalf("status %d Retry-After %q", r.status, r.header.Get("Retry-After"))
				}
			default:
				t.Fatalf("unexpected status %d", r.status)
			}
		}
		return statuses
	}
	a, b := run(7), run(7)
	if fmtInts(a) != fmtInts(b) {
		t.Fatalf("same seed, different faults:\n%v\n%v", a, b)
	}
	kinds := map[int]bool{}
	ok := 0
	for _, s := range a {
		kinds[s] = true
		if s == 200 {
			ok++
		}
	}
	if ok < 8 || ok > 32 || len(kinds) < 3 {
		t.Fatalf("statuses not a plausible 50%% mix: %v", a)
	}
	if c := run(8); fmtInts(c) == fmtInts(a) {
		t.Fatalf("a different seed gave the same sequence")
	}
}

func fmtInts(v []int) string {
	var b strings.Builder
	for _, i := range v {
		b.WriteString(" ")
		b.WriteString(http.StatusText(i))
	}
	return b.String()
}

func TestFaultLatency(t *testing.T) {
	e := newEnv(t, nil, Options{Faults: FaultConfig{Latency: Duration(80 * time.Millisecond)}})
	start := time.Now()
	e.mustStatus(e.do("GET", "/v1.0/users/"+adeleID, readerTok, nil), 200)
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Fatalf("answered in %v, latency 80ms", d)
	}
	// The control plane is not delayed.
	start = time.Now()
	e.mustStatus(e.do("GET", "/_sim/faults", "", nil), 200)
	if d := time.Since(start); d > 70*time.Millisecond {
		t.Fatalf("control plane delayed %v", d)
	}
}

func TestFaultConnectionReset(t *testing.T) {
	e := newEnv(t, nil, Options{Faults: FaultConfig{ConnectionResetRate: 1}})
	req, _ := http.NewRequest("GET", e.http.URL+"/v1.0/users/"+adeleID, nil)
	req.Header.Set("Authorization", "Bearer "+readerTok)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err == nil {
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("got status %d, want a reset connection", resp.StatusCode)
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("error %v, want a connection reset", err)
	}
	if e.srv.State().Requests.Resets != 1 {
		t.Fatalf("resets %d", e.srv.State().Requests.Resets)
	}
}

func TestFault429Storm(t *testing.T) {
	e := newEnv(t, nil, Options{})
	r := e.mustStatus(e.do("POST", "/_sim/faults", "", map[string]any{"stormFor": "30s"}), 200)
	if !strings.Contains(string(r.body), "stormUntil") {
		t.Fatalf("faults %s", r.body)
	}
	r = e.mustStatus(e.do("GET", "/v1.0/users/"+adeleID, readerTok, nil), 429)
	if r.header.Get("Retry-After") != "30" || r.errCode(t) != "TooManyRequests" {
		t.Fatalf("storm answer %q %s", r.header.Get("Retry-After"), r.body)
	}
	e.clock.Advance(29500 * time.Millisecond)
	r = e.mustStatus(e.do("DELETE", "/v1.0/groups/"+printersID, adminTok, nil), 429)
	if r.header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q, want 1", r.header.Get("Retry-After"))
	}
	// Inside a batch every request gets its own 429.
	_, br := e.batch(readerTok, []map[string]any{getReq("1", "/users/"+adeleID), getReq("2", "/users/"+meganID)})
	for _, resp := range br.Responses {
		if resp.Status != 429 || resp.Headers["Retry-After"] == "" {
			t.Fatalf("inner %+v", resp)
		}
	}
	e.clock.Advance(time.Second)
	e.mustStatus(e.do("GET", "/v1.0/users/"+adeleID, readerTok, nil), 200)
	if e.srv.State().Throttle.Throttled["storm"] != 4 {
		t.Fatalf("storm count %d", e.srv.State().Throttle.Throttled["storm"])
	}
}

func TestSimFaultsEndpoint(t *testing.T) {
	e := newEnv(t, nil, Options{})
	e.mustStatus(e.do("POST", "/_sim/faults", "", map[string]any{"errorRate": 1}), 200)
	got := e.mustStatus(e.do("GET", "/_sim/faults", "", nil), 200).json(t)
	if got["errorRate"] != 1.0 {
		t.Fatalf("faults %v", got)
	}
	if s := e.do("GET", "/v1.0/users/"+adeleID, readerTok, nil).status; s < 500 {
		t.Fatalf("status %d with errorRate 1", s)
	}
	// POST replaces the whole configuration.
	e.mustStatus(e.do("POST", "/_sim/faults", "", map[string]any{"latency": "1ms"}), 200)
	e.mustStatus(e.do("GET", "/v1.0/users/"+adeleID, readerTok, nil), 200)
	for _, bad := range []string{`{"errorRate": 2}`, `{"latency": "soon"}`, `{"errRate": 1}`, `[`} {
		e.mustStatus(e.do("POST", "/_sim/faults", "", bad), 400)
	}
	e.mustStatus(e.do("PUT", "/_sim/faults", "", nil), 405)
	e.mustStatus(e.do("GET", "/_sim/nothing", "", nil), 404)
}

func TestSimState(t *testing.T) {
	e := newEnv(t, nil, Options{})
	e.mustStatus(e.do("DELETE", "/v1.0/groups/"+paymentsID, adminTok, nil), 204)
	e.mustStatus(e.do("DELETE", "/v1.0/identity/conditionalAccess/policies/"+caPolicyID, adminTok, nil), 204)
	e.do("GET", "/v1.0/users/nobody", readerTok, nil)
	m := e.mustStatus(e.do("GET", "/_sim/state", "", nil), 200).json(t)
	live := m["live"].(map[string]any)
	if n := len(live["groups"].([]any)); n != 4 {
		t.Errorf("%d live groups", n)
	}
	del := m["deletedItems"].(map[string]any)
	if len(del["directory"].([]any)) != 4 || len(del["conditionalAccess"].([]any)) != 1 {
		t.Errorf("deletedItems %v", del)
	}
	if m["auditRecords"] != 2.0 {
		t.Errorf("auditRecords %v", m["auditRecords"])
	}
	req := m["requests"].(map[string]any)
	if req["total"] != 3.0 || req["byStatus"].(map[string]any)["404"] != 1.0 {
		t.Errorf("requests %v", req)
	}
	th := m["throttle"].(map[string]any)
	if th["admittedWrites"] != 1.0 { // the CA delete is not a directory write
		t.Errorf("throttle %v", th)
	}
	audits := e.mustStatus(e.do("GET", "/_sim/audits", "", nil), 200).json(t)
	if audits["count"] != 2.0 {
		t.Errorf("audits %v", audits)
	}
	e.mustStatus(e.do("GET", "/_sim/permissions", "", nil), 200)
}
