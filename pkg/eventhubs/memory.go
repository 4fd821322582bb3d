package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// MemoryHub is an event hub in memory, for tests: partitions that keep
// every event sent, one checkpoint each, and one owner each, as a
// Processor's checkpoint store records them. It reproduces what can go
// wrong with a real hub:
//
//   - redelivery after a crash: a new client reads from the event after the
//     last checkpoint, so whatever was received but not checkpointed comes
//     again;
//   - ownership moving to another replica (Assign): the old client's
//     ReceiveEvents and UpdateCheckpoint fail with azeventhubs'
//     ErrorCodeOwnershipLost from then on;
//   - an empty partition: ReceiveEvents waits until its ctx ends.
type MemoryHub struct {
	mu         sync.Mutex
	partitions map[string]*memPartition
	replicas   map[string]*MemoryReplica
	// BeforeCheckpoint, when set, runs before a checkpoint is recorded; an
	// error is returned from UpdateCheckpoint and nothing is recorded (a
	// crash between ingesting and checkpointing, say).
	BeforeCheckpoint func(owner, partitionID string, last Event) error
	start            time.Time
	// order keeps the partitions in the order NewMemoryHub was given
	// them, as GetEventHubProperties lists a hub's partitions.
	order []string
}

type memPartition struct {
	events      []Event
	checkpoint  *int64
	owner       string
	epoch       int
	checkpoints int
	arrived     chan struct{} // closed and replaced when events arrive
	// history counts what history readers did (see History).
	history MemoryHistoryStats
	// stalled has history readers yield nothing (see StallHistory).
	stalled bool
}

// NewMemoryHub returns a hub with the given partitions, empty and unowned.
func NewMemoryHub(partitionIDs ...string) *MemoryHub {
	h := &MemoryHub{partitions: map[string]*memPartition{}, replicas: map[string]*MemoryReplica{},
		start: time.Date(2026, 6, 2, 14, 0, 0, 0, time.UTC)}
	for _, id := range partitionIDs {
		if _, dup := h.partitions[id]; !dup {
			h.order = append(h.order, id)
		}
		h.partitions[id] = &memPartition{arrived: make(chan struct{})}
	}
	return h
}

func (h *MemoryHub) partition(id string) *memPartition {
	p, ok := h.partitions[id]
	if !ok {
		panic("eventhubs: MemoryHub has no partition " + id)
	}
	return p
}

// Send appends body to a partition and returns the event as received.
func (h *MemoryHub) Send(partitionID string, body []byte) Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.partition(partitionID)
	seq := int64(len(p.events))
	e := Event{Body: body, SequenceNumber: seq, Offset: strconv.FormatInt(seq*4096, 10), EnqueuedTime: h.start.Add(time.Duration(seq) * time.Second)}
	p.events = append(p.events, e)
	close(p.arrived)
	p.arrived = make(chan struct{})
	return e
}

// Checkpoint returns a partition's checkpointed sequence number, and
// whether there is one.
func (h *MemoryHub) Checkpoint(partitionID string) (int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.partition(partitionID)
	if p.checkpoint == nil {
		return 0, false
	}
	return *p.checkpoint, true
}

// Checkpoints counts the checkpoints recorded for a partition.
func (h *MemoryHub) Checkpoints(partitionID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.partition(partitionID).checkpoints
}

// Replica returns the replica named owner, as one worker process.
func (h *MemoryHub) Replica(owner string) *MemoryReplica {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.replicas[owner]
	if !ok {
		r = &MemoryReplica{hub: h, owner: owner, next: make(chan *memClient, 64)}
		h.replicas[owner] = r
	}
	return r
}

// Assign gives a partition to owner, as load balancing does: a client for
// it, reading after the last checkpoint, goes to that replica's
// NextPartitionClient, and the previous owner's client loses ownership.
func (h *MemoryHub) Assign(partitionID, owner string) {
	r := h.Replica(owner)
	h.mu.Lock()
	p := h.partition(partitionID)
	p.epoch++
	p.owner = owner
	next := int64(0)
	if p.checkpoint != nil {
		next = *p.checkpoint + 1
	}
	c := &memClient{hub: h, id: partitionID, owner: owner, epoch: p.epoch, next: next}
	close(p.arrived) // wake the old owner's receive, to fail
	p.arrived = make(chan struct{})
	h.mu.Unlock()
	r.next <- c
}

// MemoryReplica is one replica's view of a MemoryHub: the partitions
// assigned to it. It implements Partitions.
type MemoryReplica struct {
	hub    *MemoryHub
	owner  string
	next   chan *memClient
	mu     sync.Mutex
	closed []string
}

// NextPartitionClient returns the next partition assigned to this replica,
// or nil once ctx ends.
func (r *MemoryReplica) NextPartitionClient(ctx context.Context) PartitionClient {
	select {
	case c := <-r.next:
		return c
	case <-ctx.Done():
		return nil
	}
}

// Closed lists the partitions whose clients this replica closed, in order.
func (r *MemoryReplica) Closed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.closed...)
}

type memClient struct {
	hub   *MemoryHub
	id    string
	owner string
	epoch int
	next  int64
}

// errOwnershipLost is what azeventhubs returns when another link took the
// partition over.
func errOwnershipLost(id, owner string) error {
	return fmt.Errorf("partition %s: now owned by %s: %w", id, owner, &azeventhubs.Error{Code: azeventhubs.ErrorCodeOwnershipLost})
}

func (c *memClient) PartitionID() string { return c.id }

func (c *memClient) ReceiveEvents(ctx context.Context, count int) ([]Event, error) {
	for {
		c.hub.mu.Lock()
		p := c.hub.partition(c.id)
		if p.epoch != c.epoch {
			owner := p.owner
			c.hub.mu.Unlock()
			return nil, errOwnershipLost(c.id, owner)
		}
		if c.next < int64(len(p.events)) {
			end := min(int64(len(p.events)), c.next+int64(count))
			events := append([]Event(nil), p.events[c.next:end]...)
			c.next = end
			c.hub.mu.Unlock()
			return events, nil
		}
		arrived := p.arrived
		c.hub.mu.Unlock()
		select {
		case <-arrived:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *memClient) UpdateCheckpoint(ctx context.Context, last Event) error {
	if hook := c.hub.BeforeCheckpoint; hook != nil {
		if err := hook(c.owner, c.id, last); err != nil {
			return err
		}
	}
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	p := c.hub.partition(c.id)
	if p.epoch != c.epoch {
		return errOwnershipLost(c.id, p.owner)
	}
	seq := last.SequenceNumber
	p.checkpoint = &seq
	p.checkpoints++
	return nil
}

func (c *memClient) Close(context.Context) error {
	r := c.hub.Replica(c.owner)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = append(r.closed, c.id)
	return nil
}

// ErrCrash is what a test's BeforeCheckpoint may return to stand for a
// process dying between ingesting a batch and checkpointing it.
var ErrCrash = errors.New("eventhubs: crashed before checkpointing")

// SendAt appends body to a partition as enqueued at at, and returns the
// event as received: for reading history by time (see History). Event
// Hubs stamps events as it enqueues them, so enqueued times never
// decrease within a partition, and reading from a time relies on it:
// SendAt panics when at is before the partition's last event. Send stamps
// a partition's n-th event (from 0) 2026-06-02T14:00:00Z plus n seconds
// and does not check the order; when mixing the two, keep times in order.
func (h *MemoryHub) SendAt(partitionID string, body []byte, at time.Time) Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.partition(partitionID)
	seq := int64(len(p.events))
	if seq > 0 && at.Before(p.events[seq-1].EnqueuedTime) {
		panic(fmt.Sprintf("eventhubs: MemoryHub.SendAt: partition %s: %s is before its last event, enqueued %s",
			partitionID, at.Format(time.RFC3339Nano), p.events[seq-1].EnqueuedTime.Format(time.RFC3339Nano)))
	}
	e := Event{Body: body, SequenceNumber: seq, Offset: strconv.FormatInt(seq*4096, 10), EnqueuedTime: at}
	p.events = append(p.events, e)
	close(p.arrived)
	p.arrived = make(chan struct{})
	return e
}

// MemoryHistoryStats counts what history readers (see History) did with
// one partition of a MemoryHub, so that tests can tell a partition that
// was never waited on from one that was.
type MemoryHistoryStats struct {
	// Opens and Closes count receivers opened and closed.
	Opens, Closes int
	// Receives counts ReceiveEvents calls; WaitedOut counts those that
	// returned because their ctx ended before count events were there:
	// each spent a whole wait.
	Receives, WaitedOut int
}

// HistoryStats returns what history readers did with a partition.
func (h *MemoryHub) HistoryStats(partitionID string) MemoryHistoryStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.partition(partitionID).history
}

// StallHistory has history receivers of a partition yield nothing from
// now on, though PartitionEnd still counts its events: as when the
// namespace stops answering mid-replay. They wait until their ctx ends,
// as the real client does.
func (h *MemoryHub) StallHistory(partitionID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.partition(partitionID).stalled = true
}

// History serves the hub's partitions to a History, as NewConsumerHistory
// serves a real hub's: receivers read from the first event enqueued at or
// after a time, do not checkpoint and take no ownership, and wait for
// count events until their ctx ends. It also implements HistoryEndTimer.
func (h *MemoryHub) History() HistoryClient { return memHistory{h} }

type memHistory struct{ hub *MemoryHub }

var _ HistoryEndTimer = memHistory{}

func (m memHistory) PartitionIDs(context.Context) ([]string, error) {
	m.hub.mu.Lock()
	defer m.hub.mu.Unlock()
	return append([]string(nil), m.hub.order...), nil
}

// lookup is partition without the panic: a real hub answers an unknown
// partition with an error.
func (m memHistory) lookup(id string) (*memPartition, error) {
	p, ok := m.hub.partitions[id]
	if !ok {
		return nil, fmt.Errorf("memory hub has no partition %q", id)
	}
	return p, nil
}

func (m memHistory) PartitionEnd(ctx context.Context, partitionID string) (int64, bool, error) {
	last, _, empty, err := m.PartitionEndTime(ctx, partitionID)
	return last, empty, err
}

func (m memHistory) PartitionEndTime(_ context.Context, partitionID string) (int64, time.Time, bool, error) {
	m.hub.mu.Lock()
	defer m.hub.mu.Unlock()
	p, err := m.lookup(partitionID)
	if err != nil {
		return 0, time.Time{}, false, err
	}
	if len(p.events) == 0 {
		// An empty Event Hubs partition reports -1 as its last sequence
		// number.
		return -1, time.Time{}, true, nil
	}
	last := p.events[len(p.events)-1]
	return last.SequenceNumber, last.EnqueuedTime, false, nil
}

func (m memHistory) OpenPartition(_ context.Context, partitionID string, since time.Time) (HistoryReceiver, error) {
	m.hub.mu.Lock()
	defer m.hub.mu.Unlock()
	p, err := m.lookup(partitionID)
	if err != nil {
		return nil, err
	}
	p.history.Opens++
	return &memHistoryReceiver{hub: m.hub, p: p, since: since}, nil
}

type memHistoryReceiver struct {
	hub   *MemoryHub
	p     *memPartition
	since time.Time
	// next is the index of the next event to return, once started: the
	// real client, too, applies its start position when it first
	// receives, so events sent after OpenPartition but before then count.
	next    int
	started bool
	closed  bool
}

// available returns up to count events from the receiver's position.
// The hub's lock must be held.
func (r *memHistoryReceiver) available(count int) []Event {
	if r.p.stalled {
		return nil
	}
	next := r.next
	if !r.started {
		next = len(r.p.events)
		for i, e := range r.p.events {
			if !e.EnqueuedTime.Before(r.since) {
				next = i
				break
			}
		}
	}
	return r.p.events[next:min(len(r.p.events), next+count)]
}

// take moves the receiver past events, which available returned. The
// hub's lock must be held.
func (r *memHistoryReceiver) take(events []Event) []Event {
	if len(events) == 0 {
		return nil
	}
	r.started = true
	r.next = int(events[len(events)-1].SequenceNumber) + 1
	return append([]Event(nil), events...)
}

func (r *memHistoryReceiver) ReceiveEvents(ctx context.Context, count int) ([]Event, error) {
	if count <= 0 {
		return nil, fmt.Errorf("memory hub: receive %d events: count must be positive", count)
	}
	r.hub.mu.Lock()
	r.p.history.Receives++
	r.hub.mu.Unlock()
	for {
		r.hub.mu.Lock()
		if r.closed {
			r.hub.mu.Unlock()
			return nil, errors.New("memory hub: history receiver closed")
		}
		if events := r.available(count); len(events) == count {
			events = r.take(events)
			r.hub.mu.Unlock()
			return events, nil
		}
		arrived := r.p.arrived
		r.hub.mu.Unlock()
		select {
		case <-arrived:
		case <-ctx.Done():
			// Like azeventhubs' PartitionClient: what arrived is handed
			// over, and only an empty-handed wait fails.
			r.hub.mu.Lock()
			r.p.history.WaitedOut++
			events := r.take(r.available(count))
			r.hub.mu.Unlock()
			if len(events) > 0 {
				return events, nil
			}
			return nil, ctx.Err()
		}
	}
}

func (r *memHistoryReceiver) Close(context.Context) error {
	r.hub.mu.Lock()
	defer r.hub.mu.Unlock()
	r.closed = true
	r.p.history.Closes++
	return nil
}
