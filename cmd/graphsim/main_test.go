package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/idpsim"
)

const seed = "../../testdata/graphsim/seed.json"

// syncBuffer is a bytes.Buffer safe for the concurrent writes of run and
// reads of the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"127.0.0.2:8080", true},
		{"[::1]:0", true},
		{"localhost:0", true},
		{":0", false},
		{"0.0.0.0:0", false},
		{"10.0.0.5:80", false},
		{"example.com:80", false},
		{"127.0.0.1", false}, // no port
	}
	for _, tt := range tests {
		err := checkLoopback(tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}
}

func TestRunRefusesNonLoopback(t *testing.T) {
	var stdout, stderr syncBuffer
	err := run(context.Background(), []string{"--listen", "0.0.0.0:0", "--seed", seed}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "loopback only") {
		t.Fatalf("err %v", err)
	}
	if stdout.String() != "" {
		t.Fatalf("stdout %q", stdout.String())
	}
}

func TestRunHelp(t *testing.T) {
	var stdout, stderr syncBuffer
	if err := run(context.Background(), []string{"--help"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"-listen", "-seed", "-time-scale", "-forward", "-forward-interval", "-latency", "-error-rate", "-reset-rate", "-storm-for", "-fault-seed", "-issuer", "-snapshot-every", "-first-snapshot-age", "-job-duration", "-backup-app-writes", "/directory/recovery", "/_sim/backup"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("usage lacks %s:\n%s", flag, stderr.String())
		}
	}
}

func TestRunBadArguments(t *testing.T) {
	for name, args := range map[string][]string{
		"bad seed":               {"--seed", "does-not-exist.json"},
		"bad flag":               {"--colour"},
		"extra argument":         {"--seed", seed, "extra"},
		"bad error rate":         {"--seed", seed, "--error-rate", "2"},
		"bad forward":            {"--seed", seed, "--forward", "not a url"},
		"zero snapshot interval": {"--seed", seed, "--snapshot-every", "0s"},
		"negative job duration":  {"--seed", seed, "--job-duration", "-1m"},
	} {
		var stdout, stderr syncBuffer
		if err := run(context.Background(), args, &stdout, &stderr); err == nil {
			t.Errorf("%s: run accepted %v", name, args)
		}
	}
}

func TestRunServesAndStops(t *testing.T) {
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--seed", seed, "--time-scale", "10"}, &stdout, &stderr)
	}()
	base := waitListening(t, &stdout, &stderr, done)
	req, _ := http.NewRequest("GET", base+"/v1.0/users/adele.vance@contoso.com", nil)
	req.Header.Set("Authorization", "Bearer reader-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Adele Vance") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
	if strings.Count(stdout.String(), "\n") != 1 {
		t.Fatalf("stdout must hold exactly one line, got %q", stdout.String())
	}
	if !strings.Contains(stderr.String(), "graphsim stopping") {
		t.Fatalf("stderr %s", stderr.String())
	}
}

func TestStormFlagThrottlesFromStart(t *testing.T) {
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--seed", seed, "--storm-for", "1h"}, &stdout, &stderr) }()
	base := waitListening(t, &stdout, &stderr, done)
	req, _ := http.NewRequest("GET", base+"/v1.0/users/adele.vance@contoso.com", nil)
	req.Header.Set("Authorization", "Bearer reader-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q; want 429 with Retry-After during the storm", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	cancel()
	<-done
}

// waitListening returns graphsim's URL from its one stdout line.
func waitListening(t *testing.T, stdout, stderr *syncBuffer, done <-chan error) string {
	t.Helper()
	line := regexp.MustCompile(`^graphsim listening on (http://127\.0\.0\.1:\d+)\n$`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := line.FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line; stdout %q", stdout.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIssuer: by default the listener also serves the seed tenant's token
// issuer, whose /_sim/token tokens apiauth accepts with the listener as its
// authority, and Graph answers as before; --issuer=false serves Graph alone.
func TestIssuer(t *testing.T) {
	sd, err := graphsim.LoadSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	start := func(t *testing.T, args ...string) string {
		t.Helper()
		var stdout, stderr syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- run(ctx, append([]string{"--seed", seed}, args...), &stdout, &stderr) }()
		base := waitListening(t, &stdout, &stderr, done)
		t.Cleanup(func() { cancel(); <-done })
		return base
	}
	status := func(t *testing.T, method, url, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer reader-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	metadata := "/" + sd.TenantID + "/v2.0/.well-known/openid-configuration"

	t.Run("on", func(t *testing.T) {
		base := start(t)
		code, body := status(t, http.MethodPost, base+idpsim.TokenPath, `{"audience":"api://reinstate","roles":["Recovery.Operate"],"name":"oncall@contoso.com"}`)
		if code != 200 {
			t.Fatalf("token: %d %s", code, body)
		}
		var tok idpsim.SimTokenResponse
		if err := json.Unmarshal(body, &tok); err != nil {
			t.Fatal(err)
		}
		v, err := apiauth.New(apiauth.Config{TenantID: sd.TenantID, Audiences: []string{"api://reinstate"}, Authority: base})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		c, err := v.Verify(context.Background(), tok.AccessToken)
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		if c.Name != "oncall@contoso.com" || !c.HasRole(apiauth.RoleOperate) || c.App {
			t.Errorf("caller %v", c)
		}
		if code, body := status(t, http.MethodGet, base+"/v1.0/users/adele.vance@contoso.com", ""); code != 200 || !strings.Contains(string(body), "Adele Vance") {
			t.Errorf("Graph: %d %s", code, body)
		}
		if code, _ := status(t, http.MethodGet, base+"/_sim/state", ""); code != 200 {
			t.Errorf("/_sim/state: %d", code)
		}
	})
	t.Run("off", func(t *testing.T) {
		base := start(t, "--issuer=false")
		if code, _ := status(t, http.MethodPost, base+idpsim.TokenPath, `{"audience":"api://reinstate"}`); code != http.StatusNotFound {
			t.Errorf("token: %d, want 404", code)
		}
		if code, _ := status(t, http.MethodGet, base+metadata, ""); code != http.StatusBadRequest {
			t.Errorf("metadata: %d, want Graph's 400 for an unknown version", code)
		}
		v, err := apiauth.New(apiauth.Config{TenantID: sd.TenantID, Audiences: []string{"api://reinstate"}, Authority: base})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		// A well-formed token, whose keys nobody serves here.
		iss, err := idpsim.New(sd.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := iss.Token(idpsim.TokenRequest{BaseURL: base, Audience: "api://reinstate"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), raw); !errors.Is(err, apiauth.ErrUnavailable) {
			t.Errorf("verify: %v, want ErrUnavailable (no metadata)", err)
		}
	})
}

// TestBackupFlags: the backup flags reach graphsim (a snapshot dated by
// --first-snapshot-age, apps allowed to create jobs by --backup-app-writes),
// and with the issuer on, Graph accepts the Graph tokens it mints.
func TestBackupFlags(t *testing.T) {
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--seed", seed, "--first-snapshot-age", "2h", "--snapshot-every", "1h", "--job-duration", "4s", "--backup-app-writes"}, &stdout, &stderr)
	}()
	base := waitListening(t, &stdout, &stderr, done)
	defer func() { cancel(); <-done }()
	do := func(method, path, token, body string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := do(http.MethodPost, idpsim.TokenPath, "", `{"audience":"https://graph.microsoft.com","app":true,"roles":["EntraBackup.Read.All","EntraBackup.ReadWrite.Preview"]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	var tok idpsim.SimTokenResponse
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatal(err)
	}
	resp, body = do(http.MethodGet, "/beta/directory/recovery/snapshots", tok.AccessToken, "")
	if resp.StatusCode != 200 {
		t.Fatalf("snapshots with an issuer token: %d %s", resp.StatusCode, body)
	}
	var list struct {
		Value []struct {
			ID              string    `json:"id"`
			CreatedDateTime time.Time `json:"createdDateTime"`
		}
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	// Taken at start, dated two hours back; then one each hour up to now.
	if len(list.Value) != 3 || time.Since(list.Value[0].CreatedDateTime) < 2*time.Hour-time.Minute {
		t.Fatalf("snapshots %s", body)
	}
	resp, body = do(http.MethodPost, "/beta/directory/recovery/snapshots/"+list.Value[1].ID+"/recoveryPreviewJobs", tok.AccessToken, "")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("app create with --backup-app-writes: %d %s", resp.StatusCode, body)
	}
}
