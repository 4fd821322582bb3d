// Package eventhubs consumes Entra audit events straight from Event Hubs,
// for `reinstate worker`: outside Azure Functions, in Container Apps, AKS or
// a VM. It takes batches of events from the partitions this replica owns,
// feeds them to the same pipeline as the AuditEvents function, and
// checkpoints a partition only once a batch's intents are durable.
//
// The Event Hubs side sits behind a narrow interface, Partitions and
// PartitionClient, shaped like azeventhubs' Processor and
// ProcessorPartitionClient: NewProcessorPartitions adapts the real
// Processor, and MemoryHub reproduces what can go wrong (redelivery after a
// crash, ownership moving to another replica mid-batch, an empty partition)
// for tests.
package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/reinstate/reinstate/pkg/pipeline"
)

// Event is one received event: its body and where it sits in its partition.
type Event struct {
	Body           []byte
	SequenceNumber int64
	Offset         string
	EnqueuedTime   time.Time
}

// PartitionClient reads one partition this replica owns, as
// azeventhubs.ProcessorPartitionClient does.
type PartitionClient interface {
	PartitionID() string
	// ReceiveEvents waits for up to count events until ctx ends, returning
	// what it has; with none it returns ctx's error. When another replica
	// has taken the partition over it fails with an error for which
	// IsOwnershipLost is true.
	ReceiveEvents(ctx context.Context, count int) ([]Event, error)
	// UpdateCheckpoint records last as processed: a new owner resumes
	// after it.
	UpdateCheckpoint(ctx context.Context, last Event) error
	// Close releases the partition.
	Close(ctx context.Context) error
}

// Partitions hands out the partitions this replica comes to own, as
// azeventhubs.Processor.NextPartitionClient does.
type Partitions interface {
	// NextPartitionClient blocks until a partition is owned, and returns
	// nil once ctx ends or the source stops.
	NextPartitionClient(ctx context.Context) PartitionClient
}

// Ingester is the pipeline; *pipeline.Pipeline is one.
type Ingester interface {
	Ingest(ctx context.Context, batch pipeline.Batch) (pipeline.Report, error)
}

// IsOwnershipLost reports whether err says another replica owns the
// partition now: azeventhubs' ErrorCodeOwnershipLost.
func IsOwnershipLost(err error) bool {
	var ehErr *azeventhubs.Error
	return errors.As(err, &ehErr) && ehErr.Code == azeventhubs.ErrorCodeOwnershipLost
}

// Defaults for Options.
const (
	DefaultBatchSize   = 16
	DefaultMaxWait     = 30 * time.Second
	DefaultRetryMin    = time.Second
	DefaultRetryMax    = time.Minute
	DefaultMaxAttempts = 10
	DefaultStopTimeout = time.Minute
)

// Options tune a Consumer. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// BatchSize is the most events handed to the pipeline at once; 16, as
	// host.json's maxEventBatchSize for the AuditEvents function.
	BatchSize int
	// MaxWait is how long one receive waits to fill a batch.
	MaxWait time.Duration
	// RetryMin and RetryMax bound the back-off between attempts of a batch
	// the pipeline asked to retry later.
	RetryMin, RetryMax time.Duration
	// MaxAttempts is the attempt from which a batch is ingested as the last
	// one (pipeline.Batch.LastAttempt): events still waiting on Graph are
	// then kept as dead letters, so that a long outage cannot stall a
	// partition for good. Later attempts go on, at RetryMax, for what
	// stays retryable (a store failure, records held elsewhere).
	MaxAttempts int
	// StopTimeout bounds how long, after ctx ends, a batch in hand may
	// still take to be ingested and checkpointed.
	StopTimeout time.Duration
	// Name prefixes batch sources in the journal; default "worker".
	Name string
}

// Consumer feeds the events of the partitions it is handed to the
// pipeline.
type Consumer struct {
	ingest Ingester
	opts   Options
	log    *slog.Logger
}

// New returns a Consumer feeding ingest.
func New(ingest Ingester, opts Options) *Consumer {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = DefaultRetryMin
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(DefaultRetryMax, opts.RetryMin)
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	if opts.Name == "" {
		opts.Name = "worker"
	}
	return &Consumer{ingest: ingest, opts: opts, log: opts.Logger}
}

// Run consumes every partition parts hands out, each in its own
// goroutine, until ctx ends; then it lets each finish the batch in hand,
// checkpoint it and close its client, and returns.
func (c *Consumer) Run(ctx context.Context, parts Partitions) {
	var wg sync.WaitGroup
	for {
		client := parts.NextPartitionClient(ctx)
		if client == nil {
			break
		}
		wg.Go(func() { c.RunPartition(ctx, client) })
	}
	wg.Wait()
}

// RunPartition consumes one partition until ctx ends, ownership is lost or
// the client fails, and closes the client. Events are checkpointed only
// after the pipeline accepted their batch without asking to retry: its
// intents, journal entries and dead letters are then durable in the store.
func (c *Consumer) RunPartition(ctx context.Context, client PartitionClient) {
	id := client.PartitionID()
	log := c.log.With("partition", id)
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.StopTimeout)
		defer cancel()
		if err := client.Close(closeCtx); err != nil {
			log.Warn("event hubs partition not closed cleanly", "error", err.Error())
		}
	}()
	log.Info("event hubs partition owned")
	for ctx.Err() == nil {
		receiveCtx, cancel := context.WithTimeout(ctx, c.opts.MaxWait)
		events, err := client.ReceiveEvents(receiveCtx, c.opts.BatchSize)
		cancel()
		switch {
		case err == nil, errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			// A receive that ran out of time hands over what it has.
		case IsOwnershipLost(err):
			// Another replica took the partition over; it resumes from
			// the last checkpoint, so what was received here is dropped.
			log.Info("event hubs partition ownership lost to another replica")
			return
		default:
			// The Processor reopens the partition from its last checkpoint
			// once this client is closed.
			log.Warn("event hubs receive failed; releasing the partition", "error", err.Error())
			return
		}
		if len(events) == 0 {
			continue
		}
		if !c.handle(ctx, log, client, events) {
			return
		}
	}
	log.Info("event hubs partition released: stopping")
}

// handle ingests one batch until the pipeline accepts it, then checkpoints
// its last event. It reports whether the partition is still ours to read.
// The batch in hand is finished even when ctx ends (within StopTimeout),
// but a batch the pipeline asks to retry is then left to redelivery.
func (c *Consumer) handle(ctx context.Context, log *slog.Logger, client PartitionClient, events []Event) bool {
	// The batch's stop grace starts when ctx ends, not now: a long
	// back-off while running must not eat into it.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopWatch := context.AfterFunc(ctx, func() {
		grace := time.NewTimer(c.opts.StopTimeout)
		defer grace.Stop()
		select {
		case <-grace.C:
			cancelWork()
		case <-work.Done():
		}
	})
	defer stopWatch()

	first, last := events[0], events[len(events)-1]
	batch := pipeline.Batch{
		Source: fmt.Sprintf("%s partition %s sequence %d-%d", c.opts.Name, client.PartitionID(), first.SequenceNumber, last.SequenceNumber),
		Bodies: make([]pipeline.Body, len(events)),
	}
	for i, e := range events {
		batch.Bodies[i] = pipeline.Body{Data: e.Body, Source: Describe(client.PartitionID(), e)}
	}
	source := batch.Source
	for attempt := 1; ; attempt++ {
		batch.LastAttempt = attempt >= c.opts.MaxAttempts
		if attempt > 1 {
			batch.Source = fmt.Sprintf("%s retry %d", source, attempt-1)
		}
		report, err := c.ingest.Ingest(work, batch)
		if err == nil {
			log.Debug("event hubs batch ingested", "events", len(events), "report", report.String())
			break
		}
		// The pipeline fails only when retrying could help (ErrRetryLater);
		// anything else is retried the same way rather than checkpointed.
		if ctx.Err() != nil {
			log.Warn("event hubs batch not accepted before stopping; it will be delivered again", "source", batch.Source, "error", err.Error())
			return false
		}
		wait := c.backoff(attempt)
		log.Warn("event hubs batch to retry", "source", batch.Source, "attempt", attempt, "wait", wait.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			log.Warn("event hubs batch not accepted before stopping; it will be delivered again", "source", batch.Source)
			return false
		case <-time.After(wait):
		}
	}
	if err := client.UpdateCheckpoint(work, last); err != nil {
		if IsOwnershipLost(err) {
			log.Info("event hubs partition ownership lost before checkpointing; the new owner reads the batch again", "source", source)
			return false
		}
		// The events are durable; a later checkpoint covers them, and
		// until then a new owner reads them again as duplicates.
		log.Warn("event hubs checkpoint not recorded", "source", source, "error", err.Error())
	}
	return true
}

// backoff is the wait before attempt+1: doubling from RetryMin up to
// RetryMax.
func (c *Consumer) backoff(attempt int) time.Duration {
	d := c.opts.RetryMin
	for i := 1; i < attempt && d < c.opts.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.opts.RetryMax)
}

// Describe names an event for logs, the journal and dead letters, as the
// AuditEvents function does: "partition 0 sequence 59 offset 616008
// enqueued 2026-03-02T09:17:01Z".
func Describe(partitionID string, e Event) string {
	parts := []string{"partition " + partitionID, fmt.Sprintf("sequence %d", e.SequenceNumber)}
	if e.Offset != "" {
		parts = append(parts, "offset "+e.Offset)
	}
	if !e.EnqueuedTime.IsZero() {
		parts = append(parts, "enqueued "+e.EnqueuedTime.UTC().Format(time.RFC3339Nano))
	}
	return strings.Join(parts, " ")
}
