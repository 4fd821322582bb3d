package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/event"
)

// DefaultWebhookSource is the CloudEvents source of a webhook channel that
// sets none.
const DefaultWebhookSource = "urn:reinstate"

// Standard Webhooks headers and secret format, as the specification names
// them: https://www.standardwebhooks.com/ (spec/standard-webhooks.md in
// github.com/standard-webhooks/standard-webhooks, "Verifying webhook
// authenticity" and "Webhook headers").
const (
	webhookIDHeader        = "webhook-id"
	webhookTimestampHeader = "webhook-timestamp"
	webhookSignatureHeader = "webhook-signature"
	// webhookSecretPrefix marks a symmetric signing secret; base64 follows.
	webhookSecretPrefix = "whsec_"
	// The specification asks for a random secret of 24 to 64 bytes
	// (192 to 512 bits).
	minWebhookSecret = 24
	maxWebhookSecret = 64
)

// webhookIDLength is how many hex digits of the message's sha256 make the
// event id: 128 bits, plenty to tell messages apart.
const webhookIDLength = 32

// Webhook delivers messages as CloudEvents 1.0 in structured JSON mode
// (docs/EVENTS.md), signed per Standard Webhooks so that receivers can tell
// them from forgeries. It is safe for concurrent use.
type Webhook struct {
	name   string
	url    string
	key    []byte
	source string
	client *http.Client
	now    func() time.Time
}

// NewWebhook reads a webhook channel's settings: url (https, or http to
// loopback), secret (a Standard Webhooks secret, "whsec_" and base64 of 24 to
// 64 bytes) and, optionally, source (the CloudEvents source, a URI
// reference; DefaultWebhookSource when unset). Problems name the channel and
// the key, never the value. A nil client gets a 30-second timeout; a nil now
// is time.Now.
func NewWebhook(name string, values map[string]any, client *http.Client, now func() time.Time) (*Webhook, error) {
	s := settings{channel: name, values: values}
	endpoint := s.url("url", true)
	key := webhookKey(&s, "secret")
	source := s.str("source", false)
	if source == "" {
		source = DefaultWebhookSource
	} else if _, err := url.Parse(source); err != nil {
		s.errs = append(s.errs, fmt.Errorf("channel %s: source must be a URI reference", name))
	}
	if err := errors.Join(s.errs...); err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	if now == nil {
		now = time.Now
	}
	return &Webhook{name: name, url: endpoint, key: key, source: source, client: client, now: now}, nil
}

// webhookKey reads and decodes a Standard Webhooks secret. A bad one is
// refused without echoing it, or any part of it.
func webhookKey(s *settings, key string) []byte {
	secret := s.str(key, true)
	if secret == "" {
		return nil
	}
	encoded, ok := strings.CutPrefix(secret, webhookSecretPrefix)
	if !ok {
		s.errs = append(s.errs, fmt.Errorf("channel %s: %s must be a Standard Webhooks secret, %q followed by base64", s.channel, key, webhookSecretPrefix))
		return nil
	}
	decoded, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		// base64's error quotes the offending byte's offset only, but say
		// nothing of it anyway.
		s.errs = append(s.errs, fmt.Errorf("channel %s: %s is not valid base64 after %q", s.channel, key, webhookSecretPrefix))
		return nil
	}
	if len(decoded) < minWebhookSecret || len(decoded) > maxWebhookSecret {
		s.errs = append(s.errs, fmt.Errorf("channel %s: %s must decode to %d to %d random bytes", s.channel, key, minWebhookSecret, maxWebhookSecret))
		return nil
	}
	return decoded
}

// Send posts m as one CloudEvent. The event id, which is also the
// webhook-id, derives from m's content, so that every retry of one message
// carries one id and receivers can dedup on it; the timestamp and signature
// are made afresh for each attempt.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	id, body, err := w.event(m)
	if err != nil {
		return err
	}
	timestamp := strconv.FormatInt(w.now().Unix(), 10)
	header := http.Header{}
	header.Set("Content-Type", format.JSON.MediaType())
	header.Set(webhookIDHeader, id)
	header.Set(webhookTimestampHeader, timestamp)
	header.Set(webhookSignatureHeader, signWebhook(w.key, id, timestamp, body))
	return post(ctx, w.client, w.name, w.url, header, body)
}

// event builds m's CloudEvent and serializes it in structured JSON mode.
func (w *Webhook) event(m Message) (id string, body []byte, err error) {
	data, err := json.Marshal(m)
	if err != nil {
		return "", nil, fmt.Errorf("channel %s: encoding the message: %w", w.name, err)
	}
	id = eventID(data)

	e := event.New(event.CloudEventsVersionV1)
	e.SetID(id)
	e.SetType(EventTypePrefix + string(m.Kind))
	e.SetSource(w.source)
	if subject := subjectOf(m); subject != "" {
		e.SetSubject(subject)
	}
	if !m.Time.IsZero() {
		e.SetTime(m.Time)
	}
	if err := e.SetData(event.ApplicationJSON, m); err != nil {
		return "", nil, fmt.Errorf("channel %s: encoding the event data: %w", w.name, err)
	}
	if err := e.Validate(); err != nil {
		return "", nil, fmt.Errorf("channel %s: the CloudEvent is not valid: %s", w.name, strings.TrimSpace(err.Error()))
	}
	body, err = format.JSON.Marshal(&e)
	if err != nil {
		return "", nil, fmt.Errorf("channel %s: encoding the CloudEvent: %w", w.name, err)
	}
	return id, body, nil
}

// eventID is the stable id of a message given its JSON: the first 32 hex
// digits of its sha256. It is the CloudEvent id and the webhook-id.
func eventID(messageJSON []byte) string {
	sum := sha256.Sum256(messageJSON)
	return hex.EncodeToString(sum[:])[:webhookIDLength]
}

// subjectOf is the object id of a message about one object; a grouped
// message has no subject.
func subjectOf(m Message) string {
	if len(m.Objects) == 1 && m.Total <= 1 {
		return m.Objects[0].ID
	}
	return ""
}

// signWebhook is the Standard Webhooks symmetric signature: "v1," and the
// base64 of HMAC-SHA256 over "<id>.<timestamp>.<body>".
func signWebhook(key []byte, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
