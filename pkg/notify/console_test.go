package notify_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/rules"
)

func TestConsoleLine(t *testing.T) {
	rule, guard := "critical-groups", "cooldown"
	at := time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name  string
		event audit.Event
		d     decide.Decision
		want  string
	}{
		{
			"a restore by a user",
			audit.Event{Activity: "Delete group", Time: at, Initiator: audit.Initiator{UserPrincipalName: "it.admin@contoso.com", ID: "x"}},
			decide.Decision{ObjectType: audit.TargetGroup, ObjectName: "sec-prod-payments", ObjectID: "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65",
				Rule: &rule, Severity: rules.SeverityCritical, Actions: []string{"restore", "notify:console"}, Reason: "matched critical-groups"},
			`[CRITICAL] Delete group: group "sec-prod-payments" (e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65) by it.admin@contoso.com at 2026-12-04T09:30:00Z; rule critical-groups; Reinstate: restore, notify:console (matched critical-groups)`,
		},
		{
			"an app initiator, a guard, no rule severity",
			audit.Event{Activity: "Delete user", Time: at, Initiator: audit.Initiator{AppID: "4f6a8c0e-2a4c-4e6a-b0c2-e4a6c8e0a2c4", DisplayName: "HR sync"}},
			decide.Decision{ObjectType: audit.TargetUser, ObjectName: "adele@contoso.com", ObjectID: "a1", Guard: &guard, Actions: []string{"notify:console"}, Reason: "cooldown"},
			`[NOTICE] Delete user: user "adele@contoso.com" (a1) by 4f6a8c0e-2a4c-4e6a-b0c2-e4a6c8e0a2c4 at 2026-12-04T09:30:00Z; rule -; Reinstate: notify:console (cooldown)`,
		},
		{
			"nobody known, nothing done",
			audit.Event{Activity: "Hard Delete group", Time: at},
			decide.Decision{ObjectType: audit.TargetGroup, ObjectID: "g1", Actions: []string{}},
			`[NOTICE] Hard Delete group: group "" (g1) by unknown initiator at 2026-12-04T09:30:00Z; rule -; Reinstate: nothing`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := notify.NewConsole(&out).Notify(context.Background(), &tt.event, tt.d); err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSuffix(out.String(), "\n"); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if strings.Count(out.String(), "\n") != 1 {
				t.Errorf("want exactly one line, got %q", out.String())
			}
		})
	}
}
