package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/reinstate/reinstate/pkg/pipeline"
)

// HistoryClient is what reading history needs of an event hub;
// NewConsumerHistory adapts *azeventhubs.ConsumerClient, and
// MemoryHub.History serves a hub in memory.
type HistoryClient interface {
	// PartitionIDs lists the hub's partitions.
	PartitionIDs(ctx context.Context) ([]string, error)
	// PartitionEnd says where a partition ends now: the sequence number of
	// its last enqueued event, or empty.
	PartitionEnd(ctx context.Context, partitionID string) (last int64, empty bool, err error)
	// OpenPartition reads a partition from its first event enqueued at or
	// after since.
	OpenPartition(ctx context.Context, partitionID string, since time.Time) (HistoryReceiver, error)
}

// HistoryEndTimer is what a HistoryClient may offer besides: PartitionEnd
// with when the last event was enqueued. A History uses it in place of
// PartitionEnd, to leave at once a partition that holds nothing enqueued
// at or after since: a receiver opened there would only wait for new
// events, and History could not tell that wait from a stall. Both
// NewConsumerHistory and MemoryHub.History implement it.
type HistoryEndTimer interface {
	// PartitionEndTime is PartitionEnd, with the enqueued time of the last
	// event (zero when unknown).
	PartitionEndTime(ctx context.Context, partitionID string) (last int64, enqueued time.Time, empty bool, err error)
}

// HistoryReceiver reads one partition.
type HistoryReceiver interface {
	// ReceiveEvents waits for up to count events until ctx ends, returning
	// what it has (nil error when it has some; ctx's error when it has
	// none).
	ReceiveEvents(ctx context.Context, count int) ([]Event, error)
	// Close releases the receiver.
	Close(ctx context.Context) error
}

// NewConsumerHistory adapts a ConsumerClient: GetEventHubProperties lists
// the partitions, GetPartitionProperties gives their ends
// (LastEnqueuedSequenceNumber, LastEnqueuedOn, IsEmpty), and each
// partition is read by a PartitionClient starting at
// StartPosition{EnqueuedTime: &since, Inclusive: true}.
//
// The ConsumerClient must be for a consumer group of its own, not the
// worker's: the worker's Processor holds epoch (OwnerLevel) receivers,
// which keep out the plain receivers opened here; and nothing here
// checkpoints or claims ownership, so the worker is not disturbed.
//
// Unverified: there is no Event Hubs emulator where this was written, so
// the adapter has been tested only for compiling. Not checked against a
// real namespace: that an EnqueuedTime start position includes an event
// enqueued exactly at since and starts at the earliest retained event when
// since is older than retention; and what GetPartitionProperties reports
// (LastEnqueuedSequenceNumber, LastEnqueuedOn, IsEmpty) for an empty
// partition or one whose events have all expired.
func NewConsumerHistory(c *azeventhubs.ConsumerClient) HistoryClient { return consumerHistory{c} }

type consumerHistory struct{ c *azeventhubs.ConsumerClient }

var _ HistoryEndTimer = consumerHistory{}

func (a consumerHistory) PartitionIDs(ctx context.Context) ([]string, error) {
	props, err := a.c.GetEventHubProperties(ctx, nil)
	if err != nil {
		return nil, err
	}
	return props.PartitionIDs, nil
}

func (a consumerHistory) PartitionEnd(ctx context.Context, partitionID string) (int64, bool, error) {
	last, _, empty, err := a.PartitionEndTime(ctx, partitionID)
	return last, empty, err
}

func (a consumerHistory) PartitionEndTime(ctx context.Context, partitionID string) (int64, time.Time, bool, error) {
	props, err := a.c.GetPartitionProperties(ctx, partitionID, nil)
	if err != nil {
		return 0, time.Time{}, false, err
	}
	return props.LastEnqueuedSequenceNumber, props.LastEnqueuedOn, props.IsEmpty, nil
}

func (a consumerHistory) OpenPartition(_ context.Context, partitionID string, since time.Time) (HistoryReceiver, error) {
	// No OwnerLevel: a plain receiver, which takes nothing from anyone.
	pc, err := a.c.NewPartitionClient(partitionID, &azeventhubs.PartitionClientOptions{
		StartPosition: azeventhubs.StartPosition{EnqueuedTime: &since, Inclusive: true},
	})
	if err != nil {
		return nil, err
	}
	return consumerHistoryReceiver{pc}, nil
}

type consumerHistoryReceiver struct{ pc *azeventhubs.PartitionClient }

func (r consumerHistoryReceiver) ReceiveEvents(ctx context.Context, count int) ([]Event, error) {
	received, err := r.pc.ReceiveEvents(ctx, count, nil)
	events := make([]Event, len(received))
	for i, e := range received {
		events[i] = Event{Body: e.Body, SequenceNumber: e.SequenceNumber, Offset: e.Offset}
		if e.EnqueuedTime != nil {
			events[i].EnqueuedTime = *e.EnqueuedTime
		}
	}
	return events, err
}

func (r consumerHistoryReceiver) Close(ctx context.Context) error { return r.pc.Close(ctx) }

// DefaultHistoryMaxWait is HistoryOptions.MaxWait's default.
const DefaultHistoryMaxWait = 5 * time.Second

// HistoryOptions tune a History. Zero values take defaults.
type HistoryOptions struct {
	// HubName names the hub in each Body's Source.
	HubName string
	// MaxWait bounds one wait for events (default 5s): a partition that
	// yields nothing for that long while its end is not reached is
	// reported (logged and counted in Stalled) and left, so that a replay
	// always ends. It also bounds closing a partition's receiver.
	MaxWait time.Duration
	// Logger receives a line per partition read, and a warning per
	// partition stalled; none by default.
	Logger *slog.Logger
}

// History reads an event hub's history since a time, partition after
// partition, up to where each partition ended when reading began: events
// enqueued since are the live pipeline's. It neither checkpoints nor takes
// partition ownership.
//
// Next is not safe for concurrent use; Progress and Stalled are, so that
// progress can be shown while Next runs.
type History struct {
	client HistoryClient
	since  time.Time
	opts   HistoryOptions
	log    *slog.Logger

	// parts is nil until the first Next captures the partitions' ends.
	parts []*historyPartition
	// cur indexes the partition being read; recv is its receiver, when
	// open.
	cur  int
	recv HistoryReceiver

	mu          sync.Mutex // guards what follows
	done, total int64
	stalled     []string
}

// historyPartition is one partition's reading.
type historyPartition struct {
	id string
	// last is the sequence number of the partition's last event when
	// reading began.
	last int64
	// finished is set when there is nothing more to read, or the partition
	// was left stalled.
	finished bool
	// started is set once the first event is read; next is then the
	// sequence number of the next event to hand out.
	started bool
	next    int64
	read    int64
}

// NewHistory returns a History of client's events enqueued at or after
// since. It reaches the hub only from the first Next.
func NewHistory(client HistoryClient, since time.Time, opts HistoryOptions) *History {
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultHistoryMaxWait
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &History{client: client, since: since, opts: opts, log: opts.Logger}
}

// Next returns up to max bodies, in partition order then sequence order;
// io.EOF once every partition has been read to the end it had when Next
// was first called. A batch may span partitions.
//
// When ctx ends, Next returns ctx's error, or the bodies it already holds
// (ctx's error comes with the next call): bodies received are never
// dropped. A failing receive is returned wrapped with the partition's id;
// the partition's receiver is then closed, and the next call reopens it
// and goes on after the last body handed out.
func (h *History) Next(ctx context.Context, max int) ([]pipeline.Body, error) {
	if max <= 0 {
		return nil, fmt.Errorf("event hub history: batch of %d events: must be at least 1", max)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if h.parts == nil {
		if err := h.capture(ctx); err != nil {
			return nil, err
		}
	}
	var out []pipeline.Body
	for len(out) < max && h.cur < len(h.parts) {
		p := h.parts[h.cur]
		if p.finished {
			h.cur++
			continue
		}
		bodies, err := h.read(ctx, p, max-len(out))
		out = append(out, bodies...)
		if err != nil {
			// A receiver that failed is not trusted to go on; the next
			// call opens a new one.
			h.closeReceiver(ctx, p)
			if len(out) == 0 {
				return nil, err
			}
			if ctx.Err() == nil {
				h.log.Warn("event hub history receive failed; handing over what was read, to try again",
					"partition", p.id, "error", err.Error())
			}
			break
		}
	}
	h.mu.Lock()
	h.done += int64(len(out))
	h.mu.Unlock()
	if len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

// capture records where every partition ends, once: events enqueued after
// that are left to the live pipeline, and so a replay ends.
func (h *History) capture(ctx context.Context) error {
	ids, err := h.client.PartitionIDs(ctx)
	if err != nil {
		return fmt.Errorf("event hub partitions: %w", err)
	}
	timer, _ := h.client.(HistoryEndTimer)
	parts := make([]*historyPartition, 0, len(ids))
	for _, id := range ids {
		var (
			last     int64
			enqueued time.Time
			empty    bool
			err      error
		)
		if timer != nil {
			last, enqueued, empty, err = timer.PartitionEndTime(ctx, id)
		} else {
			last, empty, err = h.client.PartitionEnd(ctx, id)
		}
		if err != nil {
			return fmt.Errorf("event hub partition %s: properties: %w", id, err)
		}
		p := &historyPartition{id: id, last: last}
		switch {
		case empty:
			p.finished = true
			h.log.Info("event hub partition empty", "partition", id)
		case !enqueued.IsZero() && enqueued.Before(h.since):
			p.finished = true
			h.log.Info("event hub partition holds nothing since the start time", "partition", id,
				"lastEnqueued", enqueued.UTC().Format(time.RFC3339Nano))
		default:
			h.log.Debug("event hub partition to read", "partition", id, "lastSequence", last)
		}
		parts = append(parts, p)
	}
	h.parts = parts
	return nil
}

// read receives up to want events of p, opening its receiver if need be.
// It finishes p when its end is reached, or when nothing arrived within
// MaxWait.
func (h *History) read(ctx context.Context, p *historyPartition, want int) ([]pipeline.Body, error) {
	if h.recv == nil {
		r, err := h.client.OpenPartition(ctx, p.id, h.since)
		if err != nil {
			return nil, fmt.Errorf("event hub partition %s: open: %w", p.id, err)
		}
		h.recv = r
	}
	// A receive waits for all count events, so count must not reach past
	// the end: the last batch would wait MaxWait for events that are the
	// live pipeline's. Until the first event is read, where the partition
	// starts since the start time is unknown, so one event is asked for.
	count := 1
	if p.started {
		count = int(min(int64(want), p.last-p.next+1))
	}
	wait, cancel := context.WithTimeout(ctx, h.opts.MaxWait)
	events, err := h.recv.ReceiveEvents(wait, count)
	timedOut := wait.Err() != nil // before cancel, which ends wait too
	cancel()
	if len(events) == 0 {
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("event hub partition %s: %w", p.id, ctx.Err())
		case timedOut:
			h.leaveStalled(ctx, p, err)
			return nil, nil
		case err == nil:
			err = errors.New("receiver returned neither events nor an error")
		}
		return nil, fmt.Errorf("event hub partition %s: receive: %w", p.id, err)
	}
	bodies := make([]pipeline.Body, 0, len(events))
	for _, e := range events {
		if e.SequenceNumber > p.last {
			// Enqueued after reading began: the live pipeline's.
			break
		}
		if !p.started {
			p.started, p.next = true, e.SequenceNumber
			h.mu.Lock()
			h.total += p.last - e.SequenceNumber + 1
			h.mu.Unlock()
		}
		if e.SequenceNumber < p.next {
			// Read again by a receiver reopened after a failure.
			continue
		}
		bodies = append(bodies, pipeline.Body{Data: e.Body, Source: h.describe(p.id, e)})
		p.next = e.SequenceNumber + 1
		p.read++
	}
	if last := events[len(events)-1]; last.SequenceNumber >= p.last {
		h.finish(ctx, p)
	}
	return bodies, nil
}

// describe names an event in a Body's Source: "event hub audit partition 0
// sequence 59 (enqueued 2026-06-02T14:00:01Z)".
func (h *History) describe(partitionID string, e Event) string {
	hub := "event hub"
	if h.opts.HubName != "" {
		hub += " " + h.opts.HubName
	}
	s := fmt.Sprintf("%s partition %s sequence %d", hub, partitionID, e.SequenceNumber)
	if !e.EnqueuedTime.IsZero() {
		s += " (enqueued " + e.EnqueuedTime.UTC().Format(time.RFC3339Nano) + ")"
	}
	return s
}

// finish closes p, read to its end.
func (h *History) finish(ctx context.Context, p *historyPartition) {
	p.finished = true
	h.closeReceiver(ctx, p)
	h.log.Info("event hub partition read", "partition", p.id, "events", p.read)
}

// leaveStalled closes p before its end, and reports it.
func (h *History) leaveStalled(ctx context.Context, p *historyPartition, err error) {
	p.finished = true
	h.closeReceiver(ctx, p)
	h.mu.Lock()
	h.stalled = append(h.stalled, p.id)
	h.mu.Unlock()
	attrs := []any{"partition", p.id, "events", p.read, "lastSequence", p.last, "maxWait", h.opts.MaxWait.String()}
	if p.started {
		attrs = append(attrs, "nextSequence", p.next)
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		attrs = append(attrs, "error", err.Error())
	}
	h.log.Warn("event hub partition left before its end: nothing arrived within the wait (events past retention, or an outage)", attrs...)
}

// closeReceiver closes the open receiver, if any. It is closed even when
// ctx has ended, within MaxWait: a receiver is a link held open on the
// namespace.
func (h *History) closeReceiver(ctx context.Context, p *historyPartition) {
	if h.recv == nil {
		return
	}
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.opts.MaxWait)
	defer cancel()
	if err := h.recv.Close(closeCtx); err != nil {
		h.log.Warn("event hub partition receiver not closed cleanly", "partition", p.id, "error", err.Error())
	}
	h.recv = nil
}

// Close closes the receiver of the partition being read, if one is open:
// for a caller that stops before io.EOF. A later Next reopens it.
func (h *History) Close(ctx context.Context) error {
	if h.recv == nil {
		return nil
	}
	err := h.recv.Close(ctx)
	h.recv = nil
	if err != nil {
		return fmt.Errorf("event hub partition %s: close: %w", h.parts[h.cur].id, err)
	}
	return nil
}

// Progress says how many events have been handed out, and how many the
// partitions are expected to hold in all (an estimate: known once a
// partition's first event is read; 0 while unknown).
func (h *History) Progress() (done, total int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.done, h.total
}

// Stalled lists partitions left before their end because nothing arrived
// within MaxWait (events past retention, or an outage).
func (h *History) Stalled() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.stalled...)
}
