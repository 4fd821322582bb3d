package oncall

import (
	"time"

	"github.com/reinstate/reinstate/pkg/backup"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/store"
)

// The wire types of the API. docs/openapi.yaml describes the same shapes;
// a test holds the two together.

// RestoreRequest is the body of POST /api/recovery/restores.
type RestoreRequest struct {
	// ObjectID is the deleted object's id, a GUID.
	ObjectID string `json:"objectId"`
	// ObjectType, when given, must be what the recycle bin holds; when
	// absent, the bin says.
	ObjectType string `json:"objectType,omitempty"`
	// Reason is why, for the journal and the people told; required.
	Reason  string          `json:"reason"`
	Options *RestoreOptions `json:"options,omitempty"`
}

// RestoreOptions are the restore options on-call may set.
type RestoreOptions struct {
	AutoReconcileProxyConflict bool   `json:"autoReconcileProxyConflict,omitempty"`
	NewUserPrincipalName       string `json:"newUserPrincipalName,omitempty"`
	CAPolicyStateAfterRestore  string `json:"caPolicyStateAfterRestore,omitempty"`
}

// RestoreStatus is a restore as the API shows it: the answer to POST
// /restores and GET /restores/{id}.
type RestoreStatus struct {
	ID string `json:"id"`
	// State is queued, running or retrying while the worker has it; then
	// the executor's final status (restored, already-live, conflict,
	// not-found, failed), or done/failed when the journal no longer holds
	// the outcome.
	State      string    `json:"state"`
	ObjectID   string    `json:"objectId"`
	ObjectType string    `json:"objectType"`
	Name       string    `json:"name,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Actor      string    `json:"actor,omitempty"`
	EventID    string    `json:"eventId,omitempty"`
	Attempts   int       `json:"attempts"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	LastError  string    `json:"lastError,omitempty"`
	// Overridden lists the silences and breakers the request overrode.
	Overridden []string `json:"overridden,omitempty"`
	// Outcome is the executor's final answer: Graph's result, the
	// read-back verification and what was done beyond the restore.
	Outcome  *recovery.Outcome `json:"outcome,omitempty"`
	Verified bool              `json:"verified"`
	// StatusURL is where to poll.
	StatusURL string `json:"statusUrl"`
}

// DeletedList is the answer to GET /api/recovery/deleted.
type DeletedList struct {
	Items []DeletedView `json:"items"`
	// More is true when the bin held more than the answer lists.
	More bool `json:"more"`
}

// DeletedView is one recycle-bin item with what Reinstate would do.
type DeletedView struct {
	recovery.DeletedItem
	// Rules is what the rule table says about the item now, judged on its
	// bin copy as if it had just been deleted by an unknown initiator.
	Rules RulesView `json:"rules"`
	// LastDecision is the latest decision the journal holds about the
	// object, if any.
	LastDecision *store.Entry `json:"lastDecision,omitempty"`
}

// RulesView is a rule-table verdict.
type RulesView struct {
	Rule     string   `json:"rule,omitempty"`
	Actions  []string `json:"actions"`
	Severity string   `json:"severity,omitempty"`
	Notify   []string `json:"notify,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// SilenceRequest is the body of POST /api/recovery/silences.
type SilenceRequest struct {
	Rule      string `json:"rule,omitempty"`
	Initiator string `json:"initiator,omitempty"`
	ObjectID  string `json:"objectId,omitempty"`
	Reason    string `json:"reason"`
	// EndsAt (RFC 3339) or Duration (Go syntax, "2h") says when it ends;
	// exactly one is required, and it ends within MaxSilence.
	EndsAt   *time.Time `json:"endsAt,omitempty"`
	Duration string     `json:"duration,omitempty"`
}

// SilenceList is the answer to GET /api/recovery/silences.
type SilenceList struct {
	Silences []store.Silence `json:"silences"`
}

// BreakerResetRequest is the body of POST /api/recovery/breaker/reset.
type BreakerResetRequest struct {
	// Scope is a rule's name, or "total".
	Scope  string `json:"scope"`
	Reason string `json:"reason"`
}

// Done is the answer of a write that has nothing else to say.
type Done struct {
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// JournalList is the answer to GET /api/recovery/journal.
type JournalList struct {
	Entries []store.Entry `json:"entries"`
}

// Health is the answer to GET /api/recovery/health: no tenant data.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
}

// Problem is an RFC 9457 problem detail (application/problem+json).
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Field names the request field at fault, for a 400 or 422.
	Field string `json:"field,omitempty"`
}

// PreviewActionRequest is the body of POST
// /api/recovery/previews/{id}/start and …/approve: both act in Microsoft
// Graph as the caller, so the journal must say why.
type PreviewActionRequest struct {
	Reason string `json:"reason"`
}

// PreviewList is the answer to GET /api/recovery/previews: the Backup &
// Recovery cases as the orchestrator keeps them, newest first.
type PreviewList struct {
	Previews []backup.Case `json:"previews"`
}
