// Package sqlite is the embedded implementation of store.Store: one SQLite
// file, shared safely by every goroutine and by several reinstate processes
// on the same machine. It uses modernc.org/sqlite, so it needs no cgo.
//
// Two processes may run at once (a replay next to the service, say), so
// everything that must not interleave relies on SQLite's file locks, not on
// anything in this process; see Claim.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/reinstate/reinstate/pkg/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// busyTimeout is how long a statement waits for another connection or
// process to release the write lock before failing with SQLITE_BUSY.
// Transactions here are short, so waiting this long means something is stuck.
const busyTimeout = 5 * time.Second

// maxReaders caps the read pool. Reads are short; a few connections let a
// journal query run while another one does.
const maxReaders = 4

// Memory is the path Open takes for a database in memory, as SQLite names
// it: one that lives as long as the Store and that no other Store or
// process sees, for commands (such as an offline plan) that need the
// store's guard state but must leave no trace.
const Memory = ":memory:"

// Store is a store.Store on a SQLite file. It is safe for concurrent use.
//
// It keeps two connection pools on the file. Writes go through a pool of one
// connection, so writers in this process queue in Go instead of sleeping in
// SQLite's busy handler; writers in other processes are held off by SQLite's
// lock and busy_timeout. Reads have their own pool and, thanks to WAL, never
// wait for writers.
//
// A Store in Memory has a single connection for both: SQLite gives every
// connection to ":memory:" a database of its own, so a second connection
// would see an empty one. Reads then queue behind writes, which for one
// process with nothing to share costs little.
type Store struct {
	path  string
	write *sql.DB
	read  *sql.DB

	// mu guards lastID, the Unix nanoseconds of the newest ID this Store
	// issued, which keeps IDs increasing even when the clock repeats a
	// value or steps back.
	mu     sync.Mutex
	lastID int64
}

// Compile-time check that Store implements the contract.
var _ store.Store = (*Store)(nil)

// Open opens, and creates if missing, the store at path, creating its parent
// directory too, and brings the schema up to date. It fails with an error
// wrapping ErrSchemaTooNew when a newer build has migrated the file. A path
// of Memory opens a new, empty database in memory instead.
func Open(ctx context.Context, path string) (*Store, error) {
	return openAt(ctx, path, schemaVersion)
}

// openAt is Open with the schema brought up to version only, which the
// tests use to create the files earlier releases left.
func openAt(ctx context.Context, path string, version int) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite store: open: empty path")
	}
	if path == Memory {
		return openMemory(ctx, version)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	// The journal names people and objects, so keep the directory private.
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}

	s := &Store{path: abs}
	if s.write, err = openPool(ctx, abs, 1,
		// BEGIN IMMEDIATE takes the write lock at once, so a transaction
		// reads the latest data and cannot fail to upgrade to a writer
		// later; Claim depends on it.
		"_txlock=immediate",
		"_pragma=journal_mode(WAL)",
		// FULL: a commit survives power loss too. The journal is an
		// audit trail and a lost completion means a repeated recovery.
		"_pragma=synchronous(FULL)",
	); err != nil {
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	if err := migrate(ctx, s.write, version); err != nil {
		_ = s.write.Close()
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	// query_only guards against a write slipping into the read pool, where
	// it would bypass the single-writer queue.
	if s.read, err = openPool(ctx, abs, maxReaders, "_pragma=query_only(1)"); err != nil {
		_ = s.write.Close()
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	return s, nil
}

// openMemory opens a database in memory on one connection, which is both
// the write and the read pool. Of the file's settings it keeps those that
// mean something there: WAL, synchronous and query_only do not (the last
// would stop the one connection from writing).
func openMemory(ctx context.Context, version int) (*Store, error) {
	s := &Store{path: Memory}
	var err error
	if s.write, err = openPool(ctx, Memory, 1, "_txlock=immediate"); err != nil {
		return nil, fmt.Errorf("sqlite store: open %s: %w", Memory, err)
	}
	// The database goes with its connection, so the pool must never close
	// it for being idle or old. These are database/sql's defaults, set
	// here so that no later default can lose the data.
	s.write.SetConnMaxIdleTime(0)
	s.write.SetConnMaxLifetime(0)
	if err := migrate(ctx, s.write, version); err != nil {
		_ = s.write.Close()
		return nil, fmt.Errorf("sqlite store: open %s: %w", Memory, err)
	}
	s.read = s.write
	return s, nil
}

// openPool opens a connection pool on the file at abs, or on a database in
// memory when abs is Memory. Settings go in the DSN because database/sql
// opens connections lazily and reopens them at will: the driver applies DSN
// parameters to every connection it opens.
func openPool(ctx context.Context, abs string, maxConns int, params ...string) (*sql.DB, error) {
	params = append(params, fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeout.Milliseconds()))
	var dsn string
	if abs == Memory {
		dsn = Memory + "?" + strings.Join(params, "&")
	} else {
		// A file: URI, not a plain name, so that a path holding '?' or
		// '#' reaches SQLite whole: the driver would cut a plain name at
		// the first '?'. SQLite decodes the percent escapes.
		p := filepath.ToSlash(abs)
		if !strings.HasPrefix(p, "/") {
			p = "/" + p // a Windows drive letter: file:///C:/...
		}
		dsn = (&url.URL{Scheme: "file", Path: p, RawQuery: strings.Join(params, "&")}).String()
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// Path returns the absolute path of the database file, or Memory.
func (s *Store) Path() string { return s.path }

// Close closes both connection pools (the one, in memory, which drops the
// database). Calls after Close fail.
func (s *Store) Close() error {
	err := s.write.Close()
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	if err != nil {
		return fmt.Errorf("sqlite store: close: %w", err)
	}
	return nil
}

// Claim implements store.Store.
//
// It is race-free across goroutines and processes because the read and the
// write happen in one transaction begun with BEGIN IMMEDIATE (the write pool's
// _txlock). That statement returns only once this connection holds the
// database's single write lock, a file lock every process honours, and in
// WAL mode SQLite grants that lock only on a snapshot of the newest commit,
// so the SELECT sees every earlier claim. Until COMMIT no other connection,
// in any process, can write, so the state read cannot change before the
// decision based on it is written. Competing claimers wait for the lock
// (queued for the one write connection in this process, in SQLite's busy
// handler across processes) and then read the committed result: Held or
// Done. One that waits longer than busy_timeout fails with SQLITE_BUSY and
// has changed nothing.
func (s *Store) Claim(ctx context.Context, key string, now, leaseUntil time.Time) (store.ClaimState, error) {
	state, err := s.claim(ctx, key, now, leaseUntil)
	if err != nil {
		return 0, fmt.Errorf("sqlite store: claim %q: %w", key, err)
	}
	return state, nil
}

func (s *Store) claim(ctx context.Context, key string, now, leaseUntil time.Time) (store.ClaimState, error) {
	nowNs, err := unixNano(now)
	if err != nil {
		return 0, err
	}
	leaseNs, err := unixNano(leaseUntil)
	if err != nil {
		return 0, err
	}

	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()

	var state string
	var heldUntil int64
	err = tx.QueryRowContext(ctx, `SELECT state, lease_until FROM claims WHERE key = ?`, key).Scan(&state, &heldUntil)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx,
			`INSERT INTO claims (key, state, first_claimed, lease_until) VALUES (?, 'claimed', ?, ?)`,
			key, nowNs, leaseNs)
	case err != nil:
		return 0, err
	case state == "done":
		return store.Done, nil
	case nowNs < heldUntil:
		return store.Held, nil
	default:
		// The owner's lease ran out before it completed: take over, but
		// keep first_claimed, which is what retention counts from.
		_, err = tx.ExecContext(ctx, `UPDATE claims SET lease_until = ? WHERE key = ?`, leaseNs, key)
	}
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return store.Claimed, nil
}

// PeekClaim implements store.Store.
func (s *Store) PeekClaim(ctx context.Context, key string, now time.Time) (store.ClaimState, error) {
	nowNs, err := unixNano(now)
	if err != nil {
		return 0, fmt.Errorf("sqlite store: peek claim %q: %w", key, err)
	}
	var state string
	var heldUntil int64
	err = s.read.QueryRowContext(ctx, `SELECT state, lease_until FROM claims WHERE key = ?`, key).Scan(&state, &heldUntil)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Free, nil
	case err != nil:
		return 0, fmt.Errorf("sqlite store: peek claim %q: %w", key, err)
	case state == "done":
		return store.Done, nil
	case nowNs < heldUntil:
		return store.Held, nil
	}
	return store.Free, nil
}

// Complete implements store.Store. One UPDATE is atomic on its own. A repeat
// keeps the first completion time.
func (s *Store) Complete(ctx context.Context, key string, now time.Time) error {
	nowNs, err := unixNano(now)
	if err != nil {
		return fmt.Errorf("sqlite store: complete %q: %w", key, err)
	}
	res, err := s.write.ExecContext(ctx,
		`UPDATE claims SET state = 'done', completed_at = COALESCE(completed_at, ?) WHERE key = ?`,
		nowNs, key)
	if err != nil {
		return fmt.Errorf("sqlite store: complete %q: %w", key, err)
	}
	// SQLite counts rows the UPDATE matched, changed or not, so a repeat
	// still reports one.
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite store: complete %q: %w", key, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite store: complete %q: %w", key, store.ErrNotClaimed)
	}
	return nil
}

// ExpireClaims implements store.Store. The oldest keys go first.
func (s *Store) ExpireClaims(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	return s.expire(ctx, "claims", `DELETE FROM claims WHERE key IN (
		SELECT key FROM claims WHERE first_claimed < ? ORDER BY first_claimed LIMIT ?)`, cutoff, limit)
}

// expire runs del, a DELETE of at most limit rows older than cutoff taking
// the two as its arguments, and returns how many rows it deleted; errors
// name what it expires. The oldest go first, so paging makes steady
// progress.
func (s *Store) expire(ctx context.Context, what, del string, cutoff time.Time, limit int) (int, error) {
	n, err := s.deleteOldest(ctx, del, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("sqlite store: expire %s: %w", what, err)
	}
	return n, nil
}

func (s *Store) deleteOldest(ctx context.Context, del string, cutoff time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("limit %d is not positive", limit)
	}
	cutoffNs, err := unixNano(cutoff)
	if err != nil {
		return 0, err
	}
	res, err := s.write.ExecContext(ctx, del, cutoffNs, limit)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// Release implements store.Store. One DELETE is atomic on its own; a done
// key, or none, matches nothing.
func (s *Store) Release(ctx context.Context, key string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM claims WHERE key = ? AND state = 'claimed'`, key); err != nil {
		return fmt.Errorf("sqlite store: release %q: %w", key, err)
	}
	return nil
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, entry store.Entry) (store.Entry, error) {
	entry.ID, entry.Time = s.stamp(entry.Time)
	t, err := unixNano(entry.Time)
	if err != nil {
		return store.Entry{}, fmt.Errorf("sqlite store: append: %w", err)
	}
	_, err = s.write.ExecContext(ctx,
		`INSERT INTO journal (id, time, kind, event_id, activity, target_id, target_type, target_name,
			actor, rule, action, outcome, source, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		entry.ID, t, string(entry.Kind), entry.EventID, entry.Activity, entry.TargetID, entry.TargetType,
		entry.TargetName, entry.Actor, entry.Rule, entry.Action, entry.Outcome, entry.Source, entry.Detail)
	if err != nil {
		return store.Entry{}, fmt.Errorf("sqlite store: append: %w", err)
	}
	return entry, nil
}

// Journal implements store.Store. Newest means appended last: entries are
// ordered by seq, the append order, not by Time, which the caller chooses.
func (s *Store) Journal(ctx context.Context, query store.JournalQuery) ([]store.Entry, error) {
	entries, err := s.journal(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: journal: %w", err)
	}
	return entries, nil
}

func (s *Store) journal(ctx context.Context, query store.JournalQuery) ([]store.Entry, error) {
	limit := query.Limit
	switch {
	case limit < 0:
		return nil, fmt.Errorf("limit %d is negative", limit)
	case limit == 0:
		limit = store.DefaultJournalLimit
	}
	var where []string
	var args []any
	if !query.Since.IsZero() {
		since, err := unixNano(query.Since)
		if err != nil {
			return nil, err
		}
		where = append(where, `time >= ?`)
		args = append(args, since)
	}
	if query.EventID != "" {
		where = append(where, `event_id = ?`)
		args = append(args, query.EventID)
	}
	if query.TargetID != "" {
		where = append(where, `target_id = ?`)
		args = append(args, query.TargetID)
	}
	q := `SELECT id, time, kind, event_id, activity, target_id, target_type, target_name,
		actor, rule, action, outcome, source, detail FROM journal`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, limit)

	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	entries := []store.Entry{}
	for rows.Next() {
		var e store.Entry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Kind, &e.EventID, &e.Activity, &e.TargetID, &e.TargetType,
			&e.TargetName, &e.Actor, &e.Rule, &e.Action, &e.Outcome, &e.Source, &e.Detail); err != nil {
			return nil, err
		}
		e.Time = fromUnixNano(t)
		entries = append(entries, e)
	}
	return entries, rows.Err()
}

// PutDeadLetter implements store.Store.
func (s *Store) PutDeadLetter(ctx context.Context, letter store.DeadLetter) (store.DeadLetter, error) {
	letter.ID, letter.Time = s.stamp(letter.Time)
	t, err := unixNano(letter.Time)
	if err != nil {
		return store.DeadLetter{}, fmt.Errorf("sqlite store: put dead letter: %w", err)
	}
	raw := letter.Raw
	if raw == nil {
		raw = []byte{} // a nil []byte would bind as NULL
	}
	_, err = s.write.ExecContext(ctx,
		`INSERT INTO dead_letters (id, time, source, location, reason, raw) VALUES (?, ?, ?, ?, ?, ?)`,
		letter.ID, t, letter.Source, letter.Location, letter.Reason, raw)
	if err != nil {
		return store.DeadLetter{}, fmt.Errorf("sqlite store: put dead letter: %w", err)
	}
	return letter, nil
}

// DeadLetters implements store.Store, newest (last put) first.
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]store.DeadLetter, error) {
	letters, err := s.deadLetters(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: dead letters: %w", err)
	}
	return letters, nil
}

func (s *Store) deadLetters(ctx context.Context, limit int) ([]store.DeadLetter, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("limit %d is not positive", limit)
	}
	rows, err := s.read.QueryContext(ctx,
		`SELECT id, time, source, location, reason, raw FROM dead_letters ORDER BY seq DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	letters := []store.DeadLetter{}
	for rows.Next() {
		var l store.DeadLetter
		var t int64
		// Scanning into *[]byte copies, so Raw does not alias driver memory.
		if err := rows.Scan(&l.ID, &t, &l.Source, &l.Location, &l.Reason, &l.Raw); err != nil {
			return nil, err
		}
		l.Time = fromUnixNano(t)
		letters = append(letters, l)
	}
	return letters, rows.Err()
}

// stamp returns a new ID and the time to store: t in UTC, or the current
// time when t is zero.
//
// store.NewID orders by its time argument and breaks ties randomly, so
// feeding it the raw clock could order two quick appends backwards. The
// nanosecond passed is therefore kept strictly increasing per Store. Order
// across processes still rests on the clock; Journal orders by seq anyway.
func (s *Store) stamp(t time.Time) (string, time.Time) {
	now := time.Now()
	if t.IsZero() {
		t = now
	}
	s.mu.Lock()
	n := max(now.UnixNano(), s.lastID+1)
	s.lastID = n
	s.mu.Unlock()
	return store.NewID(time.Unix(0, n)), t.UTC()
}

// The range of times int64 Unix nanoseconds can hold, about 1678 to 2262.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// unixNano converts t for storage. time.Time.UnixNano is undefined outside
// the int64 range, and a zero time.Time lies outside it, so such a time is
// refused rather than stored as garbage.
func unixNano(t time.Time) (int64, error) {
	if t.Before(minTime) || t.After(maxTime) {
		return 0, fmt.Errorf("time %s is outside the range the store can hold", t.Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

// fromUnixNano is the inverse of unixNano; times come back in UTC.
func fromUnixNano(n int64) time.Time { return time.Unix(0, n).UTC() }
