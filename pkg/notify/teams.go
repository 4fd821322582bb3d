package notify

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/rules"
)

// The Teams channel posts to a Workflows webhook: a flow that starts "When a
// Teams webhook request is received" and posts the card it is sent. Microsoft
// retired the Office 365 connectors' incoming webhooks in its favour.
//
// The body is a message whose attachment is an Adaptive Card:
//
//	{"type": "message", "attachments": [{"contentType":
//	 "application/vnd.microsoft.card.adaptive", "contentUrl": null,
//	 "content": {...the card...}}]}
//
// as Microsoft Learn gives it in "Create and send messages", section "Send
// Adaptive Cards using an Incoming Webhook" ("The type field must be
// message", "The contentType field must be set to Adaptive Card type",
// "The content object is the card formatted in JSON"):
// https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
// (msteams-platform/webhooks-and-connectors/how-to/connectors-using.md in
// MicrosoftDocs/msteams-docs). That page sends Workflows users to the "When a
// Teams webhook request is received" trigger ("Microsoft Teams - Webhook",
// https://learn.microsoft.com/en-us/connectors/teams/#microsoft-teams-webhook)
// and notes "Workflows support Adaptive Cards only".
const (
	teamsMessageType      = "message"
	teamsCardContentType  = "application/vnd.microsoft.card.adaptive"
	adaptiveCardType      = "AdaptiveCard"
	adaptiveCardSchemaURI = "http://adaptivecards.io/schemas/adaptive-card.json"
	// AdaptiveCardVersion is the card version Reinstate sends. "Teams
	// platform supports v1.5 or earlier of Adaptive Card features" (Microsoft
	// Learn, "Types of cards", section "Support for Adaptive Cards":
	// https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/cards-reference,
	// msteams-platform/task-modules-and-cards/cards/cards-reference.md in
	// MicrosoftDocs/msteams-docs); Copilot Studio's "Adaptive Cards
	// overview" says the same ("Teams is also limited to version 1.5").
	// The tests validate every card against the 1.5.0 schema.
	AdaptiveCardVersion = "1.5"
)

// Limits. "The message size limit is 28 KB. When the size exceeds 28 KB, you
// receive an error" (Microsoft Learn, "Create Incoming Webhooks", which also
// says that more than four requests in a second are throttled:
// https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook);
// the Teams connector's "Known issues and limitations" give the flow's
// posting actions the same limit of about 28 KB
// (https://learn.microsoft.com/en-us/connectors/teams/).
const (
	teamsMaxBody = 28 * 1024
	// teamsMaxName bounds one object's name, teamsMaxText any other text
	// that comes from the directory or the rule file, so that twenty long
	// names still fit the limit.
	teamsMaxName = 200
	teamsMaxText = 1000
)

// Teams sends messages to a Teams Workflows webhook as Adaptive Cards. The
// webhook URL is the secret (a Workflows URL carries a sig= signature in its
// query): it is never logged, nor shown in errors. Teams is safe for
// concurrent use.
type Teams struct{ jsonHook }

// NewTeams reads a teams channel's settings: url, the Workflows webhook's
// URL (required; https, or http to loopback). Problems name the channel and
// the key, never the value. A nil client gets a 30-second timeout.
func NewTeams(name string, values map[string]any, client *http.Client) (*Teams, error) {
	h, err := newJSONHook("teams", name, values, client, TeamsBody)
	if err != nil {
		return nil, err
	}
	return &Teams{h}, nil
}

// teamsMessage is the webhook's body.
type teamsMessage struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

// teamsAttachment holds the card. contentUrl is sent as null, as in
// Microsoft's example.
type teamsAttachment struct {
	ContentType string       `json:"contentType"`
	ContentURL  *string      `json:"contentUrl"`
	Content     adaptiveCard `json:"content"`
}

// adaptiveCard is the card. It has no "msteams" key (such as full width):
// the 1.5 schema does not allow one, and every card must validate.
type adaptiveCard struct {
	Schema       string      `json:"$schema"`
	Type         string      `json:"type"`
	Version      string      `json:"version"`
	FallbackText string      `json:"fallbackText,omitempty"`
	Body         []any       `json:"body"`
	Actions      []acOpenURL `json:"actions,omitempty"`
}

// The card elements used, with the fields used, named as in the Adaptive
// Cards 1.5 schema (testdata/notify/teams/adaptive-card-1.5.0.json).
type (
	acTextBlock struct {
		Type      string `json:"type"` // TextBlock
		Text      string `json:"text"`
		Size      string `json:"size,omitempty"`
		Weight    string `json:"weight,omitempty"`
		Color     string `json:"color,omitempty"`
		IsSubtle  bool   `json:"isSubtle,omitempty"`
		Wrap      bool   `json:"wrap,omitempty"`
		Style     string `json:"style,omitempty"`
		Spacing   string `json:"spacing,omitempty"`
		Separator bool   `json:"separator,omitempty"`
	}
	acFactSet struct {
		Type      string   `json:"type"` // FactSet
		Facts     []acFact `json:"facts"`
		Spacing   string   `json:"spacing,omitempty"`
		Separator bool     `json:"separator,omitempty"`
	}
	acFact struct {
		Title string `json:"title"`
		Value string `json:"value"`
	}
	acColumnSet struct {
		Type    string     `json:"type"` // ColumnSet
		Columns []acColumn `json:"columns"`
	}
	acColumn struct {
		Type                     string `json:"type"` // Column
		Width                    string `json:"width"`
		Style                    string `json:"style,omitempty"`
		VerticalContentAlignment string `json:"verticalContentAlignment,omitempty"`
		Items                    []any  `json:"items"`
	}
	acOpenURL struct {
		Type  string `json:"type"` // Action.OpenUrl, which incoming webhooks support
		Title string `json:"title"`
		URL   string `json:"url"`
	}
)

func acText(text string) acTextBlock { return acTextBlock{Type: "TextBlock", Text: text, Wrap: true} }

// TeamsBody renders m as the body the Teams channel posts: the message, its
// Adaptive Card attachment, indented JSON. The card shows, from the top: the
// severity as a coloured badge beside the outcome; the title; the facts
// (activity, initiator, time, rule, action, outcome with its reason, guard,
// mode when observe, tenant, audit event); the objects with type, name and
// id (the first MaxObjects, then "… and N more"); what to do now; and
// buttons to the object in the Entra admin center and to m.Links.
func TeamsBody(m Message) ([]byte, error) {
	objects := m.Objects
	if len(objects) > MaxObjects {
		objects = objects[:MaxObjects]
	}
	// A card over the size limit is refused whole: shed object lines, which
	// the count then stands for, until it fits.
	for shown := len(objects); ; shown-- {
		body, err := encodeTeams(teamsCard(m, objects[:shown]))
		if err != nil || len(body) <= teamsMaxBody || shown == 0 {
			return body, err
		}
	}
}

func encodeTeams(card adaptiveCard) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(teamsMessage{
		Type:        teamsMessageType,
		Attachments: []teamsAttachment{{ContentType: teamsCardContentType, Content: card}},
	})
	return buf.Bytes(), err
}

func teamsCard(m Message, objects []Object) adaptiveCard {
	title := teamsText(m.Title(), teamsMaxText)
	status, statusColor := teamsStatus(m)
	severity, severityColor := teamsSeverity(m.Severity)
	body := []any{
		acColumnSet{Type: "ColumnSet", Columns: []acColumn{
			{Type: "Column", Width: "auto", Style: severityColor, VerticalContentAlignment: "center", Items: []any{
				acTextBlock{Type: "TextBlock", Text: severity, Weight: "bolder", Color: severityColor},
			}},
			{Type: "Column", Width: "stretch", VerticalContentAlignment: "center", Items: []any{
				acTextBlock{Type: "TextBlock", Text: status, Weight: "bolder", Color: statusColor, Wrap: true},
			}},
		}},
		acTextBlock{Type: "TextBlock", Text: title, Size: "large", Weight: "bolder", Wrap: true, Style: "heading"},
		acFactSet{Type: "FactSet", Facts: teamsFacts(m, status)},
	}
	body = append(body, teamsObjects(m, objects)...)
	next := acText("**What to do:** " + teamsText(teamsNextStep(m), teamsMaxText))
	next.Separator = true
	body = append(body, next)
	return adaptiveCard{
		Schema:       adaptiveCardSchemaURI,
		Type:         adaptiveCardType,
		Version:      AdaptiveCardVersion,
		FallbackText: title,
		Body:         body,
		Actions:      teamsActions(m),
	}
}

// teamsSeverity is the badge's text and colour, a ContainerStyle and Colors
// value alike: critical attention (red), warning warning (amber), info
// accent (blue).
func teamsSeverity(s rules.Severity) (string, string) {
	switch s {
	case rules.SeverityCritical:
		return "CRITICAL", "attention"
	case rules.SeverityWarning:
		return "WARNING", "warning"
	case rules.SeverityInfo:
		return "INFO", "accent"
	}
	return "NOTICE", "emphasis"
}

// teamsStatus says what became of Reinstate's action, and its colour.
func teamsStatus(m Message) (string, string) {
	switch o := m.Outcome; o.Status {
	case StatusRestored:
		if o.Verified {
			return "Restored, verified live", "good"
		}
		return "Restored, not read back yet", "good"
	case StatusFailed:
		return "Restore failed", "attention"
	case StatusConflict:
		return "Restore failed: needs a person", "attention"
	case StatusWaitingApproval:
		return "Waiting for approval", "warning"
	case StatusHeld:
		if m.Guard != "" {
			return "Held by the " + teamsText(m.Guard, teamsMaxName) + " guard", "warning"
		}
		return "Held", "warning"
	case StatusObserved:
		return "Observed only: nothing restored", "accent"
	case StatusDetected:
		return "Detected", "accent"
	case "":
		return "Reported", "default"
	default:
		return teamsText(string(o.Status), teamsMaxName), "default"
	}
}

// teamsFacts are the message's facts, one a row; "—" marks what is not
// known.
func teamsFacts(m Message, status string) []acFact {
	when := "—"
	if !m.Time.IsZero() {
		when = m.Time.UTC().Format(time.RFC3339) + " (UTC)"
	}
	outcome := status
	if detail := teamsText(m.Outcome.Detail, teamsMaxText); detail != "" {
		outcome += ": " + detail
	}
	facts := []acFact{
		{"Activity", m.Activity},
		{"Initiator", m.Who()},
		{"Time", when},
		{"Rule", m.Rule},
		{"Action", m.Action},
		{"Outcome", outcome},
	}
	if m.Guard != "" {
		facts = append(facts, acFact{"Guard", m.Guard})
	}
	if m.Mode == rules.ModeObserve {
		facts = append(facts, acFact{"Mode", "observe: Reinstate decided, and changed nothing in the tenant"})
	}
	if m.TenantID != "" {
		facts = append(facts, acFact{"Tenant", m.TenantID})
	}
	if m.Event != nil && m.Event.ID != "" {
		facts = append(facts, acFact{"Audit event", m.Event.ID})
	}
	for i := range facts {
		if facts[i].Title != "Outcome" && facts[i].Title != "Time" && facts[i].Title != "Mode" {
			facts[i].Value = teamsText(facts[i].Value, teamsMaxText)
		}
		if facts[i].Value == "" {
			facts[i].Value = "—"
		}
	}
	return facts
}

// teamsObjects lists the objects, one fact each: type, then name and id.
// Past the shown ones, "… and N more" counts the rest of Total.
func teamsObjects(m Message, objects []Object) []any {
	total := max(m.Total, len(m.Objects))
	if total == 0 {
		return nil
	}
	head := "Object"
	if total > 1 {
		head = "Objects (" + strconv.Itoa(total) + ")"
	}
	heading := acTextBlock{Type: "TextBlock", Text: head, Weight: "bolder", Separator: true}
	out := []any{heading}
	if len(objects) > 0 {
		facts := make([]acFact, 0, len(objects))
		for _, o := range objects {
			kind := teamsText(string(o.Type), teamsMaxName)
			if kind == "" {
				kind = "object"
			}
			value := teamsText(o.ID, teamsMaxName)
			if name := teamsText(o.Name, teamsMaxName); name != "" {
				value = name + " (" + value + ")"
			}
			facts = append(facts, acFact{kind, value})
		}
		out = append(out, acFactSet{Type: "FactSet", Facts: facts, Spacing: "small"})
	}
	if more := total - len(objects); more > 0 {
		tb := acText("… and " + strconv.Itoa(more) + " more")
		tb.IsSubtle = true
		tb.Spacing = "small"
		out = append(out, tb)
	}
	return out
}

// teamsNextStep tells people what they must do now.
func teamsNextStep(m Message) string {
	if m.Kind == KindBreakerTripped {
		return "Automatic restores are paused until the breaker's quiet period passes or on-call resets it. Check these deletions with the initiator, and restore what was not intended."
	}
	switch m.Outcome.Status {
	case StatusRestored:
		if m.Outcome.Verified {
			return "Nothing: the object is back, and Reinstate read it back live."
		}
		return "Check that the object is back: Reinstate restored it but has not read it back yet."
	case StatusFailed:
		return "Restore the object by hand from the deleted items once the reason above is fixed; Reinstate will not try again."
	case StatusConflict:
		return "Resolve the conflict above, then restore the object by hand."
	case StatusWaitingApproval:
		return "Review the restore preview, then approve or reject it."
	case StatusHeld:
		return "Reinstate held the restore back. Restore by hand if the deletion was not intended."
	case StatusObserved:
		return "Reinstate is in observe mode and changed nothing. Restore by hand if the deletion was not intended."
	}
	return "Reinstate does not restore this on its own. Restore by hand if the deletion was not intended."
}

// teamsActions are the card's buttons: the object in the Entra admin center,
// for a message about one object, then m.Links. A link that is not an
// absolute http(s) URL is left out.
func teamsActions(m Message) []acOpenURL {
	var actions []acOpenURL
	if len(m.Objects) == 1 && max(m.Total, 1) == 1 {
		if link := AdminCenterLink(m.Objects[0].Type, m.Objects[0].ID); link != "" {
			actions = append(actions, acOpenURL{Type: "Action.OpenUrl", Title: "Open in Entra admin center", URL: link})
		}
	}
	for _, l := range m.Links {
		u, err := url.Parse(l.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		title := teamsText(l.Title, 100)
		if title == "" {
			title = "Open"
		}
		actions = append(actions, acOpenURL{Type: "Action.OpenUrl", Title: title, URL: l.URL})
	}
	return actions
}

// teamsText makes s one line of at most limit characters, cut with "…",
// and keeps it from forming markdown links. TextBlock text and fact values
// are markdown in Teams ("Format cards in Teams"), and names come from
// whoever named the object: a name such as "[Approve](https://evil)" must
// not become a link. Brackets get CommonMark's backslash escape; a client
// that does not honour it shows the backslash, and forms no link either way.
func teamsText(s string, limit int) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
	if utf8.RuneCountInString(s) > limit {
		s = string([]rune(s)[:limit-1]) + "…"
	}
	return strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`).Replace(s)
}

// entraAdminCenter is the Microsoft Entra admin center.
const entraAdminCenter = "https://entra.microsoft.com/"

// AdminCenterLink is the object's page in the Microsoft Entra admin center,
// or "" when Reinstate knows no link for its type. The deep-link formats are
// the portal's own blade URLs, as public tools that link into it use them;
// none is documented by Microsoft as a stable API:
//   - user: Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/{id}
//   - group: Microsoft_AAD_IAM/GroupDetailsMenuBlade/~/Overview/groupId/{id}
//   - Conditional Access policy: Microsoft_AAD_ConditionalAccess/PolicyBlade/policyId/{id}
//   - device: Microsoft_AAD_Devices/DeviceDetailsMenuBlade/~/Properties/objectId/{id}
//     (all four from Maester's Get-GraphObjectMarkdown,
//     powershell/internal/Get-GraphObjectMarkdown.ps1 in maester365/maester);
//   - service principal (enterprise application):
//     Microsoft_AAD_IAM/ManagedAppMenuBlade/~/Overview/objectId/{id}, the
//     form Maester's checks use (Test-MtEOPS-01 in maester365/maester adds
//     /appId/{appId}, which Maester's own link parser treats as optional);
//   - administrative unit: Microsoft_AAD_IAM/AdminUnitDetailsMenuBlade/~/RolesAndAdministrators/adminUnitId/{id}/adminUnitName/{name},
//     the form Maester's EntraOps checks use (Test-MtEOPS-01); the name
//     is only the blade's caption, and the id stands in for it here.
//
// Applications (app registrations) get "": the sourced link,
// Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Overview/appId/{appId},
// is keyed by the application (client) id, which an audit target's object
// id is not, and no object-id form could be confirmed. Named locations and
// other types get "" too: no deep link was found for them.
func AdminCenterLink(t audit.TargetType, id string) string {
	if strings.TrimSpace(id) == "" {
		return ""
	}
	e := url.PathEscape(id)
	switch t {
	case audit.TargetUser:
		return entraAdminCenter + "#view/Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/" + e
	case audit.TargetGroup:
		return entraAdminCenter + "#view/Microsoft_AAD_IAM/GroupDetailsMenuBlade/~/Overview/groupId/" + e
	case audit.TargetServicePrincipal:
		return entraAdminCenter + "#view/Microsoft_AAD_IAM/ManagedAppMenuBlade/~/Overview/objectId/" + e
	case audit.TargetAdministrativeUnit:
		return entraAdminCenter + "#view/Microsoft_AAD_IAM/AdminUnitDetailsMenuBlade/~/RolesAndAdministrators/adminUnitId/" + e + "/adminUnitName/" + e
	case audit.TargetConditionalAccessPolicy:
		return entraAdminCenter + "#view/Microsoft_AAD_ConditionalAccess/PolicyBlade/policyId/" + e
	case audit.TargetDevice:
		return entraAdminCenter + "#view/Microsoft_AAD_Devices/DeviceDetailsMenuBlade/~/Properties/objectId/" + e
	}
	return ""
}
