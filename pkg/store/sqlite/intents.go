package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
)

// intentColumns are the columns scanIntent reads, in its order.
const intentColumns = `id, key, kind, payload, state, attempts, not_before, created_at, updated_at,
	lease_token, lease_until, last_error, outcome`

// Statements whose plans TestIntentQueryPlans checks: each must be served by
// its index, not by a scan of the table or a sort.
const (
	// dueIntentsSQL reads the first entries of one kind's range of
	// intents_kind_due.
	dueIntentsSQL = `SELECT ` + intentColumns + ` FROM intents WHERE kind = ? AND due <= ? ORDER BY due, id LIMIT ?`
	// expireIntentsSQL reads the first entries of intents_finished. Left to
	// itself the planner prefers intents_state, which means reading and
	// sorting every finished intent for each page; INDEXED BY rules that
	// out. The state condition must be written exactly as in the index's
	// WHERE for SQLite to accept that partial index.
	expireIntentsSQL = `DELETE FROM intents WHERE id IN (
		SELECT id FROM intents INDEXED BY intents_finished
		WHERE state IN ('done', 'failed') AND updated_at < ?
		ORDER BY updated_at LIMIT ?)`
)

// Enqueue implements store.Store.
//
// The INSERT and, when the key is taken, the SELECT of the intent holding it
// run in one BEGIN IMMEDIATE transaction, so the intent returned is the one
// that won, even if it finished and expired an instant later.
func (s *Store) Enqueue(ctx context.Context, intent store.Intent, now time.Time) (store.Intent, bool, error) {
	stored, created, err := s.enqueue(ctx, intent, now)
	if err != nil {
		return store.Intent{}, false, fmt.Errorf("sqlite store: enqueue intent %q: %w", intent.Key, err)
	}
	return stored, created, nil
}

func (s *Store) enqueue(ctx context.Context, in store.Intent, now time.Time) (store.Intent, bool, error) {
	switch {
	case in.Key == "":
		return store.Intent{}, false, errors.New("empty key")
	case in.Kind == "":
		return store.Intent{}, false, errors.New("empty kind")
	case len(in.Payload) > store.MaxIntentPayload:
		return store.Intent{}, false, fmt.Errorf("payload of %d bytes is over the limit of %d",
			len(in.Payload), store.MaxIntentPayload)
	}
	nowNs, err := unixNano(now)
	if err != nil {
		return store.Intent{}, false, err
	}
	if in.NotBefore.IsZero() {
		in.NotBefore = now
	}
	notBeforeNs, err := unixNano(in.NotBefore)
	if err != nil {
		return store.Intent{}, false, err
	}
	id, _ := s.stamp(now)
	fresh := store.Intent{
		ID:        id,
		Key:       in.Key,
		Kind:      in.Kind,
		Payload:   in.Payload,
		State:     store.IntentPending,
		NotBefore: in.NotBefore.UTC(),
		CreatedAt: now.UTC(),
		UpdatedAt: now.UTC(),
	}
	payload := in.Payload
	if payload == nil {
		payload = []byte{} // a nil []byte would bind as NULL
	}

	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return store.Intent{}, false, err
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx,
		`INSERT INTO intents (id, key, kind, payload, state, not_before, created_at, updated_at)
		VALUES (?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
		fresh.ID, fresh.Key, fresh.Kind, payload, notBeforeNs, nowNs, nowNs)
	if err != nil {
		return store.Intent{}, false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return store.Intent{}, false, err
	}
	if n == 1 {
		if err := tx.Commit(); err != nil {
			return store.Intent{}, false, err
		}
		return fresh, true, nil
	}
	existing, err := scanIntent(tx.QueryRowContext(ctx, `SELECT `+intentColumns+` FROM intents WHERE key = ?`, in.Key))
	if err != nil {
		return store.Intent{}, false, fmt.Errorf("read the intent holding the key: %w", err)
	}
	return existing, false, nil
}

// LeaseIntents implements store.Store.
//
// Choosing the intents and leasing them happen in one BEGIN IMMEDIATE
// transaction, so it is exclusive across goroutines and processes for the
// reasons given at Claim: no other writer can lease an intent between this
// one's SELECT and its UPDATE. Unlike the contract's minimum, a failure
// leases none of them.
func (s *Store) LeaseIntents(ctx context.Context, kind string, now, leaseUntil time.Time, limit int) ([]store.Intent, error) {
	intents, err := s.leaseIntents(ctx, kind, now, leaseUntil, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: lease %q intents: %w", kind, err)
	}
	return intents, nil
}

func (s *Store) leaseIntents(ctx context.Context, kind string, now, leaseUntil time.Time, limit int) ([]store.Intent, error) {
	if kind == "" {
		return nil, errors.New("empty kind")
	}
	if limit <= 0 {
		return nil, fmt.Errorf("limit %d is not positive", limit)
	}
	nowNs, leaseNs, err := leaseTimes(now, leaseUntil)
	if err != nil {
		return nil, err
	}

	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	intents, err := queryIntents(ctx, tx, dueIntentsSQL, kind, nowNs, limit)
	if err != nil {
		return nil, err
	}
	if len(intents) == 0 {
		return intents, nil
	}
	stmt, err := tx.PrepareContext(ctx, `UPDATE intents SET state = 'leased', lease_token = ?, lease_until = ?,
		attempts = attempts + 1, updated_at = ? WHERE id = ?`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	for i := range intents {
		in := &intents[i]
		in.State = store.IntentLeased
		in.LeaseToken = store.NewLeaseToken()
		in.LeaseUntil = leaseUntil.UTC()
		in.Attempts++
		in.UpdatedAt = now.UTC()
		if _, err := stmt.ExecContext(ctx, in.LeaseToken, leaseNs, nowNs, in.ID); err != nil {
			return nil, fmt.Errorf("lease intent %s: %w", in.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return intents, nil
}

// RenewIntentLease implements store.Store.
func (s *Store) RenewIntentLease(ctx context.Context, id, token string, now, leaseUntil time.Time) error {
	nowNs, leaseNs, err := leaseTimes(now, leaseUntil)
	if err == nil {
		err = s.transition(ctx, id, token, `lease_until = ?, updated_at = ?`, leaseNs, nowNs)
	}
	if err != nil {
		return fmt.Errorf("sqlite store: renew lease of intent %s: %w", id, err)
	}
	return nil
}

// CompleteIntent implements store.Store.
func (s *Store) CompleteIntent(ctx context.Context, id, token string, now time.Time, outcome string) error {
	nowNs, err := unixNano(now)
	if err == nil {
		err = s.transition(ctx, id, token,
			`state = 'done', outcome = ?, lease_token = '', lease_until = NULL, updated_at = ?`,
			outcome, nowNs)
	}
	if err != nil {
		return fmt.Errorf("sqlite store: complete intent %s: %w", id, err)
	}
	return nil
}

// RetryIntent implements store.Store.
func (s *Store) RetryIntent(ctx context.Context, id, token string, now, notBefore time.Time, lastError string) error {
	if notBefore.IsZero() {
		notBefore = now
	}
	nowNs, err := unixNano(now)
	var notBeforeNs int64
	if err == nil {
		notBeforeNs, err = unixNano(notBefore)
	}
	if err == nil {
		err = s.transition(ctx, id, token,
			`state = 'pending', not_before = ?, last_error = ?, lease_token = '', lease_until = NULL, updated_at = ?`,
			notBeforeNs, lastError, nowNs)
	}
	if err != nil {
		return fmt.Errorf("sqlite store: retry intent %s: %w", id, err)
	}
	return nil
}

// FailIntent implements store.Store.
func (s *Store) FailIntent(ctx context.Context, id, token string, now time.Time, reason string) error {
	nowNs, err := unixNano(now)
	if err == nil {
		err = s.transition(ctx, id, token,
			`state = 'failed', outcome = ?, last_error = ?, lease_token = '', lease_until = NULL, updated_at = ?`,
			reason, reason, nowNs)
	}
	if err != nil {
		return fmt.Errorf("sqlite store: fail intent %s: %w", id, err)
	}
	return nil
}

// transition applies set, with its arguments, to intent id if token names
// its current lease. One UPDATE is atomic on its own: the lease check and
// the change cannot be split by another writer. Only when nothing matched
// does it look further, to tell a lost lease from a missing intent.
func (s *Store) transition(ctx context.Context, id, token, set string, args ...any) error {
	// The table's CHECK keeps the token of a leased intent non-empty, so
	// an empty token matches nothing.
	res, err := s.write.ExecContext(ctx,
		`UPDATE intents SET `+set+` WHERE id = ? AND state = 'leased' AND lease_token = ?`,
		append(args, id, token)...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	var one int
	switch err := s.read.QueryRowContext(ctx, `SELECT 1 FROM intents WHERE id = ?`, id).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return fmt.Errorf("%w (and checking that the intent exists failed: %w)", store.ErrLeaseLost, err)
	}
	return store.ErrLeaseLost
}

// Intent implements store.Store.
func (s *Store) Intent(ctx context.Context, id string) (store.Intent, error) {
	in, err := s.intentWhere(ctx, `id`, id)
	if err != nil {
		return store.Intent{}, fmt.Errorf("sqlite store: intent %s: %w", id, err)
	}
	return in, nil
}

// IntentByKey implements store.Store.
func (s *Store) IntentByKey(ctx context.Context, key string) (store.Intent, error) {
	in, err := s.intentWhere(ctx, `key`, key)
	if err != nil {
		return store.Intent{}, fmt.Errorf("sqlite store: intent with key %q: %w", key, err)
	}
	return in, nil
}

// intentWhere reads the intent whose column (id or key, both unique) has
// value.
func (s *Store) intentWhere(ctx context.Context, column, value string) (store.Intent, error) {
	in, err := scanIntent(s.read.QueryRowContext(ctx,
		`SELECT `+intentColumns+` FROM intents WHERE `+column+` = ?`, value))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Intent{}, store.ErrNotFound
	}
	return in, err
}

// Intents implements store.Store, newest (greatest ID) first.
func (s *Store) Intents(ctx context.Context, query store.IntentQuery) ([]store.Intent, error) {
	intents, err := s.intents(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: intents: %w", err)
	}
	return intents, nil
}

func (s *Store) intents(ctx context.Context, query store.IntentQuery) ([]store.Intent, error) {
	if query.Limit <= 0 {
		return nil, fmt.Errorf("limit %d is not positive", query.Limit)
	}
	var where []string
	var args []any
	if query.State != "" {
		if !knownState(query.State) {
			return nil, fmt.Errorf("unknown intent state %q", query.State)
		}
		where = append(where, `state = ?`)
		args = append(args, string(query.State))
	}
	if query.Kind != "" {
		where = append(where, `kind = ?`)
		args = append(args, query.Kind)
	}
	q := `SELECT ` + intentColumns + ` FROM intents`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, query.Limit)
	return queryIntents(ctx, s.read, q, args...)
}

// ExpireIntents implements store.Store. The least recently finished go
// first.
func (s *Store) ExpireIntents(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	return s.expire(ctx, "intents", expireIntentsSQL, cutoff, limit)
}

// leaseTimes converts now and leaseUntil for storage, refusing a lease that
// would be over before it began.
func leaseTimes(now, leaseUntil time.Time) (nowNs, leaseNs int64, err error) {
	if nowNs, err = unixNano(now); err != nil {
		return 0, 0, err
	}
	if leaseNs, err = unixNano(leaseUntil); err != nil {
		return 0, 0, err
	}
	if leaseNs <= nowNs {
		return 0, 0, fmt.Errorf("lease until %s is not after now, %s",
			leaseUntil.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	}
	return nowNs, leaseNs, nil
}

func knownState(state store.IntentState) bool {
	switch state {
	case store.IntentPending, store.IntentLeased, store.IntentDone, store.IntentFailed:
		return true
	}
	return false
}

// querier is what queryIntents needs of a pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryIntents runs q, which selects intentColumns, and reads every row.
// The rows are closed before it returns, so a transaction can go on to
// write.
func queryIntents(ctx context.Context, db querier, q string, args ...any) ([]store.Intent, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	intents := []store.Intent{}
	for rows.Next() {
		in, err := scanIntent(rows)
		if err != nil {
			return nil, err
		}
		intents = append(intents, in)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return intents, rows.Close()
}

// scanIntent reads one row of intentColumns from a *sql.Row or *sql.Rows.
func scanIntent(row interface{ Scan(dest ...any) error }) (store.Intent, error) {
	var (
		in                          store.Intent
		state                       string
		notBefore, created, updated int64
		leaseUntil                  sql.NullInt64
	)
	// Scanning into *[]byte copies, so Payload does not alias driver memory.
	if err := row.Scan(&in.ID, &in.Key, &in.Kind, &in.Payload, &state, &in.Attempts, &notBefore, &created,
		&updated, &in.LeaseToken, &leaseUntil, &in.LastError, &in.Outcome); err != nil {
		return store.Intent{}, err
	}
	in.State = store.IntentState(state)
	in.NotBefore = fromUnixNano(notBefore)
	in.CreatedAt = fromUnixNano(created)
	in.UpdatedAt = fromUnixNano(updated)
	if leaseUntil.Valid {
		in.LeaseUntil = fromUnixNano(leaseUntil.Int64)
	}
	return in, nil
}
