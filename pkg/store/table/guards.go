package table

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/reinstate/reinstate/pkg/store"
)

// hitKeys places hit (scope, id): one partition per scope, so that a
// window is counted within one partition, and the id's hash as the row
// key, so that recording is an insert-if-absent.
func hitKeys(scope, id string) (pk, rk string) { return hashKey(scope), hashKey(id) }

// RecordHit implements store.Store. AddEntity is the atomic check and
// insert: of callers racing with one hit exactly one gets true.
func (s *Store) RecordHit(ctx context.Context, scope, id string, at time.Time) (bool, error) {
	recorded, err := s.recordHit(ctx, scope, id, at)
	if err != nil {
		return false, fmt.Errorf("table store: record hit %q in %q: %w", id, scope, err)
	}
	return recorded, nil
}

func (s *Store) recordHit(ctx context.Context, scope, id string, at time.Time) (bool, error) {
	if err := s.usable(ctx); err != nil {
		return false, err
	}
	if err := store.CheckHit(scope, id); err != nil {
		return false, err
	}
	atNs, err := nanos(at)
	if err != nil {
		return false, err
	}
	pk, rk := hitKeys(scope, id)
	switch err := add(ctx, s.hits, pk, rk, map[string]any{"Scope": scope, "ID": id, "At": atNs}); {
	case err == nil:
		return true, nil
	case errors.Is(err, errExists):
		return false, nil
	default:
		return false, err
	}
}

// windowFilter selects scope's hits with since <= At <= until.
func windowFilter(scope string, since, until time.Time) (string, error) {
	sinceNs, err := nanos(since)
	if err != nil {
		return "", err
	}
	untilNs, err := nanos(until)
	if err != nil {
		return "", err
	}
	pk, _ := hitKeys(scope, "")
	return "PartitionKey eq " + quote(pk) + " and At ge " + i64Lit(sinceNs) + " and At le " + i64Lit(untilNs), nil
}

// CountHits implements store.Store, reading only the row keys of the
// window's hits: Table Storage has no count.
func (s *Store) CountHits(ctx context.Context, scope string, since, until time.Time) (int, error) {
	n, err := s.countHits(ctx, scope, since, until)
	if err != nil {
		return 0, fmt.Errorf("table store: count hits in %q: %w", scope, err)
	}
	return n, nil
}

func (s *Store) countHits(ctx context.Context, scope string, since, until time.Time) (int, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	filter, err := windowFilter(scope, since, until)
	if err != nil {
		return 0, err
	}
	n := 0
	err = query(ctx, s.hits, filter, []string{"RowKey"}, 0, func(entity) bool { n++; return true })
	return n, err
}

// Hits implements store.Store. Row keys are hashes, so it sorts the
// window's hits itself.
func (s *Store) Hits(ctx context.Context, scope string, since, until time.Time, limit int) ([]store.Hit, error) {
	hits, err := s.listHits(ctx, scope, since, until, limit)
	if err != nil {
		return nil, fmt.Errorf("table store: hits in %q: %w", scope, err)
	}
	return hits, nil
}

func (s *Store) listHits(ctx context.Context, scope string, since, until time.Time, limit int) ([]store.Hit, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("limit %d is not positive", limit)
	}
	filter, err := windowFilter(scope, since, until)
	if err != nil {
		return nil, err
	}
	hits := []store.Hit{}
	if err := query(ctx, s.hits, filter, []string{"Scope", "ID", "At"}, 0, func(e entity) bool {
		hits = append(hits, store.Hit{Scope: e.str("Scope"), ID: e.str("ID"), At: e.time("At")})
		return true
	}); err != nil {
		return nil, err
	}
	slices.SortFunc(hits, func(a, b store.Hit) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return hits[:min(limit, len(hits))], nil
}

// ExpireHits implements store.Store.
func (s *Store) ExpireHits(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	n, err := s.expireBefore(ctx, s.hits, "At", "ID", cutoff, limit)
	if err != nil {
		return n, fmt.Errorf("table store: expire hits: %w", err)
	}
	return n, nil
}

// expireBefore deletes at most limit entities of c whose Int64 property
// prop is before cutoff, least prop (then tie) first.
func (s *Store) expireBefore(ctx context.Context, c *aztables.Client, prop, tie string, cutoff time.Time, limit int) (int, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	cutoffNs, err := nanos(cutoff)
	if err != nil {
		return 0, err
	}
	return expireOldest(ctx, c, prop+" lt "+i64Lit(cutoffNs), []string{prop, tie}, limit, byInt64(prop, tie))
}

// markKeys places the mark with key, spread over 256 partitions by its
// hash.
func markKeys(key string) (pk, rk string) {
	h := hashKey(key)
	return bucket(h), h
}

// PutMark implements store.Store. An upsert that replaces the entity whole
// is last writer wins, as the contract says.
func (s *Store) PutMark(ctx context.Context, mark store.Mark, now time.Time) error {
	if err := s.putMark(ctx, mark, now); err != nil {
		return fmt.Errorf("table store: put mark %q: %w", mark.Key, err)
	}
	return nil
}

func (s *Store) putMark(ctx context.Context, mark store.Mark, now time.Time) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	if err := store.CheckMark(mark); err != nil {
		return err
	}
	untilNs, err := nanos(mark.Until)
	if err != nil {
		return err
	}
	nowNs, err := nanos(now)
	if err != nil {
		return err
	}
	pk, rk := markKeys(mark.Key)
	return upsert(ctx, s.marks, pk, rk, map[string]any{
		"Key": mark.Key, "Value": mark.Value, "Until": untilNs, "UpdatedAt": nowNs,
	})
}

// GetMark implements store.Store.
func (s *Store) GetMark(ctx context.Context, key string) (store.Mark, error) {
	mark, err := s.getMark(ctx, key)
	if err != nil {
		return store.Mark{}, fmt.Errorf("table store: mark %q: %w", key, err)
	}
	return mark, nil
}

func (s *Store) getMark(ctx context.Context, key string) (store.Mark, error) {
	if err := s.usable(ctx); err != nil {
		return store.Mark{}, err
	}
	pk, rk := markKeys(key)
	e, err := get(ctx, s.marks, pk, rk)
	if errors.Is(err, errGone) {
		return store.Mark{}, store.ErrNotFound
	}
	if err != nil {
		return store.Mark{}, err
	}
	return store.Mark{Key: key, Value: e.str("Value"), Until: e.time("Until"), UpdatedAt: e.time("UpdatedAt")}, nil
}

// DeleteMark implements store.Store.
func (s *Store) DeleteMark(ctx context.Context, key string) error {
	err := s.usable(ctx)
	if err == nil {
		pk, rk := markKeys(key)
		if err = remove(ctx, s.marks, pk, rk, "*"); errors.Is(err, errGone) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("table store: delete mark %q: %w", key, err)
	}
	return nil
}

// ExpireMarks implements store.Store.
func (s *Store) ExpireMarks(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	n, err := s.expireBefore(ctx, s.marks, "Until", "Key", cutoff, limit)
	if err != nil {
		return n, fmt.Errorf("table store: expire marks: %w", err)
	}
	return n, nil
}

// silencePartition holds every silence: operators set a handful, and one
// partition lets Silences read newest first without sorting.
const silencePartition = "silences"

func silenceProps(sl store.Silence) (map[string]any, error) {
	var ts [3]aztables.EDMInt64
	for i, t := range []time.Time{sl.StartsAt, sl.EndsAt, sl.CreatedAt} {
		n, err := nanos(t)
		if err != nil {
			return nil, err
		}
		ts[i] = n
	}
	return map[string]any{
		"ID": sl.ID, "Rule": sl.Rule, "Initiator": sl.Initiator, "ObjectID": sl.ObjectID,
		"Reason": sl.Reason, "CreatedBy": sl.CreatedBy,
		"StartsAt": ts[0], "EndsAt": ts[1], "CreatedAt": ts[2],
	}, nil
}

func silenceFrom(e entity) store.Silence {
	return store.Silence{
		ID: e.str("ID"), Rule: e.str("Rule"), Initiator: e.str("Initiator"), ObjectID: e.str("ObjectID"),
		Reason: e.str("Reason"), CreatedBy: e.str("CreatedBy"),
		StartsAt: e.time("StartsAt"), EndsAt: e.time("EndsAt"), CreatedAt: e.time("CreatedAt"),
	}
}

// PutSilence implements store.Store.
func (s *Store) PutSilence(ctx context.Context, silence store.Silence, now time.Time) (store.Silence, error) {
	stored, err := s.putSilence(ctx, silence, now)
	if err != nil {
		return store.Silence{}, fmt.Errorf("table store: put silence: %w", err)
	}
	return stored, nil
}

func (s *Store) putSilence(ctx context.Context, in store.Silence, now time.Time) (store.Silence, error) {
	if err := s.usable(ctx); err != nil {
		return store.Silence{}, err
	}
	if in.StartsAt.IsZero() {
		in.StartsAt = now
	}
	if err := store.CheckSilence(in); err != nil {
		return store.Silence{}, err
	}
	in.ID, _ = s.stamp(now)
	in.StartsAt, in.EndsAt, in.CreatedAt = in.StartsAt.UTC(), in.EndsAt.UTC(), now.UTC()
	props, err := silenceProps(in)
	if err != nil {
		return store.Silence{}, err
	}
	if err := add(ctx, s.silences, silencePartition, invertID(in.ID), props); err != nil {
		return store.Silence{}, err
	}
	return in, nil
}

// Silences implements store.Store, newest (greatest ID) first: the row
// keys are inverted IDs.
func (s *Store) Silences(ctx context.Context, query store.SilenceQuery) ([]store.Silence, error) {
	silences, err := s.listSilences(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("table store: silences: %w", err)
	}
	return silences, nil
}

func (s *Store) listSilences(ctx context.Context, q store.SilenceQuery) ([]store.Silence, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		return nil, fmt.Errorf("limit %d is not positive", q.Limit)
	}
	filter := "PartitionKey eq " + quote(silencePartition)
	if !q.ActiveAt.IsZero() {
		active, err := nanos(q.ActiveAt)
		if err != nil {
			return nil, err
		}
		filter += " and StartsAt le " + i64Lit(active) + " and EndsAt gt " + i64Lit(active)
	}
	silences := []store.Silence{}
	err := query(ctx, s.silences, filter, nil, q.Limit, func(e entity) bool {
		silences = append(silences, silenceFrom(e))
		return len(silences) < q.Limit
	})
	return silences, err
}

// EndSilence implements store.Store, as a read and a write on the ETag
// read, so that two operators ending one silence keep the earlier end.
func (s *Store) EndSilence(ctx context.Context, id string, now time.Time) error {
	if err := s.endSilence(ctx, id, now); err != nil {
		return fmt.Errorf("table store: end silence %s: %w", id, err)
	}
	return nil
}

func (s *Store) endSilence(ctx context.Context, id string, now time.Time) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	nowNs, err := nanos(now)
	if err != nil {
		return err
	}
	if !issuedID(id) {
		return store.ErrNotFound
	}
	rk := invertID(id)
	for range maxRetries {
		e, err := get(ctx, s.silences, silencePartition, rk)
		switch {
		case errors.Is(err, errGone):
			return store.ErrNotFound
		case err != nil:
			return err
		case e.str("ID") != id:
			return store.ErrNotFound
		case e.i64("EndsAt") <= int64(nowNs):
			return nil
		}
		e.props["EndsAt"] = nowNs
		switch err := replace(ctx, s.silences, silencePartition, rk, e.etag, e.props); {
		case err == nil:
			return nil
		case errors.Is(err, errChanged):
			continue
		case errors.Is(err, errGone):
			return store.ErrNotFound
		default:
			return err
		}
	}
	return errors.New("too much contention on the silence")
}

// ExpireSilences implements store.Store.
func (s *Store) ExpireSilences(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	n, err := s.expireBefore(ctx, s.silences, "EndsAt", "ID", cutoff, limit)
	if err != nil {
		return n, fmt.Errorf("table store: expire silences: %w", err)
	}
	return n, nil
}
