package store

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// NewID returns an identifier that sorts, as a string, in time order: sixteen
// hex digits of Unix nanoseconds, then random bits so that two instances
// writing in the same nanosecond do not collide. Table Storage has no
// auto-increment, so a shared store cannot hand out sequence numbers.
func NewID(t time.Time) string {
	var suffix [6]byte
	// crypto/rand.Read never returns an error on supported platforms.
	_, _ = rand.Read(suffix[:])
	return fmt.Sprintf("%016x-%s", t.UnixNano(), hex.EncodeToString(suffix[:]))
}

// NewLeaseToken returns 128 random bits in hex, to name one lease of an
// intent. Instances hand out tokens without coordinating, and a worker's
// token must never match the lease that replaced its own, so the token is
// random rather than counted, and long enough never to repeat.
func NewLeaseToken() string {
	var token [16]byte
	// crypto/rand.Read never returns an error on supported platforms.
	_, _ = rand.Read(token[:])
	return hex.EncodeToString(token[:])
}
