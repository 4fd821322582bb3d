package rules

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/recovery"
)

// ObjectState says what reading the recycle bin found for a target.
type ObjectState int

// Object states.
const (
	// ObjectNotRead: the bin was not read (no rule reads `object`, or the
	// event is not a soft delete); `object` is null.
	ObjectNotRead ObjectState = iota
	// ObjectFound: `object` is the bin's copy.
	ObjectFound
	// ObjectAbsent: the bin does not hold it (restored, purged, or never
	// soft-deleted); `object` is null.
	ObjectAbsent
	// ObjectUnavailable: Graph could not be read. A rule that reads `object`
	// cannot be decided now, so evaluation stops there and the decision waits
	// (Verdict.Deferred) rather than be made wrongly on a null.
	ObjectUnavailable
)

// String names the state for the journal and plan.
func (s ObjectState) String() string {
	switch s {
	case ObjectFound:
		return "found"
	case ObjectAbsent:
		return "absent"
	case ObjectUnavailable:
		return "unavailable"
	}
	return "not-read"
}

// Subject is one event made ready for evaluation: adapted to CEL once, then
// evaluated for each of its targets.
type Subject struct {
	table *Table
	Event *audit.Event
	now   ref.Val
}

// Subject prepares event for evaluation at now.
func (t *Table) Subject(event *audit.Event, now time.Time) *Subject {
	return &Subject{
		table: t,
		Event: event,
		now:   types.Timestamp{Time: now},
	}
}

// Verdict is what the rules say about one target of one event, before the
// guards.
type Verdict struct {
	// Matched are the rules that matched, in order: the first, and those
	// after it that earlier `continue: true` rules let through.
	Matched []*Rule
	// Actions are the matched rules' restore, preview and notify, merged.
	// When one rule asks for a restore and another for a preview, the
	// preview wins: approval is the safer of the two.
	Actions []Action
	// Notify are the matched rules' channels, merged in order.
	Notify []string
	// Severity is the highest of the matched rules'.
	Severity Severity
	// Options are those of the rule that asked for the restore or preview.
	Options recovery.Options
	// Deferred is the rule whose condition reads `object` and that was
	// reached while Graph could not be read: no decision can be made now.
	Deferred *Rule
	// Errors are conditions that failed at run time (reading a property
	// of a null `object`, say); such a rule does not match.
	Errors []EvalError
}

// Rule names the deciding rule: the first that matched, or "".
func (v *Verdict) Rule() string {
	if len(v.Matched) == 0 {
		return ""
	}
	return v.Matched[0].Name
}

// Has reports whether the verdict asks for action a.
func (v *Verdict) Has(a Action) bool { return slices.Contains(v.Actions, a) }

// EvalError is a condition that failed at run time.
type EvalError struct {
	Rule string
	Err  error
}

// Error names the rule.
func (e EvalError) Error() string { return fmt.Sprintf("rule %s: %v", e.Rule, e.Err) }

// Evaluate tries the rules in order against one target: the first match
// wins, unless it says `continue: true`, which lets later rules match too.
// object is the recycle-bin copy as Graph's JSON decoded into a map, set
// when state is ObjectFound.
func (s *Subject) Evaluate(target audit.Target, object map[string]any, state ObjectState) Verdict {
	act := activation{adapter: s.table.adapter, event: s.Event, target: &target, object: types.NullValue, now: s.now}
	if state == ObjectFound && object != nil {
		act.object = s.table.adapter.NativeToValue(object)
	}
	var v Verdict
	for _, r := range s.table.Rules {
		if !r.admits(s.Event, &target) {
			continue
		}
		if r.usesObject && state == ObjectUnavailable {
			// Only a rule whose plain comparisons hold could match: then
			// its answer depends on the copy that could not be read.
			v.Deferred = r
			return v
		}
		matched, err := r.matches(s.Event, &target, &act)
		if err != nil {
			v.Errors = append(v.Errors, EvalError{Rule: r.Name, Err: err})
			continue
		}
		if !matched {
			continue
		}
		v.add(r)
		if !r.Continue {
			break
		}
	}
	return v
}

// admits is false when a conjunct compiled to Go already rules the
// condition out, whatever the rest says.
func (c *compiled) admits(e *audit.Event, t *audit.Target) bool {
	for _, p := range c.requires {
		if !p(e, t) {
			return false
		}
	}
	return true
}

// matches runs a condition that admits the input: in Go when it compiled
// to Go, else through CEL.
func (c *compiled) matches(e *audit.Event, t *audit.Target, act *activation) (bool, error) {
	if c.native != nil {
		return c.native(e, t), nil
	}
	out, _, err := c.program.Eval(act)
	if err != nil {
		return false, err
	}
	return out == types.True, nil
}

func (v *Verdict) add(r *Rule) {
	v.Matched = append(v.Matched, r)
	if severityRank[r.Severity] > severityRank[v.Severity] {
		v.Severity = r.Severity
	}
	for _, ch := range r.Notify {
		if !slices.Contains(v.Notify, ch) {
			v.Notify = append(v.Notify, ch)
		}
	}
	for _, a := range r.Actions {
		switch {
		case a == ActionIgnore || v.Has(a):
		case a == ActionRestore && v.Has(ActionPreview):
		case a == ActionPreview && v.Has(ActionRestore):
			v.Actions[slices.Index(v.Actions, ActionRestore)] = ActionPreview
			v.Options = r.Options
		default:
			v.Actions = append(v.Actions, a)
			if a == ActionRestore || a == ActionPreview {
				v.Options = r.Options
			}
		}
	}
	if len(r.Notify) > 0 && !v.Has(ActionNotify) && !r.Has(ActionIgnore) {
		v.Actions = append(v.Actions, ActionNotify)
	}
}

var severityRank = map[Severity]int{SeverityInfo: 1, SeverityWarning: 2, SeverityCritical: 3}
