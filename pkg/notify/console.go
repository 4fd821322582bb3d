// Package notify tells people what Reinstate decided and did. This build
// has the console channel, which `make run` and local runs use; Teams,
// CloudEvents webhooks, Slack and PagerDuty, with grouping, retries and a
// delivery log, are the notifications stage's work.
package notify

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/decide"
)

// Console writes one readable line a decision, for a person watching a
// terminal or a log stream. It is safe for concurrent use.
type Console struct {
	mu sync.Mutex
	w  io.Writer
}

// NewConsole writes to w.
func NewConsole(w io.Writer) *Console { return &Console{w: w} }

// Notify writes the decision: severity, what happened to what, who did it,
// which rule decided, what Reinstate does, and why.
func (c *Console) Notify(_ context.Context, event *audit.Event, d decide.Decision) error {
	line := Line(event, d)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := fmt.Fprintln(c.w, line)
	return err
}

// Line is the console's one-line form of a decision.
func Line(event *audit.Event, d decide.Decision) string {
	severity := strings.ToUpper(string(d.Severity))
	if severity == "" {
		severity = "NOTICE"
	}
	who := event.Initiator.UserPrincipalName
	for _, alt := range []string{event.Initiator.AppID, event.Initiator.DisplayName, event.Initiator.ID} {
		if who == "" {
			who = alt
		}
	}
	if who == "" {
		who = "unknown initiator"
	}
	what := "nothing"
	if len(d.Actions) > 0 {
		what = strings.Join(d.Actions, ", ")
	}
	line := fmt.Sprintf("[%s] %s: %s %q (%s) by %s at %s; rule %s; Reinstate: %s",
		severity, event.Activity, d.ObjectType, d.ObjectName, d.ObjectID, who, event.Time.UTC().Format(time.RFC3339), orDash(d.RuleName()), what)
	if d.Reason != "" {
		line += " (" + d.Reason + ")"
	}
	return line
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
