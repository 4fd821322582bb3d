package pipeline

import (
	"context"
	"strings"
	"sync"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/recovery"
)

// Decision is one action a rule chose for one target of an event.
type Decision struct {
	// Rule names the rule that chose it, for the journal.
	Rule   string
	Action Action
	Target audit.Target
	// Options shape a restore.
	Options recovery.Options
}

// Action is what a decision does.
type Action string

// Actions. Notification and Backup & Recovery previews come with their stages.
const (
	ActionRestore Action = "restore"
)

// Decider chooses what to do about an event. The rule table implements it;
// until it lands, ObjectListDecider does.
type Decider interface {
	Decide(ctx context.Context, event audit.Event) []Decision
}

// ObjectListDecider restores the objects it lists, and nothing else, when a
// successful soft delete removes them: the simplest safe rule, and an
// interim one until the rule table lands.
type ObjectListDecider struct {
	// IDs are the object ids to restore, compared case-insensitively.
	IDs map[string]bool
}

// NewObjectListDecider lists ids.
func NewObjectListDecider(ids []string) *ObjectListDecider {
	d := &ObjectListDecider{IDs: map[string]bool{}}
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" {
			d.IDs[strings.ToLower(id)] = true
		}
	}
	return d
}

// ObjectListRule is the rule name journaled for ObjectListDecider's decisions.
const ObjectListRule = "listed-objects"

// Decide restores every listed target of a successful soft delete.
func (d *ObjectListDecider) Decide(_ context.Context, event audit.Event) []Decision {
	if event.Deletion != audit.DeletionSoft || event.Result != "success" {
		return nil
	}
	var decisions []Decision
	for _, target := range event.Targets {
		if d.IDs[strings.ToLower(target.ID)] && recovery.Restorable(target.Type) {
			decisions = append(decisions, Decision{Rule: ObjectListRule, Action: ActionRestore, Target: target})
		}
	}
	return decisions
}

// Self identifies Reinstate's own identity in audit events, so that its own
// restores (which Entra logs like anyone's) never trigger actions. It is safe
// for concurrent use: ids learned from the access token are added while
// events flow.
type Self struct {
	mu  sync.RWMutex
	ids map[string]bool
}

// NewSelf recognises the given application ids and object ids (of the
// service principal or managed identity Reinstate runs as).
func NewSelf(ids ...string) *Self {
	s := &Self{ids: map[string]bool{}}
	s.Add(ids...)
	return s
}

// Add recognises more ids.
func (s *Self) Add(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" {
			s.ids[strings.ToLower(id)] = true
		}
	}
}

// Caused reports whether Reinstate itself initiated event. A nil Self
// recognises nothing.
func (s *Self) Caused(event audit.Event) bool {
	if s == nil {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	in := event.Initiator
	for _, id := range []string{in.AppID, in.ServicePrincipalID, in.ID} {
		if id != "" && s.ids[strings.ToLower(id)] {
			return true
		}
	}
	return false
}
