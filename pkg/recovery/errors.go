package recovery

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/reinstate/reinstate/pkg/graphapi"
)

// graphError is a failed Graph call, reduced to what decides the next step.
type graphError struct {
	// Status is the HTTP status; 0 when no answer came (a reset, a timeout).
	Status int
	Code   string
	// Targets are error.details[].target values, such as "userPrincipalName"
	// on a directory ObjectConflict.
	Targets    []string
	Message    string
	RetryAfter time.Duration
	// HasRetryAfter distinguishes "Retry-After: 0" from no header: Conditional
	// Access throttling sends none (reference graph-recovery-apis.md §2.3).
	HasRetryAfter bool
	err           error
}

// Error names the status and Graph's code, which the journal and the
// intent's LastError show to on-call.
func (e *graphError) Error() string {
	if e.Status == 0 {
		return "graph unreachable: " + e.err.Error()
	}
	return fmt.Sprintf("graph answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap lets callers see the SDK's error, such as a context's.
func (e *graphError) Unwrap() error { return e.err }

// retryable reports whether trying again later can succeed: throttling,
// server faults, and calls that got no answer.
func (e *graphError) retryable() bool {
	switch {
	case e.Status == 0, e.Status == http.StatusTooManyRequests, e.Status >= 500:
		return true
	}
	return false
}

// hasTarget reports whether an error detail names target.
func (e *graphError) hasTarget(target string) bool {
	for _, t := range e.Targets {
		if strings.EqualFold(t, target) {
			return true
		}
	}
	return false
}

// asGraphError classifies an error returned by the SDK.
func asGraphError(err error) *graphError {
	if err == nil {
		return nil
	}
	var ge *graphError
	if errors.As(err, &ge) {
		return ge
	}
	out := &graphError{err: err}
	var odata *odataerrors.ODataError
	var api *abstractions.ApiError
	switch {
	case errors.As(err, &odata):
		out.Status = odata.ResponseStatusCode
		readHeaders(out, odata.GetResponseHeaders())
		if main := odata.GetErrorEscaped(); main != nil {
			out.Code, out.Message = deref(main.GetCode()), deref(main.GetMessage())
			for _, d := range main.GetDetails() {
				if t := deref(d.GetTarget()); t != "" {
					out.Targets = append(out.Targets, t)
				}
			}
		}
	case errors.As(err, &api):
		out.Status = api.ResponseStatusCode
		out.Message = api.Message
		readHeaders(out, api.GetResponseHeaders())
	}
	return out
}

func readHeaders(out *graphError, headers *abstractions.ResponseHeaders) {
	if headers == nil {
		return
	}
	values := headers.Get("Retry-After")
	if len(values) == 0 {
		return
	}
	out.RetryAfter, out.HasRetryAfter = graphapi.ParseRetryAfter(values[0], time.Now())
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
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
