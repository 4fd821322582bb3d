// Package pipeline runs Reinstate's stages for each delivery of audit events:
// decode (package audit), deduplicate and journal (package store), and, as
// later stages land, decide (rules), act (recovery, backup) and tell
// (notify). It knows nothing of the Functions host: package functions adapts
// the host's envelope into a Batch, and the CLI's replay builds the same.
package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/store"
)

// State is what the pipeline needs from the store.
type State interface {
	Claim(ctx context.Context, key string, now, leaseUntil time.Time) (store.ClaimState, error)
	Complete(ctx context.Context, key string, now time.Time) error
	ExpireClaims(ctx context.Context, cutoff time.Time, limit int) (int, error)
	Append(ctx context.Context, entry store.Entry) (store.Entry, error)
	PutDeadLetter(ctx context.Context, letter store.DeadLetter) (store.DeadLetter, error)
	Enqueue(ctx context.Context, intent store.Intent, now time.Time) (store.Intent, bool, error)
	ExpireIntents(ctx context.Context, cutoff time.Time, limit int) (int, error)
}

// Journal entry kinds the pipeline writes beside store's ingestion kinds.
const (
	// KindEventSelf records an event Reinstate itself caused; it never
	// triggers actions, so that Reinstate cannot loop on its own restores.
	KindEventSelf store.Kind = "event.self"
	// KindDecision records a decision and the durable intent behind it.
	KindDecision store.Kind = "decision"
)

// ErrRetryLater means part of a batch could not be processed now but may be
// later: another instance holds some of its records, or the store failed.
// The Functions adapter turns it into a non-2xx answer, so the host retries
// the batch under the function's retry policy; records already completed are
// then recognised as duplicates.
var ErrRetryLater = errors.New("pipeline: retry the batch later")

// Options tune a Pipeline. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// Now is the clock; tests pin it.
	Now func() time.Time
	// ClaimLease is how long this instance owns a record it is processing.
	ClaimLease time.Duration
	// DedupRetention is how long processed record ids are remembered.
	DedupRetention time.Duration
	// ExpirePage bounds each delete of a maintenance run, so that one run
	// never holds the store for long, whatever the backlog. Default 500.
	ExpirePage int
	// Decider chooses actions; nil decides nothing (record only).
	Decider Decider
	// Self recognises events Reinstate caused; nil recognises none.
	Self *Self
	// Wake is called after new intents are recorded, to wake a worker.
	Wake func()
}

// Pipeline processes batches of audit events. It is safe for concurrent use.
type Pipeline struct {
	state          State
	log            *slog.Logger
	now            func() time.Time
	claimLease     time.Duration
	dedupRetention time.Duration
	expirePage     int
	decider        Decider
	self           *Self
	wake           func()
}

// New returns a Pipeline over state.
func New(state State, opts Options) *Pipeline {
	p := &Pipeline{
		state:          state,
		log:            opts.Logger,
		now:            opts.Now,
		claimLease:     opts.ClaimLease,
		dedupRetention: opts.DedupRetention,
		expirePage:     opts.ExpirePage,
		decider:        opts.Decider,
		self:           opts.Self,
		wake:           opts.Wake,
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.claimLease <= 0 {
		p.claimLease = 2 * time.Minute
	}
	if p.wake == nil {
		p.wake = func() {}
	}
	if p.expirePage <= 0 {
		p.expirePage = 500
	}
	if p.dedupRetention < store.MinDedupRetention {
		p.dedupRetention = store.MinDedupRetention
	}
	return p
}

// Body is one Event Hubs event body, as delivered.
type Body struct {
	Data []byte
	// Source says where the body came from, such as "partition 0 sequence 59".
	Source string
}

// Batch is one delivery: the bodies of one invocation, or of one replay.
type Batch struct {
	// Source names the delivery, such as "AuditEvents invocation 5f1c…".
	Source string
	Bodies []Body
}

// Report counts what happened to a batch.
type Report struct {
	Bodies     int `json:"bodies"`
	Records    int `json:"records"`
	New        int `json:"new"`
	Duplicates int `json:"duplicates"`
	// Held counts records another instance was processing.
	Held int `json:"held"`
	// Skipped counts records that could not be decoded; each is a dead letter.
	Skipped int `json:"skipped"`
	// DeadBodies counts bodies that were not JSON at all; each is a dead letter.
	DeadBodies int `json:"deadBodies"`
	// AlreadyKept counts skipped records and dead bodies whose exact bytes an
	// earlier delivery had already kept as a dead letter.
	AlreadyKept int `json:"alreadyKept"`
	// Self counts events Reinstate itself caused; they trigger nothing.
	Self int `json:"self"`
	// Intents counts restore intents recorded for the worker.
	Intents int `json:"intents"`
}

// String is the one-line summary written to logs and to the host's Logs.
func (r Report) String() string {
	return fmt.Sprintf("bodies=%d records=%d new=%d duplicates=%d held=%d skipped=%d dead_bodies=%d already_kept=%d self=%d intents=%d",
		r.Bodies, r.Records, r.New, r.Duplicates, r.Held, r.Skipped, r.DeadBodies, r.AlreadyKept, r.Self, r.Intents)
}

// Ingest processes a batch. One bad body or record never fails the batch:
// it is kept as a dead letter and counted. The error is non-nil only when
// retrying later could help (it then wraps ErrRetryLater); the report counts
// what was done either way.
func (p *Pipeline) Ingest(ctx context.Context, batch Batch) (Report, error) {
	report := Report{Bodies: len(batch.Bodies)}
	for i, body := range batch.Bodies {
		where := bodyLocation(batch.Source, i, body.Source)
		if err := p.ingestBody(ctx, where, body.Data, &report); err != nil {
			return report, fmt.Errorf("%s: %w: %w", where, ErrRetryLater, err)
		}
	}
	p.log.InfoContext(ctx, "batch ingested", "source", batch.Source, "report", report.String())
	if report.Intents > 0 {
		p.wake()
	}
	if report.Held > 0 {
		return report, fmt.Errorf("%s: %d records or dead letters are being processed elsewhere: %w", batch.Source, report.Held, ErrRetryLater)
	}
	return report, nil
}

// ingestBody returns an error only for store failures; bad input is dead-lettered.
func (p *Pipeline) ingestBody(ctx context.Context, where string, data []byte, report *Report) error {
	result, err := audit.Decode(data)
	if err != nil {
		report.DeadBodies++
		p.log.WarnContext(ctx, "event body is not audit JSON; kept as a dead letter", "where", where, "bytes", len(data), "reason", err.Error())
		return p.deadLetter(ctx, store.KindBodyDeadLettered, store.DeadLetter{Source: where, Reason: err.Error(), Raw: data}, report)
	}
	report.Records += len(result.Events) + len(result.Skipped)
	for _, skip := range result.Skipped {
		report.Skipped++
		// Log the location and reason only: the record itself may hold personal data.
		p.log.WarnContext(ctx, "audit record skipped; kept as a dead letter", "where", where, "record", skip.Position(), "reason", skip.Problem())
		letter := store.DeadLetter{Source: where, Location: skip.Position(), Reason: skip.Problem(), Raw: skip.Raw}
		if err := p.deadLetter(ctx, store.KindRecordSkipped, letter, report); err != nil {
			return err
		}
	}
	for _, event := range result.Events {
		if err := p.ingestEvent(ctx, where, event, report); err != nil {
			return err
		}
	}
	return nil
}

// DedupKey is the claim key of an audit record. The prefix leaves room for
// other kinds of keys (on-call idempotency keys, say) in the same store.
func DedupKey(eventID string) string { return "audit:" + eventID }

func (p *Pipeline) ingestEvent(ctx context.Context, where string, event audit.Event, report *Report) error {
	now := p.now()
	key := DedupKey(event.ID)
	state, err := p.state.Claim(ctx, key, now, now.Add(p.claimLease))
	if err != nil {
		return fmt.Errorf("claim record %s: %w", event.ID, err)
	}
	switch state {
	case store.Done:
		report.Duplicates++
		p.log.DebugContext(ctx, "duplicate audit record", "where", where, "event", event.ID)
		return nil
	case store.Held:
		report.Held++
		p.log.InfoContext(ctx, "audit record is being processed elsewhere", "where", where, "event", event.ID)
		return nil
	}
	report.New++
	entry := receivedEntry(event, where, now)
	if p.self.Caused(event) {
		report.Self++
		entry.Kind, entry.Outcome = KindEventSelf, "ignored: caused by Reinstate itself"
	}
	if _, err := p.state.Append(ctx, entry); err != nil {
		return fmt.Errorf("journal record %s: %w", event.ID, err)
	}
	p.log.InfoContext(ctx, "audit event received",
		"event", event.ID, "activity", event.Activity, "deletion", string(event.Deletion), "result", event.Result,
		"target_type", entry.TargetType, "target", entry.TargetID, "actor", entry.Actor, "self", entry.Kind == KindEventSelf)
	if entry.Kind != KindEventSelf && p.decider != nil {
		if err := p.decide(ctx, where, event, report); err != nil {
			return err
		}
	}
	if err := p.state.Complete(ctx, key, p.now()); err != nil {
		return fmt.Errorf("complete record %s: %w", event.ID, err)
	}
	return nil
}

// decide records each decision as a durable intent before anything acts on
// it: classification never waits on Graph, and a crash after this point
// loses nothing, because the worker finds the intent in the store.
func (p *Pipeline) decide(ctx context.Context, where string, event audit.Event, report *Report) error {
	for _, d := range p.decider.Decide(ctx, event) {
		if d.Action != ActionRestore {
			continue
		}
		plan := recovery.Plan{
			Request: recovery.Request{ObjectID: d.Target.ID, ObjectType: d.Target.Type, Options: d.Options},
			Name:    targetName(d.Target),
			EventID: event.ID,
			Reason:  d.Rule,
			Actor:   actor(event.Initiator),
		}
		payload, err := json.Marshal(plan)
		if err != nil {
			return fmt.Errorf("encode restore plan: %w", err)
		}
		now := p.now()
		intent, created, err := p.state.Enqueue(ctx, store.Intent{Key: recovery.IntentKey(event.ID, d.Target.ID), Kind: recovery.IntentKind, Payload: payload}, now)
		if err != nil {
			return fmt.Errorf("record restore intent for %s: %w", d.Target.ID, err)
		}
		if !created {
			continue
		}
		report.Intents++
		entry := store.Entry{
			Time: now, Kind: KindDecision, EventID: event.ID, Activity: event.Activity,
			TargetID: d.Target.ID, TargetType: string(d.Target.Type), TargetName: plan.Name,
			Actor: plan.Actor, Rule: d.Rule, Action: string(d.Action), Outcome: "intent recorded",
			Source: where, Detail: "intent " + intent.ID,
		}
		if _, err := p.state.Append(ctx, entry); err != nil {
			return fmt.Errorf("journal decision for %s: %w", d.Target.ID, err)
		}
	}
	return nil
}

func (p *Pipeline) deadLetter(ctx context.Context, kind store.Kind, letter store.DeadLetter, report *Report) error {
	now := p.now()
	key := deadLetterKey(letter.Raw)
	state, err := p.state.Claim(ctx, key, now, now.Add(p.claimLease))
	if err != nil {
		return fmt.Errorf("claim dead letter: %w", err)
	}
	switch state {
	case store.Done:
		report.AlreadyKept++
		return nil
	case store.Held:
		report.Held++
		return nil
	}
	letter.Time = now
	stored, err := p.state.PutDeadLetter(ctx, letter)
	if err != nil {
		return fmt.Errorf("keep dead letter: %w", err)
	}
	entry := store.Entry{Time: now, Kind: kind, Source: letter.Source, Outcome: "dead-lettered", Detail: joinNonEmpty("; ", letter.Location, letter.Reason, "dead letter "+stored.ID)}
	if _, err := p.state.Append(ctx, entry); err != nil {
		return fmt.Errorf("journal dead letter %s: %w", stored.ID, err)
	}
	if err := p.state.Complete(ctx, key, p.now()); err != nil {
		return fmt.Errorf("complete dead letter %s: %w", stored.ID, err)
	}
	return nil
}

func deadLetterKey(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "deadletter:" + hex.EncodeToString(sum[:])
}

// DeadLetterInvocation keeps a whole invocation payload that could not even
// be split into event bodies, so that nothing the host delivered is lost.
func (p *Pipeline) DeadLetterInvocation(ctx context.Context, source string, raw []byte, reason error) error {
	p.log.ErrorContext(ctx, "invocation payload unusable; kept as a dead letter", "source", source, "bytes", len(raw), "reason", reason.Error())
	var report Report
	if err := p.deadLetter(ctx, store.KindBodyDeadLettered, store.DeadLetter{Source: source, Reason: reason.Error(), Raw: raw}, &report); err != nil {
		return fmt.Errorf("%w: %w", ErrRetryLater, err)
	}
	if report.Held > 0 {
		return fmt.Errorf("%s: the same payload is being kept elsewhere: %w", source, ErrRetryLater)
	}
	return nil
}

// MaintenanceReport counts what a maintenance run removed.
type MaintenanceReport struct {
	ExpiredClaims  int `json:"expiredClaims"`
	ExpiredIntents int `json:"expiredIntents"`
}

// Maintain expires processed-record ids, and finished intents, older than
// the dedup retention: an intent's key is what stops a replayed event from
// recording it again, so it must be kept as long as the record id. It is run
// by the Maintenance timer function.
func (p *Pipeline) Maintain(ctx context.Context) (MaintenanceReport, error) {
	var report MaintenanceReport
	cutoff := p.now().Add(-p.dedupRetention)
	var err error
	if report.ExpiredClaims, err = p.expireAll(ctx, cutoff, p.state.ExpireClaims); err != nil {
		return report, fmt.Errorf("expire claims before %s: %w", cutoff.Format(time.RFC3339), err)
	}
	if report.ExpiredIntents, err = p.expireAll(ctx, cutoff, p.state.ExpireIntents); err != nil {
		return report, fmt.Errorf("expire intents before %s: %w", cutoff.Format(time.RFC3339), err)
	}
	p.log.InfoContext(ctx, "maintenance done", "expired_claims", report.ExpiredClaims, "expired_intents", report.ExpiredIntents, "cutoff", cutoff)
	return report, nil
}

// expireAll pages through expire, so that one run never holds the store for
// long, whatever the backlog.
func (p *Pipeline) expireAll(ctx context.Context, cutoff time.Time, expire func(context.Context, time.Time, int) (int, error)) (int, error) {
	total := 0
	for {
		n, err := expire(ctx, cutoff, p.expirePage)
		total += n
		if err != nil || n < p.expirePage {
			return total, err
		}
	}
}

func receivedEntry(event audit.Event, where string, now time.Time) store.Entry {
	entry := store.Entry{
		Time:     now,
		Kind:     store.KindEventReceived,
		EventID:  event.ID,
		Activity: event.Activity,
		Actor:    actor(event.Initiator),
		Outcome:  event.Result,
		Source:   where,
		Detail:   fmt.Sprintf("deletion=%s targets=%d", event.Deletion, len(event.Targets)),
	}
	if len(event.Targets) > 0 {
		first := event.Targets[0]
		entry.TargetID, entry.TargetType = first.ID, string(first.Type)
		entry.TargetName = targetName(first)
	}
	return entry
}

// targetName names a target for people: its display name, else its UPN
// (Entra logs users with a null displayName).
func targetName(t audit.Target) string {
	if t.DisplayName != "" {
		return t.DisplayName
	}
	return t.UserPrincipalName
}

// actor names the initiator the way an operator would look for it.
func actor(in audit.Initiator) string {
	for _, candidate := range []string{in.UserPrincipalName, in.AppID, in.DisplayName, in.ID, in.ServicePrincipalID} {
		if candidate != "" {
			return candidate
		}
	}
	return string(audit.InitiatorUnknown)
}

func bodyLocation(batch string, index int, bodySource string) string {
	return joinNonEmpty(" ", batch, fmt.Sprintf("event %d", index), parenthesize(bodySource))
}

func parenthesize(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

func joinNonEmpty(sep string, parts ...string) string {
	kept := parts[:0:0]
	for _, part := range parts {
		if part != "" {
			kept = append(kept, part)
		}
	}
	return strings.Join(kept, sep)
}
