package graphsim

import (
	"encoding/json"
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

// TestFaultHangRestores: a restore HangRestores names is held before
// graphsim applies it, on its own or inside a $batch, while other requests,
// the restore of an object it does not name among them, are answered.
// Replacing the configuration answers the held ones 504 with nothing
// restored, and the next restore goes through.
func TestFaultHangRestores(t *testing.T) {
	e := newEnv(t, nil, Options{})
	e.mustStatus(e.do("DELETE", "/v1.0/groups/"+paymentsID, adminTok, nil), 204)
	e.mustStatus(e.do("DELETE", "/v1.0/groups/"+printersID, adminTok, nil), 204)
	r := e.mustStatus(e.do("POST", "/_sim/faults", "", map[string]any{"hangRestores": []string{strings.ToUpper(paymentsID)}}), 200)
	if !strings.Contains(strings.ToLower(string(r.body)), paymentsID) {
		t.Fatalf("faults %s do not name the group", r.body)
	}
	// Held requests are released only by a new configuration; the server
	// cannot close while one is held.
	t.Cleanup(func() { _ = e.srv.SetFaults(FaultConfig{}) })

	// post sends body to path in the background; the answer comes on the
	// channel once the request is released.
	post := func(path string, body string) <-chan result {
		answered := make(chan result, 1)
		go func() {
			req, _ := http.NewRequest("POST", e.http.URL+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+adminTok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := e.http.Client().Do(req)
			if err != nil {
				answered <- result{}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			answered <- result{status: resp.StatusCode, header: resp.Header, body: b}
		}()
		return answered
	}
	hung := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var f FaultConfig
			if err := json.Unmarshal(e.mustStatus(e.do("GET", "/_sim/faults", "", nil), 200).body, &f); err != nil {
				t.Fatal(err)
			}
			if f.Hung == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d restores held, want %d", f.Hung, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	alone := post("/v1.0/directory/deletedItems/"+paymentsID+"/restore", "")
	hung(1)
	e.mustStatus(e.do("GET", "/v1.0/groups/"+paymentsID, adminTok, nil), 404)
	e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+printersID+"/restore", adminTok, nil), 200)
	batched := post("/v1.0/$batch", `{"requests":[{"id":"1","method":"POST","url":"/directory/deletedItems/`+paymentsID+`/restore"}]}`)
	hung(2)
	select {
	case r := <-alone:
		t.Fatalf("the held restore was answered %d before the fault was lifted", r.status)
	case r := <-batched:
		t.Fatalf("the held $batch was answered %d before the fault was lifted", r.status)
	default:
	}

	lifted := e.mustStatus(e.do("POST", "/_sim/faults", "", map[string]any{}), 200)
	if strings.Contains(string(lifted.body), "hung") {
		t.Errorf("a new configuration reports restores held: %s", lifted.body)
	}
	if r := <-alone; r.status != 504 || r.errCode(t) != "GatewayTimeout" {
		t.Errorf("the held restore: %d %s, want 504 GatewayTimeout", r.status, r.body)
	}
	r = <-batched
	var br batchResult
	if r.status != 200 || json.Unmarshal(r.body, &br) != nil || len(br.Responses) != 1 || br.Responses[0].Status != 504 {
		t.Errorf("the held $batch: %d %s, want 200 with one 504", r.status, r.body)
	}
	e.mustStatus(e.do("GET", "/v1.0/groups/"+paymentsID, adminTok, nil), 404)
	if n := restoreRecords(t, e.srv, paymentsID); n != 0 {
		t.Errorf("%d restores of the group logged by a held request, want 0", n)
	}

	e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+paymentsID+"/restore", adminTok, nil), 200)
	e.mustStatus(e.do("GET", "/v1.0/groups/"+paymentsID, adminTok, nil), 200)
	if n := restoreRecords(t, e.srv, paymentsID); n != 1 {
		t.Errorf("%d restores of the group logged, want 1", n)
	}
	if got := e.srv.State().Requests.Faults["504"]; got != 2 {
		t.Errorf("%d injected 504s counted, want 2", got)
	}
}

// restoreRecords counts the audit records of restores of id.
func restoreRecords(t *testing.T, s *Server, id string) int {
	t.Helper()
	n := 0
	for _, raw := range s.AuditRecords() {
		var rec struct {
			OperationType string `json:"operationType"`
			Targets       []struct {
				ID string `json:"id"`
			} `json:"targetResources"`
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.OperationType != "Restore" {
			continue
		}
		for _, target := range rec.Targets {
			if strings.EqualFold(target.ID, id) {
				n++
				break
			}
		}
	}
	return n
}
