// Command cardpreview writes the Adaptive Cards that the Teams channel posts
// for two representative messages, so that render.mjs can draw them as
// on-call sees them (make card-preview, which writes docs/teams-card-*.png).
//
// Each card is rendered by pkg/notify's own TeamsBody, and written as the
// card alone: the content of the body's one attachment, which is what Teams
// renders.
//
//	cardpreview -out DIR
//
// writes DIR/restored.json (a verified restore) and DIR/breaker.json (a mass
// deletion that tripped the breaker).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/rules"
)

var (
	at     = time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	tenant = "9f3c6a1e-2b7d-4c58-8e0f-1a2b3c4d5e6f"
	admin  = audit.Initiator{
		Type:              audit.InitiatorUser,
		ID:                "3b1f7c2a-8d4e-4f6a-9c0b-5e7d1a2f3c4b",
		UserPrincipalName: "it.admin@contoso.onmicrosoft.com",
	}
)

// previews are the messages drawn, by file name.
func previews() map[string]notify.Message {
	groups := make([]notify.Object, 25)
	for i := range groups {
		groups[i] = notify.Object{
			ID:   fmt.Sprintf("0b1c2d3e-0000-4000-8000-%012d", i+1),
			Type: audit.TargetGroup,
			Name: fmt.Sprintf("team-%02d", i+1),
		}
	}
	return map[string]notify.Message{
		"restored": {
			Kind: notify.KindObjectRestored, Severity: rules.SeverityCritical, Time: at, TenantID: tenant,
			Rule: "critical-groups", Activity: "Delete group", Initiator: admin,
			Objects: []notify.Object{{ID: "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65", Type: audit.TargetGroup, Name: "sec-prod-payments"}},
			Total:   1, Action: "restore", Mode: rules.ModeEnforce,
			Outcome: notify.Outcome{Status: notify.StatusRestored, Verified: true},
			Event:   &audit.Event{ID: "Directory_d0e1f2a3-b4c5-4d6e-b7f8-9a0b1c2d3e4f_PA1DU_202300401"},
		},
		"breaker": {
			Kind: notify.KindBreakerTripped, Severity: rules.SeverityCritical, Time: at, TenantID: tenant,
			Rule: "critical-groups", Activity: "Delete group", Initiator: admin,
			Objects: groups, Total: len(groups), Action: "notify", Guard: "breaker", Mode: rules.ModeEnforce,
			Outcome: notify.Outcome{Status: notify.StatusHeld, Detail: "25 deletions in 5m0s reached the threshold of 20"},
		},
	}
}

// card is the Adaptive Card in a Teams body: its one attachment's content.
func card(body []byte) ([]byte, error) {
	var msg struct {
		Attachments []struct {
			Content json.RawMessage `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return nil, err
	}
	if len(msg.Attachments) != 1 || len(msg.Attachments[0].Content) == 0 {
		return nil, errors.New("the Teams body has no single card attachment")
	}
	var out bytes.Buffer
	if err := json.Indent(&out, msg.Attachments[0].Content, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, m := range previews() {
		body, err := notify.TeamsBody(m)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		c, err := card(body)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		path := filepath.Join(dir, name+".json")
		if err := os.WriteFile(path, c, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", path)
	}
	return nil
}

func main() {
	out := flag.String("out", ".run/cardpreview", "the folder to write the cards to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "cardpreview:", err)
		os.Exit(1)
	}
}
