package customhandler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/reinstate/reinstate/pkg/lenient"
)

// InvocationIDHeader is the request header carrying the host's invocation id
// (HOST DefaultHttpWorkerService.AddHeaders, HttpWorkerConstants; reference §A2).
const InvocationIDHeader = "X-Azure-Functions-InvocationId"

// ErrNoValue is returned (wrapped) by Request accessors when the named value is
// absent or JSON null. Test with errors.Is.
var ErrNoValue = errors.New("value is absent or null")

// Request is one invocation as the host sends it: POST /{FunctionName} with
// {"Data":{...},"Metadata":{...}} (reference §A2). Data and Metadata hold the
// values exactly as received, possibly double-encoded; use the accessors to
// read them.
type Request struct {
	// FunctionName is the name the function was registered under with
	// Server.Handle (the host calls the function's folder name).
	FunctionName string
	// InvocationID is the X-Azure-Functions-InvocationId header; empty if the
	// caller did not send one.
	InvocationID string
	// Data holds the input bindings by binding name, including the trigger.
	Data map[string]json.RawMessage
	// Metadata holds the trigger's binding data (e.g. SequenceNumberArray,
	// PartitionContext, RetryContext, sys). Never nil after decoding.
	Metadata map[string]json.RawMessage
}

// Value returns Data[name] with one level of string wrapping removed
// (lenient.Unwrap) and whether it was present. A present JSON null is
// returned as null with ok true.
//
// Binding names are matched exactly first and then case-insensitively,
// because function.json binding names are case-insensitive to the host. A
// plain JSON string whose content happens to be valid JSON (for example the
// single-encoded string "42") is unwrapped too: with one level of encoding in
// doubt, that ambiguity cannot be resolved (reference §A2, "Docs vs code").
func (r *Request) Value(name string) (json.RawMessage, bool) {
	raw, ok := lookup(r.Data, name)
	if !ok {
		return nil, false
	}
	return lenient.Unwrap(raw), true
}

// MetadataValue returns Metadata[name] with one level of string wrapping
// removed and whether it was present. Keys are matched exactly first and then
// case-insensitively: the docs and the host code disagree on the casing of
// some keys (e.g. "DequeueCount" in the docs example; reference §A2).
func (r *Request) MetadataValue(name string) (json.RawMessage, bool) {
	raw, ok := lookup(r.Metadata, name)
	if !ok {
		return nil, false
	}
	return lenient.Unwrap(raw), true
}

// String decodes a Data value that is a single string, in either encoding:
// the host's "\"HelloWorld\"" or the documented plain "HelloWorld". A value
// that is a JSON object, array, number or boolean comes back as its compact
// JSON text.
// An absent or null value is an error wrapping ErrNoValue.
func (r *Request) String(name string) (string, error) {
	raw, err := r.present(name)
	if err != nil {
		return "", err
	}
	return elementText(raw)
}

// Strings decodes a Data value that is a list, in either encoding: the host's
// "[\"a\",\"b\"]" (a JSON string holding JSON text) or a plain ["a","b"].
// String elements come back as their content, unchanged: for the Event Hubs
// trigger with cardinality "many" and dataType "string", each element is one
// event body (reference §A2, "Event Hubs, cardinality many"). Any other
// element (an object or array in the form without dataType, where the host
// JSON-deserialized each body; a number; null) comes back as its compact JSON
// text, so that a consumer parsing bodies as JSON sees the same input either
// way.
//
// The result is never nil when err is nil. An absent or null value is an
// error wrapping ErrNoValue; a value that is not a list is an error (a
// cardinality "one" trigger sends a single value: use String).
//
// dataType "binary" is not supported: the host would send each body as a
// base64 string, which comes back undecoded.
func (r *Request) Strings(name string) ([]string, error) {
	raw, err := r.present(name)
	if err != nil {
		return nil, err
	}
	if raw[0] != '[' {
		return nil, fmt.Errorf("customhandler: Data.%s is a JSON %s, not a list (is the trigger's cardinality \"many\"?)", name, lenient.Kind(raw))
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, fmt.Errorf("customhandler: Data.%s: %w", name, err)
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		s, err := elementText(e)
		if err != nil {
			return nil, fmt.Errorf("customhandler: Data.%s[%d]: %w", name, i, err)
		}
		out[i] = s
	}
	return out, nil
}

// TimerInfo decodes the Data value of a timer trigger with ParseTimerInfo. An
// absent or null value is an error wrapping ErrNoValue.
func (r *Request) TimerInfo(name string) (TimerInfo, error) {
	raw, err := r.present(name)
	if err != nil {
		return TimerInfo{}, err
	}
	ti, err := ParseTimerInfo(raw)
	if err != nil {
		return TimerInfo{}, fmt.Errorf("customhandler: Data.%s: %w", name, err)
	}
	return ti, nil
}

// RetryContext describes the current attempt when the function has a retry
// policy: the host adds Metadata.RetryContext = {RetryCount, MaxRetryCount,
// Exception} (HOST ScriptInvocationContextExtensions.SetRetryContext;
// reference §A2 rule 6, §A3).
type RetryContext struct {
	// RetryCount is the number of retries so far (0 on the first attempt).
	RetryCount int
	// MaxRetryCount is the policy's maxRetryCount; -1 means retry forever.
	MaxRetryCount int
	// Exception is the previous attempt's failure as the host serialized it,
	// or nil when absent or null.
	Exception json.RawMessage
}

// RetryContext returns Metadata.RetryContext and whether it was present as a
// JSON object. The counts may be JSON numbers or numeric strings; a count that
// cannot be read is 0.
func (r *Request) RetryContext() (RetryContext, bool) {
	raw, ok := r.MetadataValue("RetryContext")
	if !ok || len(raw) == 0 || raw[0] != '{' {
		return RetryContext{}, false
	}
	// encoding/json matches field names case-insensitively, which covers
	// both the host's PascalCase and a camelCase producer.
	var wire struct {
		RetryCount    json.RawMessage
		MaxRetryCount json.RawMessage
		Exception     json.RawMessage
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return RetryContext{}, false
	}
	rc := RetryContext{
		RetryCount:    intValue(wire.RetryCount),
		MaxRetryCount: intValue(wire.MaxRetryCount),
	}
	if !lenient.IsNull(wire.Exception) {
		rc.Exception = bytes.Clone(bytes.TrimSpace(wire.Exception))
	}
	return rc, true
}

// present returns the unwrapped Data value, or an error wrapping ErrNoValue.
// The result is never empty when err is nil.
func (r *Request) present(name string) (json.RawMessage, error) {
	raw, ok := r.Value(name)
	if !ok {
		return nil, fmt.Errorf("customhandler: Data.%s: %w (not in the request)", name, ErrNoValue)
	}
	if lenient.IsNull(raw) {
		return nil, fmt.Errorf("customhandler: Data.%s: %w", name, ErrNoValue)
	}
	return raw, nil
}

// elementText returns the content of a JSON string, or the compact JSON text
// of any other value.
func elementText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	// Compacting makes the text independent of the sender's formatting, so
	// both encodings of one batch yield identical strings.
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// lookup finds name in m exactly, else case-insensitively. Among several
// case-insensitive matches the lexically smallest key wins, so that the
// result does not depend on map iteration order.
func lookup(m map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	var best string
	found := false
	for k := range m {
		if strings.EqualFold(k, name) && (!found || k < best) {
			best, found = k, true
		}
	}
	if !found {
		return nil, false
	}
	return m[best], true
}

// intValue reads a count given as a number or numeric string, clamped to the
// range of int; unreadable values are 0.
func intValue(raw json.RawMessage) int {
	n, ok := lenient.Int64(raw)
	if !ok {
		return 0
	}
	switch {
	case n > math.MaxInt:
		return math.MaxInt
	case n < math.MinInt:
		return math.MinInt
	}
	return int(n)
}
