package graphapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// ErrorMappings make the adapter turn every non-2xx answer into an
// *odataerrors.ODataError (Graph's {"error":{...}} shape), which AsError
// reads; pass it to Adapter.SendPrimitive and friends for raw requests
// (reference graph-recovery-apis.md §6.2).
var ErrorMappings = abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// Error is a failed Graph call sent through the SDK adapter, reduced to what
// callers branch on. It never carries request headers, so no token.
type Error struct {
	// Status is the HTTP status; 0 when no answer came (a reset, a timeout,
	// a cancelled context).
	Status int
	// Code and Message are Graph's error.code and error.message.
	Code    string
	Message string
	// Targets are the error.details[].target values.
	Targets []string
	// RetryAfter is the answer's Retry-After; HasRetryAfter tells
	// "Retry-After: 0" from no header.
	RetryAfter    time.Duration
	HasRetryAfter bool
	// Err is the SDK's error.
	Err error
}

// Error names the status and Graph's code and message.
func (e *Error) Error() string {
	if e.Status == 0 {
		return "graph unreachable: " + e.Err.Error()
	}
	return fmt.Sprintf("graph answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap returns the SDK's error.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether trying again later can succeed: throttling
// (429), server faults (5xx) and calls that got no answer. Graph asks
// callers to honour Retry-After on 429 (reference §3.4).
func (e *Error) Retryable() bool {
	return e.Status == 0 || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// AsError classifies an error returned by the adapter for a request sent
// with ErrorMappings: an *odataerrors.ODataError, an *abstractions.ApiError,
// or a transport error (Status 0). It returns nil for nil, and err itself
// when it already is an *Error.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var ge *Error
	if errors.As(err, &ge) {
		return ge
	}
	out := &Error{Err: err}
	var odata *odataerrors.ODataError
	var api *abstractions.ApiError
	switch {
	case errors.As(err, &odata):
		out.Status = odata.ResponseStatusCode
		out.ReadRetryAfter(odata.GetResponseHeaders())
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
		out.ReadRetryAfter(api.GetResponseHeaders())
	}
	return out
}

// ReadRetryAfter sets RetryAfter from an answer's headers: those of the
// whole response, or of one request inside a $batch answer.
func (e *Error) ReadRetryAfter(headers *abstractions.ResponseHeaders) {
	if headers == nil {
		return
	}
	if values := headers.Get("Retry-After"); len(values) > 0 {
		e.RetryAfter, e.HasRetryAfter = ParseRetryAfter(values[0], time.Now())
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
