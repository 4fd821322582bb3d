package recovery

import (
	"fmt"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/graphapi"
)

// graphError is a failed Graph call, reduced to what decides the next step:
// graphapi's, shared with the Backup & Recovery client.
type graphError = graphapi.Error

// asGraphError classifies an error returned by the SDK.
func asGraphError(err error) *graphError { return graphapi.AsError(err) }

// hasTarget reports whether an error detail names target, such as
// "userPrincipalName" on a directory ObjectConflict.
func hasTarget(e *graphError, target string) bool {
	for _, t := range e.Targets {
		if strings.EqualFold(t, target) {
			return true
		}
	}
	return false
}

// RetryError means the restore could not run now but may later: Graph
// throttled it, failed, or did not answer. The caller keeps the intent and
// tries again no earlier than After (zero: the caller picks a backoff).
type RetryError struct {
	// After is Graph's Retry-After, which the caller must honour; zero when
	// Graph sent none (Conditional Access never does, nor do most 5xx).
	After time.Duration
	// Err is the failure, kept for the intent's LastError.
	Err error
}

// Error says when to try again, for the journal.
func (e *RetryError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("retry after %s: %v", e.After, e.Err)
	}
	return "retry later: " + e.Err.Error()
}

// Unwrap lets errors.As reach the Graph failure behind the retry.
func (e *RetryError) Unwrap() error { return e.Err }
