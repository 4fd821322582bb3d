package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
)

// PutRecord implements store.Store.
func (s *Store) PutRecord(ctx context.Context, rec store.Record, now time.Time) (store.Record, error) {
	stored, err := s.putRecord(ctx, rec, now)
	if err != nil {
		return store.Record{}, fmt.Errorf("sqlite store: put record %s/%s: %w", rec.Kind, rec.ID, err)
	}
	return stored, nil
}

func (s *Store) putRecord(ctx context.Context, rec store.Record, now time.Time) (store.Record, error) {
	if err := store.CheckRecord(rec); err != nil {
		return store.Record{}, err
	}
	nowNs, err := unixNano(now)
	if err != nil {
		return store.Record{}, err
	}
	untilNs, err := unixNano(rec.Until)
	if err != nil {
		return store.Record{}, err
	}
	value := rec.Value
	if value == nil {
		value = []byte{}
	}
	var res sql.Result
	if rec.Version == 0 {
		res, err = s.write.ExecContext(ctx,
			`INSERT INTO records (kind, id, value, version, until, updated_at) VALUES (?, ?, ?, 1, ?, ?)
			ON CONFLICT (kind, id) DO NOTHING`, rec.Kind, rec.ID, value, untilNs, nowNs)
	} else {
		res, err = s.write.ExecContext(ctx,
			`UPDATE records SET value = ?, version = version + 1, until = ?, updated_at = ?
			WHERE kind = ? AND id = ? AND version = ?`, value, untilNs, nowNs, rec.Kind, rec.ID, rec.Version)
	}
	if err != nil {
		return store.Record{}, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return store.Record{}, err
	} else if n == 0 {
		if rec.Version != 0 {
			if _, err := s.getRecord(ctx, rec.Kind, rec.ID); errors.Is(err, store.ErrNotFound) {
				return store.Record{}, store.ErrNotFound
			}
		}
		return store.Record{}, store.ErrConflict
	}
	rec.Value, rec.Version, rec.Until, rec.UpdatedAt = value, rec.Version+1, fromUnixNano(untilNs), fromUnixNano(nowNs)
	return rec, nil
}

// GetRecord implements store.Store.
func (s *Store) GetRecord(ctx context.Context, kind, id string) (store.Record, error) {
	rec, err := s.getRecord(ctx, kind, id)
	if err != nil {
		return store.Record{}, fmt.Errorf("sqlite store: record %s/%s: %w", kind, id, err)
	}
	return rec, nil
}

func (s *Store) getRecord(ctx context.Context, kind, id string) (store.Record, error) {
	rec := store.Record{Kind: kind, ID: id}
	var until, updated int64
	err := s.read.QueryRowContext(ctx, `SELECT value, version, until, updated_at FROM records WHERE kind = ? AND id = ?`, kind, id).
		Scan(&rec.Value, &rec.Version, &until, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Record{}, store.ErrNotFound
	}
	if err != nil {
		return store.Record{}, err
	}
	rec.Until, rec.UpdatedAt = fromUnixNano(until), fromUnixNano(updated)
	return rec, nil
}

// Records implements store.Store.
func (s *Store) Records(ctx context.Context, kind string, limit int) ([]store.Record, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("sqlite store: records of %s: limit %d is not positive", kind, limit)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, value, version, until, updated_at FROM records WHERE kind = ? ORDER BY id LIMIT ?`, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: records of %s: %w", kind, err)
	}
	defer rows.Close()
	var out []store.Record
	for rows.Next() {
		rec := store.Record{Kind: kind}
		var until, updated int64
		if err := rows.Scan(&rec.ID, &rec.Value, &rec.Version, &until, &updated); err != nil {
			return nil, fmt.Errorf("sqlite store: records of %s: %w", kind, err)
		}
		rec.Until, rec.UpdatedAt = fromUnixNano(until), fromUnixNano(updated)
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: records of %s: %w", kind, err)
	}
	return out, nil
}

// ExpireRecords implements store.Store.
func (s *Store) ExpireRecords(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	return s.expire(ctx, "records", `DELETE FROM records WHERE rowid IN (
		SELECT rowid FROM records WHERE until < ? ORDER BY until LIMIT ?)`, cutoff, limit)
}
