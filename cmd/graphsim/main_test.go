package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
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
	for _, flag := range []string{"-listen", "-seed", "-time-scale", "-forward", "-forward-interval", "-latency", "-error-rate", "-reset-rate", "-storm-for", "-fault-seed"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("usage lacks %s:\n%s", flag, stderr.String())
		}
	}
}

func TestRunBadArguments(t *testing.T) {
	for name, args := range map[string][]string{
		"bad seed":       {"--seed", "does-not-exist.json"},
		"bad flag":       {"--colour"},
		"extra argument": {"--seed", seed, "extra"},
		"bad error rate": {"--seed", seed, "--error-rate", "2"},
		"bad forward":    {"--seed", seed, "--forward", "not a url"},
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
