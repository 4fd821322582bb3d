// Package store defines the state Reinstate keeps between invocations: which
// audit records it has processed, an append-only journal of what it decided
// and did, and dead letters for input it could not process.
//
// It also keeps an outbox of intents: work decided on (a restore, say) that
// is recorded durably at once and carried out later by a worker, with
// retries, so that deciding never waits on Microsoft Graph and a crash
// between deciding and doing loses nothing.
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

	// The intent outbox. An intent moves from pending to leased (by
	// LeaseIntents) and from leased to done, failed or back to pending (by
	// its lease holder); a lease that runs out makes it due again. No
	// operation changes more than one intent atomically, so a store with
	// per-record conditional updates only (Table Storage's ETags) can keep
	// this contract. Times come back in UTC with nanosecond precision.
	//
	// The transitions (RenewIntentLease, CompleteIntent, RetryIntent and
	// FailIntent) act only for the holder of the intent's current lease:
	// id and token must name an intent that is leased and whose LeaseToken
	// is token. Otherwise they change nothing and return an error wrapping
	// ErrLeaseLost, or ErrNotFound when there is no intent with id. That is
	// what stops a stalled worker from overwriting the work of the one that
	// took its intent over. A lease that ran out but that no one has taken
	// over yet is still the caller's: no one else can have acted on the
	// intent, so the worker's result stands. Workers should still renew
	// well before their lease runs out, since after that anyone may take
	// the intent. The transitions record now as the intent's UpdatedAt.

	// Enqueue records a restore intent, or any other durable piece of work,
	// unless an intent with the same Key exists: then it returns that one,
	// unchanged, and created false. This makes recording idempotent however
	// often the audit event behind it is redelivered or reclassified. Only
	// Key, Kind, Payload and NotBefore are taken from intent: the store sets
	// ID, State (pending), CreatedAt and UpdatedAt (now) and leaves the rest
	// zero. A zero NotBefore means now. Key and Kind must not be empty and
	// Payload must be at most MaxIntentPayload bytes. The check and the
	// insert are atomic: of callers racing with one key, exactly one gets
	// created true. A key is free again once ExpireIntents has deleted its
	// intent.
	Enqueue(ctx context.Context, intent Intent, now time.Time) (Intent, bool, error)
	// LeaseIntents takes up to limit due intents, earliest due first, ties
	// in creation (ID) order, and returns them leased until leaseUntil, each
	// with a new LeaseToken and Attempts one higher. A pending intent is due
	// from its NotBefore; a leased one from its LeaseUntil, as a lease that
	// ran out means its worker died or stalled; done and failed intents
	// never are. limit must be positive and leaseUntil after now. Callers
	// racing in this process or another never both receive an intent while
	// its lease is live, but the intents are taken one by one: a call that
	// fails part way may have leased some of them, which then come due again
	// when their lease runs out.
	LeaseIntents(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Intent, error)
	// RenewIntentLease moves the end of the caller's lease to leaseUntil,
	// which must be after now, so a worker can hold an intent for longer
	// than one lease.
	RenewIntentLease(ctx context.Context, id, token string, now, leaseUntil time.Time) error
	// CompleteIntent ends the caller's lease and marks the intent done, for
	// good, with outcome.
	CompleteIntent(ctx context.Context, id, token string, now time.Time, outcome string) error
	// RetryIntent ends the caller's lease and makes the intent pending
	// again, due at notBefore (now when zero), with lastError as its
	// LastError. This is how a worker backs off or honours Retry-After.
	RetryIntent(ctx context.Context, id, token string, now, notBefore time.Time, lastError string) error
	// FailIntent ends the caller's lease and marks the intent failed, for
	// good: it is never leased again. reason becomes both its LastError and
	// its Outcome.
	FailIntent(ctx context.Context, id, token string, now time.Time, reason string) error
	// Intent returns the intent with id, or an error wrapping ErrNotFound.
	Intent(ctx context.Context, id string) (Intent, error)
	// IntentByKey returns the intent with key, or an error wrapping
	// ErrNotFound.
	IntentByKey(ctx context.Context, key string) (Intent, error)
	// Intents lists intents for operators, newest (greatest ID) first.
	Intents(ctx context.Context, query IntentQuery) ([]Intent, error)
	// ExpireIntents deletes done and failed intents last updated before
	// cutoff, oldest first, at most limit of them, and returns how many it
	// deleted. Callers page until it returns fewer than limit, which must be
	// positive. Pending and leased intents are never deleted, however old:
	// they are work not yet done.
	ExpireIntents(ctx context.Context, cutoff time.Time, limit int) (int, error)

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

// IntentState is where an intent is in its life.
type IntentState string

// Intent states.
const (
	// IntentPending is waiting to be leased, from its NotBefore.
	IntentPending IntentState = "pending"
	// IntentLeased is held by a worker until its LeaseUntil.
	IntentLeased IntentState = "leased"
	// IntentDone was carried out; it is never leased again.
	IntentDone IntentState = "done"
	// IntentFailed was given up on; it is never leased again.
	IntentFailed IntentState = "failed"
)

// MaxIntentPayload is the largest Payload Enqueue accepts, in bytes: the
// most one binary property of a Table Storage entity holds, so that what the
// embedded store accepts the shared one will too. Payloads name objects to
// act on; they are far smaller.
const MaxIntentPayload = 64 << 10

// ErrNotFound is returned for an intent that does not exist: it was never
// enqueued, or it finished and ExpireIntents deleted it.
var ErrNotFound = errors.New("store: not found")

// ErrLeaseLost is returned by an intent transition whose caller does not
// hold the intent's current lease: another worker took the intent over after
// the caller's lease ran out, or the lease already ended. The caller must
// drop the intent; the store changed nothing.
var ErrLeaseLost = errors.New("store: intent lease lost")

// Intent is durable work to carry out: the store keeps it from the moment it
// is decided on until a worker reports it done or failed.
type Intent struct {
	// ID is set by the store and orders intents by creation, like an Entry's
	// (see NewID).
	ID string `json:"id"`
	// Key makes Enqueue idempotent: at most one intent has a given key,
	// such as "restore:<audit record id>:<object id>".
	Key string `json:"key"`
	// Kind tells the worker what to do, such as "restore". The store does
	// not interpret it.
	Kind string `json:"kind"`
	// Payload is the worker's input, typically JSON, kept byte for byte.
	Payload []byte      `json:"payload"`
	State   IntentState `json:"state"`
	// Attempts counts leases, including those whose worker died without
	// reporting, so that a worker can give up on an intent that keeps
	// killing the workers that take it.
	Attempts int `json:"attempts"`
	// NotBefore is when a pending intent becomes due: when it was enqueued,
	// or the back-off a worker asked for with RetryIntent.
	NotBefore time.Time `json:"notBefore"`
	CreatedAt time.Time `json:"createdAt"`
	// UpdatedAt is the now of the latest change, which ExpireIntents counts
	// from.
	UpdatedAt time.Time `json:"updatedAt"`
	// LeaseToken and LeaseUntil are set only while the intent is leased.
	// The token is random and new for every lease, so it names one lease by
	// one worker.
	LeaseToken string    `json:"leaseToken,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil,omitzero"`
	// LastError is the latest error a worker reported, with RetryIntent or
	// FailIntent; it stays when the intent is leased again or completed.
	LastError string `json:"lastError,omitempty"`
	// Outcome says how the intent ended, from CompleteIntent or FailIntent.
	Outcome string `json:"outcome,omitempty"`
}

// IntentQuery selects intents to list.
type IntentQuery struct {
	// State, when set, keeps only intents in that state; an unknown state is
	// an error.
	State IntentState
	// Kind, when set, keeps only intents of that kind.
	Kind string
	// Limit caps the number of intents and must be positive: the outbox
	// keeps finished intents until they expire, so listing all of them is
	// never what an operator wants.
	Limit int
}

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
