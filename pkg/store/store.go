// Package store defines the state Reinstate keeps between invocations: which
// audit records it has processed, an append-only journal of what it decided
// and did, and dead letters for input it could not process.
//
// It also keeps an outbox of intents: work decided on (a restore, say) that
// is recorded durably at once and carried out later by a worker, with
// retries, so that deciding never waits on Microsoft Graph and a crash
// between deciding and doing loses nothing.
//
// And it keeps the state the rule guards share between instances: hits
// counted in sliding windows (the mass-deletion breaker), marks with an
// expiry (cooldowns and tripped breakers) and silences that operators set
// to mute rules for a time. An instance that kept these in memory would
// count and remember alone, and a storm spread over several instances
// would slip under every one of their thresholds.
//
// Implementations: package sqlite (embedded, one instance) and package
// table (Azure Table Storage, shared by every instance of a scaled-out
// deployment); both pass the conformance suite in package storetest.
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

// Free is what PeekClaim says of a key nobody holds: never claimed,
// released, or claimed under a lease that ran out uncompleted. Claim never
// returns it.
const Free ClaimState = 0

// String names the state for logs.
func (s ClaimState) String() string {
	switch s {
	case Free:
		return "free"
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
	// PeekClaim says what Claim would find at now without taking or
	// changing anything: Done, Held while a lease is live at now, or Free.
	// A rehearsal (an observe-mode replay) reads the service's claims with
	// it, so that it neither repeats nor blocks the service's work.
	PeekClaim(ctx context.Context, key string, now time.Time) (ClaimState, error)
	// Complete marks key done at now, whoever holds the lease. It is
	// idempotent. A key with no claim (never claimed, or expired) gives an
	// error wrapping ErrNotClaimed.
	Complete(ctx context.Context, key string, now time.Time) error
	// ExpireClaims deletes keys first claimed before cutoff, at most limit of
	// them, and returns how many it deleted. Callers page until it returns
	// fewer than limit, which must be positive. A deleted key can be claimed
	// anew.
	ExpireClaims(ctx context.Context, cutoff time.Time, limit int) (int, error)
	// Release drops an uncompleted claim on key, whoever holds it, so that
	// the key can be claimed again at once rather than when its lease runs
	// out. It is how a caller that cannot decide now (Microsoft Graph is
	// unavailable, say) hands the record back for redelivery without
	// making it wait out the lease. Afterwards the key has no claim: the
	// next Claim gets Claimed, and Complete gives ErrNotClaimed until then.
	// A completed key stays done and a key with no claim stays without
	// one; both return nil, so Release is idempotent. Like Complete it does
	// not check who holds the claim, so callers release only a claim they
	// took and whose lease is live.
	Release(ctx context.Context, key string) error

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
	// LeaseIntents takes up to limit due intents of kind, earliest due
	// first, ties in creation (ID) order, and returns them leased until
	// leaseUntil, each with a new LeaseToken and Attempts one higher. Each
	// worker leases only the kind it carries out; intents of other kinds are
	// left as they are, whatever their due times. A pending intent is due
	// from its NotBefore; a leased one from its LeaseUntil, as a lease that
	// ran out means its worker died or stalled; done and failed intents
	// never are. kind must not be empty, limit must be positive and
	// leaseUntil after now. Callers racing in this process or another never
	// both receive an intent while its lease is live, but the intents are
	// taken one by one: a call that fails part way may have leased some of
	// them, which then come due again when their lease runs out.
	LeaseIntents(ctx context.Context, kind string, now, leaseUntil time.Time, limit int) ([]Intent, error)
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

	// Hits count things that happened, for sliding windows that must see
	// every instance's share: the mass-deletion breaker counts deletions
	// per initiator across all instances sharing the store. A hit is named
	// by its scope (what is counted, such as "deletions:<initiator>") and
	// its id (the audit record id, say), so that counting is idempotent
	// however often the event behind a hit is redelivered. Times come back
	// in UTC with nanosecond precision.

	// RecordHit records that id happened in scope at at, and returns true.
	// If the hit (scope, id) is already recorded it changes nothing, not
	// even its At, and returns false, so a redelivered event is counted
	// once. The check and the insert are atomic: of callers racing with one
	// hit, in this process or another, exactly one gets true. scope and id
	// must not be empty (ErrInvalid). A hit is free again once ExpireHits
	// has deleted it.
	RecordHit(ctx context.Context, scope, id string, at time.Time) (bool, error)
	// CountHits returns how many hits in scope have since <= At <= until.
	// Both ends are inclusive, so a window and the one after it that starts
	// a nanosecond later share no hit.
	CountHits(ctx context.Context, scope string, since, until time.Time) (int, error)
	// Hits returns the hits CountHits counts, oldest (least At) first, ties
	// in ID order, at most limit of them, which must be positive: what a
	// tripped breaker names as its evidence.
	Hits(ctx context.Context, scope string, since, until time.Time, limit int) ([]Hit, error)
	// ExpireHits deletes hits with At before cutoff, oldest first, at most
	// limit of them, and returns how many it deleted. Callers page until it
	// returns fewer than limit, which must be positive.
	ExpireHits(ctx context.Context, cutoff time.Time, limit int) (int, error)

	// Marks are small keyed values that hold until a time: a cooldown
	// ("notified about this object until ..."), a tripped breaker ("tripped
	// for this initiator until ..."). The store keeps a mark until it is
	// deleted or expired; whether it is still in force is the caller's to
	// judge, from Until and its own clock, so that every instance judges by
	// the time it passes in, as everywhere else in the store.

	// PutMark inserts mark, or replaces the mark with its Key, whole. The
	// store sets UpdatedAt to now. Key must not be empty, Until must be set
	// and Value must be at most MaxMarkValue bytes (ErrInvalid). Last
	// writer wins: a mark is not a lock.
	PutMark(ctx context.Context, mark Mark, now time.Time) error
	// GetMark returns the mark with key, or an error wrapping ErrNotFound.
	// A mark whose Until has passed is still returned until ExpireMarks or
	// DeleteMark removes it: callers compare Until with their clock.
	GetMark(ctx context.Context, key string) (Mark, error)
	// DeleteMark removes the mark with key, such as a breaker an operator
	// reset. It returns nil when there is none, so it is idempotent.
	DeleteMark(ctx context.Context, key string) error
	// ExpireMarks deletes marks whose Until is before cutoff, earliest
	// Until first, at most limit of them, and returns how many it deleted.
	// Callers page until it returns fewer than limit, which must be
	// positive.
	ExpireMarks(ctx context.Context, cutoff time.Time, limit int) (int, error)

	// Silences are operators' time-bound mutes: while one is active the
	// rules it matches do not act. The store keeps and lists them; which
	// events a silence matches is the rules' business, not the store's.

	// PutSilence records a new silence and returns it as stored. The store
	// sets ID, ordered by creation like an Entry's (see NewID), and
	// CreatedAt (now); a zero StartsAt means now. It refuses, with an error
	// wrapping ErrInvalid, a silence that matches nothing in particular
	// (Rule, Initiator and ObjectID all empty: muting everything is not a
	// silence but an outage), one without a Reason, and one whose EndsAt is
	// not after its StartsAt.
	PutSilence(ctx context.Context, silence Silence, now time.Time) (Silence, error)
	// Silences lists silences, newest (greatest ID) first, at most
	// query.Limit; see SilenceQuery.
	Silences(ctx context.Context, query SilenceQuery) ([]Silence, error)
	// EndSilence ends the silence with id at now, if it would otherwise end
	// later: its EndsAt becomes now. A silence that already ended keeps its
	// EndsAt, and one that has not started yet never becomes active. It
	// returns an error wrapping ErrNotFound when there is no silence with
	// id, and nil otherwise, so it is idempotent.
	EndSilence(ctx context.Context, id string, now time.Time) error
	// ExpireSilences deletes silences whose EndsAt is before cutoff,
	// earliest EndsAt first, at most limit of them, and returns how many it
	// deleted. Callers page until it returns fewer than limit, which must
	// be positive.
	ExpireSilences(ctx context.Context, cutoff time.Time, limit int) (int, error)

	// Locks are named leases that at most one holder has at a time, across
	// every instance sharing the store: the tenant allows one Backup &
	// Recovery job at a time, and the instance that starts one must know no
	// other instance is starting another. A lock whose lease ran out is
	// free, so a holder that died never keeps it: holders renew well before
	// their lease ends. Times come back in UTC with nanosecond precision.

	// AcquireLock takes the lock name for owner until until, if it is free
	// (never taken, released, or its lease ended at or before now), and
	// returns it with a new Token and true. Otherwise it changes nothing and
	// returns the current holder's lock, without its Token, and false. The
	// check and the take are atomic: of callers racing for a free lock, in
	// this process or another, exactly one gets true. name and owner must
	// not be empty and until must be after now (ErrInvalid).
	AcquireLock(ctx context.Context, name, owner string, now, until time.Time) (Lock, bool, error)
	// RenewLock moves the end of the lease of the holder of token to until,
	// which must be after now. A token that no longer holds the lock (it
	// was released, or taken over after it ran out) gives ErrLeaseLost; a
	// lease that ran out but that no one took over yet is still the
	// holder's to renew.
	RenewLock(ctx context.Context, name, token string, now, until time.Time) error
	// ReleaseLock frees the lock for the holder of token. It returns nil
	// when the lock is free already, so it is idempotent, and ErrLeaseLost
	// when another token holds it: a late release never frees a lock taken
	// over since.
	ReleaseLock(ctx context.Context, name, token string) error

	// Records are small documents that change over time and that several
	// instances may change: the state of a Backup & Recovery case (preview
	// requested, job running, waiting for approval, recovering). Every
	// change names the version it read, so of two instances that read the
	// same version only the first write counts (optimistic concurrency, as
	// Table Storage's ETags give). Times come back in UTC with nanosecond
	// precision.

	// PutRecord stores rec. A Version of 0 creates it, and gives
	// ErrConflict when a record with its Kind and ID exists; any other
	// Version replaces the record only if that is the stored version, and
	// gives ErrConflict otherwise (ErrNotFound when there is none). The
	// stored record, returned, has the next Version and UpdatedAt now.
	// Kind and ID must not be empty, Until must be set (ExpireRecords
	// counts from it) and Value must be at most MaxRecordValue bytes
	// (ErrInvalid).
	PutRecord(ctx context.Context, rec Record, now time.Time) (Record, error)
	// GetRecord returns the record of kind with id, or ErrNotFound.
	GetRecord(ctx context.Context, kind, id string) (Record, error)
	// Records lists records of kind, oldest ID first, at most limit, which
	// must be positive.
	Records(ctx context.Context, kind string, limit int) ([]Record, error)
	// ExpireRecords deletes records whose Until is before cutoff, earliest
	// first, at most limit of them, and returns how many it deleted.
	// Callers page until it returns fewer than limit, which must be
	// positive.
	ExpireRecords(ctx context.Context, cutoff time.Time, limit int) (int, error)

	// Close releases the store's resources. Calls after Close fail.
	Close() error
}

// ErrConflict is returned by PutRecord when the record changed since the
// caller read it (or exists, for a create): the caller reads it again and
// decides anew. The store changed nothing.
var ErrConflict = errors.New("store: record changed since it was read")

// MaxRecordValue is the largest Value PutRecord accepts, in bytes: one
// binary property of a Table Storage entity, as for intent payloads.
const MaxRecordValue = 64 << 10

// Record is a versioned document (see Store.PutRecord).
type Record struct {
	// Kind groups records, such as "backup.case"; ID names one within it.
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// Value is the caller's, typically JSON, kept byte for byte.
	Value []byte `json:"value"`
	// Version is set by the store: 1 when created, one more at every
	// change.
	Version int64 `json:"version"`
	// Until is when the record may be expired.
	Until     time.Time `json:"until"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Lock is a named lease (see Store.AcquireLock).
type Lock struct {
	Name string `json:"name"`
	// Token is the holder's proof, new for every acquisition; only
	// AcquireLock's winner sees it.
	Token string `json:"token,omitempty"`
	// Owner names the holder for people: an instance, a job.
	Owner      string    `json:"owner"`
	AcquiredAt time.Time `json:"acquiredAt"`
	Until      time.Time `json:"until"`
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
	// TargetID, when set, keeps only entries about that object: what
	// on-call asks for when it follows one object through events,
	// decisions, restores and notifications.
	TargetID string
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

// ErrNotFound is returned for an intent, a mark or a silence that does not
// exist: it was never stored, or it was deleted or expired.
var ErrNotFound = errors.New("store: not found")

// ErrInvalid is returned for a value the contract refuses to store, such as
// a silence without a reason or a hit without an id, so that callers can
// tell a request to fix from a store that failed. The store changed
// nothing.
var ErrInvalid = errors.New("store: invalid")

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
	// Kind tells the worker what to do, such as "restore", and so which
	// worker leases it (see LeaseIntents). The store only matches it,
	// never interprets it.
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

// Hit is one counted occurrence: id happened in scope at At.
type Hit struct {
	// Scope names what is counted, such as deletions by one initiator.
	Scope string `json:"scope"`
	// ID names the occurrence, such as the audit record id, and makes
	// recording it idempotent within Scope.
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// MaxMarkValue is the longest Value PutMark accepts, in bytes. A Table
// Storage string property holds 64 KiB of UTF-16, and 32 KiB of UTF-8 never
// takes more than that, so what the embedded store accepts the shared one
// will too. Marks hold a reason or a count, far less.
const MaxMarkValue = 32 << 10

// Mark is a small keyed value that holds until a time.
type Mark struct {
	// Key names the mark, such as "breaker:<initiator>".
	Key string `json:"key"`
	// Value is the caller's, such as why a breaker tripped; the store does
	// not interpret it.
	Value string `json:"value"`
	// Until is when the mark stops being in force; ExpireMarks counts from
	// it.
	Until time.Time `json:"until"`
	// UpdatedAt is the now of the PutMark that stored the mark.
	UpdatedAt time.Time `json:"updatedAt"`
}

// Silence mutes the rules it matches from StartsAt until EndsAt. Rule,
// Initiator and ObjectID are matchers, empty for "any"; what matching means
// is up to the rules.
type Silence struct {
	// ID is set by the store and orders silences by creation (see NewID).
	ID string `json:"id"`
	// Rule matches the name of a rule.
	Rule string `json:"rule"`
	// Initiator matches who caused an event (the audit initiator).
	Initiator string `json:"initiator"`
	// ObjectID matches the object an event is about.
	ObjectID string `json:"objectId"`
	// Reason says why, for the journal and the on-call who finds it later.
	Reason string `json:"reason"`
	// CreatedBy names the operator who set the silence.
	CreatedBy string `json:"createdBy"`
	// A silence is active from StartsAt, inclusive, to EndsAt, exclusive.
	StartsAt time.Time `json:"startsAt"`
	EndsAt   time.Time `json:"endsAt"`
	// CreatedAt is set by the store, to the now of PutSilence.
	CreatedAt time.Time `json:"createdAt"`
}

// SilenceQuery selects silences to list.
type SilenceQuery struct {
	// ActiveAt, when set, keeps only silences active at that instant:
	// StartsAt <= ActiveAt < EndsAt.
	ActiveAt time.Time
	// Limit caps the number of silences and must be positive: ended
	// silences are kept until they expire.
	Limit int
}
