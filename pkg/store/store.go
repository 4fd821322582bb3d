// Package store defines the state Reinstate keeps between invocations: which
// audit records it has processed, an append-only journal of what it decided
// and did, and dead letters for input it could not process.
//
// Implementations: package sqlite (embedded, one instance) here; a shared one
// on Azure Table Storage slots in behind the same interface, and both must
// pass the conformance suite in package storetest.
package store

import (
	"context"
	"errors"
	"time"
)

// MinDedupRetention is the shortest time a processed-record key is kept.
// Deleted objects stay in the Entra recycle bin for 30 days, and an audit
// record can be replayed or redelivered for as long as acting on it could
// matter, so keys outlive the bin with a margin.
const MinDedupRetention = 35 * 24 * time.Hour

// ClaimState is the outcome of Claim.
type ClaimState int

// Claim outcomes.
const (
	// Claimed means the caller now owns the key: nobody had it, or the
	// previous owner's lease ran out without completing it.
	Claimed ClaimState = iota + 1
	// Held means another owner holds a live lease on the key.
	Held
	// Done means the key was completed before: the record is a duplicate.
	Done
)

// String names the state for logs.
func (s ClaimState) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case Held:
		return "held"
	case Done:
		return "done"
	}
	return "unknown"
}

// ErrNotClaimed is returned by Complete for a key that has no claim.
var ErrNotClaimed = errors.New("store: key has no claim (never claimed, or expired)")

// Store is the whole state contract. Consumers should depend on the smaller
// interfaces they need, declared where they are used.
//
// A Store is safe for concurrent use. A method called with a context that is
// already done has no effect and returns an error wrapping the context's
// error. Package storetest checks all of this.
type Store interface {
	// Claim takes processing of key (an audit record id) until leaseUntil.
	// The first caller gets Claimed; while that lease is live others get
	// Held; once Complete has been called everyone gets Done. A claim whose
	// lease expired uncompleted can be claimed again, so that a crash between
	// claim and completion does not lose the record. A lease is live while
	// now is before its leaseUntil. Claim is atomic: of callers racing for a
	// free key, in this process or another sharing the store, exactly one
	// gets Claimed. Taking over an expired lease keeps the key's first-claimed
	// time, which ExpireClaims counts from.
	Claim(ctx context.Context, key string, now, leaseUntil time.Time) (ClaimState, error)
	// Complete marks key done at now, whoever holds the lease. It is
	// idempotent. A key with no claim (never claimed, or expired) gives an
	// error wrapping ErrNotClaimed.
	Complete(ctx context.Context, key string, now time.Time) error
	// ExpireClaims deletes keys first claimed before cutoff, at most limit of
	// them, and returns how many it deleted. Callers page until it returns
	// fewer than limit, which must be positive. A deleted key can be claimed
	// anew.
	ExpireClaims(ctx context.Context, cutoff time.Time, limit int) (int, error)

	// Append adds an entry to the journal. The store sets ID (and Time when
	// zero, to the current time) and returns the stored entry, its Time in
	// UTC. Entries are never changed.
	Append(ctx context.Context, entry Entry) (Entry, error)
	// Journal returns entries, newest first: in reverse order of Append,
	// which is ID order, whatever Time the entries carry. Times are in UTC
	// with nanosecond precision.
	Journal(ctx context.Context, query JournalQuery) ([]Entry, error)

	// PutDeadLetter keeps input that could not be processed. The store sets
	// ID (and Time when zero).
	PutDeadLetter(ctx context.Context, letter DeadLetter) (DeadLetter, error)
	// DeadLetters returns dead letters, newest (last put) first, at most
	// limit, which must be positive.
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)

	// Close releases the store's resources. Calls after Close fail.
	Close() error
}

// Kind classifies a journal entry. Later stages add their own kinds.
type Kind string

// Journal entry kinds written by ingestion.
const (
	// KindEventReceived records a new audit event, once per record id.
	KindEventReceived Kind = "event.received"
	// KindRecordSkipped records an audit record that could not be decoded.
	KindRecordSkipped Kind = "record.skipped"
	// KindBodyDeadLettered records an Event Hubs body that was not JSON.
	KindBodyDeadLettered Kind = "body.deadlettered"
)

// Entry is one journal line: a decision, an action, or an input event.
type Entry struct {
	// ID orders entries: later entries have greater IDs (see NewID).
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	Kind Kind      `json:"kind"`
	// EventID is the audit record id the entry is about, if any.
	EventID    string `json:"eventId,omitempty"`
	Activity   string `json:"activity,omitempty"`
	TargetID   string `json:"targetId,omitempty"`
	TargetType string `json:"targetType,omitempty"`
	TargetName string `json:"targetName,omitempty"`
	// Actor is who caused what the entry records: the audit initiator, or
	// the on-call caller.
	Actor   string `json:"actor,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Action  string `json:"action,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	// Source says where the input came from, such as the function, the
	// invocation id and the Event Hubs partition and sequence number.
	Source string `json:"source,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// JournalQuery selects journal entries.
type JournalQuery struct {
	// Limit caps the number of entries; zero means DefaultJournalLimit and
	// a negative limit is an error.
	Limit int
	// Since, when set, keeps only entries at or after it.
	Since time.Time
	// EventID, when set, keeps only entries about that audit record.
	EventID string
}

// DefaultJournalLimit is the number of entries Journal returns when the query
// sets no limit.
const DefaultJournalLimit = 100

// DeadLetter is input kept whole because it could not be processed.
type DeadLetter struct {
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	Source string    `json:"source"`
	// Location points inside Raw's origin: "event 3", "event 3 records[4]".
	Location string `json:"location,omitempty"`
	Reason   string `json:"reason"`
	Raw      []byte `json:"raw"`
}
