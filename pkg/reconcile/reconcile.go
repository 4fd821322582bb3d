// Package reconcile is the safety net under the event stream. Entra audit
// events reach Event Hubs minutes late, and can be lost: a diagnostic
// setting breaks, a retry policy runs out. So a sweep lists the recycle
// bins and runs every recent deletion that Reinstate never decided through
// the same rules and guards, as if its event had arrived; and it says so
// when the bins grew while no event came at all, since then the pipeline
// itself may be broken.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
)

// Bin lists a recycle bin; *recovery.Executor is one.
type Bin interface {
	ListDeleted(ctx context.Context, t audit.TargetType, since time.Time, limit int) ([]recovery.DeletedItem, bool, error)
}

// Journal is what the sweep reads and writes of the journal.
type Journal interface {
	Journal(ctx context.Context, query store.JournalQuery) ([]store.Entry, error)
	Append(ctx context.Context, entry store.Entry) (store.Entry, error)
}

// Ingester runs events through the rules, guards and actions;
// *pipeline.Pipeline is one.
type Ingester interface {
	IngestEvents(ctx context.Context, source string, events []audit.Event) (pipeline.Report, error)
}

// Announcer records a message for channels; *notify.Dispatcher is one.
type Announcer interface {
	Announce(ctx context.Context, m notify.Message, channels []string) (int, error)
}

// Defaults.
const (
	// DefaultLookback is how far back deletions are swept: a day covers
	// any outage someone would notice late, and the bin keeps 30 days.
	DefaultLookback = 24 * time.Hour
	// DefaultGrace leaves a fresh deletion to its own event: Entra's
	// audit logs reach Event Hubs within minutes (reference §B7).
	DefaultGrace = 15 * time.Minute
	// DefaultSilence is how long without any audit event, while the bins
	// grew, before the sweep calls the pipeline broken.
	DefaultSilence = time.Hour
	// MaxPerType bounds the items read from one bin per sweep.
	MaxPerType = 1000
)

// Journal kinds the sweep writes.
const (
	KindSwept store.Kind = "reconcile.swept"
	KindGap   store.Kind = "reconcile.gap"
)

// Options configure a Sweeper. Bin, Journal and Ingest are required.
type Options struct {
	Bin     Bin
	Journal Journal
	Ingest  Ingester
	// Announcer and GapChannels tell of a gap in the event stream.
	Announcer   Announcer
	GapChannels []string
	// Types are the bins swept; default every type Reinstate restores.
	Types    []audit.TargetType
	TenantID string
	Lookback time.Duration
	Grace    time.Duration
	Silence  time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Sweeper runs reconciliation sweeps. It is safe for concurrent use; two
// sweeps at once act once, since each deletion is claimed by its own key.
type Sweeper struct {
	o Options
}

// New returns a Sweeper.
func New(o Options) (*Sweeper, error) {
	if o.Bin == nil || o.Journal == nil || o.Ingest == nil {
		return nil, errors.New("reconcile: Bin, Journal and Ingest are required")
	}
	if len(o.Types) == 0 {
		o.Types = recovery.BinTypes
	}
	if o.Lookback <= 0 {
		o.Lookback = DefaultLookback
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Silence <= 0 {
		o.Silence = DefaultSilence
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{o: o}, nil
}

// Missed is a deletion the sweep found that Reinstate never decided.
type Missed struct {
	ObjectID   string           `json:"objectId"`
	ObjectType audit.TargetType `json:"objectType"`
	Name       string           `json:"name,omitempty"`
	DeletedAt  time.Time        `json:"deletedAt"`
}

// Report says what a sweep found and did.
type Report struct {
	// Listed counts the bin items deleted within the lookback.
	Listed int `json:"listed"`
	// Fresh counts those younger than the grace period, left to their
	// events.
	Fresh int `json:"fresh"`
	// Missed are the deletions never decided.
	Missed []Missed `json:"missed"`
	// Pipeline is what running the missed deletions did (zero in a dry
	// run).
	Pipeline pipeline.Report `json:"pipeline"`
	// Gap is set when no audit event arrived for the silence period while
	// deletions went undecided.
	Gap string `json:"gap,omitempty"`
	// Errors name the bins that could not be read; the others were swept.
	Errors []string `json:"errors,omitempty"`
}

// EventID is the id of the event the sweep synthesizes for a deletion: the
// object and the time it was deleted, so that one deletion is acted on
// once however many sweeps see it, and a later deletion of the same object
// is a new one.
func EventID(objectID string, deletedAt time.Time) string {
	return "reconcile:" + strings.ToLower(objectID) + ":" + deletedAt.UTC().Format(time.RFC3339Nano)
}

// Sweep lists the bins, finds the deletions older than the grace period
// that no journal entry answers, and, unless dryRun, runs them through the
// pipeline. A bin that cannot be read is reported and the others swept.
func (s *Sweeper) Sweep(ctx context.Context, dryRun bool) (Report, error) {
	now := s.o.Now()
	var report Report
	var events []audit.Event
	for _, t := range s.o.Types {
		items, _, err := s.o.Bin.ListDeleted(ctx, t, now.Add(-s.o.Lookback), MaxPerType)
		if err != nil {
			report.Errors = append(report.Errors, fmt.Sprintf("%s: %v", t, err))
			continue
		}
		for _, item := range items {
			report.Listed++
			if item.DeletedAt.IsZero() || now.Sub(item.DeletedAt) < s.o.Grace {
				report.Fresh++
				continue
			}
			decided, err := s.decided(ctx, item)
			if err != nil {
				return report, err
			}
			if decided {
				continue
			}
			report.Missed = append(report.Missed, Missed{ObjectID: item.ID, ObjectType: item.ObjectType, Name: item.Name, DeletedAt: item.DeletedAt})
			events = append(events, s.event(item))
		}
	}
	if len(report.Missed) > 0 {
		gap, err := s.gap(ctx, now)
		if err != nil {
			return report, err
		}
		report.Gap = gap
	}
	if dryRun {
		return report, nil
	}
	if len(events) > 0 {
		r, err := s.o.Ingest.IngestEvents(ctx, "reconciliation sweep", events)
		report.Pipeline = r
		if err != nil {
			return report, err
		}
	}
	if err := s.record(ctx, &report); err != nil {
		return report, err
	}
	if len(report.Errors) > 0 {
		return report, fmt.Errorf("reconcile: bins not read: %s", strings.Join(report.Errors, "; "))
	}
	return report, nil
}

// decided reports whether the journal holds anything about the object
// since it was deleted: its audit event (decided, ignored or self), an
// earlier sweep's, or on-call's. Entries are written when the event is
// processed, which is after the deletion, so any entry since means the
// deletion was seen.
func (s *Sweeper) decided(ctx context.Context, item recovery.DeletedItem) (bool, error) {
	entries, err := s.o.Journal.Journal(ctx, store.JournalQuery{TargetID: strings.ToLower(item.ID), Since: item.DeletedAt, Limit: 1})
	if err != nil {
		return false, fmt.Errorf("read the journal of %s: %w", item.ID, err)
	}
	return len(entries) > 0, nil
}

// event is the deletion as its audit event would have told it, as far as
// the bin knows: who deleted it is unknown, so rules and guards that
// read the initiator cannot match (an exempt initiator's deletion found by
// a sweep is judged like anyone's).
func (s *Sweeper) event(item recovery.DeletedItem) audit.Event {
	target := audit.Target{ID: strings.ToLower(item.ID), Type: item.ObjectType, DisplayName: item.Name}
	if item.ObjectType == audit.TargetUser {
		target.UserPrincipalName, target.DisplayName = item.Name, ""
	}
	return audit.Event{
		ID: EventID(item.ID, item.DeletedAt), TenantID: s.o.TenantID, Time: item.DeletedAt.UTC(),
		Activity: audit.DeleteActivities[item.ObjectType], OperationType: "Delete", Result: "success", Deletion: audit.DeletionSoft,
		Service: "Reinstate reconciliation", Initiator: audit.Initiator{Type: audit.InitiatorUnknown}, Targets: []audit.Target{target},
	}
}

// gap reports a silent event stream: no audit event at all for the silence
// period, while deletions went undecided.
func (s *Sweeper) gap(ctx context.Context, now time.Time) (string, error) {
	entries, err := s.o.Journal.Journal(ctx, store.JournalQuery{Since: now.Add(-s.o.Silence), Limit: 1000})
	if err != nil {
		return "", fmt.Errorf("read the journal: %w", err)
	}
	for _, e := range entries {
		if e.Kind == store.KindEventReceived || e.Kind == pipeline.KindEventSelf {
			return "", nil
		}
	}
	return fmt.Sprintf("no audit event arrived in the last %s while deletions went undecided: the diagnostic setting, Event Hubs or the AuditEvents function may be broken", s.o.Silence), nil
}

// record journals the sweep, and tells of a gap.
func (s *Sweeper) record(ctx context.Context, r *Report) error {
	detail := fmt.Sprintf("%d deletions listed, %d left to their events, %d never decided; %d decisions, %d restore intents", r.Listed, r.Fresh, len(r.Missed), r.Pipeline.Decisions, r.Pipeline.Intents)
	if _, err := s.o.Journal.Append(ctx, store.Entry{Kind: KindSwept, Outcome: "done", Source: "reconciliation sweep", Detail: detail}); err != nil {
		return fmt.Errorf("journal the sweep: %w", err)
	}
	if r.Gap == "" {
		return nil
	}
	if _, err := s.o.Journal.Append(ctx, store.Entry{Kind: KindGap, Outcome: "pipeline may be broken", Source: "reconciliation sweep", Detail: r.Gap}); err != nil {
		return fmt.Errorf("journal the gap: %w", err)
	}
	s.o.Logger.ErrorContext(ctx, "reconciliation: "+r.Gap, "missed", len(r.Missed))
	if s.o.Announcer == nil || len(s.o.GapChannels) == 0 {
		return nil
	}
	m := notify.Message{Kind: notify.KindDeletionDetected, Severity: rules.SeverityCritical, Time: s.o.Now(), TenantID: s.o.TenantID,
		Activity: "Event stream silent", Initiator: audit.Initiator{Type: audit.InitiatorUnknown}, Action: string(rules.ActionNotify),
		Outcome: notify.Outcome{Status: notify.StatusDetected, Detail: r.Gap}, Total: len(r.Missed)}
	for _, missed := range r.Missed[:min(len(r.Missed), notify.MaxObjects)] {
		m.Objects = append(m.Objects, notify.Object{ID: missed.ObjectID, Type: missed.ObjectType, Name: missed.Name})
	}
	if _, err := s.o.Announcer.Announce(ctx, m, s.o.GapChannels); err != nil {
		return fmt.Errorf("tell of the gap: %w", err)
	}
	return nil
}
