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
}

type memPartition struct {
	events      []Event
	checkpoint  *int64
	owner       string
	epoch       int
	checkpoints int
	arrived     chan struct{} // closed and replaced when events arrive
}

// NewMemoryHub returns a hub with the given partitions, empty and unowned.
func NewMemoryHub(partitionIDs ...string) *MemoryHub {
	h := &MemoryHub{partitions: map[string]*memPartition{}, replicas: map[string]*MemoryReplica{},
		start: time.Date(2026, 6, 2, 14, 0, 0, 0, time.UTC)}
	for _, id := range partitionIDs {
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
