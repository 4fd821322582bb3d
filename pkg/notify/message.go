package notify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/rules"
)

// Kind is what a message reports. The CloudEvents type of a webhook
// delivery is EventTypePrefix + Kind; docs/EVENTS.md lists them.
type Kind string

// Kinds, one per outcome people act on differently.
const (
	// KindDeletionDetected: a deletion a rule matched, that Reinstate is not
	// restoring on its own: a notify-only rule, a hard delete, observe mode,
	// or a guard that held the restore back (exempt, cooldown, breaker).
	KindDeletionDetected Kind = "deletion.detected"
	// KindObjectRestored: Reinstate restored the object (Outcome.Verified
	// says whether it read it back live).
	KindObjectRestored Kind = "object.restored"
	// KindRestoreFailed: the restore failed for good, or needs a person (a
	// conflict); Outcome.Detail says why.
	KindRestoreFailed Kind = "restore.failed"
	// KindPreviewReady: a Backup & Recovery preview waits for approval.
	KindPreviewReady Kind = "preview.ready"
	// KindBreakerTripped: a mass deletion paused automatic restores; the
	// message lists the affected objects.
	KindBreakerTripped Kind = "breaker.tripped"
)

// EventTypePrefix makes a Kind a CloudEvents type, in reverse-DNS form as
// the CloudEvents spec recommends.
const EventTypePrefix = "dev.reinstate."

// Status is the outcome of what Reinstate did, as people read it.
type Status string

// Statuses.
const (
	StatusDetected        Status = "detected"
	StatusObserved        Status = "observed"
	StatusHeld            Status = "held"
	StatusRestored        Status = "restored"
	StatusFailed          Status = "failed"
	StatusConflict        Status = "conflict"
	StatusWaitingApproval Status = "waiting-approval"
)

// Message is one notification: about one object, or, grouped, about many
// deleted by one initiator under one rule. Every channel renders the same
// Message, so that what Teams shows and what a webhook receives agree.
type Message struct {
	Kind     Kind           `json:"kind"`
	Severity rules.Severity `json:"severity"`
	// Time is when the (first) deletion happened.
	Time time.Time `json:"time"`
	// TenantID is the directory the objects belong to.
	TenantID string `json:"tenantId,omitempty"`
	// Rule is the rule that decided; empty for a guard's own message.
	Rule string `json:"rule,omitempty"`
	// Activity is the audit activity, such as "Delete group".
	Activity  string          `json:"activity,omitempty"`
	Initiator audit.Initiator `json:"initiator"`
	// Objects are the objects the message is about, at most MaxObjects of
	// them; Total counts them all.
	Objects []Object `json:"objects"`
	Total   int      `json:"total"`
	// Action is what Reinstate does about them: restore, preview, notify.
	Action  string  `json:"action"`
	Outcome Outcome `json:"outcome"`
	// Guard names the guard that changed the decision, if one did.
	Guard string `json:"guard,omitempty"`
	// Mode is observe or enforce.
	Mode rules.Mode `json:"mode"`
	// Event is the audit event, for a message about one event; grouped
	// messages carry none.
	Event *audit.Event `json:"event,omitempty"`
	// Links point people where they act: the object in the Entra admin
	// center, an approval or status page.
	Links []Link `json:"links,omitempty"`
}

// MaxObjects is how many objects a message lists; a grouped message then
// says how many more there are.
const MaxObjects = 20

// Object is one object a message is about.
type Object struct {
	ID   string           `json:"id"`
	Type audit.TargetType `json:"type"`
	Name string           `json:"name,omitempty"`
}

// Outcome is what became of Reinstate's action.
type Outcome struct {
	Status Status `json:"status"`
	// Verified is true when a restored object was read back live.
	Verified bool `json:"verified,omitempty"`
	// Detail is the reason: why it failed, which guard held it, and so on.
	Detail string `json:"detail,omitempty"`
}

// Link is a titled URL.
type Link struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Title is a message's one-line summary, the same on every channel:
// "Deleted group sec-prod-payments restored", "25 groups deleted by
// it.admin@contoso.com: automatic restore paused".
func (m Message) Title() string {
	return title(m)
}

// Who names the initiator as people look for it: UPN for a user, app id
// (and name) for an app.
func (m Message) Who() string {
	in := m.Initiator
	switch {
	case in.UserPrincipalName != "":
		return in.UserPrincipalName
	case in.AppID != "" && in.DisplayName != "":
		return in.DisplayName + " (app " + in.AppID + ")"
	case in.AppID != "":
		return "app " + in.AppID
	case in.DisplayName != "":
		return in.DisplayName
	case in.ID != "":
		return in.ID
	}
	return "an unknown initiator"
}

// Sender delivers messages to one channel. An error that retrying may fix
// (429, 5xx, no answer) is a *DeliveryError with Retryable set.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

func title(m Message) string {
	what := "an object"
	switch {
	case m.Total > 1:
		what = fmt.Sprintf("%d objects", m.Total)
	case len(m.Objects) == 1:
		o := m.Objects[0]
		what = strings.TrimSpace(string(o.Type) + " " + firstNonEmpty(o.Name, o.ID))
	}
	switch m.Kind {
	case KindObjectRestored:
		if m.Outcome.Verified {
			return "Restored " + what + " (verified live)"
		}
		return "Restored " + what
	case KindRestoreFailed:
		return "Could not restore " + what + ": " + firstNonEmpty(m.Outcome.Detail, string(m.Outcome.Status))
	case KindPreviewReady:
		return "Deleted " + what + ": restore waits for approval"
	case KindBreakerTripped:
		return fmt.Sprintf("Mass deletion: %s deleted by %s; automatic restore paused", what, m.Who())
	}
	return firstNonEmpty(m.Activity, "Deletion") + ": " + what + " by " + m.Who()
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
