package guard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
)

// Prior is what the journal knows of the latest decision about an object:
// the rule that made it, the deletion's initiator and the guard, if any,
// that changed it.
type Prior struct {
	Rule      string
	Initiator string
	Guard     string
	Reason    string
}

// OnCallCheck is what the guards say about on-call restoring an object.
type OnCallCheck struct {
	// Refused names the guard that refuses the restore; empty when none
	// does. Reason says why, for the caller.
	Refused string
	Reason  string
	// Overridden lists the silences and open breakers that would have
	// stopped an automatic restore and that on-call's restore overrides,
	// for the journal.
	Overridden []string
}

// OnCall applies the guards to on-call's explicit restore of objectID at
// now, given the latest decision about it (nil when Reinstate never decided
// on it). The tenant and self guards are about events and have nothing to
// judge here. Exempt initiators and cooldowns refuse as they did for the
// deletion: an exempt initiator's deletions are never undone by Reinstate,
// and an object deleted again soon after Reinstate restored it is being
// fought over, which a restore would only feed. Silences and tripped
// breakers are on-call's to override: they are reported in Overridden,
// and the restore goes ahead.
func (g *Guards) OnCall(ctx context.Context, objectID string, prior *Prior, now time.Time) (OnCallCheck, error) {
	var check OnCallCheck
	if prior != nil {
		switch prior.Guard {
		case Exempt:
			check.Refused, check.Reason = Exempt, "the deletion was by an exempt initiator ("+prior.Initiator+"): "+prior.Reason
			return check, nil
		case Cooldown:
			mark, err := g.state.GetMark(ctx, cooldownKey(objectID))
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return check, fmt.Errorf("read cooldown of %s: %w", objectID, err)
			case now.Before(mark.Until):
				check.Refused, check.Reason = Cooldown, prior.Reason+"; the cooldown lasts until "+mark.Until.UTC().Format(time.RFC3339)
				return check, nil
			}
		}
	}
	silences, err := g.state.Silences(ctx, store.SilenceQuery{ActiveAt: now, Limit: maxSilences})
	if err != nil {
		return check, fmt.Errorf("read silences: %w", err)
	}
	for _, s := range silences {
		if silenceCovers(s, objectID, prior) {
			check.Overridden = append(check.Overridden, fmt.Sprintf("silence %s until %s: %s", s.ID, s.EndsAt.UTC().Format(time.RFC3339), s.Reason))
		}
	}
	scopes := []string{totalScope}
	if prior != nil && prior.Rule != "" {
		scopes = append(scopes, ruleScope(prior.Rule))
	}
	for _, scope := range scopes {
		mark, err := g.state.GetMark(ctx, breakerKey(scope))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return check, fmt.Errorf("read breaker %s: %w", scope, err)
		case now.Before(mark.Until) && !strings.HasPrefix(mark.Value, resetValue):
			check.Overridden = append(check.Overridden, fmt.Sprintf("breaker %s open until %s (%s)", scope, mark.Until.UTC().Format(time.RFC3339), mark.Value))
		}
	}
	return check, nil
}

// silenceCovers reports whether s would mute a decision about objectID
// like the prior one: every matcher it sets must match, as in Matches.
func silenceCovers(s store.Silence, objectID string, prior *Prior) bool {
	if s.Rule == "" && s.Initiator == "" && s.ObjectID == "" {
		return false
	}
	var rule, initiator string
	if prior != nil {
		rule, initiator = prior.Rule, prior.Initiator
	}
	return (s.ObjectID == "" || strings.EqualFold(s.ObjectID, objectID)) &&
		(s.Rule == "" || s.Rule == rule) &&
		(s.Initiator == "" || strings.EqualFold(s.Initiator, initiator))
}

// StartCooldown starts objectID's cooldown at now, as an automatic restore
// decision does, so that a deletion soon after on-call's restore is
// escalated rather than undone again. value names what restored it. It does
// nothing when the rule file sets no cooldown.
func (g *Guards) StartCooldown(ctx context.Context, objectID, value string, now time.Time) error {
	if g.cfg.Rules.Cooldown.Window <= 0 {
		return nil
	}
	if err := g.state.PutMark(ctx, store.Mark{Key: cooldownKey(objectID), Value: value, Until: now.Add(g.cfg.Rules.Cooldown.Window)}, now); err != nil {
		return fmt.Errorf("start cooldown for %s: %w", objectID, err)
	}
	return nil
}

// SilenceMatchers renders what a silence matches, "rule=x object=y", for
// people reading lists and the journal.
func SilenceMatchers(s store.Silence) string {
	var parts []string
	for _, m := range []struct{ name, value string }{{"rule", s.Rule}, {"initiator", s.Initiator}, {"object", s.ObjectID}} {
		if m.value != "" {
			parts = append(parts, m.name+"="+m.value)
		}
	}
	return strings.Join(parts, " ")
}

// DescribeSilence is a silence in one line, for the journal; one not yet
// stored shows "(new)" for its id.
func DescribeSilence(s store.Silence) string {
	id := s.ID
	if id == "" {
		id = "(new)"
	}
	return fmt.Sprintf("silence %s: %s until %s: %s", id, SilenceMatchers(s), s.EndsAt.UTC().Format(time.RFC3339), s.Reason)
}
