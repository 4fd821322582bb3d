package guard_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/store"
)

// On-call's restore is judged by the guard verdict of the object's latest
// decision (exempt and cooldown refuse) and overrides silences and open
// breakers, which it lists.
func TestOnCall(t *testing.T) {
	object := group(1).ID
	ctx := context.Background()
	tests := []struct {
		name      string
		prior     *guard.Prior
		setup     func(t *testing.T, st store.Store)
		refused   string
		overrides []string // prefixes, in order
	}{
		{name: "nothing known, nothing in force"},
		{name: "exempt deletion", prior: &guard.Prior{Rule: "groups", Initiator: "lcw", Guard: guard.Exempt, Reason: "leaver cleanup"}, refused: guard.Exempt},
		{name: "cooldown escalation while the cooldown lasts", prior: &guard.Prior{Rule: "groups", Guard: guard.Cooldown, Reason: "deleted again"},
			setup: func(t *testing.T, st store.Store) {
				putMark(t, st, store.Mark{Key: "cooldown:" + object, Value: "ev1", Until: wall.Add(time.Minute)})
			}, refused: guard.Cooldown},
		{name: "cooldown escalation after the cooldown", prior: &guard.Prior{Rule: "groups", Guard: guard.Cooldown},
			setup: func(t *testing.T, st store.Store) {
				putMark(t, st, store.Mark{Key: "cooldown:" + object, Value: "ev1", Until: wall.Add(-time.Minute)})
			}},
		{name: "a cooldown mark alone (restore decided, not fought over) does not refuse", prior: &guard.Prior{Rule: "groups"},
			setup: func(t *testing.T, st store.Store) {
				putMark(t, st, store.Mark{Key: "cooldown:" + object, Value: "ev1", Until: wall.Add(time.Hour)})
			}},
		{name: "silences that cover the object are overridden", prior: &guard.Prior{Rule: "groups", Initiator: "mallory@contoso.com", Guard: guard.Silence},
			setup: func(t *testing.T, st store.Store) {
				putSilence(t, st, store.Silence{ObjectID: object})
				putSilence(t, st, store.Silence{Rule: "groups", Initiator: "mallory@contoso.com"})
				putSilence(t, st, store.Silence{Rule: "users"})                                                      // another rule
				putSilence(t, st, store.Silence{Rule: "groups", Initiator: "someone@contoso.com"})                   // another initiator
				putSilence(t, st, store.Silence{ObjectID: object, StartsAt: wall.Add(-2 * time.Hour), EndsAt: wall}) // ended
			}, overrides: []string{"silence ", "silence "}},
		{name: "open breakers are overridden, closed and reset ones are not", prior: &guard.Prior{Rule: "groups"},
			setup: func(t *testing.T, st store.Store) {
				putMark(t, st, store.Mark{Key: "breaker:total", Value: "tripped at x", Until: wall.Add(time.Hour)})
				putMark(t, st, store.Mark{Key: "breaker:rule:groups", Value: "tripped at x", Until: wall.Add(-time.Minute)})
			}, overrides: []string{"breaker total open"}},
		{name: "a reset breaker is closed", setup: func(t *testing.T, st store.Store) {
			if err := guard.ResetBreaker(ctx, st, "total", wall.Add(-time.Second)); err != nil {
				t.Fatal(err)
			}
			putMark(t, st, store.Mark{Key: "breaker:total", Value: "reset at x", Until: wall.Add(time.Hour)})
		}},
		{name: "a rule's breaker counts only with a prior decision by that rule", prior: &guard.Prior{Rule: "groups"},
			setup: func(t *testing.T, st store.Store) {
				putMark(t, st, store.Mark{Key: "breaker:rule:groups", Value: "tripped at x", Until: wall.Add(time.Hour)})
				putMark(t, st, store.Mark{Key: "breaker:rule:users", Value: "tripped at x", Until: wall.Add(time.Hour)})
			}, overrides: []string{"breaker rule:groups open"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "", nil)
			if tc.setup != nil {
				tc.setup(t, f.st)
			}
			check, err := f.g.OnCall(ctx, object, tc.prior, wall)
			if err != nil {
				t.Fatal(err)
			}
			if check.Refused != tc.refused || (tc.refused != "" && check.Reason == "") {
				t.Errorf("refused %q (%s), want %q", check.Refused, check.Reason, tc.refused)
			}
			if len(check.Overridden) != len(tc.overrides) {
				t.Fatalf("overridden %q, want %d like %q", check.Overridden, len(tc.overrides), tc.overrides)
			}
			for i, prefix := range tc.overrides {
				if !strings.HasPrefix(check.Overridden[i], prefix) {
					t.Errorf("overridden[%d] = %q, want %q…", i, check.Overridden[i], prefix)
				}
			}
		})
	}
}

func TestStartCooldown(t *testing.T) {
	f := newFixture(t, "", nil)
	object := group(2).ID
	if err := f.g.StartCooldown(context.Background(), object, "oncall:1", wall); err != nil {
		t.Fatal(err)
	}
	mark, err := f.st.GetMark(context.Background(), "cooldown:"+object)
	if err != nil || mark.Value != "oncall:1" || !mark.Until.After(wall) {
		t.Errorf("cooldown mark = %+v, %v", mark, err)
	}
	// A later deletion of the object within the window is escalated, as
	// after an automatic restore.
	out := f.one(del(object, time.Minute, group(2)), true)
	if out.Guard != guard.Cooldown {
		t.Errorf("deletion after on-call's restore: guard %q, want cooldown", out.Guard)
	}
}

func putMark(t *testing.T, st store.Store, m store.Mark) {
	t.Helper()
	if err := st.PutMark(context.Background(), m, wall.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func putSilence(t *testing.T, st store.Store, s store.Silence) {
	t.Helper()
	if _, err := st.PutSilence(context.Background(), silenceAt(s), wall.Add(-3*time.Hour)); err != nil {
		t.Fatal(err)
	}
}
