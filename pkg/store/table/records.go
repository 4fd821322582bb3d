package table

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/reinstate/reinstate/pkg/store"
)

// recordKeys places record (kind, id): one partition per kind, and the id
// hex-encoded, which keeps its byte order, so that Records reads a kind
// oldest ID first without sorting. Keys hold at most 1 KiB, so kind and id
// may each be at most maxHexKey bytes.
func recordKeys(kind, id string) (pk, rk string, err error) {
	if len(kind) > maxHexKey || len(id) > maxHexKey {
		return "", "", fmt.Errorf("%w: kind or id longer than %d bytes", store.ErrInvalid, maxHexKey)
	}
	return hexKey(kind), hexKey(id), nil
}

// PutRecord implements store.Store: a create is AddEntity, which fails when
// the record exists, and an update is UpdateEntity on the ETag of the
// version the caller named, which fails when anyone wrote since.
func (s *Store) PutRecord(ctx context.Context, rec store.Record, now time.Time) (store.Record, error) {
	stored, err := s.putRecord(ctx, rec, now)
	if err != nil {
		return store.Record{}, fmt.Errorf("table store: put record %s/%s: %w", rec.Kind, rec.ID, err)
	}
	return stored, nil
}

func (s *Store) putRecord(ctx context.Context, rec store.Record, now time.Time) (store.Record, error) {
	if err := s.usable(ctx); err != nil {
		return store.Record{}, err
	}
	if err := store.CheckRecord(rec); err != nil {
		return store.Record{}, err
	}
	pk, rk, err := recordKeys(rec.Kind, rec.ID)
	if err != nil {
		return store.Record{}, err
	}
	nowNs, err := nanos(now)
	if err != nil {
		return store.Record{}, err
	}
	untilNs, err := nanos(rec.Until)
	if err != nil {
		return store.Record{}, err
	}
	value := rec.Value
	if value == nil {
		value = []byte{}
	}
	props := map[string]any{"Kind": rec.Kind, "ID": rec.ID, "Value": aztables.EDMBinary(value),
		"Version": aztables.EDMInt64(rec.Version + 1), "Until": untilNs, "UpdatedAt": nowNs}
	if rec.Version == 0 {
		err = add(ctx, s.records, pk, rk, props)
	} else {
		var e entity
		e, err = get(ctx, s.records, pk, rk)
		switch {
		case err != nil:
		case e.i64("Version") != rec.Version:
			err = errChanged
		default:
			err = replace(ctx, s.records, pk, rk, e.etag, props)
		}
	}
	switch {
	case errors.Is(err, errGone):
		return store.Record{}, store.ErrNotFound
	case errors.Is(err, errExists), errors.Is(err, errChanged):
		return store.Record{}, store.ErrConflict
	case err != nil:
		return store.Record{}, err
	}
	rec.Value, rec.Version, rec.Until, rec.UpdatedAt = value, rec.Version+1, rec.Until.UTC(), now.UTC()
	return rec, nil
}

func recordFrom(e entity) store.Record {
	rec := store.Record{Kind: e.str("Kind"), ID: e.str("ID"), Value: e.bin("Value"), Version: e.i64("Version"),
		Until: e.time("Until"), UpdatedAt: e.time("UpdatedAt")}
	if rec.Value == nil {
		rec.Value = []byte{}
	}
	return rec
}

// GetRecord implements store.Store.
func (s *Store) GetRecord(ctx context.Context, kind, id string) (store.Record, error) {
	rec, err := s.getRecord(ctx, kind, id)
	if err != nil {
		return store.Record{}, fmt.Errorf("table store: record %s/%s: %w", kind, id, err)
	}
	return rec, nil
}

func (s *Store) getRecord(ctx context.Context, kind, id string) (store.Record, error) {
	if err := s.usable(ctx); err != nil {
		return store.Record{}, err
	}
	pk, rk, err := recordKeys(kind, id)
	if err != nil {
		return store.Record{}, store.ErrNotFound // too long to have been stored
	}
	e, err := get(ctx, s.records, pk, rk)
	if errors.Is(err, errGone) {
		return store.Record{}, store.ErrNotFound
	}
	if err != nil {
		return store.Record{}, err
	}
	return recordFrom(e), nil
}

// Records implements store.Store.
func (s *Store) Records(ctx context.Context, kind string, limit int) ([]store.Record, error) {
	recs, err := s.listRecords(ctx, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("table store: records of %s: %w", kind, err)
	}
	return recs, nil
}

func (s *Store) listRecords(ctx context.Context, kind string, limit int) ([]store.Record, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("limit %d is not positive", limit)
	}
	pk, _, err := recordKeys(kind, "")
	if err != nil {
		return nil, nil
	}
	var recs []store.Record
	err = query(ctx, s.records, "PartitionKey eq "+quote(pk), nil, limit, func(e entity) bool {
		recs = append(recs, recordFrom(e))
		return len(recs) < limit
	})
	return recs, err
}

// ExpireRecords implements store.Store.
func (s *Store) ExpireRecords(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	n, err := s.expireBefore(ctx, s.records, "Until", "ID", cutoff, limit)
	if err != nil {
		return n, fmt.Errorf("table store: expire records: %w", err)
	}
	return n, nil
}
