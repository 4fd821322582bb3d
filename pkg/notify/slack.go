package notify

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"

	"github.com/reinstate/reinstate/pkg/rules"
)

// Block Kit limits, as Slack documents them. Slack counts "characters"; we
// count UTF-16 code units, never fewer than characters however they are
// counted, so that a name full of emoji cannot push a block over.
const (
	// "You can include up to 50 blocks in each message":
	// https://docs.slack.dev/reference/block-kit/blocks
	slackMaxBlocks = 50
	// Header text, plain_text, "Maximum length for the text in this field is
	// 150 characters": https://docs.slack.dev/reference/block-kit/blocks/header-block
	slackMaxHeader = 150
	// Section text "maximum length is 3000 characters"; fields "Maximum
	// number of items is 10. Maximum length for the text in each item is
	// 2000 characters": https://docs.slack.dev/reference/block-kit/blocks/section-block
	slackMaxSectionText = 3000
	slackMaxFields      = 10
	slackMaxFieldText   = 2000
	// Context elements, "Maximum number of items is 10":
	// https://docs.slack.dev/reference/block-kit/blocks/context-block
	slackMaxContextElements = 10
	// Actions elements, at most 25:
	// https://docs.slack.dev/reference/block-kit/blocks/actions-block
	slackMaxActions = 25
	// Button text 75 characters, url 3000, action_id 255:
	// https://docs.slack.dev/reference/block-kit/block-elements/button-element
	slackMaxButtonText = 75
	slackMaxButtonURL  = 3000
	// slackMaxFallback bounds the top-level text, the notification fallback.
	// Slack truncates text past 40,000 characters; a title needs far less,
	// so hold it to a text object's 3000.
	slackMaxFallback = 3000
	// slackMaxName bounds one object's name in the object list, so that 20
	// long names still leave room for each other.
	slackMaxName = 200
)

// Slack posts messages to an incoming webhook as Block Kit: a header, the
// facts as section fields, the objects, a context line and link buttons.
// The webhook URL is the secret: it is never logged or shown in errors.
// Slack is safe for concurrent use.
//
// Incoming webhooks take a JSON body with `text` and `blocks`, where `text`
// is the fallback shown in notifications:
// https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks
type Slack struct{ jsonHook }

// NewSlack reads a slack channel's settings: url, the incoming webhook
// (https, or http to loopback). Problems name the channel and the key,
// never the value. A nil client gets a 30-second timeout.
func NewSlack(name string, values map[string]any, client *http.Client) (*Slack, error) {
	h, err := newJSONHook("slack", name, values, client, slackBody)
	if err != nil {
		return nil, err
	}
	return &Slack{h}, nil
}

// slackMessage is the webhook's body.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

// slackBlock is one layout block; only the fields its type uses are set.
type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []any       `json:"elements,omitempty"`
}

// slackText is a text object. verbatim keeps Slack from linking channel
// names and parsing mentions in what it did not get from us, such as an
// object's name: https://docs.slack.dev/reference/block-kit/composition-objects/text-object
type slackText struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Emoji    bool   `json:"emoji,omitempty"`
	Verbatim bool   `json:"verbatim,omitempty"`
}

// slackButton is a link button.
type slackButton struct {
	Type     string    `json:"type"`
	Text     slackText `json:"text"`
	URL      string    `json:"url"`
	ActionID string    `json:"action_id"`
}

func slackPlain(s string) *slackText { return &slackText{Type: "plain_text", Text: s, Emoji: true} }
func slackMrkdwn(s string) slackText { return slackText{Type: "mrkdwn", Text: s, Verbatim: true} }

// slackBody renders m as the webhook's JSON.
func slackBody(m Message) ([]byte, error) {
	title := slackClean(m.Title())
	blocks := []slackBlock{
		{Type: "header", Text: slackPlain(slackFit(slackSeverityEmoji(m.Severity)+" "+title, slackMaxHeader, false))},
		{Type: "section", Fields: slackFields(m)},
	}
	if objects := slackObjects(m); objects != "" {
		t := slackMrkdwn(objects)
		blocks = append(blocks, slackBlock{Type: "section", Text: &t})
	}
	if elements := slackContext(m); len(elements) > 0 {
		blocks = append(blocks, slackBlock{Type: "context", Elements: elements})
	}
	if buttons := slackButtons(m.Links); len(buttons) > 0 {
		blocks = append(blocks, slackBlock{Type: "actions", Elements: buttons})
	}
	if len(blocks) > slackMaxBlocks {
		blocks = blocks[:slackMaxBlocks]
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(slackMessage{Text: slackFit(title, slackMaxFallback, true), Blocks: blocks}); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// slackSeverityEmoji marks the header, so a channel scans by severity.
func slackSeverityEmoji(s rules.Severity) string {
	switch s {
	case rules.SeverityCritical:
		return ":rotating_light:"
	case rules.SeverityWarning:
		return ":warning:"
	case rules.SeverityInfo:
		return ":information_source:"
	}
	return ":bell:"
}

// slackFields are the facts, one labelled field each: severity, rule,
// initiator, time, action, outcome, and the guard and activity when known.
func slackFields(m Message) []slackText {
	outcome := string(m.Outcome.Status)
	if m.Outcome.Status == StatusRestored {
		if m.Outcome.Verified {
			outcome += ", verified live"
		} else {
			outcome += ", not read back yet"
		}
	}
	outcome = slackClean(outcome)
	if detail := slackClean(m.Outcome.Detail); detail != "" {
		outcome = strings.TrimSpace(outcome + "\n" + detail)
	}
	when := ""
	if !m.Time.IsZero() {
		when = m.Time.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	facts := []struct{ label, value string }{
		{"Severity", string(m.Severity)},
		{"Rule", m.Rule},
		{"Initiator", m.Who()},
		{"Time", when},
		{"Action", m.Action},
		{"Outcome", outcome},
	}
	if m.Guard != "" {
		facts = append(facts, struct{ label, value string }{"Guard", m.Guard})
	}
	if m.Activity != "" {
		facts = append(facts, struct{ label, value string }{"Activity", m.Activity})
	}
	fields := make([]slackText, 0, len(facts))
	for _, f := range facts {
		label := "*" + f.label + "*\n"
		value := f.value
		if f.label != "Outcome" { // already cleaned, keeping its line break
			value = slackClean(value)
		}
		if value == "" {
			value = "—"
		}
		fields = append(fields, slackMrkdwn(label+slackFit(value, slackMaxFieldText-slackLen(label), true)))
	}
	if len(fields) > slackMaxFields {
		fields = fields[:slackMaxFields]
	}
	return fields
}

// slackObjects lists the objects, one line each with type, name and id: the
// first MaxObjects, then "… and N more". Names are cut to share the
// section's 3000 characters; should the list still not fit, lines give way
// to the count.
func slackObjects(m Message) string {
	objects := m.Objects
	if len(objects) > MaxObjects {
		objects = objects[:MaxObjects]
	}
	total := max(m.Total, len(m.Objects))
	if len(objects) == 0 {
		return ""
	}
	head := "*Object*"
	if total > 1 {
		head = "*Objects* (" + strconv.Itoa(total) + ")"
	}
	type line struct{ prefix, name, suffix string }
	lines := make([]line, len(objects))
	fixed := slackLen(head) + slackLen(slackMore(total))
	named := 0
	for i, o := range objects {
		id := strings.ReplaceAll(slackClean(o.ID), "`", "'")
		l := line{prefix: "\n• *" + slackEscape(slackClean(string(o.Type))) + "*", suffix: " `" + slackFit(id, 100, true) + "`"}
		if name := slackClean(o.Name); name != "" {
			l.name = name
			l.prefix += " "
			named++
		}
		fixed += slackLen(l.prefix) + slackLen(l.suffix)
		lines[i] = l
	}
	budget := slackMaxName
	if named > 0 {
		budget = min(slackMaxName, max(8, (slackMaxSectionText-fixed)/named))
	}
	render := func(shown int) string {
		var b strings.Builder
		b.WriteString(head)
		for _, l := range lines[:shown] {
			b.WriteString(l.prefix)
			b.WriteString(slackFit(l.name, budget, true))
			b.WriteString(l.suffix)
		}
		if more := total - shown; more > 0 {
			b.WriteString("\n")
			b.WriteString(slackMore(more))
		}
		return b.String()
	}
	shown := len(lines)
	text := render(shown)
	for slackLen(text) > slackMaxSectionText && shown > 0 {
		shown--
		text = render(shown)
	}
	return slackFit(text, slackMaxSectionText, false)
}

func slackMore(n int) string { return "… and " + strconv.Itoa(n) + " more" }

// slackContext is the small print: observe mode, the tenant, the audit
// event.
func slackContext(m Message) []any {
	var elements []any
	if m.Mode == rules.ModeObserve {
		elements = append(elements, slackMrkdwn("*Observe mode*: Reinstate decided, and changed nothing in the tenant."))
	}
	if t := slackClean(m.TenantID); t != "" {
		elements = append(elements, slackMrkdwn(slackFit("Tenant "+t, slackMaxSectionText, true)))
	}
	if m.Event != nil {
		if id := slackClean(m.Event.ID); id != "" {
			elements = append(elements, slackMrkdwn(slackFit("Audit event "+id, slackMaxSectionText, true)))
		}
	}
	if len(elements) > slackMaxContextElements {
		elements = elements[:slackMaxContextElements]
	}
	return elements
}

// slackButtons makes the links buttons. A link that is not http(s), or too
// long for a button, is left out: Slack would refuse the whole message for
// it, and a cut URL leads nowhere.
func slackButtons(links []Link) []any {
	var buttons []any
	for _, l := range links {
		if len(buttons) == slackMaxActions {
			break
		}
		u, err := url.Parse(l.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || slackLen(l.URL) > slackMaxButtonURL {
			continue
		}
		text := slackClean(l.Title)
		if text == "" {
			text = "Open"
		}
		buttons = append(buttons, slackButton{
			Type:     "button",
			Text:     *slackPlain(slackFit(text, slackMaxButtonText, false)),
			URL:      l.URL,
			ActionID: "link-" + strconv.Itoa(len(buttons)),
		})
	}
	return buttons
}

// slackClean makes s one line: control characters, line breaks among
// them, become spaces, so that a name cannot forge lines of its own.
func slackClean(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
}

// slackEscape escapes the three characters mrkdwn parses, so that an
// object's name cannot mention a channel or forge a link:
// https://docs.slack.dev/messaging/formatting-message-text#escaping
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackLen is s's length in UTF-16 code units.
func slackLen(s string) int {
	n := 0
	for _, r := range s {
		n += max(utf16.RuneLen(r), 1)
	}
	return n
}

// slackFit is s, escaped for mrkdwn when escape is set, in at most limit
// UTF-16 code units: cut at a character (never inside an escape) and
// ended with "…" when it is too long.
func slackFit(s string, limit int, escape bool) string {
	piece := func(r rune) string {
		if escape {
			switch r {
			case '&':
				return "&amp;"
			case '<':
				return "&lt;"
			case '>':
				return "&gt;"
			}
		}
		return string(r)
	}
	var b strings.Builder
	n := 0
	for i, r := range s {
		p := piece(r)
		if n+slackLen(p) > limit {
			// Too long: cut to leave room for the ellipsis.
			return slackCut(s[:i], limit-1, piece) + "…"
		}
		b.WriteString(p)
		n += slackLen(p)
	}
	return b.String()
}

// slackCut renders s's characters, through piece, while they fit in limit.
func slackCut(s string, limit int, piece func(rune) string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		p := piece(r)
		if n+slackLen(p) > limit {
			break
		}
		b.WriteString(p)
		n += slackLen(p)
	}
	return strings.TrimRightFunc(b.String(), unicode.IsSpace)
}
