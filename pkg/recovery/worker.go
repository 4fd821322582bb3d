package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/store"
)

// IntentKind is the store.Intent kind of a restore.
const IntentKind = "restore"

// Plan is a restore intent's payload: what to restore, and why.
type Plan struct {
	Request Request `json:"request"`
	// Name is the object's display name or UPN as the event logged it, for
	// people reading the journal.
	Name string `json:"name,omitempty"`
	// EventID is the audit record that led to the intent.
	EventID string `json:"eventId,omitempty"`
	// Reason says why: a rule's name, or on-call's reason.
	Reason string `json:"reason,omitempty"`
	// Actor is who caused the deletion (or who asked for the restore).
	Actor string `json:"actor,omitempty"`
	// Tell says whom to tell of the outcome, and what they need to know
	// that the restore itself does not; nil tells no one.
	Tell *Tell `json:"tell,omitempty"`
}

// Tell is what the notifications stage needs to tell people of a restore's
// outcome: the deciding rule's channels and severity, and the deletion.
type Tell struct {
	Channels  []string        `json:"channels"`
	Severity  string          `json:"severity,omitempty"`
	Rule      string          `json:"rule,omitempty"`
	Activity  string          `json:"activity,omitempty"`
	Initiator audit.Initiator `json:"initiator"`
	// Time is when the deletion happened.
	Time     time.Time `json:"time"`
	TenantID string    `json:"tenantId,omitempty"`
}

// IntentKey is the idempotency key of restoring objectID because of
// eventID: a redelivered event finds its intent already recorded.
func IntentKey(eventID, objectID string) string {
	return "restore:" + eventID + ":" + objectID
}

// Journal entry kinds the worker writes.
const (
	KindRestoreDone    store.Kind = "restore.done"
	KindRestoreRetry   store.Kind = "restore.retry"
	KindRestoreFailed  store.Kind = "restore.failed"
	KindRestoreInvalid store.Kind = "restore.invalid"
)

// Outbox is what the worker needs from the store.
type Outbox interface {
	LeaseIntents(ctx context.Context, kind string, now, leaseUntil time.Time, limit int) ([]store.Intent, error)
	RenewIntentLease(ctx context.Context, id, token string, now, leaseUntil time.Time) error
	CompleteIntent(ctx context.Context, id, token string, now time.Time, outcome string) error
	RetryIntent(ctx context.Context, id, token string, now, notBefore time.Time, lastError string) error
	FailIntent(ctx context.Context, id, token string, now time.Time, reason string) error
	Append(ctx context.Context, entry store.Entry) (store.Entry, error)
}

// Restorer restores one object; *Executor is the real one.
type Restorer interface {
	Restore(ctx context.Context, req Request) (Outcome, error)
}

// BatchRestorer restores many objects at once, each judged on its own;
// *Executor is one, through JSON batching. The worker uses it when its
// Restorer has it, so that a leased set costs a few $batch round trips
// instead of a few requests per intent.
type BatchRestorer interface {
	RestoreMany(ctx context.Context, reqs []Request) []Result
}

// WorkerOptions tune a Worker. Zero values take the defaults.
type WorkerOptions struct {
	// Logger receives the worker's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock of leases and back-offs; tests pin it.
	Now func() time.Time
	// Lease is how long a worker owns an intent it is executing; another
	// worker takes it over after that if this one died.
	Lease time.Duration
	// Concurrency is how many intents are leased and carried out together:
	// one $batch when the Restorer batches (default MaxBatchRequests). The
	// Pacer, not this, sets the write rate.
	Concurrency int
	// MaxAttempts is how many times an intent is tried before it fails for
	// good (and is journaled as failed).
	MaxAttempts int
	// MaxBackoff caps the wait between attempts when Graph gives no
	// Retry-After.
	MaxBackoff time.Duration
	// Concluded, when set, is called with every final outcome (restored,
	// already live, or failed for good) once it is recorded: how the
	// notifications stage learns what to tell. It must not block for long,
	// and it is called from several goroutines at once when a batch's
	// restores conclude together.
	Concluded func(ctx context.Context, plan Plan, outcome Outcome)
}

// Worker drains restore intents from the outbox: it leases due intents of
// IntentKind, restores each through the Restorer, and completes, retries or
// fails them. Intents of other kinds are other workers' and never leased
// here. Several workers, in one process or many, can drain one outbox:
// leases keep them from executing the same intent at once.
type Worker struct {
	outbox      Outbox
	restorer    Restorer
	log         *slog.Logger
	now         func() time.Time
	lease       time.Duration
	concurrency int
	maxAttempts int
	maxBackoff  time.Duration
	concluded   func(ctx context.Context, plan Plan, outcome Outcome)
	wake        chan struct{}
}

// NewWorker returns a Worker.
func NewWorker(outbox Outbox, restorer Restorer, opts WorkerOptions) *Worker {
	w := &Worker{outbox: outbox, restorer: restorer, log: opts.Logger, now: opts.Now, lease: opts.Lease,
		concurrency: opts.Concurrency, maxAttempts: opts.MaxAttempts, maxBackoff: opts.MaxBackoff, concluded: opts.Concluded,
		wake: make(chan struct{}, 1)}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.lease <= 0 {
		w.lease = 2 * time.Minute
	}
	if w.concurrency <= 0 {
		// One full $batch per lease round (Graph takes at most 20 requests
		// in a batch).
		w.concurrency = MaxBatchRequests
	}
	if w.maxAttempts <= 0 {
		w.maxAttempts = 12
	}
	if w.maxBackoff <= 0 {
		w.maxBackoff = 10 * time.Minute
	}
	return w
}

// Notify tells a running worker that new intents may be due, so it need not
// wait for its next poll.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run drains the outbox until ctx ends, waking on Notify or every poll.
func (w *Worker) Run(ctx context.Context, poll time.Duration) error {
	for {
		if _, err := w.Drain(ctx); err != nil && ctx.Err() == nil {
			w.log.ErrorContext(ctx, "draining restore intents failed; will try again", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		case <-time.After(poll):
		}
	}
}

// DrainReport counts what one Drain did.
type DrainReport struct {
	Done    int `json:"done"`
	Retried int `json:"retried"`
	Failed  int `json:"failed"`
}

// Drain executes intents until none is due, or ctx ends.
func (w *Worker) Drain(ctx context.Context) (DrainReport, error) {
	var (
		report DrainReport
		mu     sync.Mutex
	)
	for ctx.Err() == nil {
		now := w.now()
		intents, err := w.outbox.LeaseIntents(ctx, IntentKind, now, now.Add(w.lease), w.concurrency)
		if err != nil {
			return report, fmt.Errorf("lease restore intents: %w", err)
		}
		if len(intents) == 0 {
			return report, nil
		}
		var wg sync.WaitGroup
		errs := make([]error, len(intents))
		count := func(result result) {
			mu.Lock()
			switch result {
			case resultDone:
				report.Done++
			case resultRetry:
				report.Retried++
			case resultFailed:
				report.Failed++
			}
			mu.Unlock()
		}
		if batcher, ok := w.restorer.(BatchRestorer); ok {
			w.executeMany(ctx, batcher, intents, errs, count)
		} else {
			for i, intent := range intents {
				wg.Add(1)
				go func() {
					defer wg.Done()
					result, err := w.execute(ctx, intent)
					errs[i] = err
					count(result)
				}()
			}
			wg.Wait()
		}
		if err := errors.Join(errs...); err != nil {
			return report, err
		}
	}
	return report, ctx.Err()
}

type result int

const (
	resultNone result = iota
	resultDone
	resultRetry
	resultFailed
)

// execute runs one leased intent. Its error is only for store failures; the
// intent's lease then runs out and another attempt takes it over.
func (w *Worker) execute(ctx context.Context, intent store.Intent) (result, error) {
	plan, entry, res, err, ok := w.prepare(ctx, intent)
	if !ok {
		return res, err
	}
	stopRenewing := w.keepLease(ctx, intent)
	outcome, err := w.restorer.Restore(ctx, plan.Request)
	stopRenewing()
	return w.conclude(ctx, intent, plan, entry, outcome, err)
}

// executeMany runs leased intents through one RestoreMany, each intent
// leased, renewed, moved on and journaled exactly as execute does it.
func (w *Worker) executeMany(ctx context.Context, batcher BatchRestorer, intents []store.Intent, errs []error, count func(result)) {
	type ready struct {
		i     int
		plan  Plan
		entry store.Entry
	}
	var todo []ready
	var reqs []Request
	for i, intent := range intents {
		plan, entry, res, err, ok := w.prepare(ctx, intent)
		if !ok {
			errs[i] = err
			count(res)
			continue
		}
		todo = append(todo, ready{i: i, plan: plan, entry: entry})
		reqs = append(reqs, plan.Request)
	}
	if len(todo) == 0 {
		return
	}
	stops := make([]func(), len(todo))
	for j, r := range todo {
		stops[j] = w.keepLease(ctx, intents[r.i])
	}
	results := batcher.RestoreMany(ctx, reqs)
	for _, stop := range stops {
		stop()
	}
	var wg sync.WaitGroup
	for j, r := range todo {
		wg.Go(func() {
			var res Result
			if j < len(results) {
				res = results[j]
			} else {
				res.Err = fmt.Errorf("RestoreMany answered %d of %d requests", len(results), len(reqs))
			}
			result, err := w.conclude(ctx, intents[r.i], r.plan, r.entry, res.Outcome, res.Err)
			errs[r.i] = err
			count(result)
		})
	}
	wg.Wait()
}

// prepare checks a leased intent before its restore. ok false means the
// intent was settled here (invalid, or out of attempts) with res and err.
func (w *Worker) prepare(ctx context.Context, intent store.Intent) (plan Plan, entry store.Entry, res result, err error, ok bool) {
	if err := json.Unmarshal(intent.Payload, &plan); err != nil {
		reason := "payload is not a restore plan: " + err.Error()
		entry := store.Entry{Kind: KindRestoreInvalid, Action: IntentKind, Outcome: string(StatusFailed), Detail: reason, Source: "intent " + intent.ID}
		return plan, entry, resultFailed, w.finish(ctx, intent, entry, func(now time.Time) error {
			return w.outbox.FailIntent(ctx, intent.ID, intent.LeaseToken, now, reason)
		}), false
	}
	entry = planEntry(intent, plan)
	// Attempts counts every lease, including those whose worker died while
	// executing: an intent that keeps killing workers must stop somewhere.
	if intent.Attempts > w.maxAttempts {
		reason := fmt.Sprintf("gave up after %d attempts; the last ones never reported back (last error: %s)", intent.Attempts-1, intent.LastError)
		entry.Kind, entry.Outcome, entry.Detail = KindRestoreFailed, string(StatusFailed), reason
		return plan, entry, resultFailed, w.finish(ctx, intent, entry, func(now time.Time) error {
			return w.outbox.FailIntent(ctx, intent.ID, intent.LeaseToken, now, reason)
		}), false
	}
	return plan, entry, resultNone, nil, true
}

// conclude moves an intent on from its restore's answer: done, retried
// later, or failed, with a journal entry.
func (w *Worker) conclude(ctx context.Context, intent store.Intent, plan Plan, entry store.Entry, outcome Outcome, err error) (result, error) {

	var retry *RetryError
	if errors.As(err, &retry) {
		if intent.Attempts >= w.maxAttempts {
			reason := fmt.Sprintf("gave up after %d attempts: %v", intent.Attempts, retry.Err)
			entry.Kind, entry.Outcome, entry.Detail = KindRestoreFailed, string(StatusFailed), reason
			gaveUp := Outcome{ObjectID: plan.Request.ObjectID, ObjectType: plan.Request.ObjectType, Status: StatusFailed, Detail: reason}
			return w.concludeWith(ctx, plan, gaveUp, resultFailed, w.finish(ctx, intent, entry, func(now time.Time) error {
				return w.outbox.FailIntent(ctx, intent.ID, intent.LeaseToken, now, reason)
			}))
		}
		wait := retry.After
		if wait <= 0 {
			wait = w.backoff(intent.Attempts)
		}
		entry.Kind, entry.Outcome = KindRestoreRetry, "retry"
		entry.Detail = fmt.Sprintf("attempt %d: %v; next try in %s", intent.Attempts, retry.Err, wait.Round(time.Millisecond))
		return resultRetry, w.finish(ctx, intent, entry, func(now time.Time) error {
			return w.outbox.RetryIntent(ctx, intent.ID, intent.LeaseToken, now, now.Add(wait), retry.Err.Error())
		})
	}
	if err != nil {
		// Not a Graph answer: the context ended, or a bug. Leave the lease
		// to run out so that the intent is tried again.
		return resultNone, fmt.Errorf("restore %s %s: %w", plan.Request.ObjectType, plan.Request.ObjectID, err)
	}

	summary, _ := json.Marshal(outcome)
	entry.Outcome, entry.Detail = string(outcome.Status), string(summary)
	if outcome.Status == StatusRestored || outcome.Status == StatusAlreadyLive {
		entry.Kind = KindRestoreDone
		return w.concludeWith(ctx, plan, outcome, resultDone, w.finish(ctx, intent, entry, func(now time.Time) error {
			return w.outbox.CompleteIntent(ctx, intent.ID, intent.LeaseToken, now, string(outcome.Status))
		}))
	}
	entry.Kind = KindRestoreFailed
	return w.concludeWith(ctx, plan, outcome, resultFailed, w.finish(ctx, intent, entry, func(now time.Time) error {
		return w.outbox.FailIntent(ctx, intent.ID, intent.LeaseToken, now, string(outcome.Status)+": "+outcome.Detail)
	}))
}

// concludeWith tells Concluded of a final outcome once it is recorded
// (finishErr nil); an outcome whose recording failed is not told, since the
// intent will be tried again.
func (w *Worker) concludeWith(ctx context.Context, plan Plan, outcome Outcome, res result, finishErr error) (result, error) {
	if finishErr == nil && w.concluded != nil {
		w.concluded(ctx, plan, outcome)
	}
	return res, finishErr
}

// keepLease renews the intent's lease every third of its length while a
// restore runs (pacing and throttling can make one slow), so that no other
// worker takes it over and runs it a second time. It returns the stop.
func (w *Worker) keepLease(ctx context.Context, intent store.Intent) (stop func()) {
	renewCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(w.lease / 3)
		defer ticker.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-ticker.C:
				now := w.now()
				if err := w.outbox.RenewIntentLease(renewCtx, intent.ID, intent.LeaseToken, now, now.Add(w.lease)); err != nil && renewCtx.Err() == nil {
					w.log.WarnContext(ctx, "could not renew a restore intent's lease", "intent", intent.ID, "error", err.Error())
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// finish moves the intent on, then journals what happened. A lost lease
// means another worker took the intent over; its own journal entry will
// tell what happened, so this one writes none.
func (w *Worker) finish(ctx context.Context, intent store.Intent, entry store.Entry, transition func(now time.Time) error) error {
	now := w.now()
	if err := transition(now); err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			w.log.WarnContext(ctx, "restore intent was taken over by another worker", "intent", intent.ID)
			return nil
		}
		return fmt.Errorf("record intent %s: %w", intent.ID, err)
	}
	entry.Time = now
	if _, err := w.outbox.Append(ctx, entry); err != nil {
		return fmt.Errorf("journal intent %s: %w", intent.ID, err)
	}
	w.log.InfoContext(ctx, "restore intent "+entry.Outcome, "intent", intent.ID, "object", entry.TargetID, "type", entry.TargetType, "attempt", intent.Attempts)
	return nil
}

// backoff is exponential with full jitter, so that many intents throttled
// together do not come back together.
func (w *Worker) backoff(attempt int) time.Duration {
	ceiling := time.Second << min(attempt, 20)
	ceiling = min(ceiling, w.maxBackoff)
	return time.Duration(rand.Int64N(int64(ceiling))) + 100*time.Millisecond
}

func planEntry(intent store.Intent, plan Plan) store.Entry {
	return store.Entry{
		EventID:    plan.EventID,
		TargetID:   plan.Request.ObjectID,
		TargetType: string(plan.Request.ObjectType),
		TargetName: plan.Name,
		Actor:      plan.Actor,
		Rule:       plan.Reason,
		Action:     IntentKind,
		Source:     "intent " + intent.ID,
	}
}
