package table

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/reinstate/reinstate/pkg/store"
)

// journalProps are the Entry fields kept as string properties, by name.
var journalProps = []string{"Kind", "EventID", "Activity", "TargetID", "TargetType", "TargetName",
	"Actor", "Rule", "Action", "Outcome", "Source", "Detail"}

func entryStrings(e *store.Entry) []*string {
	kind := (*string)(&e.Kind)
	return []*string{kind, &e.EventID, &e.Activity, &e.TargetID, &e.TargetType, &e.TargetName,
		&e.Actor, &e.Rule, &e.Action, &e.Outcome, &e.Source, &e.Detail}
}

// Append implements store.Store. The entry's row key is its ID inverted
// and its partition the ID's day, newest first (see dayPartition), so that
// Journal reads newest first without sorting.
func (s *Store) Append(ctx context.Context, entry store.Entry) (store.Entry, error) {
	stored, err := s.append(ctx, entry)
	if err != nil {
		return store.Entry{}, fmt.Errorf("table store: append: %w", err)
	}
	return stored, nil
}

func (s *Store) append(ctx context.Context, entry store.Entry) (store.Entry, error) {
	if err := s.usable(ctx); err != nil {
		return store.Entry{}, err
	}
	entry.ID, entry.Time = s.stamp(entry.Time)
	t, err := nanos(entry.Time)
	if err != nil {
		return store.Entry{}, err
	}
	props := map[string]any{"ID": entry.ID, "Time": t}
	for i, p := range entryStrings(&entry) {
		props[journalProps[i]] = *p
	}
	if err := add(ctx, s.journal, dayPartition(entry.ID), invertID(entry.ID), props); err != nil {
		return store.Entry{}, err
	}
	return entry, nil
}

// Journal implements store.Store. The filters are OData filters the
// service applies; the limit ends paging early.
func (s *Store) Journal(ctx context.Context, query store.JournalQuery) ([]store.Entry, error) {
	entries, err := s.readJournal(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("table store: journal: %w", err)
	}
	return entries, nil
}

func (s *Store) readJournal(ctx context.Context, q store.JournalQuery) ([]store.Entry, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	limit := q.Limit
	switch {
	case limit < 0:
		return nil, fmt.Errorf("limit %d is negative", limit)
	case limit == 0:
		limit = store.DefaultJournalLimit
	}
	var where []string
	if !q.Since.IsZero() {
		since, err := nanos(q.Since)
		if err != nil {
			return nil, err
		}
		where = append(where, "Time ge "+i64Lit(since))
	}
	if q.EventID != "" {
		where = append(where, "EventID eq "+quote(q.EventID))
	}
	if q.TargetID != "" {
		where = append(where, "TargetID eq "+quote(q.TargetID))
	}
	entries := []store.Entry{}
	err := query(ctx, s.journal, strings.Join(where, " and "), nil, limit, func(e entity) bool {
		var entry store.Entry
		entry.ID, entry.Time = e.str("ID"), e.time("Time")
		for i, p := range entryStrings(&entry) {
			*p = e.str(journalProps[i])
		}
		entries = append(entries, entry)
		return len(entries) < limit
	})
	return entries, err
}

// rawChunk is the most one Edm.Binary property holds. A dead letter's Raw
// is split over properties Raw0, Raw1, ... of that size.
const rawChunk = 64 << 10

// maxRawChunks keeps a dead letter within an entity's 1 MiB with room for
// its other properties: 15 chunks are 960 KiB. An Event Hubs event is at
// most 1 MB, so only the largest bodies are cut, and the cut is recorded
// in the Reason.
const maxRawChunks = 15

// PutDeadLetter implements store.Store, with the same keys as the journal.
func (s *Store) PutDeadLetter(ctx context.Context, letter store.DeadLetter) (store.DeadLetter, error) {
	stored, err := s.putDeadLetter(ctx, letter)
	if err != nil {
		return store.DeadLetter{}, fmt.Errorf("table store: put dead letter: %w", err)
	}
	return stored, nil
}

func (s *Store) putDeadLetter(ctx context.Context, letter store.DeadLetter) (store.DeadLetter, error) {
	if err := s.usable(ctx); err != nil {
		return store.DeadLetter{}, err
	}
	letter.ID, letter.Time = s.stamp(letter.Time)
	t, err := nanos(letter.Time)
	if err != nil {
		return store.DeadLetter{}, err
	}
	if len(letter.Raw) > rawChunk*maxRawChunks {
		letter.Reason += fmt.Sprintf(" (raw body of %d bytes cut to its first %d to fit a table entity)",
			len(letter.Raw), rawChunk*maxRawChunks)
		letter.Raw = letter.Raw[:rawChunk*maxRawChunks]
	}
	props := map[string]any{"ID": letter.ID, "Time": t, "Source": letter.Source,
		"Location": letter.Location, "Reason": letter.Reason, "RawChunks": int32(0)}
	chunks := int32(0)
	for raw := letter.Raw; len(raw) > 0; chunks++ {
		n := min(len(raw), rawChunk)
		props[fmt.Sprintf("Raw%d", chunks)] = aztables.EDMBinary(raw[:n])
		raw = raw[n:]
	}
	props["RawChunks"] = chunks
	if err := add(ctx, s.deadLetters, dayPartition(letter.ID), invertID(letter.ID), props); err != nil {
		return store.DeadLetter{}, err
	}
	return letter, nil
}

// DeadLetters implements store.Store, newest (last put) first.
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]store.DeadLetter, error) {
	letters, err := s.readDeadLetters(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("table store: dead letters: %w", err)
	}
	return letters, nil
}

func (s *Store) readDeadLetters(ctx context.Context, limit int) ([]store.DeadLetter, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("limit %d is not positive", limit)
	}
	letters := []store.DeadLetter{}
	err := query(ctx, s.deadLetters, "", nil, limit, func(e entity) bool {
		l := store.DeadLetter{ID: e.str("ID"), Time: e.time("Time"), Source: e.str("Source"),
			Location: e.str("Location"), Reason: e.str("Reason"), Raw: []byte{}}
		for i := range e.i64("RawChunks") {
			l.Raw = append(l.Raw, e.bin(fmt.Sprintf("Raw%d", i))...)
		}
		letters = append(letters, l)
		return len(letters) < limit
	})
	return letters, err
}
