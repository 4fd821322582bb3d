package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrSchemaTooNew is returned by Open for a database that a newer build of
// Reinstate has migrated: this build does not know its layout, and writing to
// it could corrupt what the newer build keeps there.
var ErrSchemaTooNew = errors.New("database schema is newer than this build of reinstate supports")

// migrations[i] takes the schema from version i to version i+1; the version
// is kept in PRAGMA user_version. Append to this list, never edit an entry
// that has shipped.
//
// Times are INTEGER Unix nanoseconds (UTC), so they round-trip exactly and
// compare as numbers. String fields are NOT NULL with an empty default, as the Go
// types have no null. seq is the append order: AUTOINCREMENT so that a seq is
// never reused, even after the newest row is deleted.
var migrations = []string{
	`CREATE TABLE claims (
		key           TEXT PRIMARY KEY,
		state         TEXT NOT NULL CHECK (state IN ('claimed', 'done')),
		first_claimed INTEGER NOT NULL,
		lease_until   INTEGER NOT NULL,
		completed_at  INTEGER
	);
	CREATE INDEX claims_first_claimed ON claims (first_claimed);

	CREATE TABLE journal (
		seq         INTEGER PRIMARY KEY AUTOINCREMENT,
		id          TEXT NOT NULL UNIQUE,
		time        INTEGER NOT NULL,
		kind        TEXT NOT NULL,
		event_id    TEXT NOT NULL DEFAULT '',
		activity    TEXT NOT NULL DEFAULT '',
		target_id   TEXT NOT NULL DEFAULT '',
		target_type TEXT NOT NULL DEFAULT '',
		target_name TEXT NOT NULL DEFAULT '',
		actor       TEXT NOT NULL DEFAULT '',
		rule        TEXT NOT NULL DEFAULT '',
		action      TEXT NOT NULL DEFAULT '',
		outcome     TEXT NOT NULL DEFAULT '',
		source      TEXT NOT NULL DEFAULT '',
		detail      TEXT NOT NULL DEFAULT ''
	);
	-- The rowid (seq) is the implicit last column of an index, so this also
	-- serves ORDER BY seq DESC without a sort. Since queries need no index
	-- of their own: scanning back from the newest seq stops at the limit.
	CREATE INDEX journal_event_id ON journal (event_id);

	CREATE TABLE dead_letters (
		seq      INTEGER PRIMARY KEY AUTOINCREMENT,
		id       TEXT NOT NULL UNIQUE,
		time     INTEGER NOT NULL,
		source   TEXT NOT NULL DEFAULT '',
		location TEXT NOT NULL DEFAULT '',
		reason   TEXT NOT NULL DEFAULT '',
		raw      BLOB NOT NULL
	);`,

	// The intent outbox. id is NOT NULL because SQLite, for historical
	// reasons, lets a TEXT PRIMARY KEY hold NULL. lease_token and lease_until
	// are set exactly while the intent is leased.
	//
	// due is when LeaseIntents may take the intent: NULL once it has
	// finished. Computed by SQLite from state, so it cannot disagree with
	// the columns it derives from. intents_due holds only unfinished
	// intents, in the order LeaseIntents takes them, so leasing reads the
	// first entries of a small index however many finished intents are
	// kept; intents_finished is the same for ExpireIntents.
	`CREATE TABLE intents (
		id          TEXT NOT NULL PRIMARY KEY,
		key         TEXT NOT NULL UNIQUE,
		kind        TEXT NOT NULL,
		payload     BLOB NOT NULL,
		state       TEXT NOT NULL CHECK (state IN ('pending', 'leased', 'done', 'failed')),
		attempts    INTEGER NOT NULL DEFAULT 0,
		not_before  INTEGER NOT NULL,
		created_at  INTEGER NOT NULL,
		updated_at  INTEGER NOT NULL,
		lease_token TEXT NOT NULL DEFAULT '',
		lease_until INTEGER,
		last_error  TEXT NOT NULL DEFAULT '',
		outcome     TEXT NOT NULL DEFAULT '',
		due INTEGER GENERATED ALWAYS AS (
			CASE state WHEN 'pending' THEN not_before WHEN 'leased' THEN lease_until END) VIRTUAL,
		CHECK ((state = 'leased') = (lease_token <> '' AND lease_until IS NOT NULL))
	);
	CREATE INDEX intents_due ON intents (due, id) WHERE due IS NOT NULL;
	CREATE INDEX intents_finished ON intents (updated_at) WHERE state IN ('done', 'failed');
	-- Listing by state, newest first. Listing everything uses the primary
	-- key's index; a kind is filtered from either.
	CREATE INDEX intents_state ON intents (state, id);`,

	// The rule guards' state. A hit is named by (scope, id), the primary
	// key, which is what makes RecordHit idempotent; hits_window serves
	// counting and listing a scope's window, in the order Hits returns, and
	// each table has an index on the time its Expire method counts from, so
	// a page reads the head of that index.
	//
	// A silence may end before it starts (EndSilence on one that had not
	// started), so there is no CHECK of ends_at against starts_at: such a
	// silence is simply never active.
	`CREATE TABLE hits (
		scope TEXT NOT NULL,
		id    TEXT NOT NULL,
		at    INTEGER NOT NULL,
		PRIMARY KEY (scope, id)
	);
	CREATE INDEX hits_window ON hits (scope, at, id);
	CREATE INDEX hits_at ON hits (at);

	CREATE TABLE marks (
		key        TEXT NOT NULL PRIMARY KEY,
		value      TEXT NOT NULL DEFAULT '',
		until      INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	);
	CREATE INDEX marks_until ON marks (until);

	CREATE TABLE silences (
		id         TEXT NOT NULL PRIMARY KEY,
		rule       TEXT NOT NULL DEFAULT '',
		initiator  TEXT NOT NULL DEFAULT '',
		object_id  TEXT NOT NULL DEFAULT '',
		reason     TEXT NOT NULL,
		created_by TEXT NOT NULL DEFAULT '',
		starts_at  INTEGER NOT NULL,
		ends_at    INTEGER NOT NULL,
		created_at INTEGER NOT NULL,
		CHECK (rule <> '' OR initiator <> '' OR object_id <> ''),
		CHECK (reason <> '')
	);
	CREATE INDEX silences_ends_at ON silences (ends_at);`,

	// Leasing by kind: each worker leases only its own kind of intent.
	// intents_kind_due is intents_due with kind first, so a worker reads
	// the first entries of its kind's range, in the order LeaseIntents
	// takes them, without a sort and without stepping over other kinds'
	// due intents. It serves every lease, so intents_due, which nothing
	// reads any more, goes.
	`CREATE INDEX intents_kind_due ON intents (kind, due, id) WHERE due IS NOT NULL;
	DROP INDEX intents_due;`,
	// Following one object through the journal (on-call's
	// GET /api/recovery/journal?objectId=...).
	`CREATE INDEX journal_target_id ON journal (target_id) WHERE target_id != '';`,
	// Named leases (Store.AcquireLock): one row per lock, taken over when
	// its until has passed.
	`CREATE TABLE locks (
		name        TEXT PRIMARY KEY,
		token       TEXT NOT NULL CHECK (token != ''),
		owner       TEXT NOT NULL,
		acquired_at INTEGER NOT NULL,
		until       INTEGER NOT NULL
	) WITHOUT ROWID;`,
	// Versioned records (Store.PutRecord): Backup & Recovery cases.
	`CREATE TABLE records (
		kind       TEXT NOT NULL,
		id         TEXT NOT NULL,
		value      BLOB NOT NULL,
		version    INTEGER NOT NULL CHECK (version > 0),
		until      INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (kind, id)
	);
	CREATE INDEX records_until ON records (until);`,
}

// schemaVersion is the version this build creates and understands.
var schemaVersion = len(migrations)

// migrate brings the schema up to version target: schemaVersion, except in
// tests, which build the layouts of earlier releases with it. A database
// already past target, but not past schemaVersion, is left alone. db must
// begin transactions with BEGIN IMMEDIATE: the version is read under the
// write lock, so two processes opening a new file at once migrate one after
// the other and the second finds nothing to do.
func migrate(ctx context.Context, db *sql.DB, target int) error {
	if target < 0 || target > schemaVersion {
		return fmt.Errorf("no schema version %d: this build knows 0 to %d", target, schemaVersion)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()

	var version int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > schemaVersion {
		return fmt.Errorf("%w: database has version %d, this build knows up to %d; upgrade reinstate",
			ErrSchemaTooNew, version, schemaVersion)
	}
	if version >= target {
		return nil
	}
	for v := version; v < target; v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrate schema from version %d: %w", v, err)
		}
	}
	// PRAGMA takes no bound parameters; target is ours, not input.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, target)); err != nil {
		return fmt.Errorf("set schema version: %w", err)
	}
	return tx.Commit()
}
