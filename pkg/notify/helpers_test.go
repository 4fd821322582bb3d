package notify

// The channels' tests share these helpers. They live in package notify so
// that the internal tests (webhook, deliver) and the external ones
// (package notify_test, which imports this package with its test files)
// can both use them; hence the exported names.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// go test ./pkg/notify -update rewrites the golden files; without it, any
// difference fails the test.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/notify")

// GoldenDir holds the channels' golden files, one directory per channel.
var GoldenDir = filepath.Join("..", "..", "testdata", "notify")

// Golden compares got with the golden file at path, after rewriting the
// file with got under -update, and returns the file's bytes.
func Golden(t *testing.T, path string, got []byte) []byte {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the body differs from %s (run with -update to accept it)\ngot:\n%s\nwant:\n%s", path, indentJSON(got), indentJSON(want))
	}
	return want
}

func indentJSON(b []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return string(b)
	}
	return out.String()
}

// Request is one request a Receiver got.
type Request struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// Receiver is a loopback endpoint: it records every request and answers
// with the status, Retry-After and body the test sets.
type Receiver struct {
	*httptest.Server
	mu         sync.Mutex
	got        []Request
	status     int
	retryAfter string
	reply      func(body []byte) string
}

// NewReceiver starts a Receiver answering status, closed when t ends.
func NewReceiver(t testing.TB, status int) *Receiver {
	t.Helper()
	r := &Receiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, Request{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery, Header: req.Header.Clone(), Body: body})
		status, retryAfter, reply := r.status, r.retryAfter, r.reply
		r.mu.Unlock()
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		if reply != nil {
			_, _ = io.WriteString(w, reply(body))
		}
	}))
	t.Cleanup(r.Close)
	return r
}

// Answer sets the status and Retry-After ("" for none) of the next answers.
func (r *Receiver) Answer(status int, retryAfter string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.retryAfter = status, retryAfter
}

// Reply sets the body of the next answers, made from the request's body.
func (r *Receiver) Reply(reply func(body []byte) string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reply = reply
}

// Requests are the requests so far, in order.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.got...)
}

// AnswerCase is one answer a receiver gives and how the channel must judge
// it: a 2xx is delivered; anything else is a *DeliveryError.
type AnswerCase struct {
	Name string
	// Status is the receiver's answer; 0 when nothing listens.
	Status     int
	RetryAfter string
	Retryable  bool
	After      time.Duration
}

// AnswerChannel is the channel under CheckAnswers.
type AnswerChannel struct {
	// Name is the channel's name, which each DeliveryError must carry.
	Name string
	// Send sends one message to rcv.URL (whose port is closed when the
	// case's Status is 0).
	Send func(t *testing.T, rcv *Receiver) error
	// Reply is the receiver's answer body; nil for none.
	Reply func(body []byte) string
	// Delivered, when set, checks the request a 2xx answered.
	Delivered func(t *testing.T, got Request)
	// Secrets show in no error, however printed, nor in its Body.
	Secrets []string
}

// CheckAnswers sends through ch once per case, each to a receiver of its
// own, and checks the delivery or the *DeliveryError: channel, status,
// retryable, Retry-After, and that no secret shows.
func CheckAnswers(t *testing.T, ch AnswerChannel, cases []AnswerCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			rcv := NewReceiver(t, tt.Status)
			rcv.Answer(tt.Status, tt.RetryAfter)
			rcv.Reply(ch.Reply)
			if tt.Status == 0 {
				rcv.Close()
			}
			err := ch.Send(t, rcv)
			wantErr := tt.Status < 200 || tt.Status > 299
			if (err != nil) != wantErr {
				t.Fatalf("err = %v, want error %t", err, wantErr)
			}
			if err == nil {
				if ch.Delivered != nil {
					got := rcv.Requests()
					if len(got) != 1 {
						t.Fatalf("the receiver got %d requests, want 1", len(got))
					}
					ch.Delivered(t, got[0])
				}
				return
			}
			var de *DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want a *DeliveryError", err)
			}
			if de.Channel != ch.Name || de.Status != tt.Status || de.Retryable != tt.Retryable || de.RetryAfter != tt.After {
				t.Errorf("err = %#v, want channel %s, status %d, retryable %t after %s", err, ch.Name, tt.Status, tt.Retryable, tt.After)
			}
			printed := []string{err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err), fmt.Sprintf("%v %+v %#v", de, de, de), de.Body}
			for _, s := range printed {
				for _, secret := range ch.Secrets {
					if strings.Contains(s, secret) {
						t.Errorf("the error shows %q: %s", secret, s)
					}
				}
			}
		})
	}
}
