package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/rules"
)

// PagerDuty Events API v2, as PagerDuty documents it:
//   - "Send an Alert Event" (the fields, their limits, and how dedup_key
//     ties a trigger to its resolve):
//     https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
//     (docs/events-API-v2/02-Trigger-Events.md in PagerDuty/developer-docs);
//   - the answers, "API Response Codes & Retry Logic": 202 accepted, 400
//     invalid event (do not retry), 429 and 5xx (retry after some time):
//     https://developer.pagerduty.com/docs/events-api-v2/overview/ and
//     reference/events-v2/openapiv3.json in PagerDuty/api-schema.
const (
	// DefaultPagerDutyURL is the Events API v2 endpoint.
	DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"
	// pdMaxSummary: "The maximum permitted length of this property is 1024
	// characters."
	pdMaxSummary = 1024
	// pdMaxDedupKey: "The maximum permitted length of this property is 255
	// characters."
	pdMaxDedupKey = 255
	// pdSource is payload.source, "the unique location of the affected
	// system": Reinstate itself; the tenant and objects are in the details.
	pdSource = "reinstate"
	// pdClient names the sender on the alert.
	pdClient = "Reinstate"
)

// PagerDuty sends messages as Events API v2 alert events. The routing key
// is a secret: it is never logged, nor shown in errors. PagerDuty is safe
// for concurrent use.
//
// Each object has its own alert, keyed by a dedup_key from the tenant and
// the object id, so that a deletion's trigger and the later verified
// restore's resolve of the same object meet; a grouped or breaker message's
// key comes from the tenant, the rule and the initiator (pdDedupKey).
//
// Event actions by Kind:
//   - deletion.detected, restore.failed, preview.ready, breaker.tripped:
//     trigger. People must act.
//   - object.restored, verified: resolve.
//   - object.restored, not verified: nothing. The object may not be back;
//     an acknowledge would tell PagerDuty someone is on it and silence the
//     alert's notifications, which nobody is, so the alert stays open until
//     a verified restore resolves it or a person does.
type PagerDuty struct {
	name       string
	url        string
	routingKey string
	client     *http.Client
}

// NewPagerDuty reads a pagerduty channel's settings: routingKey (required,
// the Events API v2 integration key) and url (optional, https or http to
// loopback; DefaultPagerDutyURL when unset). Problems name the channel and
// the key, never the value. A nil client gets a 30-second timeout.
func NewPagerDuty(name string, values map[string]any, client *http.Client) (*PagerDuty, error) {
	s := settings{channel: name, values: values}
	key := s.str("routingKey", true)
	endpoint := s.url("url", false)
	if err := errors.Join(s.errs...); err != nil {
		return nil, err
	}
	if endpoint == "" {
		endpoint = DefaultPagerDutyURL
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &PagerDuty{name: name, url: endpoint, routingKey: key, client: client}, nil
}

// String names the channel and its endpoint, never the routing key.
func (p *PagerDuty) String() string {
	return "pagerduty channel " + p.name + " (" + Redact(p.url) + ")"
}

// GoString is String, for %#v.
func (p *PagerDuty) GoString() string { return p.String() }

// Send posts m's event: a trigger, a resolve, or, for an unverified
// restore, nothing (see PagerDuty). 429 and 5xx are retryable
// *DeliveryErrors; 400, an event PagerDuty finds invalid, is final.
func (p *PagerDuty) Send(ctx context.Context, m Message) error {
	body, send, err := pdBody(p.routingKey, m)
	if err != nil {
		return fmt.Errorf("channel %s: %w", p.name, err)
	}
	if !send {
		return nil
	}
	err = post(ctx, p.client, p.name, p.url, http.Header{"Content-Type": {"application/json"}}, body)
	var de *DeliveryError
	if errors.As(err, &de) && p.routingKey != "" {
		// The receiver's answer is kept for people; should it echo the
		// event, it would echo the key.
		de.Body = strings.ReplaceAll(de.Body, p.routingKey, "(routing key redacted)")
	}
	return err
}

// pdEvent is an Events API v2 alert event.
type pdEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Payload     *pdPayload `json:"payload,omitempty"`
	Client      string     `json:"client,omitempty"`
	Links       []pdLink   `json:"links,omitempty"`
}

type pdPayload struct {
	Summary       string    `json:"summary"`
	Source        string    `json:"source"`
	Severity      string    `json:"severity"`
	Timestamp     string    `json:"timestamp,omitempty"`
	Component     string    `json:"component,omitempty"`
	Group         string    `json:"group,omitempty"`
	Class         string    `json:"class,omitempty"`
	CustomDetails pdDetails `json:"custom_details"`
}

// pdDetails are payload.custom_details: what on-call needs beyond the
// summary.
type pdDetails struct {
	Activity    string     `json:"activity,omitempty"`
	Initiator   string     `json:"initiator"`
	InitiatorID string     `json:"initiator_id,omitempty"`
	Objects     []Object   `json:"objects"`
	Total       int        `json:"total"`
	Action      string     `json:"action,omitempty"`
	Outcome     Outcome    `json:"outcome"`
	Guard       string     `json:"guard,omitempty"`
	Mode        rules.Mode `json:"mode,omitempty"`
	Rule        string     `json:"rule,omitempty"`
	TenantID    string     `json:"tenant_id,omitempty"`
	EventID     string     `json:"event_id,omitempty"`
}

type pdLink struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// pdAction is m's event_action; "" when m sends nothing.
func pdAction(m Message) (string, error) {
	switch m.Kind {
	case KindDeletionDetected, KindRestoreFailed, KindPreviewReady, KindBreakerTripped:
		return "trigger", nil
	case KindObjectRestored:
		if m.Outcome.Verified {
			return "resolve", nil
		}
		return "", nil
	}
	return "", fmt.Errorf("no PagerDuty event action for a %q message", m.Kind)
}

// pdBody is m's event as JSON, and whether to send it at all.
func pdBody(routingKey string, m Message) ([]byte, bool, error) {
	action, err := pdAction(m)
	if err != nil || action == "" {
		return nil, false, err
	}
	e := pdEvent{RoutingKey: routingKey, EventAction: action, DedupKey: pdDedupKey(m)}
	if action == "trigger" {
		e.Payload = pdTriggerPayload(m)
		e.Client = pdClient
		for _, l := range m.Links {
			if strings.HasPrefix(l.URL, "https://") || strings.HasPrefix(l.URL, "http://") {
				e.Links = append(e.Links, pdLink{Href: l.URL, Text: l.Title})
			}
		}
	}
	// A resolve needs no payload: PagerDuty's own example carries the
	// routing key, the dedup_key and the action alone.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, false, fmt.Errorf("encoding the event: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), true, nil
}

func pdTriggerPayload(m Message) *pdPayload {
	objects := m.Objects
	if objects == nil {
		objects = []Object{}
	}
	d := pdDetails{
		Activity:    m.Activity,
		Initiator:   m.Who(),
		InitiatorID: m.Initiator.ID,
		Objects:     objects,
		Total:       max(m.Total, len(m.Objects)),
		Action:      m.Action,
		Outcome:     m.Outcome,
		Guard:       m.Guard,
		Mode:        m.Mode,
		Rule:        m.Rule,
		TenantID:    m.TenantID,
	}
	if m.Event != nil {
		d.EventID = m.Event.ID
	}
	p := &pdPayload{
		Summary:       pdTruncate(m.Title(), pdMaxSummary),
		Source:        pdSource,
		Severity:      pdSeverity(m.Severity),
		Component:     pdComponent(m.Objects),
		Group:         m.Rule,
		Class:         string(m.Kind),
		CustomDetails: d,
	}
	if !m.Time.IsZero() {
		p.Timestamp = m.Time.UTC().Format(time.RFC3339Nano)
	}
	return p
}

// pdSeverity maps a rule's severity to PagerDuty's (critical, error,
// warning, info). PagerDuty requires one: a message without one, such as
// a guard's own, is a warning, so that it is neither lost nor paging
// anyone as critical.
func pdSeverity(s rules.Severity) string {
	switch s {
	case rules.SeverityCritical:
		return "critical"
	case rules.SeverityWarning:
		return "warning"
	case rules.SeverityInfo:
		return "info"
	}
	return "warning"
}

// pdComponent is the objects' type when they share one.
func pdComponent(objects []Object) string {
	if len(objects) == 0 {
		return ""
	}
	t := objects[0].Type
	for _, o := range objects[1:] {
		if o.Type != t {
			return ""
		}
	}
	return string(t)
}

// pdDedupKey is the alert m belongs to, the same for every message about
// it, whatever its kind, so that a resolve meets its trigger:
//   - one object: "reinstate:<tenant>:<object id>";
//   - grouped: "reinstate:<tenant>:group:<rule>:<initiator>";
//   - breaker: "reinstate:<tenant>:breaker:<rule>:<initiator>", apart from
//     the group's alert, so that a grouped restore does not resolve the
//     paused breaker, which a person resumes.
//
// Ids are lower-cased (Entra's ids and UPNs ignore case), a part's ":" is
// escaped so that parts cannot run into each other, and a key longer than
// PagerDuty's 255 characters becomes "reinstate:sha256:<hex>" of it. Once
// PagerDuty resolves an alert, a new trigger with its key opens a new one.
func pdDedupKey(m Message) string {
	tenant := pdKeyPart(strings.ToLower(m.TenantID))
	var key string
	switch {
	case m.Kind != KindBreakerTripped && len(m.Objects) == 1 && m.Total <= 1:
		key = "reinstate:" + tenant + ":" + pdKeyPart(strings.ToLower(m.Objects[0].ID))
	default:
		scope := "group"
		if m.Kind == KindBreakerTripped {
			scope = "breaker"
		}
		rule := m.Rule
		if rule == "" {
			rule = "-"
		}
		key = "reinstate:" + tenant + ":" + scope + ":" + pdKeyPart(rule) + ":" + pdKeyPart(pdInitiatorKey(m.Initiator))
	}
	if len(key) > pdMaxDedupKey {
		sum := sha256.Sum256([]byte(key))
		key = "reinstate:sha256:" + hex.EncodeToString(sum[:])
	}
	return key
}

// pdInitiatorKey is the initiator's most stable name: the object id, else
// the UPN, app id, service principal id or display name.
func pdInitiatorKey(in audit.Initiator) string {
	for _, v := range []string{in.ID, in.UserPrincipalName, in.AppID, in.ServicePrincipalID, in.DisplayName} {
		if v != "" {
			return strings.ToLower(v)
		}
	}
	return "unknown"
}

var pdKeyEscaper = strings.NewReplacer("%", "%25", ":", "%3A")

func pdKeyPart(s string) string { return pdKeyEscaper.Replace(s) }

// pdTruncate cuts s to at most limit characters, ending it with "…".
func pdTruncate(s string, limit int) string {
	r := []rune(s)
	if len(r) <= limit {
		return s
	}
	return string(r[:limit-1]) + "…"
}
