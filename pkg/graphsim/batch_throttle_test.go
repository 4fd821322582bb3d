package graphsim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

type batchResult struct {
	Responses []struct {
		ID      string            `json:"id"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"responses"`
}

func (e *testEnv) batch(token string, reqs []map[string]any) (result, batchResult) {
	e.t.Helper()
	r := e.do("POST", "/v1.0/$batch", token, map[string]any{"requests": reqs})
	var br batchResult
	if r.status == 200 {
		if err := json.Unmarshal(r.body, &br); err != nil {
			e.t.Fatal(err)
		}
	}
	return r, br
}

func getReq(id, url string) map[string]any {
	return map[string]any{"id": id, "method": "GET", "url": url}
}

func TestBatch(t *testing.T) {
	t.Run("20 requests are executed, each with its own status", func(t *testing.T) {
		e := newEnv(t, nil, Options{})
		var reqs []map[string]any
		for i := range 19 {
			reqs = append(reqs, getReq(strconv.Itoa(i+1), "/users/"+adeleID))
		}
		reqs = append(reqs, getReq("20", "users/00000000-0000-0000-0000-000000000000")) // no leading slash, as in the docs
		r, br := e.batch(readerTok, reqs)
		e.mustStatus(r, 200)
		if len(br.Responses) != 20 {
			t.Fatalf("%d responses", len(br.Responses))
		}
		for _, resp := range br.Responses {
			want := 200
			if resp.ID == "20" {
				want = 404
			}
			if resp.Status != want {
				t.Errorf("request %s: status %d, want %d (%s)", resp.ID, resp.Status, want, resp.Body)
			}
		}
	})
	t.Run("21 requests are refused as a whole", func(t *testing.T) {
		e := newEnv(t, nil, Options{})
		var reqs []map[string]any
		for i := range 21 {
			reqs = append(reqs, getReq(strconv.Itoa(i), "/users/"+adeleID))
		}
		r, _ := e.batch(readerTok, reqs)
		e.mustStatus(r, 400)
		if r.errCode(t) != "BadRequest" {
			t.Fatalf("code %s", r.errCode(t))
		}
		if e.srv.State().Requests.Graph != 0 {
			t.Fatal("a refused batch executed requests")
		}
	})
	t.Run("malformed batches", func(t *testing.T) {
		e := newEnv(t, nil, Options{})
		for name, reqs := range map[string][]map[string]any{
			"duplicate ids ignoring case": {getReq("a", "/users/"+adeleID), getReq("A", "/users/"+adeleID)},
			"missing url":                 {{"id": "1", "method": "GET"}},
			"body without Content-Type":   {{"id": "1", "method": "POST", "url": "/directory/deletedItems/" + deletedOrion + "/restore", "body": map[string]any{}}},
			"forward dependency":          {{"id": "1", "method": "GET", "url": "/users/" + adeleID, "dependsOn": []string{"2"}}, getReq("2", "/users/"+adeleID)},
			"neither sequential nor parallel": {getReq("1", "/users/"+adeleID), getReq("2", "/users/"+adeleID),
				{"id": "3", "method": "GET", "url": "/users/" + adeleID, "dependsOn": []string{"1"}}},
		} {
			r, _ := e.batch(readerTok, reqs)
			if r.status != 400 {
				t.Errorf("%s: status %d", name, r.status)
			}
		}
		e.mustStatus(e.do("POST", "/v1.0/$batch", readerTok, "not json"), 400)
	})
	t.Run("inner requests use the outer token and are authorized one by one", func(t *testing.T) {
		e := newEnv(t, nil, Options{})
		_, br := e.batch(reinstateTok, []map[string]any{
			{"id": "restore", "method": "POST", "url": "/directory/deletedItems/" + deletedOrion + "/restore", "headers": map[string]string{"Content-Type": "application/json"}, "body": map[string]any{}},
			{"id": "hard", "method": "DELETE", "url": "/directory/deletedItems/" + deletedLeeGu}, // app: Not supported
		})
		got := map[string]int{}
		for _, r := range br.Responses {
			got[r.ID] = r.Status
		}
		if got["restore"] != 200 || got["hard"] != 403 {
			t.Fatalf("statuses %v", got)
		}
		e.mustStatus(e.do("GET", "/v1.0/groups/"+deletedOrion, readerTok, nil), 200)
		r, _ := e.batch("", []map[string]any{getReq("1", "/users/"+adeleID)})
		e.mustStatus(r, 401)
	})
	t.Run("dependsOn: a failed dependency gives 424", func(t *testing.T) {
		e := newEnv(t, nil, Options{})
		_, br := e.batch(adminTok, []map[string]any{
			{"id": "1", "method": "DELETE", "url": "/groups/00000000-0000-0000-0000-000000000000"},
			{"id": "2", "method": "DELETE", "url": "/groups/" + printersID, "dependsOn": []string{"1"}},
		})
		if br.Responses[0].Status != 404 || br.Responses[1].Status != 424 {
			t.Fatalf("responses %+v", br.Responses)
		}
		e.mustStatus(e.do("GET", "/v1.0/groups/"+printersID, readerTok, nil), 200)
	})
	t.Run("nested batch", func(t *testing.T) {
		e := newEnv(t, nil, Options{})
		_, br := e.batch(readerTok, []map[string]any{{"id": "1", "method": "POST", "url": "/$batch", "headers": map[string]string{"Content-Type": "application/json"}, "body": map[string]any{"requests": []any{}}}})
		if br.Responses[0].Status != 400 {
			t.Fatalf("nested batch status %d", br.Responses[0].Status)
		}
	})
	t.Run("gzip batch body from the SDK", func(t *testing.T) {
		e := newEnv(t, nil, Options{})
		body := gzipped(t, `{"requests":[{"id":"1","method":"GET","url":"/users/`+adeleID+`"}]}`)
		r := e.mustStatus(e.do("POST", "/v1.0/$batch", readerTok, body, withHeader("Content-Encoding", "gzip")), 200)
		if !strings.Contains(string(r.body), `"status":200`) {
			t.Fatalf("body %s", r.body)
		}
	})
}

func TestBatchThrottledPerItem(t *testing.T) {
	e := newEnv(t, nil, Options{Throttle: ThrottleConfig{AppWriteQuota: 2, AppWriteWindow: 150 * time.Second}})
	var reqs []map[string]any
	for i, id := range []string{paymentsID, falconID, printersID} {
		reqs = append(reqs, map[string]any{"id": fmt.Sprint(i + 1), "method": "DELETE", "url": "/groups/" + id})
	}
	reqs = append(reqs, getReq("4", "/users/"+adeleID)) // reads are not writes
	r, br := e.batch(adminTok, reqs)
	e.mustStatus(r, 200)
	st := map[string]int{}
	for _, resp := range br.Responses {
		st[resp.ID] = resp.Status
		if resp.Status == 429 {
			if ra := resp.Headers["Retry-After"]; ra != "150" {
				t.Errorf("inner 429 Retry-After %q, want 150", ra)
			}
		}
	}
	if st["1"] != 204 || st["2"] != 204 || st["3"] != 429 || st["4"] != 200 {
		t.Fatalf("statuses %v", st)
	}
	e.mustStatus(e.do("GET", "/v1.0/groups/"+printersID, readerTok, nil), 200)
}

func TestWriteThrottling(t *testing.T) {
	t.Run("per app window, Retry-After until the window frees", func(t *testing.T) {
		e := newEnv(t, nil, Options{Throttle: ThrottleConfig{AppWriteQuota: 2, AppWriteWindow: 150 * time.Second}})
		e.mustStatus(e.do("DELETE", "/v1.0/groups/"+paymentsID, adminTok, nil), 204)
		e.clock.Advance(10 * time.Second)
		e.mustStatus(e.do("DELETE", "/v1.0/groups/"+falconID, adminTok, nil), 204)
		e.clock.Advance(20 * time.Second)
		r := e.mustStatus(e.do("DELETE", "/v1.0/groups/"+printersID, adminTok, nil), 429)
		if r.errCode(t) != "TooManyRequests" || r.header.Get("Retry-After") != "120" {
			t.Fatalf("429 code %s Retry-After %q, want 120", r.errCode(t), r.header.Get("Retry-After"))
		}
		// Restores and hard deletes are writes too.
		e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+deletedOrion+"/restore", adminTok, nil), 429)
		// Reads are not.
		e.mustStatus(e.do("GET", "/v1.0/groups/"+printersID, adminTok, nil), 200)
		// Another app has its own quota.
		e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+deletedOrion+"/restore", reinstateTok, nil), 200)
		e.clock.Advance(120 * time.Second) // the first write leaves the window
		e.mustStatus(e.do("DELETE", "/v1.0/groups/"+printersID, adminTok, nil), 204)
		if th := e.srv.State().Throttle.Throttled["write"]; th != 2 {
			t.Errorf("throttled writes %d, want 2", th)
		}
	})
	t.Run("tenant window across apps", func(t *testing.T) {
		e := newEnv(t, nil, Options{Throttle: ThrottleConfig{TenantWriteQuota: 2, TenantWriteWindow: 5 * time.Minute}})
		e.mustStatus(e.do("DELETE", "/v1.0/groups/"+paymentsID, adminTok, nil), 204)
		e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+deletedOrion+"/restore", reinstateTok, nil), 200)
		r := e.mustStatus(e.do("POST", "/v1.0/directory/deletedItems/"+paymentsID+"/restore", reinstateTok, nil), 429)
		if r.header.Get("Retry-After") != "300" {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
	})
	t.Run("time scale divides the window; Retry-After rounds up to whole seconds, at least 1", func(t *testing.T) {
		e := newEnv(t, nil, Options{TimeScale: 100, Throttle: ThrottleConfig{AppWriteQuota: 1}})
		e.mustStatus(e.do("DELETE", "/v1.0/groups/"+paymentsID, adminTok, nil), 204) // window 150 s / 100 = 1.5 s
		r := e.mustStatus(e.do("DELETE", "/v1.0/groups/"+falconID, adminTok, nil), 429)
		if r.header.Get("Retry-After") != "2" {
			t.Fatalf("Retry-After %q, want 2 (1.5 s rounded up)", r.header.Get("Retry-After"))
		}
		e.clock.Advance(1400 * time.Millisecond)
		r = e.mustStatus(e.do("DELETE", "/v1.0/groups/"+falconID, adminTok, nil), 429)
		if r.header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After %q, want 1 (0.1 s, at least 1)", r.header.Get("Retry-After"))
		}
		e.clock.Advance(100 * time.Millisecond)
		e.mustStatus(e.do("DELETE", "/v1.0/groups/"+falconID, adminTok, nil), 204)
	})
	t.Run("default quota is 3000 per 150 s", func(t *testing.T) {
		cfg := ThrottleConfig{}.withDefaults()
		if cfg.AppWriteQuota != 3000 || cfg.AppWriteWindow != 150*time.Second || cfg.TenantWriteQuota != 18000 || cfg.TenantWriteWindow != 5*time.Minute ||
			cfg.CAQuota != 1 || cfg.CAWindow != time.Second || cfg.AuditQuota != 5 || cfg.AuditWindow != 10*time.Second {
			t.Fatalf("defaults %+v", cfg)
		}
	})
}

func TestConditionalAccessThrottling(t *testing.T) {
	e := newEnv(t, nil, Options{Throttle: ThrottleConfig{CAQuota: 1, CAWindow: time.Second}})
	path := "/v1.0/identity/conditionalAccess/policies/" + caPolicyID
	e.mustStatus(e.do("GET", path, readerTok, nil), 200)
	// Another app, same tenant: the limit is per tenant. No Retry-After.
	r := e.mustStatus(e.do("GET", "/v1.0/identity/conditionalAccess/namedLocations/"+namedLocID, adminTok, nil), 429)
	if r.header.Get("Retry-After") != "" {
		t.Fatalf("CA 429 carries Retry-After %q", r.header.Get("Retry-After"))
	}
	// Directory reads are not affected.
	e.mustStatus(e.do("GET", "/v1.0/users/"+adeleID, readerTok, nil), 200)
	e.clock.Advance(time.Second)
	e.mustStatus(e.do("DELETE", path, adminTok, nil), 204)
	e.mustStatus(e.do("GET", "/beta/identity/conditionalAccess/deletedItems/policies/"+caPolicyID, adminTok, nil), 429)
	e.clock.Advance(time.Second)
	e.mustStatus(e.do("GET", "/beta/identity/conditionalAccess/deletedItems/policies/"+caPolicyID, adminTok, nil), 200)
}

func TestAuditReadThrottling(t *testing.T) {
	e := newEnv(t, nil, Options{Throttle: ThrottleConfig{AuditQuota: 5, AuditWindow: 10 * time.Second}})
	for range 5 {
		e.mustStatus(e.do("GET", "/v1.0/auditLogs/directoryAudits", readerTok, nil), 200)
	}
	r := e.mustStatus(e.do("GET", "/v1.0/auditLogs/directoryAudits", readerTok, nil), 429)
	if r.header.Get("Retry-After") != "10" {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	e.mustStatus(e.do("GET", "/v1.0/auditLogs/directoryAudits", reinstateTok, nil), 200) // per app
	e.clock.Advance(10 * time.Second)
	e.mustStatus(e.do("GET", "/v1.0/auditLogs/directoryAudits", readerTok, nil), 200)
}
