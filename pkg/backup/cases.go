package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/store"
)

// CaseKind is the store.Record kind of a case.
const CaseKind = "backup.case"

// CaseState is where a case is in its life.
type CaseState string

// Case states. A case moves requested → previewing → ready → recovering →
// recovered, or to needs-start when Reinstate may not create the preview
// itself, and to failed or expired when it cannot go on.
const (
	// CaseRequested: asked for; its preview waits for the tenant's one job
	// slot (and, when it is free, for the next tick).
	CaseRequested CaseState = "requested"
	// CaseNeedsStart: Graph refused Reinstate's own identity (job creation
	// is documented as delegated-only, reference §1.8); a person with
	// Recovery.Approve starts the preview, on-behalf-of themselves.
	CaseNeedsStart CaseState = "needs-start"
	// CasePreviewing: the preview job runs.
	CasePreviewing CaseState = "previewing"
	// CaseReady: the preview succeeded; its changes wait for approval.
	CaseReady CaseState = "ready"
	// CaseRecovering: the approved recovery job runs.
	CaseRecovering CaseState = "recovering"
	// CaseRecovered: the recovery job succeeded (FailedChanges may still
	// list changes it could not make).
	CaseRecovered CaseState = "recovered"
	// CaseFailed: a job failed or was abandoned, or there is no snapshot
	// to recover from.
	CaseFailed CaseState = "failed"
	// CaseExpired: nobody approved within JobRetention.
	CaseExpired CaseState = "expired"
)

// Open reports whether the case still has work ahead.
func (s CaseState) Open() bool {
	switch s {
	case CaseRecovered, CaseFailed, CaseExpired:
		return false
	}
	return true
}

// holdsSlot reports whether the case has a job running in the tenant.
func (s CaseState) holdsSlot() bool { return s == CasePreviewing || s == CaseRecovering }

// JobRetention is how long Microsoft keeps a finished preview or recovery
// job (reference §1.3, [ED] troubleshooting): a ready case not approved
// within it has nothing left to approve.
const JobRetention = 7 * 24 * time.Hour

// MaxFailedShown bounds the failed changes a case keeps for people, and
// MaxFirstChanges the preview's changes its summary shows.
const (
	MaxFailedShown  = 20
	MaxFirstChanges = 10
)

// Case is one Backup & Recovery recovery, from the request to the outcome.
// It is kept as a store.Record, so that every instance sees it and only
// one changes it at a time.
type Case struct {
	ID    string    `json:"id"`
	State CaseState `json:"state"`
	// Reason says why it was asked for: a rule's preview, a tripped breaker.
	Reason    string `json:"reason"`
	Rule      string `json:"rule,omitempty"`
	Initiator string `json:"initiator,omitempty"`
	// Since is the first deletion the case answers: the snapshot must have
	// been taken before it.
	Since time.Time `json:"since"`
	// Scope maps Graph entity types (resourceTypeName) to object ids.
	Scope map[string][]string `json:"scope"`
	// Uncovered lists objects Backup & Recovery cannot recover (an
	// administrative unit has no resourceTypeName, reference §1.5).
	Uncovered []string  `json:"uncovered,omitempty"`
	Snapshot  *Snapshot `json:"snapshot,omitempty"`
	Preview   *Job      `json:"preview,omitempty"`
	Recovery  *Job      `json:"recovery,omitempty"`
	Summary   *Summary  `json:"summary,omitempty"`
	// StartedBy and ApprovedBy name who started the preview (when
	// Reinstate could not) and who approved the recovery.
	StartedBy  string `json:"startedBy,omitempty"`
	ApprovedBy string `json:"approvedBy,omitempty"`
	// Failed are the first changes the recovery could not make.
	Failed []Change `json:"failed,omitempty"`
	// Verified and NotLive count the sample of recovered objects read back.
	Verified int      `json:"verified,omitempty"`
	NotLive  []string `json:"notLive,omitempty"`
	Detail   string   `json:"detail,omitempty"`
	// Notify are the channels told of the case, Severity how loudly.
	Notify    []string  `json:"notify,omitempty"`
	Severity  string    `json:"severity,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`

	version int64
}

// Filter is the case's scope as a job filter.
func (c *Case) Filter() *Filter {
	return &Filter{ByType: c.Scope}
}

// Objects counts the objects in scope.
func (c *Case) Objects() int {
	n := 0
	for _, ids := range c.Scope {
		n += len(ids)
	}
	return n
}

// Request asks for a preview of some deleted objects.
type Request struct {
	// Key makes the request idempotent: a redelivered event or a breaker
	// that trips once asks once.
	Key       string
	Reason    string
	Rule      string
	Initiator string
	// Since is when the first of the objects was deleted.
	Since   time.Time
	Objects []Object
	Notify  []string
	// Severity of the messages about the case.
	Severity string
}

// Object is one object a request names.
type Object struct {
	ID   string
	Type audit.TargetType
}

// resourceTypes maps Reinstate's object types to Backup & Recovery's
// resourceTypeName values (reference §1.5). Administrative units have none.
var resourceTypes = map[audit.TargetType]string{
	audit.TargetUser:                    "user",
	audit.TargetGroup:                   "group",
	audit.TargetApplication:             "application",
	audit.TargetServicePrincipal:        "servicePrincipal",
	audit.TargetConditionalAccessPolicy: "conditionalAccessPolicy",
	audit.TargetNamedLocation:           "namedLocationPolicy",
}

// MaxScopeIDs bounds the ids one case names: past it, a type is previewed
// whole rather than by id. Unconfirmed: no documented limit on filterValues;
// a 300-id filter is far inside any request size limit.
const MaxScopeIDs = 1000

// caseStore is what cases need of the store.
type caseStore interface {
	PutRecord(ctx context.Context, rec store.Record, now time.Time) (store.Record, error)
	GetRecord(ctx context.Context, kind, id string) (store.Record, error)
	Records(ctx context.Context, kind string, limit int) ([]store.Record, error)
	AcquireLock(ctx context.Context, name, owner string, now, until time.Time) (store.Lock, bool, error)
	RenewLock(ctx context.Context, name, token string, now, until time.Time) error
	ReleaseLock(ctx context.Context, name, token string) error
	Append(ctx context.Context, entry store.Entry) (store.Entry, error)
}

// maxCases bounds the open cases read per tick; a tenant has one job at a
// time, so more than a handful open is a backlog to look at, not to page.
const maxCases = 500

func loadCase(rec store.Record) (Case, error) {
	var c Case
	if err := json.Unmarshal(rec.Value, &c); err != nil {
		return Case{}, fmt.Errorf("case %s: %w", rec.ID, err)
	}
	c.version = rec.Version
	return c, nil
}

// caseUntil is how long a case's record is kept: open ones until well past
// any job's life, finished ones for as long as Microsoft keeps their jobs.
func caseUntil(c *Case, now time.Time) time.Time {
	if c.State.Open() {
		return now.Add(2 * JobRetention)
	}
	return now.Add(JobRetention)
}

// save writes c if nobody changed it since it was read; store.ErrConflict
// otherwise.
func saveCase(ctx context.Context, st caseStore, c *Case, now time.Time) error {
	c.UpdatedAt = now
	if c.version == 0 {
		c.CreatedAt = now
	}
	value, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode case %s: %w", c.ID, err)
	}
	rec, err := st.PutRecord(ctx, store.Record{Kind: CaseKind, ID: c.ID, Value: value, Version: c.version, Until: caseUntil(c, now)}, now)
	if err != nil {
		return fmt.Errorf("save case %s: %w", c.ID, err)
	}
	c.version = rec.Version
	return nil
}

// names reports whether the case covers the object already.
func (c *Case) names(o Object) bool {
	id := strings.ToLower(o.ID)
	if rt, ok := resourceTypes[o.Type]; ok {
		return slices.Contains(c.Scope[rt], id)
	}
	return slices.Contains(c.Uncovered, id)
}

// merge adds req's objects to c's scope. Merging is idempotent: an object
// named twice is named once, so a redelivered request changes nothing.
func (c *Case) merge(req Request) {
	if c.Scope == nil {
		c.Scope = map[string][]string{}
	}
	for _, o := range req.Objects {
		rt, ok := resourceTypes[o.Type]
		id := strings.ToLower(o.ID)
		switch {
		case !ok:
			if !slices.Contains(c.Uncovered, id) {
				c.Uncovered = append(c.Uncovered, id)
			}
		case !slices.Contains(c.Scope[rt], id):
			c.Scope[rt] = append(c.Scope[rt], id)
		}
	}
	if c.Since.IsZero() || (!req.Since.IsZero() && req.Since.Before(c.Since)) {
		c.Since = req.Since
	}
	c.Reason = joinReason(c.Reason, req.Reason)
	if c.Rule == "" {
		c.Rule = req.Rule
	}
	if c.Initiator == "" {
		c.Initiator = req.Initiator
	}
	for _, ch := range req.Notify {
		if !slices.Contains(c.Notify, ch) {
			c.Notify = append(c.Notify, ch)
		}
	}
	if severityRank[req.Severity] > severityRank[c.Severity] {
		c.Severity = req.Severity
	}
}

// slim keeps what people read of a change: who, what, and why it failed;
// the deltas stay in Graph, where the job keeps them for a week.
func slim(ch Change) Change {
	return Change{ID: ch.ID, DisplayName: ch.DisplayName, EntityType: ch.EntityType, Action: ch.Action, FailureMessage: ch.FailureMessage}
}

// slimJob drops the filter Graph echoes: the case's Scope says the same.
func slimJob(j Job) *Job {
	j.Filter = nil
	return &j
}

var severityRank = map[string]int{"info": 1, "warning": 2, "critical": 3}

func joinReason(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "" || strings.Contains(a, b):
		return a
	}
	return a + "; " + b
}

// scopeTypes lists the case's entity types in a stable order.
func (c *Case) scopeTypes() []string {
	return slices.Sorted(maps.Keys(c.Scope))
}

// errCaseState is a case asked to do what its state does not allow.
var errCaseState = errors.New("the case is not in a state that allows this")

// logCase is a case's identity for logs.
func logCase(c *Case) slog.Attr {
	return slog.Group("case", "id", c.ID, "state", string(c.State), "objects", c.Objects())
}
