package customhandler

import "errors"

// TransientError marks an error as worth retrying: the Server answers 500,
// which fails the invocation so that the host retries the batch under the
// function's retry policy (reference §A2 response rule 1, §A3). Create one
// with Transient and test for one with IsTransient or errors.As.
type TransientError struct {
	Err error
}

// Error returns the wrapped error's text.
func (e *TransientError) Error() string {
	if e.Err == nil {
		return "transient error"
	}
	return e.Err.Error()
}

// Unwrap returns the wrapped error, so errors.Is and errors.As see through
// the marking.
func (e *TransientError) Unwrap() error { return e.Err }

// Transient marks err as transient. Transient(nil) is nil, so that
// `return Transient(err)` is safe on success paths.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &TransientError{Err: err}
}

// IsTransient reports whether err, or any error it wraps, was marked with
// Transient.
func IsTransient(err error) bool {
	var t *TransientError
	return errors.As(err, &t)
}
