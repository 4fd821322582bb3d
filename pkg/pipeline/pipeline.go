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
	"slices"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/backup"
	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
)

// State is what the pipeline needs from the store.
type State interface {
	Claim(ctx context.Context, key string, now, leaseUntil time.Time) (store.ClaimState, error)
	Complete(ctx context.Context, key string, now time.Time) error
	Release(ctx context.Context, key string) error
	ExpireClaims(ctx context.Context, cutoff time.Time, limit int) (int, error)
	Append(ctx context.Context, entry store.Entry) (store.Entry, error)
	PutDeadLetter(ctx context.Context, letter store.DeadLetter) (store.DeadLetter, error)
	Enqueue(ctx context.Context, intent store.Intent, now time.Time) (store.Intent, bool, error)
	ExpireIntents(ctx context.Context, cutoff time.Time, limit int) (int, error)
	ExpireHits(ctx context.Context, cutoff time.Time, limit int) (int, error)
	ExpireMarks(ctx context.Context, cutoff time.Time, limit int) (int, error)
	ExpireSilences(ctx context.Context, cutoff time.Time, limit int) (int, error)
	ExpireRecords(ctx context.Context, cutoff time.Time, limit int) (int, error)
}

// Journal entry kinds the pipeline writes beside store's ingestion kinds.
const (
	// KindEventSelf records an event Reinstate itself caused; it never
	// triggers actions, so that Reinstate cannot loop on its own restores.
	KindEventSelf store.Kind = "event.self"
	// KindDecision records what a rule decided about a target, and the
	// durable intent behind a restore.
	KindDecision store.Kind = "decision"
	// KindGuard records a decision a guard changed.
	KindGuard store.Kind = "decision.guarded"
	// KindBreakerTripped records the mass-deletion breaker tripping, with the
	// affected ids.
	KindBreakerTripped store.Kind = "breaker.tripped"
)

// Decider decides what to do about an event; decide.Engine is one.
type Decider interface {
	Decide(ctx context.Context, event *audit.Event, objects *decide.Objects) ([]decide.Decision, error)
}

// Announcer records a message for channels, durably, to be delivered
// later; notify.Dispatcher is one. It never waits on a channel.
type Announcer interface {
	Announce(ctx context.Context, m notify.Message, channels []string) (int, error)
}

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
	// Bin reads the recycle bin for rules that need an object's
	// properties; nil reads nothing.
	Bin decide.Bin
	// Announcer records the messages decisions call for; nil tells no one.
	Announcer Announcer
	// Self recognises events Reinstate caused; nil recognises none.
	Self *guard.Self
	// Wake is called after new intents are recorded, to wake a worker.
	Wake func()
	// Previews asks for Backup & Recovery previews, for decisions that call
	// for one in enforce mode; nil only journals them.
	Previews Previewer
	// BreakerPreview says the rule file's breaker asks for one preview of
	// what it holds back: every restore it holds joins it.
	BreakerPreview bool
}

// Previewer asks for a Backup & Recovery preview; *backup.Orchestrator is
// one. Requests merge into a case not yet started, so a storm asks once.
type Previewer interface {
	Request(ctx context.Context, req backup.Request) (backup.Case, bool, error)
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
	bin            decide.Bin
	announcer      Announcer
	self           *guard.Self
	wake           func()
	previews       Previewer
	breakerPreview bool
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
		bin:            opts.Bin,
		announcer:      opts.Announcer,
		self:           opts.Self,
		wake:           opts.Wake,
		previews:       opts.Previews,
		breakerPreview: opts.BreakerPreview,
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
	// LastAttempt is true when the host will not retry this delivery (its
	// retry policy is spent): a body holding deferred events is then kept
	// as a dead letter, to replay once Graph answers, rather than lost.
	LastAttempt bool
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
	// Decisions counts targets a rule matched or a guard changed.
	Decisions int `json:"decisions"`
	// Guarded counts decisions a guard changed.
	Guarded int `json:"guarded"`
	// Observed counts restores and previews decided in observe mode, and so
	// not carried out.
	Observed int `json:"observed"`
	// Announced counts messages recorded for channels (each is delivered
	// later, grouped, by the notifications stage).
	Announced int `json:"announced"`
	// Deferred counts events whose rules need the recycle bin while Graph
	// could not be read: they are retried, not decided wrongly.
	Deferred int `json:"deferred"`
}

// String is the one-line summary written to logs and to the host's Logs.
func (r Report) String() string {
	return fmt.Sprintf("bodies=%d records=%d new=%d duplicates=%d held=%d skipped=%d dead_bodies=%d already_kept=%d self=%d intents=%d decisions=%d guarded=%d observed=%d announced=%d deferred=%d",
		r.Bodies, r.Records, r.New, r.Duplicates, r.Held, r.Skipped, r.DeadBodies, r.AlreadyKept, r.Self, r.Intents,
		r.Decisions, r.Guarded, r.Observed, r.Announced, r.Deferred)
}

// Ingest processes a batch. One bad body or record never fails the batch:
// it is kept as a dead letter and counted. The error is non-nil only when
// retrying later could help (it then wraps ErrRetryLater); the report counts
// what was done either way.
func (p *Pipeline) Ingest(ctx context.Context, batch Batch) (Report, error) {
	report := Report{Bodies: len(batch.Bodies)}
	// One cache a batch: an object named by several records is read once,
	// and a later delivery reads the bin afresh.
	objects := decide.NewObjects(p.bin)
	for i, body := range batch.Bodies {
		where := bodyLocation(batch.Source, i, body.Source)
		if err := p.ingestBody(ctx, where, body.Data, objects, batch.LastAttempt, &report); err != nil {
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
	if report.Deferred > 0 && !batch.LastAttempt {
		return report, fmt.Errorf("%s: %d events wait for the recycle bin to be readable: %w", batch.Source, report.Deferred, ErrRetryLater)
	}
	return report, nil
}

// IngestEvents runs events that did not come as audit records, such as the
// reconciliation sweep's synthesized deletions, through the same claim,
// rules, guards and actions as Ingest: each is acted on once, however
// often it is ingested, by its ID.
func (p *Pipeline) IngestEvents(ctx context.Context, source string, events []audit.Event) (Report, error) {
	report := Report{Records: len(events)}
	objects := decide.NewObjects(p.bin)
	for i, event := range events {
		if err := p.ingestEvent(ctx, fmt.Sprintf("%s event %d", source, i), event, objects, &report); err != nil {
			return report, fmt.Errorf("%s: %w: %w", source, ErrRetryLater, err)
		}
	}
	p.log.InfoContext(ctx, "events ingested", "source", source, "report", report.String())
	if report.Intents > 0 {
		p.wake()
	}
	return report, nil
}

// ingestBody returns an error only for store failures; bad input is dead-lettered.
func (p *Pipeline) ingestBody(ctx context.Context, where string, data []byte, objects *decide.Objects, lastAttempt bool, report *Report) error {
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
	deferred := report.Deferred
	for _, event := range result.Events {
		if err := p.ingestEvent(ctx, where, event, objects, report); err != nil {
			return err
		}
	}
	if n := report.Deferred - deferred; n > 0 && lastAttempt {
		// The host will not deliver this body again: keep it whole. Its
		// decided records are done, so a replay decides only the rest.
		reason := fmt.Sprintf("%d events could not be decided: the rules need the recycle bin and Graph could not be read; replay this body once Graph answers", n)
		p.log.ErrorContext(ctx, "deferred events kept as a dead letter: the host will not retry", "where", where, "deferred", n)
		return p.deadLetter(ctx, store.KindBodyDeadLettered, store.DeadLetter{Source: where, Reason: reason, Raw: data}, report)
	}
	return nil
}

// DedupKey is the claim key of an audit record. The prefix leaves room for
// other kinds of keys (on-call idempotency keys, say) in the same store.
func DedupKey(eventID string) string { return "audit:" + eventID }

func (p *Pipeline) ingestEvent(ctx context.Context, where string, event audit.Event, objects *decide.Objects, report *Report) error {
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
	if p.self.Caused(event) {
		report.New++
		report.Self++
		entry := receivedEntry(event, where, now)
		entry.Kind, entry.Outcome = KindEventSelf, "ignored: caused by Reinstate itself"
		return p.journalAndComplete(ctx, key, event, entry, nil, where, report)
	}
	var decisions []decide.Decision
	if p.decider != nil {
		decisions, err = p.decider.Decide(ctx, &event, objects)
		if err != nil {
			return fmt.Errorf("decide record %s: %w", event.ID, err)
		}
		if slices.ContainsFunc(decisions, func(d decide.Decision) bool { return d.Deferred }) {
			// Nothing is recorded, so that the redelivery decides afresh.
			report.Deferred++
			p.log.WarnContext(ctx, "audit event deferred: the rules need the recycle bin and Graph could not be read", "where", where, "event", event.ID)
			if err := p.state.Release(ctx, key); err != nil {
				return fmt.Errorf("release deferred record %s: %w", event.ID, err)
			}
			return nil
		}
	}
	report.New++
	return p.journalAndComplete(ctx, key, event, receivedEntry(event, where, now), decisions, where, report)
}

func (p *Pipeline) journalAndComplete(ctx context.Context, key string, event audit.Event, received store.Entry, decisions []decide.Decision, where string, report *Report) error {
	if _, err := p.state.Append(ctx, received); err != nil {
		return fmt.Errorf("journal record %s: %w", event.ID, err)
	}
	p.log.InfoContext(ctx, "audit event received",
		"event", event.ID, "activity", event.Activity, "deletion", string(event.Deletion), "result", event.Result,
		"target_type", received.TargetType, "target", received.TargetID, "actor", received.Actor, "self", received.Kind == KindEventSelf)
	for _, d := range decisions {
		if err := p.act(ctx, where, &event, d, report); err != nil {
			return err
		}
	}
	if err := p.state.Complete(ctx, key, p.now()); err != nil {
		return fmt.Errorf("complete record %s: %w", event.ID, err)
	}
	return nil
}

// act journals a decision and carries out what is Reinstate's to do at
// once. A restore is recorded as a durable intent before anything acts on
// it: a crash after this point loses nothing, because the worker finds the
// intent in the store. In observe mode nothing is recorded for the worker.
func (p *Pipeline) act(ctx context.Context, where string, event *audit.Event, d decide.Decision, report *Report) error {
	if d.Rule == nil && d.Guard == nil {
		return nil
	}
	report.Decisions++
	now := p.now()
	entry := store.Entry{
		Time: now, Kind: KindDecision, EventID: event.ID, Activity: event.Activity,
		TargetID: d.ObjectID, TargetType: string(d.ObjectType), TargetName: d.ObjectName,
		Actor: actor(event.Initiator), Rule: d.RuleName(), Action: strings.Join(d.Actions, ","),
		Outcome: outcome(d), Source: where, Detail: d.Reason,
	}
	if g := d.GuardName(); g != "" {
		entry.Kind = KindGuard
		report.Guarded++
	}
	switch {
	case d.Mode == rules.ModeObserve && (d.Has(rules.ActionRestore) || d.Has(rules.ActionPreview)):
		report.Observed++
	case d.Has(rules.ActionRestore):
		intent, created, err := p.enqueueRestore(ctx, event, d, now)
		if err != nil {
			return err
		}
		if !created {
			return nil
		}
		report.Intents++
		entry.Outcome, entry.Detail = "intent recorded", joinNonEmpty("; ", d.Reason, "intent "+intent.ID)
	}
	if req, ok := p.previewRequest(event, d); ok {
		c, _, err := p.previews.Request(ctx, req)
		if err != nil {
			return fmt.Errorf("ask for a preview of %s: %w", d.ObjectID, err)
		}
		entry.Detail = joinNonEmpty("; ", entry.Detail, "Backup & Recovery case "+c.ID+" ("+string(c.State)+")")
		if d.Has(rules.ActionPreview) {
			entry.Outcome = "preview requested"
		}
	}
	if _, err := p.state.Append(ctx, entry); err != nil {
		return fmt.Errorf("journal decision for %s: %w", d.ObjectID, err)
	}
	if d.Trip != nil {
		trip, _ := json.Marshal(d.Trip)
		tripped := store.Entry{Time: now, Kind: KindBreakerTripped, EventID: event.ID, Rule: d.RuleName(),
			Outcome: fmt.Sprintf("%s: %d deletions over %d; auto-restore paused", d.Trip.Scope, d.Trip.Count, d.Trip.Threshold),
			Source:  where, Detail: string(trip)}
		if _, err := p.state.Append(ctx, tripped); err != nil {
			return fmt.Errorf("journal breaker trip: %w", err)
		}
	}
	return p.notify(ctx, event, d, report)
}

// previewRequest is the Backup & Recovery request a decision calls for in
// enforce mode: its rule's preview, or, when the breaker asks for one, the
// restore the breaker held back (with, on the tripping decision, every
// deletion it counted). Requests are keyed by event and object, so that a
// redelivery asks once.
func (p *Pipeline) previewRequest(event *audit.Event, d decide.Decision) (backup.Request, bool) {
	if p.previews == nil || d.Mode != rules.ModeEnforce {
		return backup.Request{}, false
	}
	held := d.GuardName() == guard.Breaker && p.breakerPreview
	if !d.Has(rules.ActionPreview) && !held {
		return backup.Request{}, false
	}
	req := backup.Request{
		Key: "preview:" + event.ID + ":" + d.ObjectID, Rule: d.RuleName(), Initiator: actor(event.Initiator), Since: event.Time,
		Objects: []backup.Object{{ID: d.ObjectID, Type: d.ObjectType}}, Notify: d.Notify, Severity: string(d.Severity),
		Reason: "rule " + d.RuleName() + " asks for a preview",
	}
	if held {
		req.Reason = "the mass-deletion breaker held back automatic restores"
	}
	if d.Trip != nil {
		if !d.Trip.FirstAt.IsZero() && d.Trip.FirstAt.Before(req.Since) {
			req.Since = d.Trip.FirstAt
		}
		for i, id := range d.Trip.ObjectIDs {
			if id == d.ObjectID || i >= len(d.Trip.ObjectTypes) {
				continue
			}
			req.Objects = append(req.Objects, backup.Object{ID: id, Type: d.Trip.ObjectTypes[i]})
		}
	}
	return req, true
}

// outcome says, in the journal, what became of a decision.
func outcome(d decide.Decision) string {
	switch {
	case d.Mode == rules.ModeObserve && (d.Has(rules.ActionRestore) || d.Has(rules.ActionPreview)):
		return "observe: would " + strings.Join(d.Actions, ", ")
	case d.Has(rules.ActionPreview):
		return "preview: no Backup & Recovery orchestrator in this process; restore by hand or through on-call"
	case d.GuardName() != "":
		return d.GuardName() + ": " + joinNonEmpty(", ", strings.Join(d.Actions, ", "), "nothing done")
	case len(d.Actions) == 0:
		return "ignored by rule"
	}
	return strings.Join(d.Actions, ", ")
}

func (p *Pipeline) enqueueRestore(ctx context.Context, event *audit.Event, d decide.Decision, now time.Time) (store.Intent, bool, error) {
	plan := recovery.Plan{
		Request: recovery.Request{ObjectID: d.ObjectID, ObjectType: d.ObjectType, Options: d.Options},
		Name:    d.ObjectName,
		EventID: event.ID,
		Reason:  d.RuleName(),
		Actor:   actor(event.Initiator),
	}
	if len(d.Notify) > 0 {
		plan.Tell = &recovery.Tell{Channels: d.Notify, Severity: string(d.Severity), Rule: d.RuleName(), Activity: event.Activity,
			Initiator: event.Initiator, Time: event.Time, TenantID: event.TenantID}
	}
	payload, err := json.Marshal(plan)
	if err != nil {
		return store.Intent{}, false, fmt.Errorf("encode restore plan: %w", err)
	}
	intent, created, err := p.state.Enqueue(ctx, store.Intent{Key: recovery.IntentKey(event.ID, d.ObjectID), Kind: recovery.IntentKind, Payload: payload}, now)
	if err != nil {
		return store.Intent{}, false, fmt.Errorf("record restore intent for %s: %w", d.ObjectID, err)
	}
	return intent, created, nil
}

// notify records the message the decision calls for, for its channels.
// Delivery is the notifications stage's, later and grouped, so a broken
// channel never holds up a batch; a store failure here retries the batch
// like any other, and the message's key keeps the retry from telling twice.
func (p *Pipeline) notify(ctx context.Context, event *audit.Event, d decide.Decision, report *Report) error {
	if p.announcer == nil || len(d.Notify) == 0 {
		return nil
	}
	m, ok := notify.FromDecision(event, d)
	if !ok {
		return nil
	}
	n, err := p.announcer.Announce(ctx, m, d.Notify)
	if err != nil {
		return fmt.Errorf("record notification for %s: %w", d.ObjectID, err)
	}
	report.Announced += n
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
	ExpiredClaims   int `json:"expiredClaims"`
	ExpiredIntents  int `json:"expiredIntents"`
	ExpiredHits     int `json:"expiredHits"`
	ExpiredMarks    int `json:"expiredMarks"`
	ExpiredSilences int `json:"expiredSilences"`
	ExpiredRecords  int `json:"expiredRecords"`
}

// GuardRetention is how long breaker counts and lapsed cooldown and breaker
// marks are kept: far longer than any window they serve, so that none is
// cut short, and short enough to keep the store small.
const GuardRetention = 7 * 24 * time.Hour

// Maintain expires processed-record ids, and finished intents, older than
// the dedup retention: an intent's key is what stops a replayed event from
// recording it again, so it must be kept as long as the record id. Guard
// state goes after GuardRetention; silences that ended are kept as long as
// record ids, as a record of who muted what. It is run by the Maintenance
// timer function.
func (p *Pipeline) Maintain(ctx context.Context) (MaintenanceReport, error) {
	var report MaintenanceReport
	now := p.now()
	cutoff := now.Add(-p.dedupRetention)
	guardCutoff := now.Add(-GuardRetention)
	steps := []struct {
		what   string
		into   *int
		cutoff time.Time
		expire func(context.Context, time.Time, int) (int, error)
	}{
		{"claims", &report.ExpiredClaims, cutoff, p.state.ExpireClaims},
		{"intents", &report.ExpiredIntents, cutoff, p.state.ExpireIntents},
		{"breaker counts", &report.ExpiredHits, guardCutoff, p.state.ExpireHits},
		{"guard marks", &report.ExpiredMarks, guardCutoff, p.state.ExpireMarks},
		{"silences", &report.ExpiredSilences, cutoff, p.state.ExpireSilences},
		// A record's owner sets when it may go (a finished Backup &
		// Recovery case is kept for as long as Microsoft keeps its jobs).
		{"records", &report.ExpiredRecords, now, p.state.ExpireRecords},
	}
	for _, step := range steps {
		n, err := p.expireAll(ctx, step.cutoff, step.expire)
		*step.into = n
		if err != nil {
			return report, fmt.Errorf("expire %s before %s: %w", step.what, step.cutoff.Format(time.RFC3339), err)
		}
	}
	p.log.InfoContext(ctx, "maintenance done", "expired_claims", report.ExpiredClaims, "expired_intents", report.ExpiredIntents,
		"expired_hits", report.ExpiredHits, "expired_marks", report.ExpiredMarks, "expired_silences", report.ExpiredSilences,
		"expired_records", report.ExpiredRecords, "cutoff", cutoff)
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
		entry.TargetName = decide.Name(first)
	}
	return entry
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
