package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/rules"
)

var teamsDir = filepath.Join(notify.GoldenDir, "teams")

// adaptiveCardSchemaID is the schema's own id; its refs are all local.
const adaptiveCardSchemaID = "http://adaptivecards.io/schemas/adaptive-card.json"

var (
	cardSchemaOnce sync.Once
	cardSchema     *jsonschema.Schema
	cardSchemaErr  error
)

// noFetch refuses every URL the compiler would load: the schema must come
// from the committed file alone.
type noFetch struct{}

func (noFetch) Load(url string) (any, error) {
	return nil, fmt.Errorf("the tests fetch nothing, and %s is not committed", url)
}

// adaptiveCardSchema is the committed Adaptive Card 1.5.0 schema, compiled.
func adaptiveCardSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	cardSchemaOnce.Do(func() {
		f, err := os.Open(filepath.Join(teamsDir, "adaptive-card-1.5.0.json"))
		if err != nil {
			cardSchemaErr = err
			return
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			cardSchemaErr = err
			return
		}
		c := jsonschema.NewCompiler()
		c.UseLoader(noFetch{})
		c.AssertFormat()
		if cardSchemaErr = c.AddResource(adaptiveCardSchemaID, doc); cardSchemaErr != nil {
			return
		}
		cardSchema, cardSchemaErr = c.Compile(adaptiveCardSchemaID)
	})
	if cardSchemaErr != nil {
		t.Fatalf("loading the Adaptive Card schema: %v", cardSchemaErr)
	}
	return cardSchema
}

// validateTeamsBody checks the envelope Microsoft documents and validates
// the card against the schema; it returns the card.
func validateTeamsBody(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string          `json:"contentType"`
			ContentURL  json.RawMessage `json:"contentUrl"`
			Content     json.RawMessage `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("the body is not JSON: %v", err)
	}
	if msg.Type != "message" || len(msg.Attachments) != 1 {
		t.Fatalf("want a message with one attachment, got type %q with %d", msg.Type, len(msg.Attachments))
	}
	a := msg.Attachments[0]
	if a.ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Errorf("contentType = %q", a.ContentType)
	}
	if string(a.ContentURL) != "null" {
		t.Errorf("contentUrl = %s, want null", a.ContentURL)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(a.Content))
	if err != nil {
		t.Fatal(err)
	}
	if err := adaptiveCardSchema(t).Validate(inst); err != nil {
		t.Errorf("the card does not validate against the Adaptive Card 1.5.0 schema: %v", err)
	}
	card, _ := inst.(map[string]any)
	if card["type"] != "AdaptiveCard" || card["version"] != notify.AdaptiveCardVersion {
		t.Errorf("card type %v version %v, want AdaptiveCard %s", card["type"], card["version"], notify.AdaptiveCardVersion)
	}
	return card
}

// strings of a decoded JSON value, in document order.
func jsonStrings(v any, out *[]string) {
	switch v := v.(type) {
	case string:
		*out = append(*out, v)
	case []any:
		for _, x := range v {
			jsonStrings(x, out)
		}
	case map[string]any:
		for _, x := range v {
			jsonStrings(x, out)
		}
	}
}

// cardFacts maps fact titles to values, over every FactSet in the card.
func cardFacts(card map[string]any) map[string][]string {
	facts := map[string][]string{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			if v["type"] == "FactSet" {
				for _, f := range v["facts"].([]any) {
					f := f.(map[string]any)
					facts[f["title"].(string)] = append(facts[f["title"].(string)], f["value"].(string))
				}
			}
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(card["body"])
	return facts
}

// cardActions are the card's Action.OpenUrl buttons, title to URL.
func cardActions(card map[string]any) map[string]string {
	out := map[string]string{}
	actions, _ := card["actions"].([]any)
	for _, a := range actions {
		a := a.(map[string]any)
		if a["type"] == "Action.OpenUrl" {
			out[a["title"].(string)] = a["url"].(string)
		}
	}
	return out
}

// severityBadge is the first column's text and colour.
func severityBadge(card map[string]any) (string, string) {
	cs := card["body"].([]any)[0].(map[string]any)
	col := cs["columns"].([]any)[0].(map[string]any)
	tb := col["items"].([]any)[0].(map[string]any)
	return tb["text"].(string), tb["color"].(string)
}

// workflowsPath and workflowsQuery shape a Workflows trigger URL; sig is the
// secret.
const (
	workflowsPath  = "/workflows/5b7d9f1b3c65/triggers/manual/paths/invoke"
	workflowsQuery = "api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=TopSecretSignature42"
)

func newTeamsFor(t *testing.T, rcv *notify.Receiver) *notify.Teams {
	t.Helper()
	teams, err := notify.NewTeams("oncall-teams", map[string]any{"url": rcv.URL + workflowsPath + "?" + workflowsQuery}, rcv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return teams
}

var (
	teamsAt     = time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	teamsTenant = "9f3c6a1e-2b7d-4c58-8e0f-1a2b3c4d5e6f"
	teamsAdmin  = audit.Initiator{Type: audit.InitiatorUser, ID: "3b1f7c2a-8d4e-4f6a-9c0b-5e7d1a2f3c4b", UserPrincipalName: "it.admin@contoso.com"}
	teamsHRSync = audit.Initiator{Type: audit.InitiatorApp, AppID: "4f6a8c0e-2a4c-4e6a-b0c2-e4a6c8e0a2c4", ServicePrincipalID: "8c0e2a4c", DisplayName: "HR sync"}
	teamsGroup  = notify.Object{ID: "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65", Type: audit.TargetGroup, Name: "sec-prod-payments"}
)

// breakerObjects are 25 groups a storm deleted.
func breakerObjects() []notify.Object {
	objects := make([]notify.Object, 25)
	for i := range objects {
		objects[i] = notify.Object{
			ID:   fmt.Sprintf("0b1c2d3e-0000-4000-8000-%012d", i+1),
			Type: audit.TargetGroup,
			Name: fmt.Sprintf("team-%02d", i+1),
		}
	}
	return objects
}

type teamsCase struct {
	name       string
	m          notify.Message
	badge      string
	badgeColor string
	// want are facts by title, and texts anywhere in the card.
	facts   map[string]string
	texts   []string
	actions map[string]string
	absent  []string
}

func teamsCases() []teamsCase {
	breaker := breakerObjects()
	return []teamsCase{
		{
			name: "restored-verified",
			m: notify.Message{
				Kind: notify.KindObjectRestored, Severity: rules.SeverityCritical, Time: teamsAt, TenantID: teamsTenant,
				Rule: "critical-groups", Activity: "Delete group", Initiator: teamsAdmin,
				Objects: []notify.Object{teamsGroup}, Total: 1, Action: "restore",
				Outcome: notify.Outcome{Status: notify.StatusRestored, Verified: true}, Mode: rules.ModeEnforce,
				Event: &audit.Event{ID: "Directory_d0e1f2a3-b4c5-4d6e-b7f8-9a0b1c2d3e4f_PA1DU_202300401"},
			},
			badge: "CRITICAL", badgeColor: "attention",
			facts: map[string]string{
				"Activity": "Delete group", "Initiator": "it.admin@contoso.com", "Time": "2026-12-04T09:30:00Z (UTC)",
				"Rule": "critical-groups", "Action": "restore", "Outcome": "Restored, verified live",
				"Tenant": teamsTenant, "group": "sec-prod-payments (e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65)",
				"Audit event": "Directory_d0e1f2a3-b4c5-4d6e-b7f8-9a0b1c2d3e4f_PA1DU_202300401",
			},
			texts: []string{"Restored group sec-prod-payments (verified live)", "Object"},
			actions: map[string]string{
				"Open in Entra admin center": "https://entra.microsoft.com/#view/Microsoft_AAD_IAM/GroupDetailsMenuBlade/~/Overview/groupId/e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65",
			},
			absent: []string{"Mode", "Guard"},
		},
		{
			name: "restore-failed",
			m: notify.Message{
				Kind: notify.KindRestoreFailed, Severity: rules.SeverityWarning, Time: teamsAt, TenantID: teamsTenant,
				Rule: "protect-users", Activity: "Delete user", Initiator: teamsHRSync,
				Objects: []notify.Object{{ID: "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", Type: audit.TargetUser, Name: "adele.vance@contoso.com"}}, Total: 1,
				Action: "restore", Mode: rules.ModeEnforce,
				Outcome: notify.Outcome{Status: notify.StatusFailed, Detail: "Graph answered 403 Authorization_RequestDenied: insufficient privileges to restore the user"},
			},
			badge: "WARNING", badgeColor: "warning",
			facts: map[string]string{
				"Initiator": "HR sync (app 4f6a8c0e-2a4c-4e6a-b0c2-e4a6c8e0a2c4)", "Rule": "protect-users", "Action": "restore",
				"Outcome": "Restore failed: Graph answered 403 Authorization_RequestDenied: insufficient privileges to restore the user",
				"user":    "adele.vance@contoso.com (a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d)",
			},
			texts: []string{"Could not restore user adele.vance@contoso.com: Graph answered 403", "Restore the object by hand"},
			actions: map[string]string{
				"Open in Entra admin center": "https://entra.microsoft.com/#view/Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
			},
		},
		{
			name: "preview-ready",
			m: notify.Message{
				Kind: notify.KindPreviewReady, Severity: rules.SeverityCritical, Time: teamsAt, TenantID: teamsTenant,
				Rule: "ca-policies", Activity: "Delete conditional access policy", Initiator: teamsAdmin,
				Objects: []notify.Object{{ID: "854ff675-1eef-448d-8382-533788fae7e5", Type: audit.TargetConditionalAccessPolicy, Name: "Require MFA for admins"}}, Total: 1,
				Action: "preview", Mode: rules.ModeEnforce,
				Outcome: notify.Outcome{Status: notify.StatusWaitingApproval, Detail: "Backup & Recovery preview 7c1e is ready"},
				Links: []notify.Link{
					{Title: "Approve or reject", URL: "https://reinstate.contoso.example/approvals/7c1e"},
					{Title: "not a web link", URL: "javascript:alert(1)"},
				},
			},
			badge: "CRITICAL", badgeColor: "attention",
			facts: map[string]string{
				"Action": "preview", "Outcome": "Waiting for approval: Backup & Recovery preview 7c1e is ready",
				"conditionalAccessPolicy": "Require MFA for admins (854ff675-1eef-448d-8382-533788fae7e5)",
			},
			texts: []string{"Deleted conditionalAccessPolicy Require MFA for admins: restore waits for approval", "approve or reject it"},
			actions: map[string]string{
				"Open in Entra admin center": "https://entra.microsoft.com/#view/Microsoft_AAD_ConditionalAccess/PolicyBlade/policyId/854ff675-1eef-448d-8382-533788fae7e5",
				"Approve or reject":          "https://reinstate.contoso.example/approvals/7c1e",
			},
			absent: []string{"javascript:"},
		},
		{
			name: "breaker-tripped",
			m: notify.Message{
				Kind: notify.KindBreakerTripped, Severity: rules.SeverityCritical, Time: teamsAt, TenantID: teamsTenant,
				Rule: "critical-groups", Activity: "Delete group", Initiator: teamsAdmin,
				Objects: breaker, Total: 25, Action: "notify", Guard: "breaker", Mode: rules.ModeEnforce,
				Outcome: notify.Outcome{Status: notify.StatusHeld, Detail: "25 deletions in 5m0s reached the threshold of 20"},
			},
			badge: "CRITICAL", badgeColor: "attention",
			facts: map[string]string{
				"Outcome": "Held by the breaker guard: 25 deletions in 5m0s reached the threshold of 20", "Guard": "breaker",
				"Initiator": "it.admin@contoso.com", "group": "team-20 (0b1c2d3e-0000-4000-8000-000000000020)",
			},
			texts:  []string{"Mass deletion: 25 objects deleted by it.admin@contoso.com; automatic restore paused", "Objects (25)", "… and 5 more", "Automatic restores are paused"},
			absent: []string{"team-21", "0b1c2d3e-0000-4000-8000-000000000021", "Open in Entra admin center"},
		},
		{
			name: "observe-detected",
			m: notify.Message{
				Kind: notify.KindDeletionDetected, Severity: rules.SeverityInfo, Time: teamsAt,
				Rule: "enterprise-apps", Activity: "Delete service principal", Initiator: teamsHRSync,
				Objects: []notify.Object{{ID: "680033ff-1040-43a8-a8db-18d8d6e81f9a", Type: audit.TargetServicePrincipal, Name: "Payroll Connector"}}, Total: 1,
				Action: "restore", Mode: rules.ModeObserve,
				Outcome: notify.Outcome{Status: notify.StatusObserved, Detail: "matched enterprise-apps"},
			},
			badge: "INFO", badgeColor: "accent",
			facts: map[string]string{
				"Mode":             "observe: Reinstate decided, and changed nothing in the tenant",
				"Outcome":          "Observed only: nothing restored: matched enterprise-apps",
				"servicePrincipal": "Payroll Connector (680033ff-1040-43a8-a8db-18d8d6e81f9a)",
			},
			texts: []string{"Delete service principal: servicePrincipal Payroll Connector by HR sync (app 4f6a8c0e-2a4c-4e6a-b0c2-e4a6c8e0a2c4)", "observe mode and changed nothing"},
			actions: map[string]string{
				"Open in Entra admin center": "https://entra.microsoft.com/#view/Microsoft_AAD_IAM/ManagedAppMenuBlade/~/Overview/objectId/680033ff-1040-43a8-a8db-18d8d6e81f9a",
			},
			absent: []string{"Tenant"},
		},
	}
}

// TestTeamsPostsAdaptiveCards sends each message to a loopback Workflows
// endpoint and checks the exact posted body against its golden file, the
// envelope and the card against the Adaptive Card 1.5.0 schema, the request,
// and the facts people need.
func TestTeamsPostsAdaptiveCards(t *testing.T) {
	for _, tt := range teamsCases() {
		t.Run(tt.name, func(t *testing.T) {
			rcv := notify.NewReceiver(t, http.StatusAccepted)
			if err := newTeamsFor(t, rcv).Send(context.Background(), tt.m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			reqs := rcv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("want one request, got %d", len(reqs))
			}
			req := reqs[0]
			if ct := req.Header.Get("Content-Type"); req.Method != http.MethodPost || ct != "application/json" {
				t.Errorf("got %s with Content-Type %q, want POST application/json", req.Method, ct)
			}
			if req.Path != workflowsPath || req.Query != workflowsQuery {
				t.Errorf("posted to %s?%s, want the configured URL", req.Path, req.Query)
			}

			want := notify.Golden(t, filepath.Join(teamsDir, tt.name+".json"), req.Body)
			// The golden file is a card too: it must stay valid whatever -update wrote.
			validateTeamsBody(t, want)

			card := validateTeamsBody(t, req.Body)
			if text, color := severityBadge(card); text != tt.badge || color != tt.badgeColor {
				t.Errorf("severity badge %q in %q, want %q in %q", text, color, tt.badge, tt.badgeColor)
			}
			facts := cardFacts(card)
			for title, value := range tt.facts {
				found := false
				for _, v := range facts[title] {
					found = found || v == value
				}
				if !found {
					t.Errorf("fact %q = %q, want %q among them", title, facts[title], value)
				}
			}
			var all []string
			jsonStrings(card, &all)
			joined := strings.Join(all, "\n")
			for _, s := range tt.texts {
				if !strings.Contains(joined, s) {
					t.Errorf("the card does not say %q", s)
				}
			}
			for _, s := range tt.absent {
				if _, ok := facts[s]; ok || strings.Contains(joined, s) {
					t.Errorf("the card shows %q, and should not", s)
				}
			}
			actions := cardActions(card)
			if len(actions) != len(tt.actions) {
				t.Errorf("actions %v, want %v", actions, tt.actions)
			}
			for title, u := range tt.actions {
				if actions[title] != u {
					t.Errorf("action %q opens %q, want %q", title, actions[title], u)
				}
			}
			if title := tt.m.Title(); card["fallbackText"] != title {
				t.Errorf("fallbackText = %v, want the title %q", card["fallbackText"], title)
			}
		})
	}
}

// TestTeamsSchemaRejectsInvalidCards makes sure the validation the card
// tests rely on is not vacuous.
func TestTeamsSchemaRejectsInvalidCards(t *testing.T) {
	sch := adaptiveCardSchema(t)
	for name, card := range map[string]string{
		"a TextBlock without text":   `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","wrap":true}]}`,
		"an unknown card property":   `{"type":"AdaptiveCard","version":"1.5","msteams":{"width":"Full"},"body":[]}`,
		"an unknown element":         `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"Badge","text":"x"}]}`,
		"a colour no host knows":     `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"x","color":"purple"}]}`,
		"a fact without a value":     `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"FactSet","facts":[{"title":"x"}]}]}`,
		"an OpenUrl action, no url":  `{"type":"AdaptiveCard","version":"1.5","actions":[{"type":"Action.OpenUrl","title":"x"}]}`,
		"something else than a card": `{"type":"message","attachments":[]}`,
	} {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(card))
		if err != nil {
			t.Fatal(err)
		}
		if sch.Validate(inst) == nil {
			t.Errorf("%s: the schema accepted %s", name, card)
		}
	}
	ok := `{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"x","color":"attention"}]}`
	inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(ok))
	if err := sch.Validate(inst); err != nil {
		t.Errorf("the schema refused a minimal card: %v", err)
	}
}

// TestTeamsCardResistsMarkdownInNames: a name is the deleter's to choose;
// it must not turn into a link, nor break the card into lines.
func TestTeamsCardResistsMarkdownInNames(t *testing.T) {
	m := notify.Message{
		Kind: notify.KindDeletionDetected, Severity: rules.SeverityWarning, Time: teamsAt, Initiator: teamsAdmin, Action: "notify",
		Objects: []notify.Object{{ID: "g1", Type: audit.TargetGroup, Name: "[Approve restore](https://evil.example/x)\n**Urgent**"}}, Total: 1,
	}
	body, err := notify.TeamsBody(m)
	if err != nil {
		t.Fatal(err)
	}
	card := validateTeamsBody(t, body)
	var all []string
	jsonStrings(card, &all)
	for _, s := range all {
		if strings.Contains(s, "[Approve restore](") || strings.Contains(s, "\n") {
			t.Errorf("a name formed a link or a line break: %q", s)
		}
	}
	if got := cardFacts(card)["group"]; len(got) != 1 || !strings.Contains(got[0], `\[Approve restore\](https://evil.example/x)`) {
		t.Errorf("object fact = %q, want the name with its brackets escaped", got)
	}
}

// TestTeamsCardFitsTheSizeLimit: long names, a long reason and a storm
// still make a card under the 28 KB Teams takes, and a valid one.
func TestTeamsCardFitsTheSizeLimit(t *testing.T) {
	objects := make([]notify.Object, 20)
	for i := range objects {
		objects[i] = notify.Object{ID: fmt.Sprintf("%036d", i), Type: audit.TargetUser, Name: strings.Repeat("ŋ", 5000)}
	}
	m := notify.Message{
		Kind: notify.KindBreakerTripped, Severity: rules.SeverityCritical, Time: teamsAt, Initiator: teamsAdmin,
		Rule: strings.Repeat("r", 5000), Activity: "Delete user", Objects: objects, Total: 5000, Action: "notify",
		Guard: "breaker", Outcome: notify.Outcome{Status: notify.StatusHeld, Detail: strings.Repeat("why ", 5000)},
	}
	body, err := notify.TeamsBody(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > 28*1024 {
		t.Errorf("the body is %d bytes, over 28 KB", len(body))
	}
	card := validateTeamsBody(t, body)
	var all []string
	jsonStrings(card, &all)
	if joined := strings.Join(all, "\n"); !strings.Contains(joined, "Objects (5000)") || !strings.Contains(joined, "more") {
		t.Errorf("the card lost the count of objects")
	}
}

// TestTeamsAnswers: 429 and 5xx are retryable, with Retry-After; 400 is
// final; no error, nor the channel's own printing, shows the URL's path or
// query, where the Workflows signature is.
func TestTeamsAnswers(t *testing.T) {
	m := teamsCases()[0].m
	secrets := []string{"TopSecretSignature42", "sig=", "workflows", "triggers", "api-version", "5b7d9f1b3c65"}
	notify.CheckAnswers(t, notify.AnswerChannel{
		Name: "oncall-teams",
		Send: func(t *testing.T, rcv *notify.Receiver) error {
			return newTeamsFor(t, rcv).Send(context.Background(), m)
		},
		Reply:   func([]byte) string { return `{"error":{"code":"TriggerInputSchemaMismatch"}}` },
		Secrets: secrets,
	}, []notify.AnswerCase{
		{Name: "throttled", Status: http.StatusTooManyRequests, RetryAfter: "7", Retryable: true, After: 7 * time.Second},
		{Name: "unavailable", Status: http.StatusServiceUnavailable, RetryAfter: "120", Retryable: true, After: 2 * time.Minute},
		{Name: "server error", Status: http.StatusInternalServerError, Retryable: true},
		{Name: "refused", Status: http.StatusBadRequest},
		{Name: "no answer", Retryable: true},
	})
	t.Run("printing the channel", func(t *testing.T) {
		teams := newTeamsFor(t, notify.NewReceiver(t, http.StatusAccepted))
		printed := fmt.Sprintf("%v %s %+v %#v", teams, teams, teams, teams)
		for _, s := range secrets {
			if strings.Contains(printed, s) {
				t.Errorf("%q shows %q from the webhook URL", printed, s)
			}
		}
	})
}

func TestNewTeams(t *testing.T) {
	for _, tt := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"no url", map[string]any{}, "channel t: url is required"},
		{"not a string", map[string]any{"url": 42}, "channel t: url must be a non-empty string"},
		{"plain http off loopback", map[string]any{"url": "http://prod-00.westeurope.logic.azure.com/workflows/x?sig=LeakMe"}, "must be https"},
		{"not a URL", map[string]any{"url": "prod-00.logic.azure.com/workflows?sig=LeakMe"}, "url is not a URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := notify.NewTeams("t", tt.values, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "LeakMe") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
	teams, err := notify.NewTeams("t", map[string]any{"url": "https://prod-00.westeurope.logic.azure.com:443/workflows/x/triggers/manual/paths/invoke?sig=LeakMe"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := teams.String(); s != "teams channel t (https://prod-00.westeurope.logic.azure.com:443/…)" {
		t.Errorf("String() = %q", s)
	}
}

func TestAdminCenterLink(t *testing.T) {
	const id = "854ff675-1eef-448d-8382-533788fae7e5"
	const base = "https://entra.microsoft.com/#view/"
	for _, tt := range []struct {
		typ  audit.TargetType
		id   string
		want string
	}{
		{audit.TargetUser, id, base + "Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/" + id},
		{audit.TargetGroup, id, base + "Microsoft_AAD_IAM/GroupDetailsMenuBlade/~/Overview/groupId/" + id},
		{audit.TargetServicePrincipal, id, base + "Microsoft_AAD_IAM/ManagedAppMenuBlade/~/Overview/objectId/" + id},
		{audit.TargetAdministrativeUnit, id, base + "Microsoft_AAD_IAM/AdminUnitDetailsMenuBlade/~/RolesAndAdministrators/adminUnitId/" + id + "/adminUnitName/" + id},
		{audit.TargetConditionalAccessPolicy, id, base + "Microsoft_AAD_ConditionalAccess/PolicyBlade/policyId/" + id},
		{audit.TargetDevice, id, base + "Microsoft_AAD_Devices/DeviceDetailsMenuBlade/~/Properties/objectId/" + id},
		// Unsourced: the app registration blade wants the appId, not the object id.
		{audit.TargetApplication, id, ""},
		{audit.TargetNamedLocation, id, ""},
		{audit.TargetOther, id, ""},
		{audit.TargetUser, "", ""},
		// An id cannot reach another blade.
		{audit.TargetGroup, "x/../../Microsoft_AAD_IAM/AllRolesBlade", base + "Microsoft_AAD_IAM/GroupDetailsMenuBlade/~/Overview/groupId/x%2F..%2F..%2FMicrosoft_AAD_IAM%2FAllRolesBlade"},
	} {
		if got := notify.AdminCenterLink(tt.typ, tt.id); got != tt.want {
			t.Errorf("AdminCenterLink(%s, %q) = %q, want %q", tt.typ, tt.id, got, tt.want)
		}
	}
}
