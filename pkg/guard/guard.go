// Package guard holds the checks applied after the rule table and before
// any write, so that Reinstate never fights an admin's intended cleanup and
// never loops on itself. In order:
//
//   - tenant: events for a tenant other than the configured one are refused;
//   - self: events Reinstate itself caused never act;
//   - silence: a time-bound mute on a rule, an initiator or an object;
//   - exempt: deletions by listed identities are notified, never undone;
//   - cooldown: an object Reinstate restored is not restored again within
//     the window; a second deletion there escalates to people;
//   - breaker: a mass deletion pauses auto-restore for the rules it hits.
//
// Each guard that changes a decision names itself in it, and the pipeline
// journals that. Guard state (cooldowns, breaker counts, silences) lives in
// the store, so every instance sees the same.
package guard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
)

// State is what the guards keep in the store.
type State interface {
	RecordHit(ctx context.Context, scope, id string, at time.Time) (bool, error)
	CountHits(ctx context.Context, scope string, since, until time.Time) (int, error)
	Hits(ctx context.Context, scope string, since, until time.Time, limit int) ([]store.Hit, error)
	PutMark(ctx context.Context, mark store.Mark, now time.Time) error
	GetMark(ctx context.Context, key string) (store.Mark, error)
	Silences(ctx context.Context, query store.SilenceQuery) ([]store.Silence, error)
}

// Names of the guards, as decisions and the journal show them.
const (
	Tenant   = "tenant"
	SelfLoop = "self"
	Silence  = "silence"
	Exempt   = "exempt"
	Cooldown = "cooldown"
	Breaker  = "breaker"
)

// Config is what the guards are told at start-up.
type Config struct {
	// TenantID is the tenant Reinstate serves; empty turns the tenant check
	// off (configuration refuses that in enforce mode).
	TenantID string
	// Self recognises Reinstate's own identity.
	Self *Self
	// Rules carries the rule file's guard settings.
	Rules rules.Guards
	// Now is the wall clock, for silences; tests pin it.
	Now func() time.Time
}

// Guards applies every guard. It is safe for concurrent use.
type Guards struct {
	state State
	cfg   Config
	// exempt holds the exempt ids, lower case, with their reasons.
	exempt map[string]string
}

// New returns the guards over state.
func New(state State, cfg Config) *Guards {
	g := &Guards{state: state, cfg: cfg, exempt: map[string]string{}}
	if g.cfg.Now == nil {
		g.cfg.Now = time.Now
	}
	for _, e := range cfg.Rules.ExemptInitiators {
		g.exempt[strings.ToLower(e.ID)] = e.Reason
	}
	return g
}

// Outcome is the decision after the guards.
type Outcome struct {
	// Actions are what remains to do: restore, preview and notify.
	Actions []rules.Action
	// Notify are the channels to tell.
	Notify []string
	// Guard names the guard that changed the rules' decision; empty when
	// none did.
	Guard string
	// Reason says why, for people.
	Reason string
	// Trip is set on the decision that tripped the breaker.
	Trip *Trip
}

// Trip describes a breaker that has just tripped: one grouped notification,
// and where configured one preview scoped to the affected ids, stand for
// every deletion it holds back.
type Trip struct {
	// Scope is "rule:NAME" or "total".
	Scope string `json:"scope"`
	// Count is how many restore-worthy deletions were counted in the window.
	Count     int `json:"count"`
	Threshold int `json:"threshold"`
	// ObjectIDs are the affected objects counted so far (at most MaxTripIDs).
	ObjectIDs []string `json:"objectIds"`
	// ObjectTypes are their types, index for index ("" where the count was
	// recorded before types were), so that a preview can be scoped by type
	// and id.
	ObjectTypes []audit.TargetType `json:"objectTypes,omitempty"`
	// Preview is true when the rule file asks for one grouped preview.
	Preview bool `json:"preview"`
	// FirstAt is when the first counted deletion happened: a preview must
	// use a snapshot taken before it.
	FirstAt time.Time `json:"firstAt,omitzero"`
}

// MaxTripIDs bounds the ids listed in a Trip; a preview job scoped to more
// is built from the journal.
const MaxTripIDs = 1000

// Apply runs the guards over the rules' verdict for one target of event.
// enforce says whether a restore decided here will be carried out: only
// then does it start a cooldown. Errors are the store's; the caller retries.
func (g *Guards) Apply(ctx context.Context, event *audit.Event, target audit.Target, v rules.Verdict, enforce bool) (Outcome, error) {
	out := Outcome{Actions: slices.Clone(v.Actions), Notify: slices.Clone(v.Notify)}
	if refused, ok := g.Refuse(event); ok {
		return refused, nil
	}
	if len(v.Actions) == 0 {
		return out, nil
	}
	if s, err := g.silenced(ctx, event, target, matchedNames(v)); err != nil {
		return out, err
	} else if s != nil {
		return refuse(Silence, fmt.Sprintf("silenced by %s until %s: %s", s.ID, s.EndsAt.UTC().Format(time.RFC3339), s.Reason)), nil
	}
	if !out.writes() {
		return out, nil
	}
	if reason, ok := g.exemptInitiator(event.Initiator); ok {
		out.drop(rules.ActionRestore, rules.ActionPreview)
		out.Guard, out.Reason = Exempt, "exempt initiator: "+reason
		return out, nil
	}
	if !slices.Contains(out.Actions, rules.ActionRestore) {
		return out, nil
	}
	at := guardTime(event, g.cfg.Now())
	if escalated, err := g.cooldown(ctx, event, target, at, &out); err != nil || escalated {
		return out, err
	}
	if err := g.breaker(ctx, event, target, v, at, &out); err != nil || out.Guard != "" {
		return out, err
	}
	if enforce && g.cfg.Rules.Cooldown.Window > 0 {
		mark := store.Mark{Key: cooldownKey(target.ID), Value: event.ID, Until: at.Add(g.cfg.Rules.Cooldown.Window)}
		if err := g.state.PutMark(ctx, mark, at); err != nil {
			return out, fmt.Errorf("start cooldown for %s: %w", target.ID, err)
		}
	}
	return out, nil
}

// Refuse runs the guards that depend on the event alone, tenant and self,
// so that a refused event is refused before anything is read for it.
func (g *Guards) Refuse(event *audit.Event) (Outcome, bool) {
	switch {
	case g.cfg.TenantID != "" && event.TenantID != "" && !strings.EqualFold(event.TenantID, g.cfg.TenantID):
		return refuse(Tenant, fmt.Sprintf("the event is from tenant %s; Reinstate serves %s", event.TenantID, g.cfg.TenantID)), true
	case g.cfg.Self.Caused(*event):
		return refuse(SelfLoop, "caused by Reinstate itself"), true
	}
	return Outcome{}, false
}

func refuse(guard, reason string) Outcome {
	return Outcome{Actions: []rules.Action{}, Guard: guard, Reason: reason}
}

// writes reports whether the outcome would write to the tenant.
func (o *Outcome) writes() bool {
	return slices.Contains(o.Actions, rules.ActionRestore) || slices.Contains(o.Actions, rules.ActionPreview)
}

func (o *Outcome) drop(actions ...rules.Action) {
	o.Actions = slices.DeleteFunc(o.Actions, func(a rules.Action) bool { return slices.Contains(actions, a) })
}

// escalate turns the outcome into a notification on its channels and extra.
func (o *Outcome) escalate(guard, reason string, extra []string) {
	o.drop(rules.ActionRestore, rules.ActionPreview)
	for _, ch := range extra {
		if !slices.Contains(o.Notify, ch) {
			o.Notify = append(o.Notify, ch)
		}
	}
	if len(o.Notify) > 0 && !slices.Contains(o.Actions, rules.ActionNotify) {
		o.Actions = append(o.Actions, rules.ActionNotify)
	}
	o.Guard, o.Reason = guard, reason
}

// guardTime is the clock cooldowns and the breaker count in: when the
// deletion happened, so that a replayed or late-delivered log is judged as
// it happened, and `reinstate plan` agrees with the service. A time in the
// future (a skewed clock) is taken as now.
func guardTime(event *audit.Event, now time.Time) time.Time {
	if event.Time.IsZero() || event.Time.After(now) {
		return now
	}
	return event.Time
}

// silenced returns the first active silence matching the event, or nil.
func (g *Guards) silenced(ctx context.Context, event *audit.Event, target audit.Target, rules []string) (*store.Silence, error) {
	silences, err := g.state.Silences(ctx, store.SilenceQuery{ActiveAt: g.cfg.Now(), Limit: maxSilences})
	if err != nil {
		return nil, fmt.Errorf("read silences: %w", err)
	}
	for i := range silences {
		if Matches(silences[i], event, target, rules) {
			return &silences[i], nil
		}
	}
	return nil, nil
}

// maxSilences bounds the active silences read for one decision; operators
// keep a handful, and more than this is a mistake to fix, not to page
// through on every event.
const maxSilences = 500

// Matches reports whether silence s mutes a decision about target of event
// that rules (every matched rule) made: every matcher it sets must match. A
// rule matcher matches any of them, since with `continue` the restore may
// come from a later rule. An initiator matcher matches the initiator's
// object id, appId, service principal id or UPN.
func Matches(s store.Silence, event *audit.Event, target audit.Target, rules []string) bool {
	if s.Rule == "" && s.Initiator == "" && s.ObjectID == "" {
		return false
	}
	if s.Rule != "" && !slices.Contains(rules, s.Rule) {
		return false
	}
	if s.ObjectID != "" && !strings.EqualFold(s.ObjectID, target.ID) {
		return false
	}
	if s.Initiator != "" && !slices.ContainsFunc(initiatorIDs(event.Initiator), func(id string) bool { return strings.EqualFold(id, s.Initiator) }) {
		return false
	}
	return true
}

func matchedNames(v rules.Verdict) []string {
	names := make([]string, len(v.Matched))
	for i, r := range v.Matched {
		names[i] = r.Name
	}
	return names
}

func initiatorIDs(in audit.Initiator) []string {
	var ids []string
	for _, id := range []string{in.ID, in.AppID, in.ServicePrincipalID, in.UserPrincipalName} {
		if id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

func (g *Guards) exemptInitiator(in audit.Initiator) (string, bool) {
	for _, id := range initiatorIDs(in) {
		if reason, ok := g.exempt[strings.ToLower(id)]; ok {
			return reason, true
		}
	}
	return "", false
}

func cooldownKey(objectID string) string { return "cooldown:" + strings.ToLower(objectID) }

// cooldown escalates a restore of an object Reinstate decided to restore
// within the window, unless it is the same event again (a redelivery).
func (g *Guards) cooldown(ctx context.Context, event *audit.Event, target audit.Target, at time.Time, out *Outcome) (bool, error) {
	cfg := g.cfg.Rules.Cooldown
	if cfg.Window <= 0 {
		return false, nil
	}
	mark, err := g.state.GetMark(ctx, cooldownKey(target.ID))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read cooldown of %s: %w", target.ID, err)
	case !at.Before(mark.Until) || mark.Value == event.ID:
		return false, nil
	}
	restoredAt := mark.Until.Add(-cfg.Window)
	out.escalate(Cooldown, fmt.Sprintf("Reinstate restored this object at %s and it was deleted again within the %s cooldown: someone may be fighting Reinstate; not restored",
		restoredAt.UTC().Format(time.RFC3339), cfg.Window), cfg.Notify)
	return true, nil
}

// Breaker scopes.
const totalScope = "total"

func ruleScope(rule string) string { return "rule:" + rule }

func breakerKey(scope string) string { return "breaker:" + scope }

// breaker counts the restore and, when a scope is or goes over its
// threshold, holds it back for the grouped notification and preview.
func (g *Guards) breaker(ctx context.Context, event *audit.Event, target audit.Target, v rules.Verdict, at time.Time, out *Outcome) error {
	cfg := g.cfg.Rules.Breaker
	// The id names the event, so that a redelivery counts once, and the
	// object with its type, so that a trip can name what to preview.
	hitID := event.ID + "/" + string(target.Type) + "/" + strings.ToLower(target.ID)
	scopes := []struct {
		scope     string
		threshold int
	}{{ruleScope(v.Rule()), cfg.PerRule}, {totalScope, cfg.Total}}
	for _, s := range scopes {
		if _, err := g.state.RecordHit(ctx, s.scope, hitID, at); err != nil {
			return fmt.Errorf("count for the breaker (%s): %w", s.scope, err)
		}
	}
	// Every scope is checked, so that each open one is kept open and each
	// that goes over trips, even when another already holds the restore.
	var reasons []string
	for _, s := range scopes {
		open, trip, err := g.check(ctx, s.scope, s.threshold, at)
		if err != nil {
			return err
		}
		switch {
		case trip != nil:
			reasons = append(reasons, fmt.Sprintf("mass-deletion breaker tripped for %s: %d restore-worthy deletions within %s (threshold %d)", s.scope, trip.Count, cfg.Window, s.threshold))
			trip.Preview = cfg.Preview
			if out.Trip == nil {
				out.Trip = trip
			}
		case open:
			reasons = append(reasons, fmt.Sprintf("mass-deletion breaker open for %s (more than %d restore-worthy deletions within %s)", s.scope, s.threshold, cfg.Window))
		}
	}
	if len(reasons) > 0 {
		out.escalate(Breaker, strings.Join(reasons, "; ")+fmt.Sprintf("; auto-restore paused until %s pass quietly or on-call resets it", cfg.QuietPeriod), cfg.Notify)
	}
	return nil
}

// check reports whether scope's breaker is open at at, tripping it when
// the count goes over threshold (the returned Trip), and keeping an open
// breaker open for another quiet period.
func (g *Guards) check(ctx context.Context, scope string, threshold int, at time.Time) (bool, *Trip, error) {
	cfg := g.cfg.Rules.Breaker
	key := breakerKey(scope)
	since := at.Add(-cfg.Window)
	mark, err := g.state.GetMark(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return false, nil, fmt.Errorf("read breaker %s: %w", scope, err)
	case at.Before(mark.Until) && !strings.HasPrefix(mark.Value, resetValue):
		// Open: every deletion extends the quiet period it waits for; a
		// late-delivered one, older than the last, never shortens it.
		if until := at.Add(cfg.QuietPeriod); until.After(mark.Until) {
			if err := g.state.PutMark(ctx, store.Mark{Key: key, Value: mark.Value, Until: until}, at); err != nil {
				return false, nil, fmt.Errorf("extend breaker %s: %w", scope, err)
			}
		}
		return true, nil, nil
	default:
		// It closed (quiet period, or a reset): what it counted before
		// does not count again.
		if mark.Until.After(since) {
			since = mark.Until
		}
	}
	count, err := g.state.CountHits(ctx, scope, since, at)
	if err != nil {
		return false, nil, fmt.Errorf("count for breaker %s: %w", scope, err)
	}
	if count <= threshold {
		return false, nil, nil
	}
	if err := g.state.PutMark(ctx, store.Mark{Key: key, Value: "tripped at " + at.UTC().Format(time.RFC3339), Until: at.Add(cfg.QuietPeriod)}, at); err != nil {
		return false, nil, fmt.Errorf("trip breaker %s: %w", scope, err)
	}
	hits, err := g.state.Hits(ctx, scope, since, at, MaxTripIDs)
	if err != nil {
		return false, nil, fmt.Errorf("list breaker %s: %w", scope, err)
	}
	trip := &Trip{Scope: scope, Count: count, Threshold: threshold}
	if len(hits) > 0 {
		trip.FirstAt = hits[0].At
	}
	for _, h := range hits {
		// Event ids are Entra's and could hold a "/"; object ids and types
		// never do.
		rest, id := cutLast(h.ID)
		_, typ := cutLast(rest)
		if !slices.Contains(trip.ObjectIDs, id) {
			trip.ObjectIDs = append(trip.ObjectIDs, id)
			trip.ObjectTypes = append(trip.ObjectTypes, audit.TargetType(typ))
		}
	}
	return true, trip, nil
}

// resetValue starts the Value of a breaker mark ResetBreaker wrote: the
// mark is closed, though its Until is later than deletions delivered late.
const resetValue = "reset at "

// ResetBreaker closes scope's breaker at now ("total", or a rule's name):
// the on-call reset. Deletions counted before now do not count again.
func ResetBreaker(ctx context.Context, state State, scope string, now time.Time) error {
	if scope != totalScope {
		scope = ruleScope(scope)
	}
	if err := state.PutMark(ctx, store.Mark{Key: breakerKey(scope), Value: resetValue + now.UTC().Format(time.RFC3339), Until: now}, now); err != nil {
		return fmt.Errorf("reset breaker %s: %w", scope, err)
	}
	return nil
}

// cutLast splits s at its last "/".
func cutLast(s string) (before, after string) {
	i := strings.LastIndex(s, "/")
	return s[:max(i, 0)], s[i+1:]
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
