package customhandler

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestLongInvocationOutlivesReadTimeout guards a property this package
// relies on: ReadTimeout (2 minutes by default) bounds reading the request
// only, and does not end the handler's context while a long invocation (up
// to the 10-minute functionTimeout) runs. net/http provides it by clearing
// the read deadline when it starts the background read that watches for a
// client disconnect (net/http connReader.startBackgroundRead); were that to
// change, the background read would time out and cancel the request context.
func TestLongInvocationOutlivesReadTimeout(t *testing.T) {
	const readTimeout = 100 * time.Millisecond
	ctxErr := make(chan error, 1)
	s := NewServer(Options{Logger: discardLogger(), ReadTimeout: readTimeout, ReadHeaderTimeout: readTimeout})
	s.Handle("Long", HandlerFunc(func(ctx context.Context, _ *Request) (*Response, error) {
		select {
		case <-ctx.Done():
		case <-time.After(5 * readTimeout):
		}
		ctxErr <- ctx.Err()
		return &Response{Logs: []string{"finished"}}, nil
	}))
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		wait(t, done, "Serve to return")
	}()

	res := post(ln.Addr().String(), "Long", eventsBody)
	if err := wait(t, ctxErr, "the handler"); err != nil {
		t.Fatalf("handler context ended after ReadTimeout: %v", err)
	}
	if res.err != nil || res.status != http.StatusOK {
		t.Fatalf("invocation: %+v", res)
	}
	checkReply(t, res.status, res.header, res.body)
}
