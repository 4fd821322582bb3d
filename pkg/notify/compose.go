package notify

import (
	"fmt"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
)

// FromDecision is the message a decision calls for, and false when it
// calls for none now:
//   - a restore being carried out is told when it has an outcome (the
//     recovery worker's FromOutcome), not before;
//   - a deletion the mass-deletion breaker holds is inhibited: the one
//     breaker message, on the decision that tripped it, stands for all.
func FromDecision(event *audit.Event, d decide.Decision) (Message, bool) {
	m := Message{
		Severity:  d.Severity,
		Time:      event.Time,
		TenantID:  event.TenantID,
		Rule:      d.RuleName(),
		Activity:  event.Activity,
		Initiator: event.Initiator,
		Objects:   []Object{{ID: d.ObjectID, Type: d.ObjectType, Name: d.ObjectName}},
		Total:     1,
		Guard:     d.GuardName(),
		Mode:      d.Mode,
		Event:     event,
		Outcome:   Outcome{Status: StatusDetected, Detail: d.Reason},
	}
	writes := d.Has(rules.ActionRestore) || d.Has(rules.ActionPreview)
	switch {
	case d.Trip != nil:
		m.Kind, m.Action, m.Event = KindBreakerTripped, "notify", nil
		m.Outcome.Status = StatusHeld
		m.Objects, m.Total = tripObjects(d), d.Trip.Count
	case m.Guard == guard.Breaker:
		return Message{}, false
	case writes && d.Mode == rules.ModeObserve:
		m.Kind, m.Action, m.Outcome.Status = KindDeletionDetected, actionOf(d), StatusObserved
	case d.Has(rules.ActionPreview):
		m.Kind, m.Action, m.Outcome.Status = KindPreviewReady, string(rules.ActionPreview), StatusWaitingApproval
	case d.Has(rules.ActionRestore):
		return Message{}, false
	case m.Guard != "":
		m.Kind, m.Action, m.Outcome.Status = KindDeletionDetected, string(rules.ActionNotify), StatusHeld
	default:
		m.Kind, m.Action = KindDeletionDetected, string(rules.ActionNotify)
	}
	m.Severity = raise(m.Severity, event)
	return m, true
}

func actionOf(d decide.Decision) string {
	if d.Has(rules.ActionPreview) {
		return string(rules.ActionPreview)
	}
	return string(rules.ActionRestore)
}

// tripObjects lists a breaker's affected objects, with their types as the
// breaker counted them.
func tripObjects(d decide.Decision) []Object {
	objects := make([]Object, 0, min(len(d.Trip.ObjectIDs), MaxObjects))
	for i, id := range d.Trip.ObjectIDs[:min(len(d.Trip.ObjectIDs), MaxObjects)] {
		o := Object{ID: id}
		if i < len(d.Trip.ObjectTypes) {
			o.Type = d.Trip.ObjectTypes[i]
		}
		if id == d.ObjectID {
			o.Type, o.Name = d.ObjectType, d.ObjectName
		}
		objects = append(objects, o)
	}
	return objects
}

// raise applies the severity floors outcomes carry: a hard delete is
// critical, whatever the rule said; no severity is a warning.
func raise(s rules.Severity, event *audit.Event) rules.Severity {
	if event != nil && event.Deletion == audit.DeletionHard {
		return rules.SeverityCritical
	}
	if s == "" {
		return rules.SeverityWarning
	}
	return s
}

// FromOutcome is the message a restore's final outcome calls for, told on
// plan.Tell's channels: restored (with whether it was read back live), or
// failed with the reason, at least a warning.
func FromOutcome(plan recovery.Plan, out recovery.Outcome) Message {
	tell := plan.Tell
	if tell == nil {
		tell = &recovery.Tell{}
	}
	m := Message{
		Kind:      KindObjectRestored,
		Severity:  rules.Severity(tell.Severity),
		Time:      tell.Time,
		TenantID:  tell.TenantID,
		Rule:      tell.Rule,
		Activity:  tell.Activity,
		Initiator: tell.Initiator,
		Objects:   []Object{{ID: plan.Request.ObjectID, Type: plan.Request.ObjectType, Name: plan.Name}},
		Total:     1,
		Action:    string(rules.ActionRestore),
		Outcome:   Outcome{Status: StatusRestored, Verified: out.Verified, Detail: out.Detail},
		Mode:      rules.ModeEnforce,
	}
	for _, related := range out.Related {
		m.Outcome.Detail = joinDetail(m.Outcome.Detail, fmt.Sprintf("its %s %s: %s", related.ObjectType, related.ObjectID, related.Status))
	}
	switch out.Status {
	case recovery.StatusRestored:
	case recovery.StatusAlreadyLive:
		m.Outcome.Detail = joinDetail("it was live already: nothing to restore", out.Detail)
	default:
		m.Kind = KindRestoreFailed
		m.Outcome = Outcome{Status: StatusFailed, Detail: firstNonEmpty(out.Detail, string(out.Status))}
		if out.Status == recovery.StatusConflict {
			m.Outcome.Status = StatusConflict
		}
		if rank(m.Severity) < rank(rules.SeverityWarning) {
			m.Severity = rules.SeverityWarning
		}
	}
	if m.Severity == "" {
		m.Severity = rules.SeverityInfo
	}
	return m
}
