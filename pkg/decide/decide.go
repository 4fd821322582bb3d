// Package decide turns one audit event into decisions, one per target: it
// reads each soft-deleted target's recycle-bin copy when a rule needs it
// (enrichment), runs the rule table (package rules), then the guards
// (package guard). The pipeline acts on the decisions; `reinstate plan`
// prints them. Both use this package, so what plan shows is what the
// service does.
package decide

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
)

// Decision is what Reinstate does about one target of one event.
type Decision struct {
	EventID    string           `json:"eventId"`
	Activity   string           `json:"activity"`
	ObjectID   string           `json:"objectId"`
	ObjectType audit.TargetType `json:"objectType"`
	ObjectName string           `json:"objectName,omitempty"`
	// Rule is the deciding rule; null when none matched.
	Rule *string `json:"rule"`
	// Actions are what remains after the guards: "restore", "preview", and
	// "notify:CHANNEL" for each channel. Never null.
	Actions []string `json:"actions"`
	// Guard names the guard that changed the rules' decision; null when none.
	Guard  *string `json:"guard"`
	Reason string  `json:"reason"`
	// Severity is the highest of the matched rules'.
	Severity rules.Severity `json:"severity,omitempty"`
	// Mode is observe or enforce: in observe mode restore and preview are
	// decided and reported, never carried out.
	Mode rules.Mode `json:"mode"`
	// Object says what reading the recycle bin found.
	Object string `json:"object"`
	// Deferred is true when the rules need the recycle-bin copy and Graph
	// could not be read: nothing is decided now; the event is retried.
	Deferred bool `json:"deferred,omitempty"`
	// Trip is set on the decision that tripped the mass-deletion breaker.
	Trip *guard.Trip `json:"trip,omitempty"`

	// Options shape the restore or preview.
	Options recovery.Options `json:"-"`
	// Notify are the channels, also listed in Actions.
	Notify []string `json:"-"`
}

// Has reports whether the decision includes action a (restore, preview).
func (d *Decision) Has(a rules.Action) bool { return slices.Contains(d.Actions, string(a)) }

// RuleName is the deciding rule's name, or "".
func (d *Decision) RuleName() string {
	if d.Rule == nil {
		return ""
	}
	return *d.Rule
}

// GuardName is the guard's name, or "".
func (d *Decision) GuardName() string {
	if d.Guard == nil {
		return ""
	}
	return *d.Guard
}

// Bin reads recycle-bin copies; recovery.Executor is one.
type Bin interface {
	// ReadDeleted returns the bin's copy as Graph's JSON, or an error
	// wrapping recovery.ErrNotInBin when the bin does not hold it.
	ReadDeleted(ctx context.Context, objectType audit.TargetType, id string) (json.RawMessage, error)
}

// Objects caches recycle-bin reads for one batch: an object deleted once
// is read once however many records name it. Not safe for concurrent use;
// make one per batch.
type Objects struct {
	bin   Bin
	cache map[string]object
	// Reads counts the reads that went to Graph.
	Reads int
}

type object struct {
	value map[string]any
	state rules.ObjectState
	err   error
}

// NewObjects returns an empty cache over bin; a nil bin reads nothing, so
// every object is null (plan without --graph).
func NewObjects(bin Bin) *Objects {
	return &Objects{bin: bin, cache: map[string]object{}}
}

func (o *Objects) get(ctx context.Context, t audit.Target) object {
	if o == nil || o.bin == nil {
		return object{state: rules.ObjectNotRead}
	}
	key := strings.ToLower(string(t.Type) + "/" + t.ID)
	if cached, ok := o.cache[key]; ok {
		return cached
	}
	o.Reads++
	raw, err := o.bin.ReadDeleted(ctx, t.Type, t.ID)
	var got object
	switch {
	case errors.Is(err, recovery.ErrNotInBin):
		got = object{state: rules.ObjectAbsent}
	case err != nil:
		// Not cached: a later event in the batch may find Graph back.
		return object{state: rules.ObjectUnavailable, err: err}
	default:
		got = object{state: rules.ObjectFound}
		if err := json.Unmarshal(raw, &got.value); err != nil {
			return object{state: rules.ObjectUnavailable, err: fmt.Errorf("recycle-bin copy of %s is not a JSON object: %w", t.ID, err)}
		}
	}
	o.cache[key] = got
	return got
}

// Engine decides. It is safe for concurrent use.
type Engine struct {
	table  *rules.Table
	guards *guard.Guards
	now    func() time.Time
}

// New returns an engine over a loaded table and its guards.
func New(table *rules.Table, guards *guard.Guards, now func() time.Time) *Engine {
	if now == nil {
		now = time.Now
	}
	return &Engine{table: table, guards: guards, now: now}
}

// Table is the rule table the engine decides with.
func (e *Engine) Table() *rules.Table { return e.table }

// Decide returns one decision per target of event (one with an empty
// object for an event without targets). objects reads the recycle bin
// when a rule needs it; nil reads nothing. The error is the guards'
// state's: the caller retries the event.
func (e *Engine) Decide(ctx context.Context, event *audit.Event, objects *Objects) ([]Decision, error) {
	targets := event.Targets
	if len(targets) == 0 {
		targets = []audit.Target{{}}
	}
	subject := e.table.Subject(event, e.now())
	decisions := make([]Decision, 0, len(targets))
	refused, isRefused := e.guards.Refuse(event)
	for _, target := range targets {
		d := Decision{
			EventID: event.ID, Activity: event.Activity, ObjectID: target.ID, ObjectType: target.Type,
			ObjectName: Name(target), Mode: e.table.Mode, Actions: []string{}, Object: rules.ObjectNotRead.String(),
		}
		if isRefused {
			// Nothing is read or evaluated for an event that cannot act.
			d.Guard, d.Reason = &refused.Guard, refused.Reason
			decisions = append(decisions, d)
			continue
		}
		obj := object{state: rules.ObjectNotRead}
		if e.table.UsesObject() && event.Deletion == audit.DeletionSoft && recovery.Restorable(target.Type) {
			obj = objects.get(ctx, target)
		}
		d.Object = obj.state.String()
		verdict := subject.Evaluate(target, obj.value, obj.state)
		if verdict.Deferred != nil {
			d.Deferred = true
			d.Reason = fmt.Sprintf("rule %s reads the recycle-bin copy, which could not be read (%v); decided when Graph answers", verdict.Deferred.Name, obj.err)
			decisions = append(decisions, d)
			continue
		}
		if name := verdict.Rule(); name != "" {
			d.Rule = &name
			d.Severity = verdict.Severity
			d.Options = verdict.Options
		}
		out, err := e.guards.Apply(ctx, event, target, verdict, e.table.Mode == rules.ModeEnforce)
		if err != nil {
			return nil, fmt.Errorf("guards for %s: %w", target.ID, err)
		}
		d.Notify, d.Trip = out.Notify, out.Trip
		for _, a := range out.Actions {
			if a == rules.ActionNotify {
				for _, ch := range out.Notify {
					d.Actions = append(d.Actions, "notify:"+ch)
				}
				continue
			}
			d.Actions = append(d.Actions, string(a))
		}
		if out.Guard != "" {
			d.Guard = &out.Guard
		}
		d.Reason = reason(d, verdict, out)
		decisions = append(decisions, d)
	}
	return decisions, nil
}

func reason(d Decision, v rules.Verdict, out guard.Outcome) string {
	var parts []string
	switch {
	case out.Reason != "":
		parts = append(parts, out.Reason)
	case d.Rule == nil:
		parts = append(parts, "no rule matched")
	default:
		names := make([]string, len(v.Matched))
		for i, r := range v.Matched {
			names[i] = r.Name
		}
		parts = append(parts, "matched "+strings.Join(names, ", "))
	}
	for _, err := range v.Errors {
		parts = append(parts, "condition failed: "+err.Error())
	}
	if d.Mode == rules.ModeObserve && (d.Has(rules.ActionRestore) || d.Has(rules.ActionPreview)) {
		parts = append(parts, "observe mode: not carried out")
	}
	return strings.Join(parts, "; ")
}

// Name names a target for people: its display name, else its UPN.
func Name(t audit.Target) string {
	if t.DisplayName != "" {
		return t.DisplayName
	}
	return t.UserPrincipalName
}
