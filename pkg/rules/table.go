// Package rules is Reinstate's rule table: a YAML file of CEL conditions,
// tried in order, that says what to do about each target of each audit
// event: restore it, open a Backup & Recovery preview, notify, or nothing.
//
// A table is parsed, expanded, compiled and type-checked whole at load
// (Load, Parse): a file with any problem is refused as a whole, every problem
// named by file:line:column, so Reinstate never runs with half a rule table.
// Evaluation (Table.Evaluate) is pure: the guards that may still change a
// decision (package guard) and the writes (package recovery) come after it.
//
// The file format is documented in docs/RULES.md, and docs/rules.schema.json
// lets editors complete and lint it.
package rules

import (
	"time"

	"github.com/google/cel-go/common/types"

	"github.com/reinstate/reinstate/pkg/recovery"
)

// Mode says whether Reinstate may write to the tenant.
type Mode string

// Modes.
const (
	// ModeObserve decides and notifies, and never writes to the tenant: the
	// default, so that a new deployment writes nothing until someone says so.
	ModeObserve Mode = "observe"
	// ModeEnforce carries out restores and previews.
	ModeEnforce Mode = "enforce"
)

// ParseMode reads a mode as the file and REINSTATE_MODE spell it.
func ParseMode(s string) (Mode, bool) {
	switch m := Mode(s); m {
	case ModeObserve, ModeEnforce:
		return m, true
	}
	return "", false
}

// Action is what a rule asks for.
type Action string

// Actions.
const (
	// ActionRestore restores the target from the recycle bin.
	ActionRestore Action = "restore"
	// ActionPreview opens an Entra Backup & Recovery preview job for the
	// target, which a person approves.
	ActionPreview Action = "preview"
	// ActionNotify tells the rule's channels and does nothing else.
	ActionNotify Action = "notify"
	// ActionIgnore matches and does nothing: a rule that exempts events from
	// the rules after it.
	ActionIgnore Action = "ignore"
)

// Severity ranks what a rule matched, for people and routing.
type Severity string

// Severities.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Version is the one rule-file version this build reads.
const Version = 1

// Table is a loaded, compiled rule table. It is immutable and safe for
// concurrent use.
type Table struct {
	// File is the path it was read from, for messages.
	File string
	// Mode is the file's defaults.mode, or REINSTATE_MODE when set, or
	// observe when neither is.
	Mode Mode
	// ModeSource says where Mode came from: "file", "environment" or
	// "default".
	ModeSource string
	Channels   map[string]Channel
	Guards     Guards
	Rules      []*Rule
	// usesObject is true when any rule reads the recycle-bin copy.
	usesObject bool
	adapter    types.Adapter
}

// UsesObject reports whether any rule reads `object`, the recycle-bin copy:
// only then is the bin read before the rules run.
func (t *Table) UsesObject() bool { return t.usesObject }

// Channel is a named notification destination. Its settings beyond Type
// belong to the notifications stage; secrets in them come from ${ENV}.
type Channel struct {
	Name string
	// Type is console, webhook, teams, slack or pagerduty.
	Type string
	// MinSeverity, when set, keeps messages below it off the channel:
	// info < warning < critical.
	MinSeverity Severity
	// Settings are the channel's other keys, expanded, as YAML decoded them.
	Settings map[string]any
}

// Admits reports whether a message of severity s goes to the channel.
func (c Channel) Admits(s Severity) bool {
	return c.MinSeverity == "" || severityRank[s] >= severityRank[c.MinSeverity]
}

// channelTypes are the channel types a file may declare; the notifications
// stage defines what each needs.
var channelTypes = []string{"console", "file", "webhook", "teams", "slack", "pagerduty"}

// Rule is one compiled rule.
type Rule struct {
	Name        string
	Description string
	// When is the CEL source, as written (after ${ENV} expansion).
	When     string
	Actions  []Action
	Notify   []string
	Severity Severity
	// Continue lets later rules match too.
	Continue bool
	// Options shape a restore or preview.
	Options recovery.Options
	// Line is where the rule starts in the file.
	Line int

	compiled
}

// UsesObject reports whether the rule's condition reads `object`.
func (r *Rule) UsesObject() bool { return r.usesObject }

// Has reports whether the rule asks for action a.
func (r *Rule) Has(a Action) bool {
	for _, x := range r.Actions {
		if x == a {
			return true
		}
	}
	return false
}

// Guards are the rule file's settings for the guards applied after the
// rules (package guard).
type Guards struct {
	// ExemptInitiators are identities whose deletions are notified but never
	// undone.
	ExemptInitiators []Exempt
	Cooldown         Cooldown
	Breaker          Breaker
}

// Exempt is one exempt initiator.
type Exempt struct {
	// ID is a user, app or service principal object id, an appId, or a UPN.
	ID     string
	Reason string
}

// Cooldown stops Reinstate from restoring an object again soon after it
// restored it: a second deletion inside Window means someone is fighting
// Reinstate, and becomes a notification instead.
type Cooldown struct {
	// Window is zero when the cooldown is off.
	Window time.Duration
	// Notify are channels told of an escalation, beside the rule's own.
	Notify []string
}

// Breaker is the mass-deletion circuit breaker's settings.
type Breaker struct {
	// Window is the sliding window deletions are counted in.
	Window time.Duration
	// PerRule trips one rule when more than this many restore-worthy
	// deletions for it arrive within Window.
	PerRule int
	// Total trips every restore rule when more than this many arrive within
	// Window, whatever rule they matched.
	Total int
	// QuietPeriod resets a tripped breaker once no restore-worthy deletion
	// has arrived for this long.
	QuietPeriod time.Duration
	// Preview asks for one Backup & Recovery preview scoped to the affected
	// ids when the breaker trips.
	Preview bool
	// Notify are channels told when it trips, beside the rules' own.
	Notify []string
}

// Defaults for the guards when the file does not set them.
const (
	DefaultCooldown           = 30 * time.Minute
	DefaultBreakerWindow      = 10 * time.Minute
	DefaultBreakerPerRule     = 20
	DefaultBreakerTotal       = 50
	DefaultBreakerQuietPeriod = 30 * time.Minute
	DefaultSeverity           = SeverityWarning
)
