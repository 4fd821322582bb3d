package notify_test

import (
	"testing"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/notify"
)

func TestTitleAndWho(t *testing.T) {
	group := notify.Object{ID: "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65", Type: audit.TargetGroup, Name: "sec-prod-payments"}
	admin := audit.Initiator{Type: audit.InitiatorUser, ID: "3b1f", UserPrincipalName: "it.admin@contoso.com"}
	app := audit.Initiator{Type: audit.InitiatorApp, AppID: "4f6a8c0e-2a4c-4e6a-b0c2-e4a6c8e0a2c4", DisplayName: "HR sync"}
	tests := []struct {
		name      string
		m         notify.Message
		wantTitle string
		wantWho   string
	}{
		{"restored, verified", notify.Message{Kind: notify.KindObjectRestored, Objects: []notify.Object{group}, Total: 1, Initiator: admin, Outcome: notify.Outcome{Status: notify.StatusRestored, Verified: true}},
			"Restored group sec-prod-payments (verified live)", "it.admin@contoso.com"},
		{"restored, not read back", notify.Message{Kind: notify.KindObjectRestored, Objects: []notify.Object{group}, Total: 1, Initiator: app},
			"Restored group sec-prod-payments", "HR sync (app 4f6a8c0e-2a4c-4e6a-b0c2-e4a6c8e0a2c4)"},
		{"failed with a reason", notify.Message{Kind: notify.KindRestoreFailed, Objects: []notify.Object{{ID: "u1", Type: audit.TargetUser}}, Total: 1,
			Outcome: notify.Outcome{Status: notify.StatusConflict, Detail: "userPrincipalName is taken"}},
			"Could not restore user u1: userPrincipalName is taken", "an unknown initiator"},
		{"waiting for approval", notify.Message{Kind: notify.KindPreviewReady, Objects: []notify.Object{group}, Total: 1, Initiator: audit.Initiator{AppID: "a1"}},
			"Deleted group sec-prod-payments: restore waits for approval", "app a1"},
		{"breaker, grouped", notify.Message{Kind: notify.KindBreakerTripped, Objects: []notify.Object{group}, Total: 25, Initiator: admin},
			"Mass deletion: 25 objects deleted by it.admin@contoso.com; automatic restore paused", "it.admin@contoso.com"},
		{"detected", notify.Message{Kind: notify.KindDeletionDetected, Activity: "Hard Delete group", Objects: []notify.Object{group}, Total: 1, Initiator: audit.Initiator{ID: "3b1f"}},
			"Hard Delete group: group sec-prod-payments by 3b1f", "3b1f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Title(); got != tt.wantTitle {
				t.Errorf("Title() = %q, want %q", got, tt.wantTitle)
			}
			if got := tt.m.Who(); got != tt.wantWho {
				t.Errorf("Who() = %q, want %q", got, tt.wantWho)
			}
		})
	}
}
