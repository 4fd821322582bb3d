package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/rules"
)

var webhookGoldenDir = filepath.Join(GoldenDir, "webhook")

// The channel's test secret: "whsec_" and the base64 of 32 bytes. The
// receiver's verifier decodes it on its own.
const (
	testWebhookSecret = "whsec_cmVpbnN0YXRlLXdlYmhvb2stdGVzdC1zZWNyZXQhISE="
	// webhookPath holds the parts of a webhook URL that are secrets.
	webhookPath = "/hooks/PATHSECRET?token=QUERYSECRET"
)

var webhookNow = time.Date(2026, 12, 4, 9, 15, 0, 0, time.UTC)

// webhookMessages are one message of each Kind, as the pipeline builds them.
func webhookMessages() map[Kind]Message {
	deletedAt := time.Date(2026, 12, 4, 9, 14, 3, 0, time.UTC)
	admin := audit.Initiator{Type: audit.InitiatorUser, ID: "8d2c4f0e-7a51-4b7e-9c3d-2f6a1b0e9d44", UserPrincipalName: "it.admin@contoso.com"}
	tenant := "72f988bf-86f1-41af-91ab-2d7cd011db47"
	oneEvent := func(id, activity string, target audit.Target, deletion audit.Deletion) *audit.Event {
		return &audit.Event{
			ID: id, TenantID: tenant, Time: deletedAt, Activity: activity, Category: "GroupManagement",
			OperationType: "Delete", Result: "success", Service: "Core Directory",
			CorrelationID: "4e1d2c3b-5a69-4788-9a0b-1c2d3e4f5a6b", Initiator: admin,
			Targets: []audit.Target{target}, Deletion: deletion,
		}
	}
	payments := audit.Target{ID: "0f5c2d1e-3b4a-4c6d-8e7f-9a0b1c2d3e4f", Type: audit.TargetGroup, DisplayName: "sec-prod-payments", GroupType: "azureAD"}
	alice := audit.Target{ID: "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", Type: audit.TargetUser, UserPrincipalName: "a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5dalice@contoso.com"}
	failedEvent := oneEvent("Directory_7c1b9e2a-4d3f-4e5a-8b6c-1d2e3f4a5b6c", "Delete user", alice, audit.DeletionSoft)
	failedEvent.Category = "UserManagement"
	hardEvent := oneEvent("Directory_2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901", "Hard delete user", alice, audit.DeletionHard)
	hardEvent.Category = "UserManagement"
	policy := audit.Target{ID: "6e5d4c3b-2a19-4807-96f5-e4d3c2b1a098", Type: audit.TargetConditionalAccessPolicy, DisplayName: "Require MFA for admins"}
	policyEvent := oneEvent("IPCGraph_9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "Delete conditional access policy", policy, audit.DeletionSoft)
	policyEvent.Category, policyEvent.Service = "Policy", "Conditional Access"

	storm := make([]Object, 0, MaxObjects)
	for i := range MaxObjects {
		storm = append(storm, Object{ID: fmt.Sprintf("5b3f0c1e-0000-4000-8000-%012d", i+1), Type: audit.TargetGroup, Name: fmt.Sprintf("team-site-%02d", i+1)})
	}
	portal := "https://entra.microsoft.com/#view/Microsoft_AAD_IAM/"

	return map[Kind]Message{
		KindObjectRestored: {
			Kind: KindObjectRestored, Severity: rules.SeverityCritical, Time: deletedAt, TenantID: tenant,
			Rule: "restore-critical-groups", Activity: "Delete group", Initiator: admin,
			Objects: []Object{{ID: payments.ID, Type: audit.TargetGroup, Name: "sec-prod-payments"}}, Total: 1,
			Action: "restore", Outcome: Outcome{Status: StatusRestored, Verified: true}, Mode: rules.ModeEnforce,
			Event: oneEvent("Directory_3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9", "Delete group", payments, audit.DeletionSoft),
			Links: []Link{{Title: "Open in Entra admin center", URL: portal + "GroupDetailsMenuBlade/~/Overview/groupId/" + payments.ID}},
		},
		KindBreakerTripped: {
			Kind: KindBreakerTripped, Severity: rules.SeverityCritical, Time: deletedAt, TenantID: tenant,
			Activity: "Delete group", Initiator: audit.Initiator{Type: audit.InitiatorApp, ServicePrincipalID: "c0ffee00-1234-4abc-9def-0123456789ab", AppID: "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4", DisplayName: "provisioning-sync"},
			Objects: storm, Total: 25, Action: "restore",
			Outcome: Outcome{Status: StatusHeld, Detail: "25 deletions by one initiator within 5m0s exceed the breaker's limit of 20; automatic restores are paused"},
			Guard:   "breaker", Mode: rules.ModeEnforce,
		},
		KindRestoreFailed: {
			Kind: KindRestoreFailed, Severity: rules.SeverityWarning, Time: deletedAt, TenantID: tenant,
			Rule: "restore-users", Activity: "Delete user", Initiator: admin,
			Objects: []Object{{ID: alice.ID, Type: audit.TargetUser, Name: "alice@contoso.com"}}, Total: 1,
			Action: "restore", Outcome: Outcome{Status: StatusFailed, Detail: "Graph answered 403 Authorization_RequestDenied: Reinstate may not restore users (User.ReadWrite.All is missing)"},
			Mode: rules.ModeEnforce, Event: failedEvent,
		},
		KindDeletionDetected: {
			Kind: KindDeletionDetected, Severity: rules.SeverityCritical, Time: deletedAt, TenantID: tenant,
			Rule: "restore-users", Activity: "Hard delete user", Initiator: admin,
			Objects: []Object{{ID: alice.ID, Type: audit.TargetUser, Name: "alice@contoso.com"}}, Total: 1,
			Action: "notify", Outcome: Outcome{Status: StatusDetected, Detail: "hard delete: nothing is left to restore"},
			Mode: rules.ModeEnforce, Event: hardEvent,
		},
		KindPreviewReady: {
			Kind: KindPreviewReady, Severity: rules.SeverityWarning, Time: deletedAt, TenantID: tenant,
			Rule: "preview-ca-policies", Activity: "Delete conditional access policy", Initiator: admin,
			Objects: []Object{{ID: policy.ID, Type: audit.TargetConditionalAccessPolicy, Name: policy.DisplayName}}, Total: 1,
			Action: "preview", Outcome: Outcome{Status: StatusWaitingApproval, Detail: "preview job 1d2e3f4a-5b6c-4d7e-8f90-a1b2c3d4e5f6 waits for approval"},
			Mode: rules.ModeEnforce, Event: policyEvent,
			Links: []Link{{Title: "Review the preview in Entra Backup & Recovery", URL: portal + "BackupRecovery.ReactView"}},
		},
	}
}

func newTestWebhook(t *testing.T, endpoint string, now func() time.Time) *Webhook {
	t.Helper()
	w, err := NewWebhook("hooks", map[string]any{"url": endpoint, "secret": testWebhookSecret}, &http.Client{Timeout: 5 * time.Second}, now)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// verifyStandardWebhook checks a delivery as a receiver would, written from
// the Standard Webhooks specification (https://www.standardwebhooks.com/,
// "Verifying webhook authenticity") and not from the sender's code: the
// three headers present, the timestamp within 5 minutes of now, and one
// "v1," signature equal to base64(HMAC-SHA256(base64-decoded secret,
// id.timestamp.body)).
func verifyStandardWebhook(secret string, header http.Header, body []byte, now time.Time) error {
	id, ts, sigs := header.Get("webhook-id"), header.Get("webhook-timestamp"), header.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing a webhook-* header")
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not unix seconds")
	}
	if d := now.Sub(time.Unix(unix, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("webhook-timestamp is outside the tolerance")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(sigs) {
		version, value, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(value)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

// TestWebhookVerifierMatchesSpecVector checks the test's own verifier
// against the reference vector of the Standard Webhooks libraries, so that
// a verifier that agrees with a wrong sender cannot pass.
func TestWebhookVerifierMatchesSpecVector(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		body   = `{"test": 2432232314}`
	)
	header := http.Header{}
	header.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	header.Set("webhook-timestamp", "1614265330")
	header.Set("webhook-signature", "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	at := time.Unix(1614265330, 0)
	if err := verifyStandardWebhook(secret, header, []byte(body), at); err != nil {
		t.Fatalf("the spec's vector does not verify: %v", err)
	}
	if err := verifyStandardWebhook(secret, header, []byte(body+" "), at); err == nil {
		t.Error("a changed body verifies")
	}
	if err := verifyStandardWebhook(secret, header, []byte(body), at.Add(6*time.Minute)); err == nil {
		t.Error("a stale timestamp verifies")
	}
}

// TestWebhookPayloads sends one message of each Kind to a loopback
// receiver and checks the exact body against its golden file, the headers,
// the signature, and the CloudEvent as the SDK reads it back.
func TestWebhookPayloads(t *testing.T) {
	recv := NewReceiver(t, http.StatusNoContent)
	w := newTestWebhook(t, recv.URL+webhookPath, func() time.Time { return webhookNow })
	messages := webhookMessages()
	tests := []struct {
		kind    Kind
		subject string
		listed  int
	}{
		{KindObjectRestored, "0f5c2d1e-3b4a-4c6d-8e7f-9a0b1c2d3e4f", 1},
		{KindBreakerTripped, "", MaxObjects},
		{KindRestoreFailed, "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", 1},
		{KindDeletionDetected, "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", 1},
		{KindPreviewReady, "6e5d4c3b-2a19-4807-96f5-e4d3c2b1a098", 1},
	}
	if len(tests) != len(messages) {
		t.Fatalf("%d cases for %d kinds", len(tests), len(messages))
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			m := messages[tt.kind]
			before := len(recv.Requests())
			if err := w.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			reqs := recv.Requests()
			if len(reqs) != before+1 {
				t.Fatalf("the receiver got %d requests, want 1", len(reqs)-before)
			}
			got := reqs[len(reqs)-1]

			// The exact payload.
			Golden(t, filepath.Join(webhookGoldenDir, string(tt.kind)+".json"), append(append([]byte(nil), got.Body...), '\n'))

			// The headers and the signature.
			wantID := independentEventID(t, m)
			if ct := got.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var envelope struct{ Data json.RawMessage }
			if err := json.Unmarshal(got.Body, &envelope); err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(envelope.Data); hex.EncodeToString(sum[:])[:32] != wantID {
				t.Errorf("the id is not the sha256 of data as sent (docs/EVENTS.md)")
			}
			if id := got.Header.Get("webhook-id"); id != wantID {
				t.Errorf("webhook-id = %q, want %q", id, wantID)
			}
			if ts := got.Header.Get("webhook-timestamp"); ts != strconv.FormatInt(webhookNow.Unix(), 10) {
				t.Errorf("webhook-timestamp = %q", ts)
			}
			if err := verifyStandardWebhook(testWebhookSecret, got.Header, got.Body, webhookNow.Add(time.Minute)); err != nil {
				t.Errorf("signature: %v", err)
			}
			if err := verifyStandardWebhook("whsec_"+base64.StdEncoding.EncodeToString([]byte("another-endpoint-secret-32-bytes")), got.Header, got.Body, webhookNow); err == nil {
				t.Error("the signature verifies with another secret")
			}

			// The CloudEvent, as the SDK reads the request, and as it reads
			// the body alone.
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(got.Body))
			req.Header = got.Header.Clone()
			ev, err := cloudevents.NewEventFromHTTPRequest(req)
			if err != nil {
				t.Fatalf("the SDK cannot read the request: %v", err)
			}
			var fromBody event.Event
			if err := format.JSON.Unmarshal(got.Body, &fromBody); err != nil {
				t.Fatalf("the SDK cannot read the body: %v", err)
			}
			for _, e := range []*event.Event{ev, &fromBody} {
				if err := e.Validate(); err != nil {
					t.Errorf("invalid CloudEvent: %v", err)
				}
				checkWebhookEvent(t, e, m, wantID, tt.subject)
				var data Message
				if err := e.DataAs(&data); err != nil {
					t.Fatalf("data: %v", err)
				}
				if len(data.Objects) != tt.listed || data.Total != m.Total {
					t.Errorf("data lists %d of %d objects, want %d of %d", len(data.Objects), data.Total, tt.listed, m.Total)
				}
				if (data.Event != nil) != (m.Event != nil) {
					t.Errorf("data carries event %t, want %t", data.Event != nil, m.Event != nil)
				}
			}
		})
	}
}

func checkWebhookEvent(t *testing.T, e *event.Event, m Message, id, subject string) {
	t.Helper()
	if e.SpecVersion() != "1.0" || e.ID() != id || e.Type() != "dev.reinstate."+string(m.Kind) ||
		e.Source() != "urn:reinstate" || e.Subject() != subject || !e.Time().Equal(m.Time) ||
		e.DataContentType() != "application/json" || len(e.Extensions()) != 0 {
		t.Errorf("event specversion %q id %q type %q source %q subject %q time %s datacontenttype %q extensions %v",
			e.SpecVersion(), e.ID(), e.Type(), e.Source(), e.Subject(), e.Time(), e.DataContentType(), e.Extensions())
	}
	var data Message
	if err := e.DataAs(&data); err != nil {
		t.Fatalf("data: %v", err)
	}
	gotJSON, _ := json.Marshal(data)
	wantJSON, _ := json.Marshal(m)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("data is not the message:\n got %s\nwant %s", gotJSON, wantJSON)
	}
}

// independentEventID is the id the channel promises: the first 32 hex
// digits of the sha256 of the message's JSON.
func independentEventID(t *testing.T, m Message) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:32]
}

// TestWebhookRetriesKeepTheID: a retry of one message carries the same
// webhook-id and body, a fresh timestamp and a signature that still
// verifies; another message gets another id.
func TestWebhookRetriesKeepTheID(t *testing.T) {
	recv := NewReceiver(t, http.StatusNoContent)
	clock := webhookNow
	w := newTestWebhook(t, recv.URL+webhookPath, func() time.Time { return clock })
	m := webhookMessages()[KindObjectRestored]

	recv.Answer(http.StatusServiceUnavailable, "")
	if err := w.Send(context.Background(), m); err == nil {
		t.Fatal("a 503 was delivered")
	}
	clock = clock.Add(90 * time.Second)
	recv.Answer(http.StatusOK, "")
	if err := w.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	other := m
	other.Outcome.Verified = false
	if err := w.Send(context.Background(), other); err != nil {
		t.Fatal(err)
	}

	reqs := recv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	first, retry, next := reqs[0], reqs[1], reqs[2]
	if first.Header.Get("webhook-id") != retry.Header.Get("webhook-id") || !bytes.Equal(first.Body, retry.Body) {
		t.Errorf("the retry changed the id or body: %q, %q", first.Header.Get("webhook-id"), retry.Header.Get("webhook-id"))
	}
	if first.Header.Get("webhook-timestamp") == retry.Header.Get("webhook-timestamp") {
		t.Error("the retry kept the first attempt's timestamp")
	}
	if err := verifyStandardWebhook(testWebhookSecret, retry.Header, retry.Body, clock); err != nil {
		t.Errorf("the retry's signature: %v", err)
	}
	if next.Header.Get("webhook-id") == first.Header.Get("webhook-id") {
		t.Error("another message has the same id")
	}
}

// TestWebhookDeliveryErrors: 503 with Retry-After is retryable after 7s, 400
// is final, a closed port retryable; no error shows the URL's secret parts
// or the secret.
func TestWebhookDeliveryErrors(t *testing.T) {
	m := webhookMessages()[KindRestoreFailed]
	CheckAnswers(t, AnswerChannel{
		Name: "hooks",
		Send: func(t *testing.T, rcv *Receiver) error {
			return newTestWebhook(t, rcv.URL+webhookPath, func() time.Time { return webhookNow }).Send(context.Background(), m)
		},
		Reply:   func([]byte) string { return "receiver answer" },
		Secrets: webhookSecrets,
	}, []AnswerCase{
		{Name: "503 with Retry-After", Status: http.StatusServiceUnavailable, RetryAfter: "7", Retryable: true, After: 7 * time.Second},
		{Name: "429", Status: http.StatusTooManyRequests, Retryable: true},
		{Name: "400 is final", Status: http.StatusBadRequest},
		{Name: "closed port", Retryable: true},
	})
}

// webhookSecrets are the URL's path and query and the signing secret.
var webhookSecrets = []string{"PATHSECRET", "QUERYSECRET", "hooks/", "token=", testWebhookSecret, strings.TrimPrefix(testWebhookSecret, "whsec_")}

// checkNoSecrets fails when err, however printed, shows the URL's path or
// query or the signing secret.
func checkNoSecrets(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err)} {
		for _, secret := range webhookSecrets {
			if strings.Contains(s, secret) {
				t.Errorf("the error shows %q: %s", secret, s)
			}
		}
	}
}

// TestWebhookSettings: problems name the channel and the key, never the
// value.
func TestWebhookSettings(t *testing.T) {
	secretOf := func(n int) string { return "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, n)) }
	good := "https://hooks.contoso.com" + webhookPath
	tests := []struct {
		name    string
		values  map[string]any
		wantErr []string // each must appear; empty for no error
	}{
		{"https", map[string]any{"url": good, "secret": testWebhookSecret}, nil},
		{"http to loopback", map[string]any{"url": "http://127.0.0.1:9" + webhookPath, "secret": testWebhookSecret}, nil},
		{"custom source", map[string]any{"url": good, "secret": testWebhookSecret, "source": "https://reinstate.contoso.com/prod"}, nil},
		{"24-byte secret", map[string]any{"url": good, "secret": secretOf(24)}, nil},
		{"64-byte secret", map[string]any{"url": good, "secret": secretOf(64)}, nil},
		{"missing url", map[string]any{"secret": testWebhookSecret}, []string{"channel hooks: url is required"}},
		{"http elsewhere", map[string]any{"url": "http://hooks.contoso.com" + webhookPath, "secret": testWebhookSecret}, []string{"channel hooks: url must be https"}},
		{"missing secret", map[string]any{"url": good}, []string{"channel hooks: secret is required"}},
		{"secret not a string", map[string]any{"url": good, "secret": 42}, []string{"channel hooks: secret must be a non-empty string"}},
		{"secret without prefix", map[string]any{"url": good, "secret": strings.TrimPrefix(testWebhookSecret, "whsec_")}, []string{"channel hooks: secret must be a Standard Webhooks secret"}},
		{"secret not base64", map[string]any{"url": good, "secret": "whsec_SECRET!notbase64"}, []string{"channel hooks: secret is not valid base64"}},
		{"secret too short", map[string]any{"url": good, "secret": secretOf(16)}, []string{"channel hooks: secret must decode to 24 to 64"}},
		{"secret too long", map[string]any{"url": good, "secret": secretOf(65)}, []string{"channel hooks: secret must decode to 24 to 64"}},
		{"both wrong", map[string]any{"url": "http://hooks.contoso.com" + webhookPath, "secret": "SECRET"}, []string{"url must be https", "secret must be"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWebhook("hooks", tt.values, nil, nil)
			if len(tt.wantErr) == 0 {
				if err != nil || w == nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q, want %q", err, want)
				}
			}
			checkNoSecrets(t, err)
			if secret, ok := tt.values["secret"].(string); ok && strings.Contains(err.Error(), strings.TrimPrefix(secret, "whsec_")) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestWebhookSource: a channel's source is the events' source.
func TestWebhookSource(t *testing.T) {
	recv := NewReceiver(t, http.StatusNoContent)
	w, err := NewWebhook("hooks", map[string]any{"url": recv.URL, "secret": testWebhookSecret, "source": "https://reinstate.contoso.com/prod"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(context.Background(), webhookMessages()[KindPreviewReady]); err != nil {
		t.Fatal(err)
	}
	var e event.Event
	if err := format.JSON.Unmarshal(recv.Requests()[0].Body, &e); err != nil {
		t.Fatal(err)
	}
	if e.Source() != "https://reinstate.contoso.com/prod" {
		t.Errorf("source = %q", e.Source())
	}
	if err := verifyStandardWebhook(testWebhookSecret, recv.Requests()[0].Header, recv.Requests()[0].Body, time.Now()); err != nil {
		t.Errorf("signature with the real clock: %v", err)
	}
}
