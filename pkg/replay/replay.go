// Package replay runs audit history through the pipeline: event bodies
// from files, from Microsoft Graph's /auditLogs/directoryAudits, or from
// an event hub's retained events. It is how an operator catches up after
// the pipeline was down, and how a new installation learns the last days.
//
// A replay is safe to repeat. Every record is claimed by its audit id, as
// the service claims it, so nothing already acted on is acted on again. In
// observe mode (the default of `reinstate replay`) Rehearse keeps the
// replay's own claims apart from the service's, so that a rehearsal never
// stops a later enforce replay, or the service, from acting.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/reinstate/reinstate/pkg/pipeline"
)

// Source yields event bodies to replay, oldest first where it can.
type Source interface {
	// Next returns up to max bodies, and io.EOF once there are no more.
	Next(ctx context.Context, max int) ([]pipeline.Body, error)
	// Progress says how far the source has got, in its own unit (bytes of
	// a file, seconds of history, events); total is 0 while unknown.
	Progress() (done, total int64)
}

// Ingester is the pipeline; *pipeline.Pipeline is one.
type Ingester interface {
	Ingest(ctx context.Context, batch pipeline.Batch) (pipeline.Report, error)
}

// Defaults for Options.
const (
	DefaultBatch    = 16
	DefaultAttempts = 5
	DefaultBackoff  = time.Second
)

// Options tune Run. Zero values take the defaults.
type Options struct {
	// Name names the replay in each batch's Source, such as "replay
	// --from-graph"; it ends up in the journal and in dead letters.
	Name string
	// Batch is how many bodies go to the pipeline at once.
	Batch int
	// Attempts is how many times a batch the pipeline asks to retry (its
	// records held by another instance, or waiting for the recycle bin)
	// is tried. The last attempt lets the pipeline keep bodies it still
	// cannot decide as dead letters, so nothing is lost.
	Attempts int
	// Backoff is the first wait between attempts; it doubles.
	Backoff time.Duration
	// OnBatch is told after every batch how far the replay has got.
	OnBatch func(Status)
	Logger  *slog.Logger
}

// Status is how far a replay has got.
type Status struct {
	// Done and Total are the source's Progress.
	Done, Total int64
	// Batches counts the batches ingested.
	Batches int
	// Report sums what the pipeline did: each record counted once, however
	// many attempts its batch took. Its Deferred counts the records the
	// last attempt still could not decide (their bodies are kept as dead
	// letters); Held stays 0, for Unfinished says what was left held.
	Report pipeline.Report
	// Unfinished counts records still held by another instance after the
	// last attempt: a later replay takes them, or that instance finishes.
	Unfinished int
	// Elapsed is the time since Run started.
	Elapsed time.Duration
}

// Run reads src to its end and ingests its bodies in batches. One bad
// record or body never stops it (the pipeline keeps them as dead letters);
// a source that cannot be read, or a store that keeps failing, does.
func Run(ctx context.Context, src Source, in Ingester, opts Options) (Status, error) {
	opts = opts.withDefaults()
	start := time.Now()
	var st Status
	for {
		bodies, readErr := src.Next(ctx, opts.Batch)
		if len(bodies) > 0 {
			st.Batches++
			batch := pipeline.Batch{Source: fmt.Sprintf("%s batch %d", opts.Name, st.Batches), Bodies: bodies}
			if err := ingest(ctx, in, batch, opts, &st); err != nil {
				st.Elapsed = time.Since(start)
				return st, err
			}
		}
		st.Done, st.Total = src.Progress()
		st.Elapsed = time.Since(start)
		if len(bodies) > 0 && opts.OnBatch != nil {
			opts.OnBatch(st)
		}
		switch {
		case errors.Is(readErr, io.EOF):
			return st, nil
		case readErr != nil:
			return st, fmt.Errorf("%s: %w", opts.Name, readErr)
		}
	}
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "replay"
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// ingest delivers one batch until the pipeline is done with it, as the
// Functions host retries an invocation. Every attempt repeats the whole
// batch, so what an earlier attempt settled comes back as duplicates; only
// what the earlier attempts had left is added (see settled).
func ingest(ctx context.Context, in Ingester, batch pipeline.Batch, opts Options, st *Status) error {
	wait := opts.Backoff
	var counted pipeline.Report // what this batch has added to st.Report
	for attempt := 1; ; attempt++ {
		batch.LastAttempt = attempt == opts.Attempts
		report, err := in.Ingest(ctx, batch)
		add := settled(counted, report, attempt == 1)
		sum(&counted, add)
		sum(&st.Report, add)
		if err == nil {
			// Deferred records are left only by the last attempt, which
			// keeps their bodies as dead letters.
			st.Report.Deferred += report.Deferred
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", batch.Source, ctx.Err())
		}
		waiting := report.Held > 0 || report.Deferred > 0
		if !waiting {
			// Not the records: the store. Trying on would fail every batch.
			if attempt == opts.Attempts {
				return fmt.Errorf("%s: %w", batch.Source, err)
			}
		} else if attempt == opts.Attempts {
			st.Unfinished += report.Held
			st.Report.Deferred += report.Deferred
			opts.Logger.WarnContext(ctx, "records still held by another instance; replay again to take them", "batch", batch.Source, "held", report.Held)
			return nil
		}
		opts.Logger.InfoContext(ctx, "batch to be retried", "batch", batch.Source, "attempt", attempt, "error", err.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", batch.Source, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// settled is what an attempt r adds to a batch's counts, counted being what
// the batch's earlier attempts added: each record is counted once, by the
// attempt that settled it.
func settled(counted, r pipeline.Report, first bool) pipeline.Report {
	add := pipeline.Report{
		// What the batch holds: an attempt cut short by the store counts
		// only part of it, and a later one the rest.
		Bodies:     max(0, r.Bodies-counted.Bodies),
		Records:    max(0, r.Records-counted.Records),
		Skipped:    max(0, r.Skipped-counted.Skipped),
		DeadBodies: max(0, r.DeadBodies-counted.DeadBodies),
		// Work is done once, by the attempt that reports it.
		New:       r.New,
		Self:      r.Self,
		Intents:   r.Intents,
		Decisions: r.Decisions,
		Guarded:   r.Guarded,
		Observed:  r.Observed,
		Announced: r.Announced,
		// Beyond the duplicates counted already and the records earlier
		// attempts completed, a duplicate is one another instance
		// completed meanwhile: a record it held, or one deferred here.
		Duplicates: max(0, r.Duplicates-counted.Duplicates-counted.New),
	}
	if first {
		// A later attempt finds the dead letters an earlier one kept.
		add.AlreadyKept = r.AlreadyKept
	}
	return add
}

// sum adds r's counts to s, but Held and Deferred: Status.Unfinished and
// the last attempt's Deferred say what a batch left.
func sum(s *pipeline.Report, r pipeline.Report) {
	s.Bodies += r.Bodies
	s.Records += r.Records
	s.New += r.New
	s.Duplicates += r.Duplicates
	s.Skipped += r.Skipped
	s.DeadBodies += r.DeadBodies
	s.AlreadyKept += r.AlreadyKept
	s.Self += r.Self
	s.Intents += r.Intents
	s.Decisions += r.Decisions
	s.Guarded += r.Guarded
	s.Observed += r.Observed
	s.Announced += r.Announced
}
