package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/rules"
)

// pdTestKey stands in for a routing key; it must never show in an error.
const pdTestKey = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY32"

var (
	pdAt     = time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	pdTenant = "72F988BF-86F1-41AF-91AB-2D7CD011DB47"
	pdAdmin  = audit.Initiator{Type: audit.InitiatorUser, ID: "3b1f5d7e-9a0c-4e2f-8b4d-6f8a0c2e4b6d", UserPrincipalName: "it.admin@contoso.com"}
	pdGroupA = notify.Object{ID: "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65", Type: audit.TargetGroup, Name: "sec-prod-payments"}
	pdGroupB = notify.Object{ID: "0b2d4f6a-8c0e-4a2c-9e4a-6c8e0a2c4e6a", Type: audit.TargetGroup, Name: "sec-prod-ledger"}
)

// pdDetected is a one-object deletion Reinstate is not restoring on its own.
func pdDetected(o notify.Object) notify.Message {
	return notify.Message{
		Kind: notify.KindDeletionDetected, Severity: rules.SeverityCritical, Time: pdAt, TenantID: pdTenant,
		Rule: "critical-groups", Activity: "Delete group", Initiator: pdAdmin, Objects: []notify.Object{o}, Total: 1,
		Action: "restore", Guard: "cooldown", Outcome: notify.Outcome{Status: notify.StatusHeld, Detail: "cooldown 1h"}, Mode: rules.ModeEnforce,
		Event: &audit.Event{ID: "Directory_4f9e2c1a_ABCDE_123456789"},
		Links: []notify.Link{{Title: "Open in Entra admin center", URL: "https://entra.microsoft.com/#view/Microsoft_AAD_IAM/GroupDetailsMenuBlade/~/Overview/groupId/" + o.ID}},
	}
}

// pdRestored is the later restore of the same object.
func pdRestored(o notify.Object, verified bool) notify.Message {
	m := pdDetected(o)
	m.Kind, m.Guard, m.Time = notify.KindObjectRestored, "", pdAt.Add(time.Hour)
	m.Outcome = notify.Outcome{Status: notify.StatusRestored, Verified: verified}
	m.Event = &audit.Event{ID: "Directory_later"}
	return m
}

func pdGrouped(kind notify.Kind, rule string, in audit.Initiator) notify.Message {
	objects := make([]notify.Object, notify.MaxObjects)
	for i := range objects {
		objects[i] = notify.Object{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1), Type: audit.TargetUser, Name: fmt.Sprintf("user%d@contoso.com", i+1)}
	}
	m := notify.Message{
		Kind: kind, Severity: rules.SeverityWarning, Time: pdAt, TenantID: pdTenant, Rule: rule, Activity: "Delete user",
		Initiator: in, Objects: objects, Total: 25, Action: "restore", Mode: rules.ModeObserve,
		Outcome: notify.Outcome{Status: notify.StatusObserved},
	}
	if kind == notify.KindBreakerTripped {
		m.Severity, m.Guard, m.Mode = rules.SeverityCritical, "breaker", rules.ModeEnforce
		m.Outcome = notify.Outcome{Status: notify.StatusHeld, Detail: "25 deletions in 10m exceed the breaker's 20"}
	}
	return m
}

func newPagerDuty(t *testing.T, rcv *notify.Receiver) *notify.PagerDuty {
	t.Helper()
	pd, err := notify.NewPagerDuty("oncall", map[string]any{"routingKey": pdTestKey, "url": rcv.URL + "/v2/enqueue"}, rcv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return pd
}

// TestPagerDutyPostsEvents: each message posts exactly the golden event, or,
// for a restore not read back, nothing.
func TestPagerDutyPostsEvents(t *testing.T) {
	failed := pdDetected(pdGroupA)
	failed.Kind, failed.Severity, failed.Guard = notify.KindRestoreFailed, rules.SeverityWarning, ""
	failed.Outcome = notify.Outcome{Status: notify.StatusFailed, Detail: "Graph answered 403: Authorization_RequestDenied"}
	preview := pdDetected(pdGroupB)
	preview.Kind, preview.Severity, preview.Action, preview.Guard = notify.KindPreviewReady, rules.SeverityInfo, "preview", ""
	preview.Outcome = notify.Outcome{Status: notify.StatusWaitingApproval}
	preview.Links = append(preview.Links, notify.Link{Title: "Approve", URL: "https://reinstate.contoso.com/approvals/42"}, notify.Link{Title: "bad", URL: "javascript:alert(1)"})
	long := pdDetected(pdGroupB)
	long.Objects = []notify.Object{{ID: pdGroupB.ID, Type: audit.TargetGroup, Name: strings.Repeat("Ünïcødé name ", 100)}}
	long.Severity, long.Links, long.Event, long.Time = "", nil, nil, time.Time{}

	tests := []struct {
		name       string
		m          notify.Message
		wantAction string // "" for no request at all
	}{
		{"trigger-detected", pdDetected(pdGroupA), "trigger"},
		{"resolve-verified", pdRestored(pdGroupA, true), "resolve"},
		{"unverified-restore", pdRestored(pdGroupA, false), ""},
		{"trigger-failed", failed, "trigger"},
		{"trigger-preview", preview, "trigger"},
		{"trigger-grouped", pdGrouped(notify.KindDeletionDetected, "all-users", pdAdmin), "trigger"},
		{"trigger-breaker", pdGrouped(notify.KindBreakerTripped, "", pdAdmin), "trigger"},
		{"trigger-long-summary", long, "trigger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := notify.NewReceiver(t, http.StatusAccepted)
			rcv.Reply(func([]byte) string { return `{"status":"success","message":"Event processed"}` })
			if err := newPagerDuty(t, rcv).Send(context.Background(), tt.m); err != nil {
				t.Fatal(err)
			}
			got := rcv.Requests()
			if tt.wantAction == "" {
				if len(got) != 0 {
					t.Fatalf("an unverified restore posted %d events, want none:\n%s", len(got), got[0].Body)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("the receiver got %d requests, want 1", len(got))
			}
			if ct := got[0].Header.Get("Content-Type"); got[0].Method != http.MethodPost || ct != "application/json" || got[0].Path != "/v2/enqueue" {
				t.Errorf("request %s %s (%s), want POST of application/json to /v2/enqueue", got[0].Method, got[0].Path, ct)
			}
			e := pdParse(t, got[0].Body)
			if e.EventAction != tt.wantAction || e.RoutingKey != pdTestKey {
				t.Errorf("event_action %q, routing key %q; want %q with the channel's key", e.EventAction, e.RoutingKey, tt.wantAction)
			}
			if e.DedupKey == "" || len(e.DedupKey) > 255 {
				t.Errorf("dedup_key %q, want 1 to 255 characters", e.DedupKey)
			}
			if e.EventAction == "trigger" {
				if e.Payload == nil || e.Payload.Summary == "" || len([]rune(e.Payload.Summary)) > 1024 || e.Payload.Source != "reinstate" {
					t.Errorf("payload %+v: want a summary of 1 to 1024 characters from source reinstate", e.Payload)
				}
				if e.Payload != nil && !map[string]bool{"critical": true, "error": true, "warning": true, "info": true}[e.Payload.Severity] {
					t.Errorf("severity %q is not one PagerDuty takes", e.Payload.Severity)
				}
			}
			notify.Golden(t, filepath.Join(notify.GoldenDir, "pagerduty", tt.name+".json"), got[0].Body)
		})
	}
}

type pdPosted struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     *struct {
		Summary  string `json:"summary"`
		Source   string `json:"source"`
		Severity string `json:"severity"`
	} `json:"payload"`
}

func pdParse(t *testing.T, body []byte) pdPosted {
	t.Helper()
	var e pdPosted
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("the body is not JSON: %v\n%s", err, body)
	}
	return e
}

// TestPagerDutyDedupKeys: a detected deletion's trigger and the later
// verified restore's resolve of the same object share a dedup_key; another
// object has another; a grouped message's key is the same every time it is
// sent, and differs by rule, by initiator and from the breaker's.
func TestPagerDutyDedupKeys(t *testing.T) {
	other := audit.Initiator{Type: audit.InitiatorApp, AppID: "4f6a8c0e-2a4c-4e6a-b0c2-e4a6c8e0a2c4", DisplayName: "HR sync"}
	shouting := pdAdmin
	shouting.ID = strings.ToUpper(shouting.ID)
	longRule := strings.Repeat("a-very-long-rule-name-", 20)
	sends := []struct {
		name string
		m    notify.Message
	}{
		{"detected A", pdDetected(pdGroupA)},
		{"restored A", pdRestored(pdGroupA, true)},
		{"detected B", pdDetected(pdGroupB)},
		{"grouped", pdGrouped(notify.KindDeletionDetected, "all-users", pdAdmin)},
		{"grouped again", pdGrouped(notify.KindDeletionDetected, "all-users", pdAdmin)},
		{"grouped, ids in upper case", pdGrouped(notify.KindDeletionDetected, "all-users", shouting)},
		{"grouped restore", func() notify.Message {
			m := pdGrouped(notify.KindObjectRestored, "all-users", pdAdmin)
			m.Outcome = notify.Outcome{Status: notify.StatusRestored, Verified: true}
			return m
		}()},
		{"grouped, another rule", pdGrouped(notify.KindDeletionDetected, "guests", pdAdmin)},
		{"grouped, another initiator", pdGrouped(notify.KindDeletionDetected, "all-users", other)},
		{"breaker", pdGrouped(notify.KindBreakerTripped, "all-users", pdAdmin)},
		{"long rule", pdGrouped(notify.KindDeletionDetected, longRule, pdAdmin)},
		{"long rule again", pdGrouped(notify.KindDeletionDetected, longRule, pdAdmin)},
	}
	rcv := notify.NewReceiver(t, http.StatusAccepted)
	pd := newPagerDuty(t, rcv)
	for _, s := range sends {
		if err := pd.Send(context.Background(), s.m); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	got := rcv.Requests()
	if len(got) != len(sends) {
		t.Fatalf("the receiver got %d events, want %d", len(got), len(sends))
	}
	key, action := map[string]string{}, map[string]string{}
	for i, s := range sends {
		e := pdParse(t, got[i].Body)
		key[s.name], action[s.name] = e.DedupKey, e.EventAction
		if e.DedupKey == "" || len(e.DedupKey) > 255 {
			t.Errorf("%s: dedup_key %q, want 1 to 255 characters", s.name, e.DedupKey)
		}
	}
	if want := "reinstate:72f988bf-86f1-41af-91ab-2d7cd011db47:" + pdGroupA.ID; key["detected A"] != want {
		t.Errorf("one object's key %q, want %q", key["detected A"], want)
	}
	if action["detected A"] != "trigger" || action["restored A"] != "resolve" || action["grouped restore"] != "resolve" {
		t.Errorf("actions %v: want trigger, then resolve", action)
	}
	same := [][2]string{
		{"detected A", "restored A"},
		{"grouped", "grouped again"},
		{"grouped", "grouped, ids in upper case"},
		{"grouped", "grouped restore"},
		{"long rule", "long rule again"},
	}
	for _, p := range same {
		if key[p[0]] != key[p[1]] {
			t.Errorf("%s and %s: keys %q and %q, want one", p[0], p[1], key[p[0]], key[p[1]])
		}
	}
	differ := [][2]string{
		{"detected A", "detected B"},
		{"grouped", "grouped, another rule"},
		{"grouped", "grouped, another initiator"},
		{"grouped", "breaker"},
		{"detected A", "grouped"},
	}
	for _, p := range differ {
		if key[p[0]] == key[p[1]] {
			t.Errorf("%s and %s share key %q, want two", p[0], p[1], key[p[0]])
		}
	}
}

// TestPagerDutyAnswers: 202 is delivered; 429 is retryable with its
// Retry-After; 5xx retryable; 400 (an invalid event) final. The routing key
// shows in no error, even when the receiver echoes the event back.
func TestPagerDutyAnswers(t *testing.T) {
	notify.CheckAnswers(t, notify.AnswerChannel{
		Name: "oncall",
		Send: func(t *testing.T, rcv *notify.Receiver) error {
			return newPagerDuty(t, rcv).Send(context.Background(), pdDetected(pdGroupA))
		},
		Reply: func(body []byte) string {
			return `{"status":"invalid event","message":"Event object is invalid","errors":["got ` + strings.ReplaceAll(string(body), `"`, `'`) + `"]}`
		},
		Secrets: []string{pdTestKey},
	}, []notify.AnswerCase{
		{Name: "accepted", Status: http.StatusAccepted},
		{Name: "throttled", Status: http.StatusTooManyRequests, RetryAfter: "7", Retryable: true, After: 7 * time.Second},
		{Name: "invalid event", Status: http.StatusBadRequest},
		{Name: "pagerduty down", Status: http.StatusInternalServerError, Retryable: true},
	})
}

func TestNewPagerDuty(t *testing.T) {
	tests := []struct {
		name     string
		values   map[string]any
		wantErr  string
		endpoint string
	}{
		{"default endpoint", map[string]any{"routingKey": pdTestKey}, "", "https://events.pagerduty.com/…"},
		{"loopback endpoint", map[string]any{"routingKey": pdTestKey, "url": "http://127.0.0.1:9/v2/enqueue"}, "", "http://127.0.0.1:9/…"},
		{"no routing key", map[string]any{}, "channel oncall: routingKey is required", ""},
		{"empty routing key, as an unset ${ENV} leaves it", map[string]any{"routingKey": ""}, "routingKey must be a non-empty string", ""},
		{"routing key not a string", map[string]any{"routingKey": 42}, "routingKey must be a non-empty string", ""},
		{"http elsewhere", map[string]any{"routingKey": pdTestKey, "url": "http://events.example.com/" + pdTestKey}, "url must be https", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pd, err := notify.NewPagerDuty("oncall", tt.values, nil)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), pdTestKey):
				t.Errorf("the error shows the routing key: %v", err)
			case err == nil:
				printed := fmt.Sprintf("%v %+v %#v %s", pd, pd, pd, pd)
				if strings.Contains(printed, pdTestKey) {
					t.Errorf("printing the channel shows the routing key: %s", printed)
				}
				if !strings.Contains(pd.String(), tt.endpoint) {
					t.Errorf("%s: want endpoint %s", pd, tt.endpoint)
				}
			}
		})
	}
}
