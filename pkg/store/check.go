package store

import (
	"fmt"
	"time"
)

// The contract's checks of what callers pass in, one copy for every
// implementation: what one store refuses, every store refuses, with the
// same words. Each error wraps ErrInvalid.

// CheckHit checks RecordHit's arguments.
func CheckHit(scope, id string) error {
	switch {
	case scope == "":
		return fmt.Errorf("%w: empty scope", ErrInvalid)
	case id == "":
		return fmt.Errorf("%w: empty id", ErrInvalid)
	}
	return nil
}

// CheckMark checks a mark for PutMark.
func CheckMark(mark Mark) error {
	switch {
	case mark.Key == "":
		return fmt.Errorf("%w: empty key", ErrInvalid)
	case mark.Until.IsZero():
		return fmt.Errorf("%w: no until", ErrInvalid)
	case len(mark.Value) > MaxMarkValue:
		return fmt.Errorf("%w: value of %d bytes is over the limit of %d", ErrInvalid, len(mark.Value), MaxMarkValue)
	}
	return nil
}

// CheckSilence checks a silence for PutSilence, once a zero StartsAt has
// been given its default.
func CheckSilence(s Silence) error {
	switch {
	case s.Rule == "" && s.Initiator == "" && s.ObjectID == "":
		return fmt.Errorf("%w: no rule, initiator or object id to match", ErrInvalid)
	case s.Reason == "":
		return fmt.Errorf("%w: empty reason", ErrInvalid)
	case !s.EndsAt.After(s.StartsAt):
		return fmt.Errorf("%w: ends at %s, not after it starts, %s", ErrInvalid,
			s.EndsAt.Format(time.RFC3339Nano), s.StartsAt.Format(time.RFC3339Nano))
	}
	return nil
}

// CheckLock checks AcquireLock's arguments.
func CheckLock(name, owner string, now, until time.Time) error {
	switch {
	case name == "" || owner == "":
		return fmt.Errorf("%w: empty name or owner", ErrInvalid)
	case !until.After(now):
		return fmt.Errorf("%w: until %s is not after now %s", ErrInvalid, until, now)
	}
	return nil
}

// CheckRecord checks a record for PutRecord.
func CheckRecord(rec Record) error {
	switch {
	case rec.Kind == "" || rec.ID == "":
		return fmt.Errorf("%w: empty kind or id", ErrInvalid)
	case rec.Until.IsZero():
		return fmt.Errorf("%w: no until", ErrInvalid)
	case len(rec.Value) > MaxRecordValue:
		return fmt.Errorf("%w: value of %d bytes is over the limit of %d", ErrInvalid, len(rec.Value), MaxRecordValue)
	case rec.Version < 0:
		return fmt.Errorf("%w: negative version", ErrInvalid)
	}
	return nil
}
