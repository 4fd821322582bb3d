package notify

import (
	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/guard"
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

// tripObjects lists a breaker's affected objects; their types are the
// tripping target's when the breaker is a rule's (one rule, one type in
// practice), and unknown for the total.
func tripObjects(d decide.Decision) []Object {
	objects := make([]Object, 0, min(len(d.Trip.ObjectIDs), MaxObjects))
	for _, id := range d.Trip.ObjectIDs[:min(len(d.Trip.ObjectIDs), MaxObjects)] {
		o := Object{ID: id}
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
