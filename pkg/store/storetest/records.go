package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
)

func putRecord(t *testing.T, s store.Store, rec store.Record, now time.Time) store.Record {
	t.Helper()
	got, err := s.PutRecord(t.Context(), rec, now)
	if err != nil {
		t.Fatalf("PutRecord(%s/%s v%d): %v", rec.Kind, rec.ID, rec.Version, err)
	}
	return got
}

func testRecordCreateAndUpdate(t *testing.T, s store.Store) {
	created := putRecord(t, s, store.Record{Kind: "case", ID: "c1", Value: []byte(`{"state":"requested"}`), Until: t0.Add(time.Hour)}, t0)
	if created.Version != 1 || !created.UpdatedAt.Equal(t0) || created.UpdatedAt.Location() != time.UTC {
		t.Fatalf("created = %+v", created)
	}
	if _, err := s.PutRecord(t.Context(), store.Record{Kind: "case", ID: "c1", Value: []byte(`{}`), Until: t0.Add(time.Hour)}, t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second create: %v, want ErrConflict", err)
	}
	// Two writers read version 1; the first to write wins.
	a, b := created, created
	a.Value, b.Value = []byte(`{"state":"running"}`), []byte(`{"state":"cancelled"}`)
	updated := putRecord(t, s, a, t0.Add(time.Minute))
	if updated.Version != 2 || !bytes.Equal(updated.Value, a.Value) {
		t.Fatalf("updated = %+v", updated)
	}
	if _, err := s.PutRecord(t.Context(), b, t0.Add(time.Minute)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale write: %v, want ErrConflict", err)
	}
	got, err := s.GetRecord(t.Context(), "case", "c1")
	if err != nil || got.Version != 2 || !bytes.Equal(got.Value, a.Value) || !got.UpdatedAt.Equal(t0.Add(time.Minute)) || !got.Until.Equal(t0.Add(time.Hour)) {
		t.Fatalf("GetRecord = %+v, %v", got, err)
	}
	if _, err := s.GetRecord(t.Context(), "case", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRecord(unknown): %v, want ErrNotFound", err)
	}
	if _, err := s.GetRecord(t.Context(), "other-kind", "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("kinds are not separate: %v", err)
	}
	if _, err := s.PutRecord(t.Context(), store.Record{Kind: "case", ID: "nope", Version: 3, Until: t0}, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update of a missing record: %v, want ErrNotFound", err)
	}
}

func testRecordInvalid(t *testing.T, s store.Store) {
	for _, rec := range []store.Record{
		{ID: "x", Until: t0},
		{Kind: "k", Until: t0},
		{Kind: "k", ID: "x"},
		{Kind: "k", ID: "x", Until: t0, Value: make([]byte, store.MaxRecordValue+1)},
		{Kind: "k", ID: "x", Until: t0, Version: -1},
	} {
		if _, err := s.PutRecord(t.Context(), rec, t0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutRecord(%s/%s, until %v, %d bytes, v%d): %v, want ErrInvalid", rec.Kind, rec.ID, rec.Until, len(rec.Value), rec.Version, err)
		}
	}
	if _, err := s.PutRecord(t.Context(), store.Record{Kind: "k", ID: "max", Until: t0, Value: make([]byte, store.MaxRecordValue)}, t0); err != nil {
		t.Errorf("a value of exactly MaxRecordValue: %v", err)
	}
}

func testRecordsListAndExpire(t *testing.T, s store.Store) {
	for i, id := range []string{"c3", "c1", "c2"} {
		putRecord(t, s, store.Record{Kind: "case", ID: id, Until: t0.Add(time.Duration(i+1) * time.Hour)}, t0)
	}
	putRecord(t, s, store.Record{Kind: "other", ID: "c0", Until: t0}, t0)
	recs, err := s.Records(t.Context(), "case", 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	if fmt.Sprint(ids) != "[c1 c2 c3]" {
		t.Errorf("Records = %v, want [c1 c2 c3]", ids)
	}
	if recs, _ := s.Records(t.Context(), "case", 2); len(recs) != 2 {
		t.Errorf("Records(limit 2) = %d", len(recs))
	}
	if _, err := s.Records(t.Context(), "case", 0); err == nil {
		t.Error("Records(limit 0) succeeded")
	}
	// c3 (until +1h) and other/c0 (until t0) are before +90m; one page at a time.
	n, err := s.ExpireRecords(t.Context(), t0.Add(90*time.Minute), 1)
	if err != nil || n != 1 {
		t.Fatalf("ExpireRecords page 1 = %d, %v", n, err)
	}
	if _, err := s.GetRecord(t.Context(), "other", "c0"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the earliest Until was not expired first: %v", err)
	}
	if n, err := s.ExpireRecords(t.Context(), t0.Add(90*time.Minute), 10); err != nil || n != 1 {
		t.Fatalf("ExpireRecords page 2 = %d, %v", n, err)
	}
	if recs, _ := s.Records(t.Context(), "case", 10); len(recs) != 2 {
		t.Errorf("after expiry %d records, want 2", len(recs))
	}
	if _, err := s.ExpireRecords(t.Context(), t0, 0); err == nil {
		t.Error("ExpireRecords(limit 0) succeeded")
	}
}

func testConcurrentPutRecord(t *testing.T, s store.Store) {
	base := putRecord(t, s, store.Record{Kind: "case", ID: "race", Until: t0.Add(time.Hour)}, t0)
	won, err := Race(goroutines, func(i int) (bool, error) {
		rec := base
		rec.Value = []byte(fmt.Sprint(i))
		_, err := s.PutRecord(t.Context(), rec, t0)
		if errors.Is(err, store.ErrConflict) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ok := range won {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d of %d writers of version %d succeeded, want exactly 1", n, goroutines, base.Version)
	}
}
