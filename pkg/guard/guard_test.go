package guard_test

// The guards run over the real SQLite store (in memory) and over verdicts of
// real rule tables parsed from YAML. Guards count in event time (guardTime),
// so the tests drive the clock by setting event times; the wall clock (for
// silences) is pinned a day later.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

const (
	tenantID     = "7f3c2a91-5d4e-4b8a-9c61-2e0f8d3b4a17"
	otherTenant  = "0a1b2c3d-0000-4000-8000-000000000001"
	selfAppID    = "4e6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c2e"
	selfSPID     = "f2b4d6e8-3a5c-4b7d-9f1a-2c4e6a8c0d32"
	selfUserID   = "5c5c5c5c-0000-4000-8000-0000000005e1"
	exemptAppID  = "5a5a5a5a-0000-4000-8000-00000000aaaa"
	exemptUPN    = "Lifecycle@Contoso.com"
	adminID      = "1d1d1d1d-0000-4000-8000-000000000ad1"
	adminUPN     = "it-admin@contoso.com"
	otherAppID   = "6b6b6b6b-0000-4000-8000-000000000bbb"
	otherSPID    = "7c7c7c7c-0000-4000-8000-000000000ccc"
	exemptReason = "Lifecycle workflows clean up leavers"
)

var (
	t0 = time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)
	// wall is the guards' wall clock: later than every event.
	wall = t0.Add(24 * time.Hour)
)

// guardsYAML is the default guards section; perRule 3, total 5.
const guardsYAML = `guards:
  exemptInitiators:
    - id: ` + exemptUPN + `
      reason: ` + exemptReason + `
    - id: ` + exemptAppID + `
      reason: HR offboarding app
  cooldown:
    window: 30m
    notify: [oncall]
  breaker:
    window: 10m
    perRule: 3
    total: 5
    quietPeriod: 30m
    preview: true
    notify: [pager]
`

const rulesYAML = `rules:
  - name: groups
    when: 'event.deletion == "soft" && target.type == "group"'
    actions: [restore]
    notify: [secops]
  - name: users
    when: 'event.deletion == "soft" && target.type == "user"'
    actions: [restore]
  - name: units
    when: 'event.deletion == "soft" && target.type == "administrativeUnit"'
    actions: [restore]
  - name: apps
    when: 'event.deletion == "soft" && target.type == "application"'
    actions: [notify]
    notify: [secops]
  - name: sps
    when: 'event.deletion == "soft" && target.type == "servicePrincipal"'
    actions: [preview, notify]
    notify: [secops]
`

func tableSource(guards string) string {
	return `version: 1
defaults:
  mode: enforce
channels:
  secops: {type: console}
  oncall: {type: console}
  pager: {type: console}
` + guards + rulesYAML
}

type fixture struct {
	t     *testing.T
	st    *sqlite.Store
	table *rules.Table
	g     *guard.Guards
}

// newFixture opens an empty in-memory store and guards over a table with
// the given guards section ("" for guardsYAML); cfg adjusts the Config.
func newFixture(t *testing.T, guards string, cfg func(*guard.Config)) *fixture {
	t.Helper()
	if guards == "" {
		guards = guardsYAML
	}
	table, err := rules.Parse("guard_test.yaml", []byte(tableSource(guards)), func(string) string { return "" })
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	st, err := sqlite.Open(context.Background(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := guard.Config{TenantID: tenantID, Self: guard.NewSelf(selfAppID, selfSPID, selfUserID), Rules: table.Guards, Now: func() time.Time { return wall }}
	if cfg != nil {
		cfg(&c)
	}
	return &fixture{t: t, st: st, table: table, g: guard.New(st, c)}
}

// apply evaluates the table and runs the guards for every target of ev.
func (f *fixture) apply(ev *audit.Event, enforce bool) []guard.Outcome {
	f.t.Helper()
	subject := f.table.Subject(ev, wall)
	var outs []guard.Outcome
	for _, target := range ev.Targets {
		v := subject.Evaluate(target, nil, rules.ObjectNotRead)
		out, err := f.g.Apply(context.Background(), ev, target, v, enforce)
		if err != nil {
			f.t.Fatalf("Apply(%s, %s): %v", ev.ID, target.ID, err)
		}
		outs = append(outs, out)
	}
	return outs
}

func (f *fixture) one(ev *audit.Event, enforce bool) guard.Outcome {
	f.t.Helper()
	outs := f.apply(ev, enforce)
	if len(outs) != 1 {
		f.t.Fatalf("%d outcomes for %s, want 1", len(outs), ev.ID)
	}
	return outs[0]
}

// oid makes a distinct object id.
func oid(prefix byte, n int) string {
	return fmt.Sprintf("%c0000000-0000-4000-8000-%012d", prefix, n)
}

func target(typ audit.TargetType, id string) audit.Target {
	return audit.Target{ID: id, Type: typ, DisplayName: "obj-" + id[:8]}
}
func group(n int) audit.Target { return target(audit.TargetGroup, oid('a', n)) }
func user(n int) audit.Target  { return target(audit.TargetUser, oid('b', n)) }
func unit(n int) audit.Target  { return target(audit.TargetAdministrativeUnit, oid('c', n)) }

var admin = audit.Initiator{Type: audit.InitiatorUser, ID: adminID, UserPrincipalName: adminUPN}

// del is a soft deletion at t0+at by admin.
func del(id string, at time.Duration, targets ...audit.Target) *audit.Event {
	return &audit.Event{
		ID: id, TenantID: tenantID, Time: t0.Add(at), Activity: "Delete group", Category: "GroupManagement",
		OperationType: "Delete", Result: "success", Service: "Core Directory", Initiator: admin,
		Targets: targets, Deletion: audit.DeletionSoft,
	}
}

func by(ev *audit.Event, in audit.Initiator) *audit.Event { ev.Initiator = in; return ev }

var (
	restore      = []rules.Action{rules.ActionRestore}
	restNotify   = []rules.Action{rules.ActionRestore, rules.ActionNotify}
	notifyOnly   = []rules.Action{rules.ActionNotify}
	previewNote  = []rules.Action{rules.ActionPreview, rules.ActionNotify}
	none         = []rules.Action{}
	secops       = []string{"secops"}
	secopsOncall = []string{"secops", "oncall"}
	secopsPager  = []string{"secops", "pager"}
)

// want is an expected Outcome; reason is a substring, trip compared whole
// (nil: no trip).
type want struct {
	guard   string
	actions []rules.Action
	notify  []string
	reason  string
	trip    *guard.Trip
}

func check(t *testing.T, label string, got guard.Outcome, w want) {
	t.Helper()
	if got.Guard != w.guard {
		t.Errorf("%s: Guard %q, want %q (reason %q)", label, got.Guard, w.guard, got.Reason)
	}
	if !slices.Equal(got.Actions, w.actions) {
		t.Errorf("%s: Actions %v, want %v (guard %q, reason %q)", label, got.Actions, w.actions, got.Guard, got.Reason)
	}
	if len(got.Notify) != 0 || len(w.notify) != 0 {
		if !slices.Equal(got.Notify, w.notify) {
			t.Errorf("%s: Notify %v, want %v", label, got.Notify, w.notify)
		}
	}
	if w.guard == "" && got.Reason != "" {
		t.Errorf("%s: Reason %q without a guard", label, got.Reason)
	}
	if !strings.Contains(got.Reason, w.reason) {
		t.Errorf("%s: Reason %q, want it to contain %q", label, got.Reason, w.reason)
	}
	switch {
	case w.trip == nil && got.Trip != nil:
		t.Errorf("%s: Trip %+v, want none", label, *got.Trip)
	case w.trip != nil && got.Trip == nil:
		t.Errorf("%s: no Trip, want %+v", label, *w.trip)
	case w.trip != nil:
		g := *got.Trip
		if g.Scope != w.trip.Scope || g.Count != w.trip.Count || g.Threshold != w.trip.Threshold || g.Preview != w.trip.Preview ||
			!slices.Equal(g.ObjectIDs, w.trip.ObjectIDs) {
			t.Errorf("%s: Trip %+v, want %+v", label, g, *w.trip)
		}
	}
}

func TestTenant(t *testing.T) {
	tests := []struct {
		name       string
		configured string
		event      string
		target     audit.Target
		want       want
	}{
		{"another tenant is refused", tenantID, otherTenant, group(1), want{guard: guard.Tenant, actions: none, reason: otherTenant}},
		{"another tenant is refused even without a match", tenantID, otherTenant, target(audit.TargetDevice, oid('d', 1)), want{guard: guard.Tenant, actions: none}},
		{"the configured tenant passes", tenantID, tenantID, group(1), want{actions: restNotify, notify: secops}},
		{"an empty tenantId (Graph page) passes", tenantID, "", group(1), want{actions: restNotify, notify: secops}},
		{"comparison ignores case", strings.ToUpper(tenantID), tenantID, group(1), want{actions: restNotify, notify: secops}},
		{"comparison ignores case the other way", tenantID, strings.ToUpper(tenantID), group(1), want{actions: restNotify, notify: secops}},
		{"no configured tenant: no check", "", otherTenant, group(1), want{actions: restNotify, notify: secops}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "", func(c *guard.Config) { c.TenantID = tc.configured })
			ev := del("e1", 0, tc.target)
			ev.TenantID = tc.event
			check(t, "outcome", f.one(ev, true), tc.want)
		})
	}
}

func TestSelfGuard(t *testing.T) {
	tests := []struct {
		name      string
		initiator audit.Initiator
		target    audit.Target
		want      want
	}{
		{"by app id", audit.Initiator{Type: audit.InitiatorApp, AppID: selfAppID, ServicePrincipalID: otherSPID}, group(1), want{guard: guard.SelfLoop, actions: none}},
		{"by service principal id", audit.Initiator{Type: audit.InitiatorApp, ServicePrincipalID: selfSPID}, group(1), want{guard: guard.SelfLoop, actions: none}},
		{"by object id, upper case", audit.Initiator{Type: audit.InitiatorUser, ID: strings.ToUpper(selfUserID)}, group(1), want{guard: guard.SelfLoop, actions: none}},
		{"even when no rule matched", audit.Initiator{Type: audit.InitiatorApp, AppID: selfAppID}, target(audit.TargetDevice, oid('d', 1)), want{guard: guard.SelfLoop, actions: none, reason: "Reinstate itself"}},
		{"on a notify-only verdict", audit.Initiator{Type: audit.InitiatorApp, AppID: selfAppID}, target(audit.TargetApplication, oid('e', 1)), want{guard: guard.SelfLoop, actions: none}},
		{"someone else acts", audit.Initiator{Type: audit.InitiatorApp, AppID: otherAppID, ServicePrincipalID: otherSPID}, group(1), want{actions: restNotify, notify: secops}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "", nil)
			check(t, "outcome", f.one(by(del("e1", 0, tc.target), tc.initiator), true), tc.want)
		})
	}

	t.Run("nil Self checks nothing", func(t *testing.T) {
		f := newFixture(t, "", func(c *guard.Config) { c.Self = nil })
		out := f.one(by(del("e1", 0, group(1)), audit.Initiator{Type: audit.InitiatorApp, AppID: selfAppID}), true)
		check(t, "outcome", out, want{actions: restNotify, notify: secops})
	})
}

func TestSelfCaused(t *testing.T) {
	s := guard.NewSelf(" "+strings.ToUpper(selfAppID)+" ", "", selfSPID)
	ev := func(in audit.Initiator) audit.Event { return audit.Event{ID: "e", Initiator: in} }
	tests := []struct {
		name string
		self *guard.Self
		in   audit.Initiator
		want bool
	}{
		{"app id, registered upper case and padded", s, audit.Initiator{AppID: selfAppID}, true},
		{"service principal id, upper case in the event", s, audit.Initiator{ServicePrincipalID: strings.ToUpper(selfSPID)}, true},
		{"an app id registered as the service principal id", s, audit.Initiator{AppID: selfSPID}, true},
		{"someone else", s, audit.Initiator{AppID: otherAppID, ServicePrincipalID: otherSPID, ID: adminID}, false},
		{"an empty initiator never matches (empty ids are not recorded)", s, audit.Initiator{}, false},
		{"a nil Self recognises nothing", nil, audit.Initiator{AppID: selfAppID}, false},
		{"an empty Self recognises nothing", guard.NewSelf(), audit.Initiator{AppID: selfAppID}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.self.Caused(ev(tc.in)); got != tc.want {
				t.Errorf("Caused(%+v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}

	t.Run("Add learns ids later", func(t *testing.T) {
		s := guard.NewSelf(selfAppID)
		in := audit.Initiator{Type: audit.InitiatorUser, ID: selfUserID}
		if s.Caused(ev(in)) {
			t.Fatal("Caused before Add")
		}
		s.Add("  ", strings.ToUpper(selfUserID))
		if !s.Caused(ev(in)) {
			t.Error("not Caused after Add")
		}
		if !s.Caused(ev(audit.Initiator{AppID: selfAppID})) {
			t.Error("Add forgot the ids given to NewSelf")
		}
	})
}

// silenceAt is a silence active from wall-1h to wall+1h unless changed.
func silenceAt(s store.Silence) store.Silence {
	if s.Reason == "" {
		s.Reason = "planned cleanup"
	}
	if s.StartsAt.IsZero() {
		s.StartsAt = wall.Add(-time.Hour)
	}
	if s.EndsAt.IsZero() {
		s.EndsAt = wall.Add(time.Hour)
	}
	s.CreatedBy = "oncall@contoso.com"
	return s
}

func TestSilences(t *testing.T) {
	app := audit.Initiator{Type: audit.InitiatorApp, AppID: otherAppID, ServicePrincipalID: otherSPID}
	g1 := group(1)
	tests := []struct {
		name     string
		silence  store.Silence
		ev       *audit.Event
		silenced bool
		// unsilenced is the outcome when not silenced.
		unsilenced want
	}{
		{name: "by rule", silence: store.Silence{Rule: "groups"}, ev: del("e1", 0, g1), silenced: true},
		{name: "by rule: another rule", silence: store.Silence{Rule: "groups"}, ev: del("e1", 0, user(1)), unsilenced: want{actions: restore}},
		{name: "by initiator: user object id", silence: store.Silence{Initiator: adminID}, ev: del("e1", 0, g1), silenced: true},
		{name: "by initiator: UPN, other case", silence: store.Silence{Initiator: strings.ToUpper(adminUPN)}, ev: del("e1", 0, g1), silenced: true},
		{name: "by initiator: appId", silence: store.Silence{Initiator: otherAppID}, ev: by(del("e1", 0, g1), app), silenced: true},
		{name: "by initiator: service principal id", silence: store.Silence{Initiator: strings.ToUpper(otherSPID)}, ev: by(del("e1", 0, g1), app), silenced: true},
		{name: "by initiator: someone else", silence: store.Silence{Initiator: otherAppID}, ev: del("e1", 0, g1), unsilenced: want{actions: restNotify, notify: secops}},
		{name: "by object id, other case", silence: store.Silence{ObjectID: strings.ToUpper(g1.ID)}, ev: del("e1", 0, g1), silenced: true},
		{name: "by object id: another object", silence: store.Silence{ObjectID: group(2).ID}, ev: del("e1", 0, g1), unsilenced: want{actions: restNotify, notify: secops}},
		{name: "combined: all match", silence: store.Silence{Rule: "groups", Initiator: adminUPN, ObjectID: g1.ID}, ev: del("e1", 0, g1), silenced: true},
		{name: "combined: rule and object match, initiator does not", silence: store.Silence{Rule: "groups", Initiator: otherAppID, ObjectID: g1.ID}, ev: del("e1", 0, g1), unsilenced: want{actions: restNotify, notify: secops}},
		{name: "combined: initiator and object match, rule does not", silence: store.Silence{Rule: "users", Initiator: adminID, ObjectID: g1.ID}, ev: del("e1", 0, g1), unsilenced: want{actions: restNotify, notify: secops}},
		{name: "expired", silence: store.Silence{StartsAt: wall.Add(-2 * time.Hour), EndsAt: wall.Add(-time.Second), Rule: "groups"}, ev: del("e1", 0, g1), unsilenced: want{actions: restNotify, notify: secops}},
		{name: "ends exactly now (EndsAt is exclusive)", silence: store.Silence{StartsAt: wall.Add(-2 * time.Hour), EndsAt: wall, Rule: "groups"}, ev: del("e1", 0, g1), unsilenced: want{actions: restNotify, notify: secops}},
		{name: "not yet started", silence: store.Silence{StartsAt: wall.Add(time.Minute), EndsAt: wall.Add(time.Hour), Rule: "groups"}, ev: del("e1", 0, g1), unsilenced: want{actions: restNotify, notify: secops}},
		{name: "notify-only verdict: not even notify", silence: store.Silence{Rule: "apps"}, ev: del("e1", 0, target(audit.TargetApplication, oid('e', 1))), silenced: true},
		{name: "no rule matched: nothing to silence", silence: store.Silence{ObjectID: oid('d', 1)}, ev: del("e1", 0, target(audit.TargetDevice, oid('d', 1)))},
		{name: "preview verdict", silence: store.Silence{Rule: "sps"}, ev: del("e1", 0, target(audit.TargetServicePrincipal, oid('f', 1))), silenced: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "", nil)
			s, err := f.st.PutSilence(context.Background(), silenceAt(tc.silence), wall.Add(-3*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			got := f.one(tc.ev, true)
			w := tc.unsilenced
			if tc.silenced {
				w = want{guard: guard.Silence, actions: none, reason: s.ID}
			}
			check(t, "outcome", got, w)
		})
	}

	t.Run("the first of several active silences; ended ones ignored", func(t *testing.T) {
		f := newFixture(t, "", nil)
		ctx := context.Background()
		if _, err := f.st.PutSilence(ctx, silenceAt(store.Silence{Rule: "groups", EndsAt: wall.Add(-time.Minute), StartsAt: wall.Add(-time.Hour)}), wall.Add(-2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		active, err := f.st.PutSilence(ctx, silenceAt(store.Silence{ObjectID: g1.ID, Reason: "migration of " + g1.ID}), wall.Add(-2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		got := f.one(del("e1", 0, g1), true)
		check(t, "outcome", got, want{guard: guard.Silence, actions: none, reason: active.ID})
		if !strings.Contains(got.Reason, "migration of") {
			t.Errorf("Reason %q does not carry the silence's reason", got.Reason)
		}
		// The ended silence by rule does not mute other groups.
		check(t, "other group", f.one(del("e2", time.Minute, group(2)), true), want{actions: restNotify, notify: secops})
	})
}

func TestMatches(t *testing.T) {
	ev := &audit.Event{ID: "e1", Initiator: audit.Initiator{Type: audit.InitiatorApp, ID: otherSPID, AppID: otherAppID, ServicePrincipalID: otherSPID}}
	userEv := &audit.Event{ID: "e2", Initiator: admin}
	tg := group(1)
	tests := []struct {
		name string
		s    store.Silence
		ev   *audit.Event
		rule string
		want bool
	}{
		{"no matcher matches nothing", store.Silence{Reason: "x"}, ev, "groups", false},
		{"rule", store.Silence{Rule: "groups"}, ev, "groups", true},
		{"rule differs", store.Silence{Rule: "groups"}, ev, "users", false},
		{"rule against no rule", store.Silence{Rule: "groups"}, ev, "", false},
		{"object id ignores case", store.Silence{ObjectID: strings.ToUpper(tg.ID)}, ev, "", true},
		{"object id differs", store.Silence{ObjectID: group(2).ID}, ev, "groups", false},
		{"initiator appId", store.Silence{Initiator: otherAppID}, ev, "groups", true},
		{"initiator SP id", store.Silence{Initiator: strings.ToUpper(otherSPID)}, ev, "groups", true},
		{"initiator user id", store.Silence{Initiator: adminID}, userEv, "groups", true},
		{"initiator UPN", store.Silence{Initiator: "IT-Admin@Contoso.com"}, userEv, "groups", true},
		{"initiator differs", store.Silence{Initiator: adminUPN}, ev, "groups", false},
		{"all three match", store.Silence{Rule: "groups", Initiator: adminUPN, ObjectID: tg.ID}, userEv, "groups", true},
		{"one of three differs", store.Silence{Rule: "groups", Initiator: adminUPN, ObjectID: group(2).ID}, userEv, "groups", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := guard.Matches(tc.s, tc.ev, tg, []string{tc.rule}); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExempt(t *testing.T) {
	lifecycle := audit.Initiator{Type: audit.InitiatorUser, ID: oid('9', 1), UserPrincipalName: strings.ToLower(exemptUPN)}
	hrApp := audit.Initiator{Type: audit.InitiatorApp, AppID: strings.ToUpper(exemptAppID), ServicePrincipalID: otherSPID}
	tests := []struct {
		name string
		ev   *audit.Event
		want want
	}{
		{"UPN, other case: restore dropped, notify kept", by(del("e1", 0, group(1)), lifecycle),
			want{guard: guard.Exempt, actions: notifyOnly, notify: secops, reason: "exempt initiator: " + exemptReason}},
		{"appId: restore dropped, nothing left to notify", by(del("e1", 0, user(1)), hrApp),
			want{guard: guard.Exempt, actions: none, reason: "exempt initiator: HR offboarding app"}},
		{"preview dropped, notify kept", by(del("e1", 0, target(audit.TargetServicePrincipal, oid('f', 1))), lifecycle),
			want{guard: guard.Exempt, actions: notifyOnly, notify: secops, reason: exemptReason}},
		{"notify-only verdict is unchanged", by(del("e1", 0, target(audit.TargetApplication, oid('e', 1))), lifecycle),
			want{actions: notifyOnly, notify: secops}},
		{"no match is unchanged", by(del("e1", 0, target(audit.TargetDevice, oid('d', 1))), lifecycle),
			want{actions: nil}},
		{"not exempt", del("e1", 0, group(1)), want{actions: restNotify, notify: secops}},
		{"not exempt: preview", del("e1", 0, target(audit.TargetServicePrincipal, oid('f', 1))), want{actions: previewNote, notify: secops}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "", nil)
			check(t, "outcome", f.one(tc.ev, true), tc.want)
		})
	}

	t.Run("an exempt deletion starts no cooldown", func(t *testing.T) {
		f := newFixture(t, "", nil)
		check(t, "exempt", f.one(by(del("e1", 0, group(1)), lifecycle), true), want{guard: guard.Exempt, actions: notifyOnly, notify: secops})
		check(t, "admin later", f.one(del("e2", time.Minute, group(1)), true), want{actions: restNotify, notify: secops})
	})
}

// step is one event through the guards, or an action between events.
type step struct {
	ev *audit.Event
	// observe runs it with enforce false.
	observe bool
	// do runs instead of an event.
	do func(t *testing.T, f *fixture)
	// wants are per target; want is for a single target.
	want  want
	wants []want
}

func run(t *testing.T, f *fixture, steps []step) {
	t.Helper()
	for i, s := range steps {
		if s.do != nil {
			s.do(t, f)
			continue
		}
		outs := f.apply(s.ev, !s.observe)
		wants := s.wants
		if wants == nil {
			wants = []want{s.want}
		}
		if len(outs) != len(wants) {
			t.Fatalf("step %d: %d outcomes, want %d", i, len(outs), len(wants))
		}
		for j := range outs {
			check(t, fmt.Sprintf("step %d (%s at %s, target %d)", i, s.ev.ID, s.ev.Time.Sub(t0), j), outs[j], wants[j])
		}
	}
}

var (
	restored      = want{actions: restNotify, notify: secops}
	restoredQuiet = want{actions: restore}
)

func TestCooldown(t *testing.T) {
	g1, g2, u1 := group(1), group(2), user(1)
	escalated := want{guard: guard.Cooldown, actions: notifyOnly, notify: secopsOncall, reason: "cooldown"}
	noChannels := strings.Replace(guardsYAML, "    notify: [oncall]\n", "", 1)
	tests := []struct {
		name   string
		guards string
		steps  []step
	}{
		{name: "a second deletion inside the window escalates", steps: []step{
			{ev: del("e1", 0, g1), want: restored},
			{ev: del("e2", 10*time.Minute, g1), want: escalated},
			{ev: del("e3", 29*time.Minute, g1), want: escalated},
		}},
		{name: "the escalation reason says when it was restored", steps: []step{
			{ev: del("e1", 0, g1), want: restored},
			{ev: del("e2", time.Minute, g1), want: want{guard: guard.Cooldown, actions: notifyOnly, notify: secopsOncall, reason: t0.Format(time.RFC3339)}},
		}},
		{name: "a rule without channels notifies the cooldown's", steps: []step{
			{ev: del("e1", 0, u1), want: restoredQuiet},
			{ev: del("e2", time.Minute, u1), want: want{guard: guard.Cooldown, actions: notifyOnly, notify: []string{"oncall"}}},
		}},
		{name: "no channels at all: nothing left but the guard", guards: noChannels, steps: []step{
			{ev: del("e1", 0, u1), want: restoredQuiet},
			{ev: del("e2", time.Minute, u1), want: want{guard: guard.Cooldown, actions: none}},
		}},
		{name: "the same event redelivered is not escalated", steps: []step{
			{ev: del("e1", 0, g1), want: restored},
			{ev: del("e1", 0, g1), want: restored},
			{ev: del("e1", 0, g1), want: restored},
			{ev: del("e2", 5*time.Minute, g1), want: escalated},
		}},
		{name: "another object is not cooled down", steps: []step{
			{ev: del("e1", 0, g1), want: restored},
			{ev: del("e2", time.Minute, g2), want: restored},
		}},
		{name: "after the window it is restored again, and cools down again", steps: []step{
			{ev: del("e1", 0, g1), want: restored},
			{ev: del("e2", 30*time.Minute, g1), want: restored},
			{ev: del("e3", 31*time.Minute, g1), want: escalated},
			{ev: del("e4", 61*time.Minute, g1), want: restored},
		}},
		{name: "the object id is compared without case", steps: []step{
			{ev: del("e1", 0, g1), want: restored},
			{ev: del("e2", time.Minute, target(audit.TargetGroup, strings.ToUpper(g1.ID))), want: escalated},
		}},
		{name: "observe mode never starts a cooldown", steps: []step{
			{ev: del("e1", 0, g1), observe: true, want: restored},
			{ev: del("e2", time.Minute, g1), observe: true, want: restored},
			{ev: del("e3", 2*time.Minute, g1), want: restored},
			{ev: del("e4", 3*time.Minute, g1), want: escalated},
		}},
		{name: "window 0s disables it", guards: strings.Replace(guardsYAML, "window: 30m", "window: 0s", 1), steps: []step{
			{ev: del("e1", 0, g1), want: restored},
			{ev: del("e2", time.Minute, g1), want: restored},
			{ev: del("e3", 2*time.Minute, g1), want: restored},
		}},
		{name: "an escalated deletion starts no new cooldown", steps: []step{
			{ev: del("e1", 0, g1), want: restored},
			{ev: del("e2", 20*time.Minute, g1), want: escalated},
			// 30m after e1 but 10m after e2: the cooldown ran from e1.
			{ev: del("e3", 30*time.Minute, g1), want: restored},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run(t, newFixture(t, tc.guards, nil), tc.steps)
		})
	}
}

func ids(targets ...audit.Target) []string {
	out := make([]string, len(targets))
	for i, tg := range targets {
		out[i] = strings.ToLower(tg.ID)
	}
	return out
}

func TestBreaker(t *testing.T) {
	g := make([]audit.Target, 12)
	u := make([]audit.Target, 12)
	for i := range g {
		g[i], u[i] = group(i), user(i)
	}
	held := want{guard: guard.Breaker, actions: notifyOnly, notify: secopsPager, reason: "open for rule:groups"}
	heldTotal := func(notify ...string) want {
		return want{guard: guard.Breaker, actions: notifyOnly, notify: notify, reason: "open for total"}
	}
	trip := func(scope string, count, threshold int, targets ...audit.Target) *guard.Trip {
		return &guard.Trip{Scope: scope, Count: count, Threshold: threshold, ObjectIDs: ids(targets...), Preview: true}
	}
	tripped := func(tr *guard.Trip) want {
		return want{guard: guard.Breaker, actions: notifyOnly, notify: secopsPager, reason: "tripped for " + tr.Scope, trip: tr}
	}
	// first4 trips rule:groups with its fourth deletion, at 3m.
	first4 := []step{
		{ev: del("e0", 0, g[0]), want: restored},
		{ev: del("e1", time.Minute, g[1]), want: restored},
		{ev: del("e2", 2*time.Minute, g[2]), want: restored},
		{ev: del("e3", 3*time.Minute, g[3]), want: tripped(trip("rule:groups", 4, 3, g[0], g[1], g[2], g[3]))},
	}
	reset := func(scope string, at time.Duration) step {
		return step{do: func(t *testing.T, f *fixture) {
			if err := guard.ResetBreaker(context.Background(), f.st, scope, t0.Add(at)); err != nil {
				t.Fatal(err)
			}
		}}
	}
	// bigTotal keeps the total breaker out of scenarios about one rule's.
	bigTotal := strings.Replace(guardsYAML, "total: 5", "total: 50", 1)
	quickQuiet := strings.Replace(bigTotal, "quietPeriod: 30m", "quietPeriod: 2m", 1)
	noPreview := strings.Replace(strings.Replace(guardsYAML, "preview: true", "preview: false", 1), "    notify: [pager]\n", "", 1)
	tests := []struct {
		name   string
		guards string
		steps  []step
	}{
		{name: "at, under and over the threshold; held while open", guards: bigTotal, steps: append(slices.Clone(first4),
			step{ev: del("e4", 4*time.Minute, g[4]), want: held},
			step{ev: del("e5", 5*time.Minute, g[5]), want: held},
		)},
		{name: "preview off, no breaker channels: notify only on the rule's", guards: noPreview, steps: []step{
			{ev: del("e0", 0, g[0]), want: restored},
			{ev: del("e1", time.Minute, g[1]), want: restored},
			{ev: del("e2", 2*time.Minute, g[2]), want: restored},
			{ev: del("e3", 3*time.Minute, g[3]), want: want{guard: guard.Breaker, actions: notifyOnly, notify: secops,
				trip: &guard.Trip{Scope: "rule:groups", Count: 4, Threshold: 3, ObjectIDs: ids(g[0], g[1], g[2], g[3]), Preview: false}}},
		}},
		{name: "one event deleting four groups trips on its fourth target", steps: []step{
			{ev: del("bulk", 0, g[0], g[1], g[2], g[3]), wants: []want{restored, restored, restored,
				tripped(trip("rule:groups", 4, 3, g[0], g[1], g[2], g[3]))}},
		}},
		{name: "each deletion while open extends the quiet period", guards: bigTotal, steps: append(slices.Clone(first4),
			// Tripped at 3m: open until 33m; this one extends it to 50m.
			step{ev: del("e4", 20*time.Minute, g[4]), want: held},
			step{ev: del("e5", 49*time.Minute, g[5]), want: held},
			// 30m after the last deletion (49m): closed, counting anew.
			step{ev: del("e6", 79*time.Minute, g[6]), want: restored},
			step{ev: del("e7", 80*time.Minute, g[7]), want: restored},
			step{ev: del("e8", 81*time.Minute, g[8]), want: restored},
			step{ev: del("e9", 82*time.Minute, g[9]), want: tripped(trip("rule:groups", 4, 3, g[6], g[7], g[8], g[9]))},
		)},
		{name: "after the quiet period counting restarts from the close", guards: quickQuiet, steps: append(slices.Clone(first4),
			// Open until 5m; 4m59s is still inside.
			step{ev: del("e4", 4*time.Minute+59*time.Second, g[4]), want: held},
			// Open until 6m59s now.
			step{ev: del("e5", 7*time.Minute, g[5]), want: restored},
			// The window (10m) still holds g0..g4, which must not count.
			step{ev: del("e6", 8*time.Minute, g[6]), want: restored},
			step{ev: del("e7", 9*time.Minute, g[7]), want: restored},
			step{ev: del("e8", 9*time.Minute+30*time.Second, g[8]), want: tripped(trip("rule:groups", 4, 3, g[5], g[6], g[7], g[8]))},
		)},
		{name: "deletions spread wider than the window never trip", guards: bigTotal, steps: func() []step {
			var s []step
			for i := range 10 {
				s = append(s, step{ev: del(fmt.Sprint("e", i), time.Duration(i)*4*time.Minute, g[i]), want: restored})
			}
			return s
		}()},
		{name: "the window's ends are inclusive", steps: []step{
			{ev: del("e0", 0, g[0]), want: restored},
			{ev: del("e1", 5*time.Minute, g[1]), want: restored},
			{ev: del("e2", 6*time.Minute, g[2]), want: restored},
			// Exactly 10m after e0: four in [0m, 10m].
			{ev: del("e3", 10*time.Minute, g[3]), want: tripped(trip("rule:groups", 4, 3, g[0], g[1], g[2], g[3]))},
		}},
		{name: "the total trips across rules each under its own", steps: []step{
			{ev: del("e0", 0, g[0]), want: restored},
			{ev: del("e1", time.Minute, g[1]), want: restored},
			{ev: del("e2", 2*time.Minute, g[2]), want: restored},
			{ev: del("e3", 3*time.Minute, u[0]), want: restoredQuiet},
			{ev: del("e4", 4*time.Minute, u[1]), want: restoredQuiet},
			{ev: del("e5", 5*time.Minute, u[2]), want: want{guard: guard.Breaker, actions: notifyOnly, notify: []string{"pager"}, reason: "tripped for total",
				trip: trip("total", 6, 5, g[0], g[1], g[2], u[0], u[1], u[2])}},
			// Every restore rule is held, also one that counted nothing.
			{ev: del("e6", 6*time.Minute, unit(0)), want: heldTotal("pager")},
		}},
		{name: "a redelivered event is counted once", steps: []step{
			{ev: del("e0", 0, g[0]), want: restored},
			{ev: del("e1", time.Minute, g[1]), want: restored},
			{ev: del("e2", 2*time.Minute, g[2]), want: restored},
			{ev: del("e2", 2*time.Minute, g[2]), want: restored},
			{ev: del("e1", time.Minute, g[1]), want: restored},
			{ev: del("e3", 3*time.Minute, g[3]), want: tripped(trip("rule:groups", 4, 3, g[0], g[1], g[2], g[3]))},
		}},
		{name: "observe mode counts too", steps: []step{
			{ev: del("e0", 0, g[0]), observe: true, want: restored},
			{ev: del("e1", time.Minute, g[1]), observe: true, want: restored},
			{ev: del("e2", 2*time.Minute, g[2]), observe: true, want: restored},
			{ev: del("e3", 3*time.Minute, g[3]), observe: true, want: tripped(trip("rule:groups", 4, 3, g[0], g[1], g[2], g[3]))},
		}},
		{name: "on-call reset closes it at once; earlier hits do not count", guards: bigTotal, steps: append(slices.Clone(first4),
			step{ev: del("e4", 4*time.Minute, g[4]), want: held},
			reset("groups", 5*time.Minute),
			step{ev: del("e5", 5*time.Minute, g[5]), want: restored},
			step{ev: del("e6", 6*time.Minute, g[6]), want: restored},
			step{ev: del("e7", 7*time.Minute, g[7]), want: restored},
			step{ev: del("e8", 8*time.Minute, g[8]), want: tripped(trip("rule:groups", 4, 3, g[5], g[6], g[7], g[8]))},
		)},
		{name: "resetting the total", steps: []step{
			{ev: del("e0", 0, g[0]), want: restored},
			{ev: del("e1", time.Minute, g[1]), want: restored},
			{ev: del("e2", 2*time.Minute, u[0]), want: restoredQuiet},
			{ev: del("e3", 3*time.Minute, u[1]), want: restoredQuiet},
			{ev: del("e4", 4*time.Minute, unit(0)), want: restoredQuiet},
			{ev: del("e5", 5*time.Minute, unit(1)), want: want{guard: guard.Breaker, actions: notifyOnly, notify: []string{"pager"}, reason: "tripped for total",
				trip: trip("total", 6, 5, g[0], g[1], u[0], u[1], unit(0), unit(1))}},
			{ev: del("e6", 6*time.Minute, u[2]), want: heldTotal("pager")},
			reset("total", 7*time.Minute),
			{ev: del("e7", 7*time.Minute, unit(2)), want: restoredQuiet},
		}},
		{name: "a reset is not undone by a deletion that happened before it", guards: bigTotal, steps: append(slices.Clone(first4),
			reset("groups", 10*time.Minute),
			// Delivered late: it happened before the reset.
			step{ev: del("e4", 9*time.Minute, g[4]), want: restored},
			step{ev: del("e5", 11*time.Minute, g[5]), want: restored},
		)},
		{name: "resetting a breaker that never tripped holds nothing", steps: []step{
			reset("groups", 10*time.Minute),
			{ev: del("e0", 9*time.Minute, g[0]), want: restored},
			{ev: del("e1", 9*time.Minute+30*time.Second, g[1]), want: restored},
		}},
		{name: "a late deletion does not shorten the quiet period", guards: bigTotal, steps: append(slices.Clone(first4),
			// Open until 40m.
			step{ev: del("e4", 10*time.Minute, g[4]), want: held},
			// Delivered late: it must not move the end back to 35m.
			step{ev: del("e5", 5*time.Minute, g[5]), want: held},
			step{ev: del("e6", 37*time.Minute, g[6]), want: held},
		)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run(t, newFixture(t, tc.guards, nil), tc.steps)
		})
	}
}

func TestOrder(t *testing.T) {
	g1, g2 := group(1), group(2)
	selfApp := audit.Initiator{Type: audit.InitiatorApp, AppID: selfAppID, ServicePrincipalID: selfSPID}
	lifecycle := audit.Initiator{Type: audit.InitiatorUser, ID: oid('9', 1), UserPrincipalName: exemptUPN}
	silence := func(s store.Silence) step {
		return step{do: func(t *testing.T, f *fixture) {
			if _, err := f.st.PutSilence(context.Background(), silenceAt(s), wall.Add(-2*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}}
	}
	foreign := func(ev *audit.Event) *audit.Event { ev.TenantID = otherTenant; return ev }
	tripGroups := []step{
		{ev: del("t0", 0, group(10)), want: restored},
		{ev: del("t1", time.Minute, group(11)), want: restored},
		{ev: del("t2", 2*time.Minute, group(12)), want: restored},
		{ev: del("t3", 3*time.Minute, group(13)), want: want{guard: guard.Breaker, actions: notifyOnly, notify: secopsPager, reason: "tripped",
			trip: &guard.Trip{Scope: "rule:groups", Count: 4, Threshold: 3, ObjectIDs: ids(group(10), group(11), group(12), group(13)), Preview: true}}},
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "tenant before self", steps: []step{
			{ev: foreign(by(del("e1", 0, g1), selfApp)), want: want{guard: guard.Tenant, actions: none}},
		}},
		{name: "self before silence", steps: []step{
			silence(store.Silence{Initiator: selfAppID}),
			{ev: by(del("e1", 0, g1), selfApp), want: want{guard: guard.SelfLoop, actions: none}},
		}},
		{name: "silence before exempt", steps: []step{
			silence(store.Silence{ObjectID: g1.ID}),
			{ev: by(del("e1", 0, g1), lifecycle), want: want{guard: guard.Silence, actions: none}},
		}},
		{name: "exempt before cooldown", steps: []step{
			{ev: del("e1", 0, g1), want: restored},
			{ev: by(del("e2", time.Minute, g1), lifecycle), want: want{guard: guard.Exempt, actions: notifyOnly, notify: secops}},
		}},
		{name: "exempt inside an open breaker", steps: append(slices.Clone(tripGroups),
			step{ev: by(del("e1", 4*time.Minute, g1), lifecycle), want: want{guard: guard.Exempt, actions: notifyOnly, notify: secops}},
		)},
		{name: "cooldown before breaker", steps: append(slices.Clone(tripGroups),
			step{ev: del("e1", 4*time.Minute, group(10)), want: want{guard: guard.Cooldown, actions: notifyOnly, notify: secopsOncall}},
			step{ev: del("e2", 5*time.Minute, g2), want: want{guard: guard.Breaker, actions: notifyOnly, notify: secopsPager, reason: "open"}},
		)},
		{name: "a silenced deletion does not count toward the breaker", steps: []step{
			silence(store.Silence{ObjectID: group(12).ID}),
			{ev: del("t0", 0, group(10)), want: restored},
			{ev: del("t1", time.Minute, group(11)), want: restored},
			{ev: del("t2", 2*time.Minute, group(12)), want: want{guard: guard.Silence, actions: none}},
			{ev: del("t3", 3*time.Minute, group(13)), want: restored},
			{ev: del("t4", 4*time.Minute, group(14)), want: want{guard: guard.Breaker, actions: notifyOnly, notify: secopsPager,
				trip: &guard.Trip{Scope: "rule:groups", Count: 4, Threshold: 3, ObjectIDs: ids(group(10), group(11), group(13), group(14)), Preview: true}}},
		}},
		{name: "exempt and cooled-down deletions do not count toward the breaker", steps: []step{
			{ev: del("t0", 0, group(10)), want: restored},
			{ev: by(del("t1", time.Minute, group(11)), lifecycle), want: want{guard: guard.Exempt, actions: notifyOnly, notify: secops}},
			{ev: del("t2", 2*time.Minute, group(10)), want: want{guard: guard.Cooldown, actions: notifyOnly, notify: secopsOncall}},
			{ev: del("t3", 3*time.Minute, group(12)), want: restored},
			{ev: del("t4", 4*time.Minute, group(13)), want: restored},
		}},
		{name: "a redelivered tripping event is held, and trips nothing again", steps: append(slices.Clone(tripGroups),
			step{ev: del("t3", 3*time.Minute, group(13)), want: want{guard: guard.Breaker, actions: notifyOnly, notify: secopsPager, reason: "open"}},
		)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run(t, newFixture(t, "", nil), tc.steps)
		})
	}
}

// An event time in the future (a skewed clock) is taken as the wall clock.
func TestFutureEventTime(t *testing.T) {
	f := newFixture(t, "", nil)
	check(t, "first", f.one(del("e1", wall.Add(time.Hour).Sub(t0), group(1)), true), restored)
	// An hour later on the wall clock, a deletion at wall+31m is past the
	// cooldown that ran from wall; had it run from the event's own time
	// (wall+1h) it would be inside.
	later := guard.New(f.st, guard.Config{TenantID: tenantID, Rules: f.table.Guards, Now: func() time.Time { return wall.Add(time.Hour) }})
	ev := del("e2", wall.Add(31*time.Minute).Sub(t0), group(1))
	out, err := later.Apply(context.Background(), ev, group(1), f.table.Subject(ev, wall).Evaluate(group(1), nil, rules.ObjectNotRead), true)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "after the window counted from now", out, restored)
}

// The store's errors reach the caller.
func TestStoreErrors(t *testing.T) {
	f := newFixture(t, "", nil)
	f.st.Close()
	_, err := f.g.Apply(context.Background(), del("e1", 0, group(1)), group(1), f.table.Subject(del("e1", 0, group(1)), wall).Evaluate(group(1), nil, rules.ObjectNotRead), true)
	if err == nil {
		t.Fatal("Apply over a closed store: no error")
	}
	if errors.Is(err, store.ErrNotFound) {
		t.Errorf("error %v is ErrNotFound", err)
	}
}

// TestTotalTripsWhileARuleIsOpen: a rule's open breaker does not hide the
// total one: the deletion that takes the total over its threshold trips it,
// and the decision names both scopes.
func TestTotalTripsWhileARuleIsOpen(t *testing.T) {
	f := newFixture(t, "", nil) // perRule 3, total 5
	g := make([]audit.Target, 6)
	for i := range g {
		g[i] = group(i)
	}
	run(t, f, []step{
		{ev: del("e0", 0, g[0]), want: restored},
		{ev: del("e1", time.Minute, g[1]), want: restored},
		{ev: del("e2", 2*time.Minute, g[2]), want: restored},
		{ev: del("e3", 3*time.Minute, g[3]), want: want{guard: guard.Breaker, actions: notifyOnly, notify: secopsPager, reason: "tripped for rule:groups",
			trip: &guard.Trip{Scope: "rule:groups", Count: 4, Threshold: 3, ObjectIDs: ids(g[0], g[1], g[2], g[3]), Preview: true}}},
		{ev: del("e4", 4*time.Minute, g[4]), want: want{guard: guard.Breaker, actions: notifyOnly, notify: secopsPager, reason: "open for rule:groups"}},
		{ev: del("e5", 5*time.Minute, g[5]), want: want{guard: guard.Breaker, actions: notifyOnly, notify: secopsPager, reason: "tripped for total",
			trip: &guard.Trip{Scope: "total", Count: 6, Threshold: 5, ObjectIDs: ids(g...), Preview: true}}},
	})
}

// TestSilenceNamesAnyMatchedRule: with continue, the restore can come from
// a later rule; a silence naming that rule mutes the decision.
func TestSilenceNamesAnyMatchedRule(t *testing.T) {
	table, err := rules.Parse("t.yaml", []byte(`version: 1
defaults: {mode: enforce}
channels: {secops: {type: console}}
rules:
  - name: tell-everything
    when: 'event.deletion == "soft"'
    actions: [notify]
    notify: [secops]
    continue: true
  - name: groups
    when: 'target.type == "group"'
    actions: [restore]
`), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.PutSilence(context.Background(), store.Silence{Rule: "groups", Reason: "migration", StartsAt: wall.Add(-time.Hour), EndsAt: wall.Add(time.Hour)}, wall); err != nil {
		t.Fatal(err)
	}
	g := guard.New(st, guard.Config{Rules: table.Guards, Now: func() time.Time { return wall }})
	ev := del("e0", 0, group(1))
	v := table.Subject(ev, wall).Evaluate(ev.Targets[0], nil, rules.ObjectNotRead)
	out, err := g.Apply(context.Background(), ev, ev.Targets[0], v, true)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "silenced by a later rule's name", out, want{guard: guard.Silence, actions: none, reason: "migration"})
}
