package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
)

// Statements whose plans TestGuardQueryPlans checks: each must be served by
// its index, not by a scan of the table or a sort. Hits are the one guard
// table that grows with the tenant's activity.
const (
	// countHitsSQL reads one range of hits_window.
	countHitsSQL = `SELECT count(*) FROM hits WHERE scope = ? AND at BETWEEN ? AND ?`
	// hitsSQL reads the same range, in its order.
	hitsSQL = `SELECT scope, id, at FROM hits WHERE scope = ? AND at BETWEEN ? AND ? ORDER BY at, id LIMIT ?`
	// expireHitsSQL reads the first entries of hits_at.
	expireHitsSQL = `DELETE FROM hits WHERE rowid IN (
		SELECT rowid FROM hits WHERE at < ? ORDER BY at LIMIT ?)`
)

// silenceColumns are the columns scanSilence reads, in its order.
const silenceColumns = `id, rule, initiator, object_id, reason, created_by, starts_at, ends_at, created_at`

// RecordHit implements store.Store. One INSERT is atomic on its own, across
// processes too: the primary key on (scope, id) lets exactly one of racing
// inserts through, and SQLite counts only that one as a change.
func (s *Store) RecordHit(ctx context.Context, scope, id string, at time.Time) (bool, error) {
	recorded, err := s.recordHit(ctx, scope, id, at)
	if err != nil {
		return false, fmt.Errorf("sqlite store: record hit %q in %q: %w", id, scope, err)
	}
	return recorded, nil
}

func (s *Store) recordHit(ctx context.Context, scope, id string, at time.Time) (bool, error) {
	if err := store.CheckHit(scope, id); err != nil {
		return false, err
	}
	atNs, err := unixNano(at)
	if err != nil {
		return false, err
	}
	res, err := s.write.ExecContext(ctx,
		`INSERT INTO hits (scope, id, at) VALUES (?, ?, ?) ON CONFLICT (scope, id) DO NOTHING`,
		scope, id, atNs)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// CountHits implements store.Store.
func (s *Store) CountHits(ctx context.Context, scope string, since, until time.Time) (int, error) {
	n, err := s.countHits(ctx, scope, since, until)
	if err != nil {
		return 0, fmt.Errorf("sqlite store: count hits in %q: %w", scope, err)
	}
	return n, nil
}

func (s *Store) countHits(ctx context.Context, scope string, since, until time.Time) (int, error) {
	sinceNs, untilNs, err := window(since, until)
	if err != nil {
		return 0, err
	}
	var n int
	if err := s.read.QueryRowContext(ctx, countHitsSQL, scope, sinceNs, untilNs).Scan(&n); err != nil {
		return 0, err
	}
	return n, nil
}

// Hits implements store.Store.
func (s *Store) Hits(ctx context.Context, scope string, since, until time.Time, limit int) ([]store.Hit, error) {
	hits, err := s.hits(ctx, scope, since, until, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: hits in %q: %w", scope, err)
	}
	return hits, nil
}

func (s *Store) hits(ctx context.Context, scope string, since, until time.Time, limit int) ([]store.Hit, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("limit %d is not positive", limit)
	}
	sinceNs, untilNs, err := window(since, until)
	if err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, hitsSQL, scope, sinceNs, untilNs, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	hits := []store.Hit{}
	for rows.Next() {
		var h store.Hit
		var at int64
		if err := rows.Scan(&h.Scope, &h.ID, &at); err != nil {
			return nil, err
		}
		h.At = fromUnixNano(at)
		hits = append(hits, h)
	}
	return hits, rows.Err()
}

// ExpireHits implements store.Store.
func (s *Store) ExpireHits(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	return s.expire(ctx, "hits", expireHitsSQL, cutoff, limit)
}

// PutMark implements store.Store. One upsert is atomic on its own.
func (s *Store) PutMark(ctx context.Context, mark store.Mark, now time.Time) error {
	if err := s.putMark(ctx, mark, now); err != nil {
		return fmt.Errorf("sqlite store: put mark %q: %w", mark.Key, err)
	}
	return nil
}

func (s *Store) putMark(ctx context.Context, mark store.Mark, now time.Time) error {
	if err := store.CheckMark(mark); err != nil {
		return err
	}
	untilNs, err := unixNano(mark.Until)
	if err != nil {
		return err
	}
	nowNs, err := unixNano(now)
	if err != nil {
		return err
	}
	_, err = s.write.ExecContext(ctx,
		`INSERT INTO marks (key, value, until, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, until = excluded.until,
			updated_at = excluded.updated_at`,
		mark.Key, mark.Value, untilNs, nowNs)
	return err
}

// GetMark implements store.Store.
func (s *Store) GetMark(ctx context.Context, key string) (store.Mark, error) {
	mark := store.Mark{Key: key}
	var until, updated int64
	err := s.read.QueryRowContext(ctx, `SELECT value, until, updated_at FROM marks WHERE key = ?`, key).
		Scan(&mark.Value, &until, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Mark{}, fmt.Errorf("sqlite store: mark %q: %w", key, err)
	}
	mark.Until, mark.UpdatedAt = fromUnixNano(until), fromUnixNano(updated)
	return mark, nil
}

// DeleteMark implements store.Store.
func (s *Store) DeleteMark(ctx context.Context, key string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM marks WHERE key = ?`, key); err != nil {
		return fmt.Errorf("sqlite store: delete mark %q: %w", key, err)
	}
	return nil
}

// ExpireMarks implements store.Store.
func (s *Store) ExpireMarks(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	return s.expire(ctx, "marks", `DELETE FROM marks WHERE key IN (
		SELECT key FROM marks WHERE until < ? ORDER BY until LIMIT ?)`, cutoff, limit)
}

// PutSilence implements store.Store.
func (s *Store) PutSilence(ctx context.Context, silence store.Silence, now time.Time) (store.Silence, error) {
	stored, err := s.putSilence(ctx, silence, now)
	if err != nil {
		return store.Silence{}, fmt.Errorf("sqlite store: put silence: %w", err)
	}
	return stored, nil
}

func (s *Store) putSilence(ctx context.Context, in store.Silence, now time.Time) (store.Silence, error) {
	if in.StartsAt.IsZero() {
		in.StartsAt = now
	}
	if err := store.CheckSilence(in); err != nil {
		return store.Silence{}, err
	}
	nowNs, err := unixNano(now)
	if err != nil {
		return store.Silence{}, err
	}
	startsNs, err := unixNano(in.StartsAt)
	if err != nil {
		return store.Silence{}, err
	}
	endsNs, err := unixNano(in.EndsAt)
	if err != nil {
		return store.Silence{}, err
	}
	in.ID, _ = s.stamp(now)
	in.StartsAt, in.EndsAt, in.CreatedAt = in.StartsAt.UTC(), in.EndsAt.UTC(), now.UTC()
	_, err = s.write.ExecContext(ctx,
		`INSERT INTO silences (`+silenceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		in.ID, in.Rule, in.Initiator, in.ObjectID, in.Reason, in.CreatedBy, startsNs, endsNs, nowNs)
	if err != nil {
		return store.Silence{}, err
	}
	return in, nil
}

// Silences implements store.Store, newest (greatest ID) first.
func (s *Store) Silences(ctx context.Context, query store.SilenceQuery) ([]store.Silence, error) {
	silences, err := s.silences(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: silences: %w", err)
	}
	return silences, nil
}

func (s *Store) silences(ctx context.Context, query store.SilenceQuery) ([]store.Silence, error) {
	if query.Limit <= 0 {
		return nil, fmt.Errorf("limit %d is not positive", query.Limit)
	}
	q := `SELECT ` + silenceColumns + ` FROM silences`
	var args []any
	if !query.ActiveAt.IsZero() {
		activeNs, err := unixNano(query.ActiveAt)
		if err != nil {
			return nil, err
		}
		q += ` WHERE starts_at <= ? AND ? < ends_at`
		args = append(args, activeNs, activeNs)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, query.Limit)

	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	silences := []store.Silence{}
	for rows.Next() {
		var (
			sl                        store.Silence
			starts, ends, createdAtNs int64
		)
		if err := rows.Scan(&sl.ID, &sl.Rule, &sl.Initiator, &sl.ObjectID, &sl.Reason, &sl.CreatedBy,
			&starts, &ends, &createdAtNs); err != nil {
			return nil, err
		}
		sl.StartsAt, sl.EndsAt, sl.CreatedAt = fromUnixNano(starts), fromUnixNano(ends), fromUnixNano(createdAtNs)
		silences = append(silences, sl)
	}
	return silences, rows.Err()
}

// EndSilence implements store.Store. One UPDATE is atomic on its own, and
// SQLite counts the row it matched even when min leaves ends_at as it was,
// so no match means no silence.
func (s *Store) EndSilence(ctx context.Context, id string, now time.Time) error {
	if err := s.endSilence(ctx, id, now); err != nil {
		return fmt.Errorf("sqlite store: end silence %s: %w", id, err)
	}
	return nil
}

func (s *Store) endSilence(ctx context.Context, id string, now time.Time) error {
	nowNs, err := unixNano(now)
	if err != nil {
		return err
	}
	res, err := s.write.ExecContext(ctx, `UPDATE silences SET ends_at = min(ends_at, ?) WHERE id = ?`, nowNs, id)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ExpireSilences implements store.Store.
func (s *Store) ExpireSilences(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	return s.expire(ctx, "silences", `DELETE FROM silences WHERE id IN (
		SELECT id FROM silences WHERE ends_at < ? ORDER BY ends_at LIMIT ?)`, cutoff, limit)
}

// window converts the ends of a window of hits for storage.
func window(since, until time.Time) (sinceNs, untilNs int64, err error) {
	if sinceNs, err = unixNano(since); err != nil {
		return 0, 0, err
	}
	if untilNs, err = unixNano(until); err != nil {
		return 0, 0, err
	}
	return sinceNs, untilNs, nil
}
