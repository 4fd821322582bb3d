package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/reinstate/reinstate/pkg/graphapi"
)

// DeliveryError is a delivery that failed. It never holds the endpoint's
// URL beyond its scheme and host: webhook URLs carry secrets.
type DeliveryError struct {
	// Channel names the channel.
	Channel string
	// Endpoint is the redacted endpoint (Redact).
	Endpoint string
	// Status is the HTTP status; 0 when no answer came.
	Status int
	// Retryable is true for 429, 5xx and no answer.
	Retryable bool
	// RetryAfter is the receiver's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Body is the start of the receiver's answer, for people.
	Body string
	err  error
}

// Error names the channel, the redacted endpoint and what happened.
func (e *DeliveryError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("channel %s: %s: no answer: %v", e.Channel, e.Endpoint, e.err)
	}
	return fmt.Sprintf("channel %s: %s answered %d: %s", e.Channel, e.Endpoint, e.Status, e.Body)
}

// Unwrap gives the transport's error, such as a context's.
func (e *DeliveryError) Unwrap() error { return e.err }

// Redact keeps a URL's scheme and host and drops its path, query and user
// information, where webhook secrets live: "https://example.webhook.office.com/…".
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(endpoint redacted)"
	}
	redacted := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		redacted += "/…"
	}
	return redacted
}

// maxErrorBody bounds how much of a failed answer is kept for people.
const maxErrorBody = 512

// post sends body to endpoint and judges the answer: any 2xx is delivered;
// 429, 5xx and transport failures are retryable; other statuses are final.
// Errors are *DeliveryError and never show the endpoint's secret parts.
func post(ctx context.Context, client *http.Client, channel, endpoint string, header http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		// The URL itself may be the problem; do not echo it.
		return &DeliveryError{Channel: channel, Endpoint: Redact(endpoint), err: errors.New("the endpoint URL is not valid")}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		// A timeout is the receiver's: retry. A cancellation is ours (a
		// shutdown): the lease runs out and the message is tried again.
		retryable := !errors.Is(ctx.Err(), context.Canceled)
		return &DeliveryError{Channel: channel, Endpoint: Redact(endpoint), Retryable: retryable, err: redactURLError(err)}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	de := &DeliveryError{Channel: channel, Endpoint: Redact(endpoint), Status: resp.StatusCode, Body: string(snippet),
		Retryable: resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500}
	de.RetryAfter, _ = graphapi.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return de
}

// redactURLError drops the URL net/http puts in its errors.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// jsonHook posts a message, rendered as JSON, to a webhook whose URL is its
// secret: the Slack and Teams channels. It is safe for concurrent use.
type jsonHook struct {
	kind, name, url string
	client          *http.Client
	render          func(Message) ([]byte, error)
}

func newJSONHook(kind, name string, values map[string]any, client *http.Client, render func(Message) ([]byte, error)) (jsonHook, error) {
	s := settings{channel: name, values: values}
	endpoint := s.url("url", true)
	if err := errors.Join(s.errs...); err != nil {
		return jsonHook{}, err
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return jsonHook{kind: kind, name: name, url: endpoint, client: client, render: render}, nil
}

// String names the channel and its redacted endpoint, so that printing a
// channel never prints its webhook's secret.
func (h jsonHook) String() string { return h.kind + " channel " + h.name + " (" + Redact(h.url) + ")" }

// GoString is String, for %#v.
func (h jsonHook) GoString() string { return h.String() }

// Send posts m. Any 2xx is delivered; 429 and 5xx are retryable
// *DeliveryErrors (with Retry-After); other answers are final.
func (h jsonHook) Send(ctx context.Context, m Message) error {
	body, err := h.render(m)
	if err != nil {
		return fmt.Errorf("channel %s: encoding the message: %w", h.name, err)
	}
	return post(ctx, h.client, h.name, h.url, http.Header{"Content-Type": {"application/json"}}, body)
}
