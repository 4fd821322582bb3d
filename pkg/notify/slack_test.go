package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/rules"
)

// newSlackFor is a Slack channel posting to rcv, its secret in the path.
func newSlackFor(t *testing.T, rcv *notify.Receiver) *notify.Slack {
	t.Helper()
	s, err := notify.NewSlack("ops-slack", map[string]any{"url": rcv.URL + "/services/T000/B000/SECRET"}, rcv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func slackGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	notify.Golden(t, filepath.Join(notify.GoldenDir, "slack", name+".json"), got)
}

var (
	slackAt     = time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	slackTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	slackAdmin  = audit.Initiator{Type: audit.InitiatorUser, ID: "3b1f5d7e-9a0c-4e2f-8b4d-6f8a0c2e4b6d", UserPrincipalName: "it.admin@contoso.com"}
	slackApp    = audit.Initiator{Type: audit.InitiatorApp, ID: "9c1e3a5b-7d9f-4b1d-a3c5-e7f9b1d3f5a7", AppID: "4f6a8c0e-2a4c-4e6a-b0c2-e4a6c8e0a2c4", DisplayName: "HR sync"}
	slackGroup  = notify.Object{ID: "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65", Type: audit.TargetGroup, Name: "sec-prod-payments"}
)

func slackObjectsN(n int, name func(i int) string) []notify.Object {
	objects := make([]notify.Object, n)
	for i := range objects {
		objects[i] = notify.Object{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1), Type: audit.TargetUser, Name: name(i)}
	}
	return objects
}

func slackGoldenMessages() []struct {
	name string
	m    notify.Message
} {
	portal := notify.Link{Title: "Open in Entra admin center", URL: "https://entra.microsoft.com/#view/Microsoft_AAD_IAM/GroupDetailsMenuBlade/~/Overview/groupId/e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65"}
	return []struct {
		name string
		m    notify.Message
	}{
		{"restored-verified", notify.Message{
			Kind: notify.KindObjectRestored, Severity: rules.SeverityCritical, Time: slackAt, TenantID: slackTenant,
			Rule: "critical-groups", Activity: "Delete group", Initiator: slackAdmin,
			Objects: []notify.Object{slackGroup}, Total: 1, Action: "restore",
			Outcome: notify.Outcome{Status: notify.StatusRestored, Verified: true}, Mode: rules.ModeEnforce,
			Event: &audit.Event{ID: "Directory_4f9e2c1a_ABCDE_123456789"}, Links: []notify.Link{portal},
		}},
		{"failed-escaped", notify.Message{
			Kind: notify.KindRestoreFailed, Severity: rules.SeverityWarning, Time: slackAt, TenantID: slackTenant,
			Rule: "all-users", Activity: "Delete user", Initiator: slackApp,
			Objects: []notify.Object{{ID: "a1b2c3d4-0000-4000-8000-000000000001", Type: audit.TargetUser, Name: "<!channel> R&D\nlead"}}, Total: 1,
			Action: "restore", Outcome: notify.Outcome{Status: notify.StatusConflict, Detail: "userPrincipalName <adele@contoso.com> is taken"}, Mode: rules.ModeEnforce,
			Event: &audit.Event{ID: "Directory_77"},
		}},
		{"preview-waiting", notify.Message{
			Kind: notify.KindPreviewReady, Severity: rules.SeverityInfo, Time: slackAt, TenantID: slackTenant,
			Rule: "ca-policies", Activity: "Delete conditional access policy", Initiator: slackAdmin,
			Objects: []notify.Object{{ID: "c0a1b2c3-d4e5-4f60-8172-839405a6b7c8", Type: audit.TargetConditionalAccessPolicy, Name: "Require MFA for admins"}}, Total: 1,
			Action: "preview", Outcome: notify.Outcome{Status: notify.StatusWaitingApproval}, Mode: rules.ModeEnforce,
			Links: []notify.Link{
				{Title: "Approve the restore", URL: "https://reinstate.contoso.com/approvals/42"},
				{Title: "not a web link", URL: "javascript:alert(1)"},
				{Title: "Status", URL: "https://reinstate.contoso.com/status/42"},
			},
		}},
		{"observe-held", notify.Message{
			Kind: notify.KindDeletionDetected, Severity: rules.SeverityCritical, Time: slackAt, TenantID: slackTenant,
			Rule: "critical-groups", Activity: "Hard Delete group", Initiator: slackAdmin,
			Objects: []notify.Object{slackGroup}, Total: 1, Action: "restore", Guard: "cooldown",
			Outcome: notify.Outcome{Status: notify.StatusHeld, Detail: "restored 10 minutes ago; cooldown 1h"}, Mode: rules.ModeObserve,
		}},
		{"breaker-grouped", notify.Message{
			Kind: notify.KindBreakerTripped, Severity: rules.SeverityCritical, Time: slackAt, TenantID: slackTenant,
			Activity: "Delete user", Initiator: slackAdmin,
			Objects: slackObjectsN(notify.MaxObjects, func(i int) string { return "user" + strconv.Itoa(i+1) + "@contoso.com" }), Total: 5000,
			Action: "restore", Guard: "breaker", Outcome: notify.Outcome{Status: notify.StatusHeld, Detail: "5000 deletions in 10m exceed the breaker's 50"},
			Mode: rules.ModeEnforce,
		}},
	}
}

// TestSlackPostsBlockKit: each message posts exactly the golden body, as
// JSON, within Block Kit's limits.
func TestSlackPostsBlockKit(t *testing.T) {
	for _, tt := range slackGoldenMessages() {
		t.Run(tt.name, func(t *testing.T) {
			rcv := notify.NewReceiver(t, http.StatusOK)
			if err := newSlackFor(t, rcv).Send(context.Background(), tt.m); err != nil {
				t.Fatal(err)
			}
			got := rcv.Requests()
			if len(got) != 1 {
				t.Fatalf("the receiver got %d requests, want 1", len(got))
			}
			if ct := got[0].Header.Get("Content-Type"); got[0].Method != http.MethodPost || ct != "application/json" || got[0].Path != "/services/T000/B000/SECRET" {
				t.Errorf("request %s %s (%s), want POST of application/json to the webhook", got[0].Method, got[0].Path, ct)
			}
			checkSlackLimits(t, got[0].Body)
			slackGolden(t, tt.name, got[0].Body)
		})
	}
}

// TestSlackTruncation: a 25-object message with very long names, details,
// rule and links stays within every Block Kit limit, lists at most
// MaxObjects objects and counts the rest, and never cuts an escape.
func TestSlackTruncation(t *testing.T) {
	long := func(i int) string {
		return strings.Repeat("Ünïcødé & <b>très</b> long name 🚀 ", 150) + strconv.Itoa(i)
	}
	var links []notify.Link
	for i := range 30 {
		links = append(links, notify.Link{Title: strings.Repeat("A very long link title ", 10), URL: "https://reinstate.contoso.com/x/" + strconv.Itoa(i)})
	}
	links = append(links, notify.Link{Title: "too long", URL: "https://example.com/" + strings.Repeat("a", 3000)})
	m := notify.Message{
		Kind: notify.KindDeletionDetected, Severity: rules.SeverityWarning, Time: slackAt, TenantID: slackTenant,
		Rule: strings.Repeat("rule-", 1000), Activity: strings.Repeat("Delete user ", 500), Initiator: audit.Initiator{UserPrincipalName: strings.Repeat("x", 3000) + "@contoso.com"},
		Objects: slackObjectsN(25, long), Total: 25, Action: "notify", Guard: strings.Repeat("g", 5000),
		Outcome: notify.Outcome{Status: notify.StatusDetected, Detail: strings.Repeat("&<>", 2000)}, Mode: rules.ModeObserve,
		Event: &audit.Event{ID: strings.Repeat("e", 4000)}, Links: links,
	}
	rcv := notify.NewReceiver(t, http.StatusOK)
	if err := newSlackFor(t, rcv).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := rcv.Requests()
	if len(got) != 1 {
		t.Fatalf("the receiver got %d requests, want 1", len(got))
	}
	msg := checkSlackLimits(t, got[0].Body)

	var objects string
	var buttons int
	for _, b := range msg.Blocks {
		if b.Type == "section" && b.Text != nil && strings.HasPrefix(b.Text.Text, "*Objects*") {
			objects = b.Text.Text
		}
		if b.Type == "actions" {
			buttons = len(b.Elements)
		}
	}
	listed := strings.Count(objects, "\n• ")
	if listed == 0 || listed > notify.MaxObjects {
		t.Errorf("%d objects listed, want 1 to %d:\n%s", listed, notify.MaxObjects, objects)
	}
	if want := fmt.Sprintf("… and %d more", 25-listed); !strings.HasSuffix(objects, want) {
		t.Errorf("the object list does not end with %q:\n%s", want, objects)
	}
	if !strings.HasPrefix(objects, "*Objects* (25)") {
		t.Errorf("the object list does not say how many: %.40q", objects)
	}
	if buttons != 25 {
		t.Errorf("%d buttons, want 25 (Slack's most; the over-long URL left out)", buttons)
	}
	slackGolden(t, "truncated-25-objects", got[0].Body)
}

// slackPosted is the part of a posted body the tests read back.
type slackPosted struct {
	Text   string `json:"text"`
	Blocks []struct {
		Type   string           `json:"type"`
		Text   *slackPostedText `json:"text"`
		Fields []slackPostedText
		// Elements are text objects (context) or buttons (actions).
		Elements []json.RawMessage `json:"elements"`
	} `json:"blocks"`
}

type slackPostedButton struct {
	Type     string          `json:"type"`
	Text     slackPostedText `json:"text"`
	URL      string          `json:"url"`
	ActionID string          `json:"action_id"`
}

type slackPostedText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// units is a string's length in UTF-16 code units, never fewer than its
// characters however Slack counts them.
func units(s string) int { return len(utf16.Encode([]rune(s))) }

var slackEntity = regexp.MustCompile(`&(amp|lt|gt);`)

// checkSlackLimits checks a posted body against Block Kit's documented
// limits, and that mrkdwn carries no unescaped &, < or >.
func checkSlackLimits(t *testing.T, body []byte) slackPosted {
	t.Helper()
	var msg slackPosted
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("the body is not JSON: %v\n%s", err, body)
	}
	mrkdwn := func(where string, tx slackPostedText, limit int) {
		if tx.Text == "" || units(tx.Text) > limit {
			t.Errorf("%s: text of %d characters, want 1 to %d", where, units(tx.Text), limit)
		}
		if tx.Type == "mrkdwn" && strings.ContainsAny(slackEntity.ReplaceAllString(tx.Text, ""), "&<>") {
			t.Errorf("%s: mrkdwn with an unescaped &, < or >: %.200q", where, tx.Text)
		}
	}
	mrkdwn("text", slackPostedText{Type: "mrkdwn", Text: msg.Text}, 3000)
	if len(msg.Blocks) == 0 || len(msg.Blocks) > 50 {
		t.Errorf("%d blocks, want 1 to 50", len(msg.Blocks))
	}
	actionIDs := map[string]bool{}
	for i, b := range msg.Blocks {
		where := fmt.Sprintf("block %d (%s)", i, b.Type)
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" {
				t.Errorf("%s: want plain_text", where)
				continue
			}
			mrkdwn(where, *b.Text, 150)
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				t.Errorf("%s: neither text nor fields", where)
			}
			if b.Text != nil {
				mrkdwn(where, *b.Text, 3000)
			}
			if len(b.Fields) > 10 {
				t.Errorf("%s: %d fields, want at most 10", where, len(b.Fields))
			}
			for j, f := range b.Fields {
				mrkdwn(fmt.Sprintf("%s field %d", where, j), f, 2000)
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > 10 {
				t.Errorf("%s: %d elements, want 1 to 10", where, len(b.Elements))
			}
			for j, raw := range b.Elements {
				var e slackPostedText
				if err := json.Unmarshal(raw, &e); err != nil || e.Type != "mrkdwn" {
					t.Errorf("%s element %d: %s, want a mrkdwn text object", where, j, raw)
				}
				mrkdwn(fmt.Sprintf("%s element %d", where, j), e, 3000)
			}
		case "actions":
			if len(b.Elements) == 0 || len(b.Elements) > 25 {
				t.Errorf("%s: %d elements, want 1 to 25", where, len(b.Elements))
			}
			for j, raw := range b.Elements {
				var e slackPostedButton
				if err := json.Unmarshal(raw, &e); err != nil || e.Type != "button" || e.Text.Type != "plain_text" {
					t.Errorf("%s element %d: %s, want a button with plain_text", where, j, raw)
				}
				mrkdwn(fmt.Sprintf("%s button %d", where, j), e.Text, 75)
				if e.URL == "" || units(e.URL) > 3000 || !strings.HasPrefix(e.URL, "https://") {
					t.Errorf("%s button %d: url %.80q", where, j, e.URL)
				}
				if e.ActionID == "" || len(e.ActionID) > 255 || actionIDs[e.ActionID] {
					t.Errorf("%s button %d: action_id %q empty, too long or not unique", where, j, e.ActionID)
				}
				actionIDs[e.ActionID] = true
			}
		default:
			t.Errorf("%s: unexpected block type", where)
		}
	}
	return msg
}

// TestSlackAnswers: 429 is retryable with its Retry-After, 5xx retryable,
// 400 final; no error shows the webhook's secret path.
func TestSlackAnswers(t *testing.T) {
	m := slackGoldenMessages()[0].m
	notify.CheckAnswers(t, notify.AnswerChannel{
		Name: "ops-slack",
		Send: func(t *testing.T, rcv *notify.Receiver) error {
			return newSlackFor(t, rcv).Send(context.Background(), m)
		},
		Reply:   func([]byte) string { return "invalid_blocks" },
		Secrets: []string{"SECRET", "/services"},
	}, []notify.AnswerCase{
		{Name: "delivered", Status: http.StatusOK},
		{Name: "throttled", Status: http.StatusTooManyRequests, RetryAfter: "30", Retryable: true, After: 30 * time.Second},
		{Name: "slack down", Status: http.StatusServiceUnavailable, Retryable: true},
		{Name: "invalid blocks", Status: http.StatusBadRequest},
		{Name: "webhook gone", Status: http.StatusNotFound},
	})
}

func TestNewSlack(t *testing.T) {
	tests := []struct {
		name    string
		values  map[string]any
		wantErr string
	}{
		{"https", map[string]any{"url": "https://hooks.slack.com/services/T000/B000/SECRET"}, ""},
		{"missing", map[string]any{}, "channel ops-slack: url is required"},
		{"empty, as an unset ${ENV} leaves it", map[string]any{"url": ""}, "url must be a non-empty string"},
		{"http elsewhere", map[string]any{"url": "http://hooks.slack.com/services/T000/B000/SECRET"}, "must be https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := notify.NewSlack("ops-slack", tt.values, nil)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "SECRET"):
				t.Errorf("the error shows the URL: %v", err)
			case err == nil:
				if printed := fmt.Sprintf("%v %+v %#v %s", s, s, s, s); strings.Contains(printed, "SECRET") {
					t.Errorf("printing the channel shows the URL: %s", printed)
				}
			}
		})
	}
}
