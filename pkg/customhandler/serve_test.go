package customhandler

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// generous bounds what "promptly" means in these tests; it is not a
// performance assertion, only a guard against hanging.
const generous = 10 * time.Second

type result struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// post sends one invocation on its own connection pool.
func post(addr, function, body string) result {
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/"+function, strings.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(InvocationIDHeader, "11111111-2222-4333-8444-555555555555")
	resp, err := client.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(generous):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestServeOverLoopback(t *testing.T) {
	s := NewServer(Options{Logger: discardLogger()})
	s.Handle("AuditEvents", HandlerFunc(func(_ context.Context, req *Request) (*Response, error) {
		events, err := req.Strings("events")
		if err != nil {
			return nil, err
		}
		return &Response{Logs: append([]string{req.InvocationID}, events...)}, nil
	}))
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	checkReply(t, resp.StatusCode, resp.Header, b)

	res := post(ln.Addr().String(), "AuditEvents", eventsBody)
	if res.err != nil || res.status != http.StatusOK {
		t.Fatalf("invocation: %+v", res)
	}
	reply := checkReply(t, res.status, res.header, res.body)
	if len(reply.Logs) != 2 || reply.Logs[0] != "11111111-2222-4333-8444-555555555555" || reply.Logs[1] != `{"records":[]}` {
		t.Fatalf("Logs = %q", reply.Logs)
	}

	cancel()
	if err := wait(t, done, "Serve to return"); err != nil {
		t.Fatalf("Serve = %v, want nil", err)
	}
}

func TestServeGracefulShutdown(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	ctxErrAtRelease := make(chan error, 1)
	s := NewServer(Options{Logger: discardLogger(), ShutdownGrace: generous})
	s.Handle("AuditEvents", HandlerFunc(func(ctx context.Context, _ *Request) (*Response, error) {
		close(entered)
		<-release
		ctxErrAtRelease <- ctx.Err()
		return &Response{Logs: []string{"restored 1 object"}, ReturnValue: "done"}, nil
	}))
	ln := listen(t)
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	inflight := make(chan result, 1)
	go func() { inflight <- post(addr, "AuditEvents", eventsBody) }()
	wait(t, entered, "the handler to start")

	cancel() // SIGTERM

	// New connections must be refused once the listener is closed; Shutdown
	// starts asynchronously, so poll for it.
	deadline := time.Now().Add(generous)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if res := post(addr, "AuditEvents", eventsBody); res.err == nil {
		t.Fatalf("a new invocation during shutdown succeeded: %+v", res)
	}

	select {
	case err := <-done:
		t.Fatalf("Serve returned %v while an invocation was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}

	close(release)
	if err := wait(t, ctxErrAtRelease, "the handler to finish"); err != nil {
		t.Fatalf("the in-flight handler's context ended during the grace period: %v", err)
	}
	res := wait(t, inflight, "the in-flight invocation's answer")
	if res.err != nil || res.status != http.StatusOK {
		t.Fatalf("in-flight invocation: %+v", res)
	}
	reply := checkReply(t, res.status, res.header, res.body)
	if len(reply.Logs) != 1 || reply.Logs[0] != "restored 1 object" || string(reply.ReturnValue) != `"done"` {
		t.Fatalf("in-flight reply = %s", res.body)
	}
	if err := wait(t, done, "Serve to return"); err != nil {
		t.Fatalf("Serve = %v, want nil after a graceful shutdown", err)
	}
}

func TestServeGraceExpires(t *testing.T) {
	const grace = 200 * time.Millisecond
	entered := make(chan struct{})
	cancelled := make(chan error, 1)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s := NewServer(Options{Logger: discardLogger(), ShutdownGrace: grace})
	s.Handle("Stuck", HandlerFunc(func(ctx context.Context, _ *Request) (*Response, error) {
		close(entered)
		<-ctx.Done()
		cancelled <- ctx.Err()
		<-release // never finishes while the test runs
		return nil, nil
	}))
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	inflight := make(chan result, 1)
	go func() { inflight <- post(ln.Addr().String(), "Stuck", eventsBody) }()
	wait(t, entered, "the handler to start")

	start := time.Now()
	cancel()
	err := wait(t, done, "Serve to return after the grace period")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Serve = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed < grace {
		t.Fatalf("Serve returned after %v, before the grace of %v", elapsed, grace)
	}
	if err := wait(t, cancelled, "the stuck handler's context to be cancelled"); !errors.Is(err, context.Canceled) {
		t.Fatalf("handler ctx err = %v", err)
	}
	if res := wait(t, inflight, "the abandoned invocation's client to fail"); res.err == nil {
		t.Fatalf("abandoned invocation got an answer: %+v", res)
	}
}

func TestServeAlreadyCancelled(t *testing.T) {
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewServer(Options{Logger: discardLogger()}).Serve(ctx, ln); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("listener still open after Serve returned")
	}
}

// failingListener fails Accept with a permanent error.
type failingListener struct{ net.Listener }

func (failingListener) Accept() (net.Conn, error) { return nil, errors.New("accept: listener broke") }

func TestServeListenerFailure(t *testing.T) {
	ln := listen(t)
	err := NewServer(Options{Logger: discardLogger()}).Serve(context.Background(), failingListener{ln})
	if err == nil || !strings.Contains(err.Error(), "listener broke") {
		t.Fatalf("Serve = %v, want the listener's error", err)
	}
}
