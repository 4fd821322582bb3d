package table

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/reinstate/reinstate/pkg/store"
)

// An intent is one entity keyed by the hash of its Key, so that Enqueue's
// insert-if-absent is a single AddEntity. Its ID is a store.NewID, which
// orders intents by creation, followed by that hash, so that Intent(id) is
// a point read too: Table Storage has no secondary index to find an entity
// by a property.
const intentHashLen = 64

func intentKeys(key string) (pk, rk string) {
	h := hashKey(key)
	return bucket(h), h
}

// intentIDKeys finds the entity of the intent with id, if id is one this
// store issued.
func intentIDKeys(id string) (pk, rk string, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 || len(id)-i-1 != intentHashLen {
		return "", "", false
	}
	h := id[i+1:]
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", "", false
		}
	}
	return bucket(h), h, true
}

// notDue is the Due of a finished intent: never.
const notDue = aztables.EDMInt64(math.MaxInt64)

// intentProps renders in for storage. Due is when LeaseIntents may take the
// intent, kept as a property of its own so that the service can filter on
// it: NotBefore when pending, LeaseUntil when leased, never when finished.
func intentProps(in store.Intent) (map[string]any, error) {
	var ts [4]aztables.EDMInt64
	for i, t := range []time.Time{in.NotBefore, in.CreatedAt, in.UpdatedAt, in.LeaseUntil} {
		if i == 3 && t.IsZero() {
			continue
		}
		n, err := nanos(t)
		if err != nil {
			return nil, err
		}
		ts[i] = n
	}
	due := notDue
	switch in.State {
	case store.IntentPending:
		due = ts[0]
	case store.IntentLeased:
		due = ts[3]
	}
	payload := in.Payload
	if payload == nil {
		payload = []byte{}
	}
	props := map[string]any{
		"ID": in.ID, "Key": in.Key, "Kind": in.Kind, "Payload": aztables.EDMBinary(payload),
		"State": string(in.State), "Attempts": aztables.EDMInt64(in.Attempts),
		"NotBefore": ts[0], "CreatedAt": ts[1], "UpdatedAt": ts[2], "Due": due,
		"LeaseToken": in.LeaseToken, "LastError": in.LastError, "Outcome": in.Outcome,
	}
	if !in.LeaseUntil.IsZero() {
		props["LeaseUntil"] = ts[3]
	}
	return props, nil
}

func intentFrom(e entity) store.Intent {
	in := store.Intent{
		ID: e.str("ID"), Key: e.str("Key"), Kind: e.str("Kind"), Payload: e.bin("Payload"),
		State: store.IntentState(e.str("State")), Attempts: int(e.i64("Attempts")),
		NotBefore: e.time("NotBefore"), CreatedAt: e.time("CreatedAt"), UpdatedAt: e.time("UpdatedAt"),
		LeaseToken: e.str("LeaseToken"), LastError: e.str("LastError"), Outcome: e.str("Outcome"),
	}
	if in.Payload == nil {
		in.Payload = []byte{}
	}
	if e.has("LeaseUntil") {
		in.LeaseUntil = e.time("LeaseUntil")
	}
	return in
}

// Enqueue implements store.Store. AddEntity is the atomic check and insert:
// of callers racing with one key exactly one creates the entity, and the
// others read the one that won.
func (s *Store) Enqueue(ctx context.Context, intent store.Intent, now time.Time) (store.Intent, bool, error) {
	stored, created, err := s.enqueue(ctx, intent, now)
	if err != nil {
		return store.Intent{}, false, fmt.Errorf("table store: enqueue intent %q: %w", intent.Key, err)
	}
	return stored, created, nil
}

func (s *Store) enqueue(ctx context.Context, in store.Intent, now time.Time) (store.Intent, bool, error) {
	if err := s.usable(ctx); err != nil {
		return store.Intent{}, false, err
	}
	switch {
	case in.Key == "":
		return store.Intent{}, false, errors.New("empty key")
	case in.Kind == "":
		return store.Intent{}, false, errors.New("empty kind")
	case len(in.Payload) > store.MaxIntentPayload:
		return store.Intent{}, false, fmt.Errorf("payload of %d bytes is over the limit of %d",
			len(in.Payload), store.MaxIntentPayload)
	}
	if in.NotBefore.IsZero() {
		in.NotBefore = now
	}
	pk, rk := intentKeys(in.Key)
	id, _ := s.stamp(now)
	fresh := store.Intent{
		ID:        id + "-" + rk,
		Key:       in.Key,
		Kind:      in.Kind,
		Payload:   in.Payload,
		State:     store.IntentPending,
		NotBefore: in.NotBefore.UTC(),
		CreatedAt: now.UTC(),
		UpdatedAt: now.UTC(),
	}
	props, err := intentProps(fresh)
	if err != nil {
		return store.Intent{}, false, err
	}
	for range maxRetries {
		switch err := add(ctx, s.intents, pk, rk, props); {
		case err == nil:
			return fresh, true, nil
		case !errors.Is(err, errExists):
			return store.Intent{}, false, err
		}
		e, err := get(ctx, s.intents, pk, rk)
		switch {
		case err == nil:
			return intentFrom(e), false, nil
		case !errors.Is(err, errGone):
			return store.Intent{}, false, fmt.Errorf("read the intent holding the key: %w", err)
		}
		// It expired between the insert and the read: try again.
	}
	return store.Intent{}, false, errors.New("too much contention on the key")
}

// leaseRounds bounds how often LeaseIntents queries again when other
// workers took some of the intents it chose.
const leaseRounds = 5

// LeaseIntents implements store.Store.
//
// It queries the kind's due intents, sorts them (Table Storage cannot), and
// leases them one by one, each with UpdateEntity on the ETag it read: of
// workers racing for an intent exactly one wins, and the others pass over
// it. When it lost some and has fewer than limit it queries again.
func (s *Store) LeaseIntents(ctx context.Context, kind string, now, leaseUntil time.Time, limit int) ([]store.Intent, error) {
	intents, err := s.leaseIntents(ctx, kind, now, leaseUntil, limit)
	if err != nil {
		return nil, fmt.Errorf("table store: lease %q intents: %w", kind, err)
	}
	return intents, nil
}

func (s *Store) leaseIntents(ctx context.Context, kind string, now, leaseUntil time.Time, limit int) ([]store.Intent, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	if kind == "" {
		return nil, errors.New("empty kind")
	}
	if limit <= 0 {
		return nil, fmt.Errorf("limit %d is not positive", limit)
	}
	nowNs, err := leaseTimes(now, leaseUntil)
	if err != nil {
		return nil, err
	}
	leased := []store.Intent{}
	for range leaseRounds {
		var due []entity
		if err := query(ctx, s.intents, "Kind eq "+quote(kind)+" and Due le "+i64Lit(nowNs), nil, 0, func(e entity) bool {
			due = append(due, e)
			return true
		}); err != nil {
			return leased, err
		}
		slices.SortFunc(due, byInt64("Due", "ID"))
		lost := false
		for _, e := range due {
			if len(leased) == limit {
				break
			}
			in := intentFrom(e)
			in.State = store.IntentLeased
			in.LeaseToken = store.NewLeaseToken()
			in.LeaseUntil = leaseUntil.UTC()
			in.Attempts++
			in.UpdatedAt = now.UTC()
			props, err := intentProps(in)
			if err != nil {
				return leased, err
			}
			switch err := replace(ctx, s.intents, e.pk, e.rk, e.etag, props); {
			case err == nil:
				leased = append(leased, in)
			case errors.Is(err, errChanged), errors.Is(err, errGone):
				lost = true
			default:
				return leased, fmt.Errorf("lease intent %s: %w", in.ID, err)
			}
		}
		if !lost || len(leased) == limit {
			break
		}
	}
	return leased, nil
}

// leaseTimes refuses a lease that would be over before it began, and
// returns now for storage.
func leaseTimes(now, leaseUntil time.Time) (aztables.EDMInt64, error) {
	nowNs, err := nanos(now)
	if err != nil {
		return 0, err
	}
	leaseNs, err := nanos(leaseUntil)
	if err != nil {
		return 0, err
	}
	if leaseNs <= nowNs {
		return 0, fmt.Errorf("lease until %s is not after now, %s",
			leaseUntil.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	}
	return nowNs, nil
}

// RenewIntentLease implements store.Store.
func (s *Store) RenewIntentLease(ctx context.Context, id, token string, now, leaseUntil time.Time) error {
	_, err := leaseTimes(now, leaseUntil)
	if err == nil {
		err = s.transition(ctx, id, token, func(in *store.Intent) {
			in.LeaseUntil, in.UpdatedAt = leaseUntil.UTC(), now.UTC()
		})
	}
	if err != nil {
		return fmt.Errorf("table store: renew lease of intent %s: %w", id, err)
	}
	return nil
}

// CompleteIntent implements store.Store.
func (s *Store) CompleteIntent(ctx context.Context, id, token string, now time.Time, outcome string) error {
	err := s.transition(ctx, id, token, func(in *store.Intent) {
		in.State, in.Outcome = store.IntentDone, outcome
		in.LeaseToken, in.LeaseUntil, in.UpdatedAt = "", time.Time{}, now.UTC()
	})
	if err != nil {
		return fmt.Errorf("table store: complete intent %s: %w", id, err)
	}
	return nil
}

// RetryIntent implements store.Store.
func (s *Store) RetryIntent(ctx context.Context, id, token string, now, notBefore time.Time, lastError string) error {
	if notBefore.IsZero() {
		notBefore = now
	}
	err := s.transition(ctx, id, token, func(in *store.Intent) {
		in.State, in.NotBefore, in.LastError = store.IntentPending, notBefore.UTC(), lastError
		in.LeaseToken, in.LeaseUntil, in.UpdatedAt = "", time.Time{}, now.UTC()
	})
	if err != nil {
		return fmt.Errorf("table store: retry intent %s: %w", id, err)
	}
	return nil
}

// FailIntent implements store.Store.
func (s *Store) FailIntent(ctx context.Context, id, token string, now time.Time, reason string) error {
	err := s.transition(ctx, id, token, func(in *store.Intent) {
		in.State, in.Outcome, in.LastError = store.IntentFailed, reason, reason
		in.LeaseToken, in.LeaseUntil, in.UpdatedAt = "", time.Time{}, now.UTC()
	})
	if err != nil {
		return fmt.Errorf("table store: fail intent %s: %w", id, err)
	}
	return nil
}

// transition applies change to intent id if token names its current lease.
// The write names the ETag of what was checked, so no other worker can
// take the intent over between the check and the change; losing that race
// means reading again, which then finds the lease lost.
func (s *Store) transition(ctx context.Context, id, token string, change func(*store.Intent)) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	pk, rk, ok := intentIDKeys(id)
	if !ok {
		return store.ErrNotFound
	}
	for range maxRetries {
		e, err := get(ctx, s.intents, pk, rk)
		switch {
		case errors.Is(err, errGone):
			return store.ErrNotFound
		case err != nil:
			return err
		case e.str("ID") != id:
			return store.ErrNotFound // another intent has the key now
		}
		in := intentFrom(e)
		if in.State != store.IntentLeased || token == "" || in.LeaseToken != token {
			return store.ErrLeaseLost
		}
		change(&in)
		props, err := intentProps(in)
		if err != nil {
			return err
		}
		switch err := replace(ctx, s.intents, pk, rk, e.etag, props); {
		case err == nil:
			return nil
		case errors.Is(err, errChanged), errors.Is(err, errGone):
			continue
		default:
			return err
		}
	}
	return errors.New("too much contention on the intent")
}

// Intent implements store.Store.
func (s *Store) Intent(ctx context.Context, id string) (store.Intent, error) {
	in, err := s.intentByID(ctx, id)
	if err != nil {
		return store.Intent{}, fmt.Errorf("table store: intent %s: %w", id, err)
	}
	return in, nil
}

func (s *Store) intentByID(ctx context.Context, id string) (store.Intent, error) {
	if err := s.usable(ctx); err != nil {
		return store.Intent{}, err
	}
	pk, rk, ok := intentIDKeys(id)
	if !ok {
		return store.Intent{}, store.ErrNotFound
	}
	e, err := get(ctx, s.intents, pk, rk)
	switch {
	case errors.Is(err, errGone):
		return store.Intent{}, store.ErrNotFound
	case err != nil:
		return store.Intent{}, err
	case e.str("ID") != id:
		return store.Intent{}, store.ErrNotFound
	}
	return intentFrom(e), nil
}

// IntentByKey implements store.Store.
func (s *Store) IntentByKey(ctx context.Context, key string) (store.Intent, error) {
	in, err := s.intentByKey(ctx, key)
	if err != nil {
		return store.Intent{}, fmt.Errorf("table store: intent with key %q: %w", key, err)
	}
	return in, nil
}

func (s *Store) intentByKey(ctx context.Context, key string) (store.Intent, error) {
	if err := s.usable(ctx); err != nil {
		return store.Intent{}, err
	}
	pk, rk := intentKeys(key)
	e, err := get(ctx, s.intents, pk, rk)
	switch {
	case errors.Is(err, errGone):
		return store.Intent{}, store.ErrNotFound
	case err != nil:
		return store.Intent{}, err
	}
	return intentFrom(e), nil
}

// Intents implements store.Store, newest (greatest ID) first. Intents are
// spread over partitions by key, so it reads every match and sorts: this
// is for operators, over an outbox that ExpireIntents keeps small.
func (s *Store) Intents(ctx context.Context, query store.IntentQuery) ([]store.Intent, error) {
	intents, err := s.listIntents(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("table store: intents: %w", err)
	}
	return intents, nil
}

func (s *Store) listIntents(ctx context.Context, q store.IntentQuery) ([]store.Intent, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		return nil, fmt.Errorf("limit %d is not positive", q.Limit)
	}
	var where []string
	if q.State != "" {
		switch q.State {
		case store.IntentPending, store.IntentLeased, store.IntentDone, store.IntentFailed:
		default:
			return nil, fmt.Errorf("unknown intent state %q", q.State)
		}
		where = append(where, "State eq "+quote(string(q.State)))
	}
	if q.Kind != "" {
		where = append(where, "Kind eq "+quote(q.Kind))
	}
	intents := []store.Intent{}
	if err := query(ctx, s.intents, strings.Join(where, " and "), nil, 0, func(e entity) bool {
		intents = append(intents, intentFrom(e))
		return true
	}); err != nil {
		return nil, err
	}
	slices.SortFunc(intents, func(a, b store.Intent) int { return strings.Compare(b.ID, a.ID) })
	return intents[:min(q.Limit, len(intents))], nil
}

// ExpireIntents implements store.Store. The least recently finished go
// first.
func (s *Store) ExpireIntents(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	n, err := s.expireIntents(ctx, cutoff, limit)
	if err != nil {
		return n, fmt.Errorf("table store: expire intents: %w", err)
	}
	return n, nil
}

func (s *Store) expireIntents(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	cutoffNs, err := nanos(cutoff)
	if err != nil {
		return 0, err
	}
	filter := "(State eq 'done' or State eq 'failed') and UpdatedAt lt " + i64Lit(cutoffNs)
	return expireOldest(ctx, s.intents, filter, []string{"UpdatedAt", "ID"}, limit, byInt64("UpdatedAt", "ID"))
}
