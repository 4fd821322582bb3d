package notify_test

import (
	"strings"
	"testing"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
)

func TestFromDecision(t *testing.T) {
	rule, breaker, exempt := "critical-groups", guard.Breaker, guard.Exempt
	ev := func(d audit.Deletion) *audit.Event {
		return &audit.Event{ID: "e1", Activity: "Delete group", Deletion: d, Time: sampleTime, TenantID: "t1",
			Initiator: audit.Initiator{UserPrincipalName: "it.admin@contoso.com"}}
	}
	dec := func(mode rules.Mode, actions ...string) decide.Decision {
		return decide.Decision{ObjectID: "g1", ObjectType: audit.TargetGroup, ObjectName: "sec-prod-payments", Rule: &rule,
			Actions: actions, Severity: rules.SeverityInfo, Mode: mode, Notify: []string{"console"}, Reason: "matched critical-groups"}
	}
	withGuard := func(d decide.Decision, g *string, trip *guard.Trip) decide.Decision {
		d.Guard, d.Trip = g, trip
		return d
	}
	tests := []struct {
		name     string
		event    *audit.Event
		d        decide.Decision
		want     bool
		kind     notify.Kind
		status   notify.Status
		severity rules.Severity
		total    int
	}{
		{"a restore is told when it has an outcome", ev(audit.DeletionSoft), dec(rules.ModeEnforce, "restore", "notify:console"), false, "", "", "", 0},
		{"observed", ev(audit.DeletionSoft), dec(rules.ModeObserve, "restore", "notify:console"), true, notify.KindDeletionDetected, notify.StatusObserved, rules.SeverityInfo, 1},
		{"preview waits for approval", ev(audit.DeletionSoft), dec(rules.ModeEnforce, "preview", "notify:console"), true, notify.KindPreviewReady, notify.StatusWaitingApproval, rules.SeverityInfo, 1},
		{"notify only", ev(audit.DeletionSoft), dec(rules.ModeEnforce, "notify:console"), true, notify.KindDeletionDetected, notify.StatusDetected, rules.SeverityInfo, 1},
		{"a hard delete is critical", ev(audit.DeletionHard), dec(rules.ModeEnforce, "notify:console"), true, notify.KindDeletionDetected, notify.StatusDetected, rules.SeverityCritical, 1},
		{"held by a guard", ev(audit.DeletionSoft), withGuard(dec(rules.ModeEnforce, "notify:console"), &exempt, nil), true, notify.KindDeletionDetected, notify.StatusHeld, rules.SeverityInfo, 1},
		{"held by the breaker: inhibited", ev(audit.DeletionSoft), withGuard(dec(rules.ModeEnforce, "notify:console"), &breaker, nil), false, "", "", "", 0},
		{"the trip: one message for all", ev(audit.DeletionSoft), withGuard(dec(rules.ModeEnforce, "notify:console"), &breaker,
			&guard.Trip{Scope: "rule:critical-groups", Count: 21, Threshold: 20, ObjectIDs: make([]string, 21)}), true, notify.KindBreakerTripped, notify.StatusHeld, rules.SeverityInfo, 21},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := notify.FromDecision(tt.event, tt.d)
			if ok != tt.want {
				t.Fatalf("FromDecision ok = %t, want %t (%+v)", ok, tt.want, m)
			}
			if !ok {
				return
			}
			if m.Kind != tt.kind || m.Outcome.Status != tt.status || m.Severity != tt.severity || m.Total != tt.total || m.Rule != rule || !m.Time.Equal(sampleTime) {
				t.Errorf("message %+v; want kind %s, status %s, severity %s, total %d", m, tt.kind, tt.status, tt.severity, tt.total)
			}
			if len(m.Objects) > notify.MaxObjects {
				t.Errorf("%d objects listed, at most %d", len(m.Objects), notify.MaxObjects)
			}
		})
	}
}

func TestFromOutcome(t *testing.T) {
	plan := recovery.Plan{Request: recovery.Request{ObjectID: "a1", ObjectType: audit.TargetApplication}, Name: "Payroll Connector",
		Tell: &recovery.Tell{Channels: []string{"console"}, Severity: "info", Rule: "applications", Activity: "Delete application", Time: sampleTime}}
	tests := []struct {
		name     string
		out      recovery.Outcome
		kind     notify.Kind
		status   notify.Status
		verified bool
		severity rules.Severity
		detail   string
	}{
		{"restored and read back, with its service principal", recovery.Outcome{Status: recovery.StatusRestored, Verified: true,
			Related: []recovery.Outcome{{ObjectID: "sp1", ObjectType: audit.TargetServicePrincipal, Status: recovery.StatusRestored}}},
			notify.KindObjectRestored, notify.StatusRestored, true, rules.SeverityInfo, "its servicePrincipal sp1: restored"},
		{"live already", recovery.Outcome{Status: recovery.StatusAlreadyLive}, notify.KindObjectRestored, notify.StatusRestored, false, rules.SeverityInfo, "it was live already"},
		{"a conflict is at least a warning", recovery.Outcome{Status: recovery.StatusConflict, Detail: "userPrincipalName is taken"},
			notify.KindRestoreFailed, notify.StatusConflict, false, rules.SeverityWarning, "userPrincipalName is taken"},
		{"not found", recovery.Outcome{Status: recovery.StatusNotFound}, notify.KindRestoreFailed, notify.StatusFailed, false, rules.SeverityWarning, "not-found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := notify.FromOutcome(plan, tt.out)
			if m.Kind != tt.kind || m.Outcome.Status != tt.status || m.Outcome.Verified != tt.verified || m.Severity != tt.severity ||
				!strings.Contains(m.Outcome.Detail, tt.detail) || m.Total != 1 || m.Objects[0].Name != "Payroll Connector" || m.Rule != "applications" {
				t.Errorf("message %+v", m)
			}
		})
	}
}
