// Package lenient decodes JSON values whose encoding varies between producers.
//
// Two producers Reinstate reads from are loose about encodings:
//
//   - The Azure Functions host sends strings, numbers and arrays to a custom
//     handler as JSON text wrapped in a JSON string ("double encoding"), while
//     Microsoft's documentation shows them plain. See
//     ../shared/reference/functions-custom-handler-and-audit-logs.md §A2, and
//     https://learn.microsoft.com/azure/azure-functions/functions-custom-handlers.
//   - Entra audit records carry modifiedProperties values as JSON encoded
//     inside strings, and numbers as strings or integers depending on the
//     export (same reference, §B5).
//
// One set of rules serves both, so that the host adapter and the audit decoder
// cannot drift apart in what they accept.
package lenient

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Unwrap returns the JSON text held inside raw when raw is a JSON string whose
// content is itself valid JSON; otherwise it returns raw unchanged (trimmed of
// surrounding white space). It unwraps one level only: a value the host
// encoded twice is unwrapped by one call, and a string that merely looks like
// JSON inside data (such as "\"HelloWorld\"") keeps its inner quotes.
func Unwrap(raw json.RawMessage) json.RawMessage {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '"' {
		return trimmed
	}
	var inner string
	if err := json.Unmarshal(trimmed, &inner); err != nil {
		return trimmed
	}
	innerBytes := bytes.TrimSpace([]byte(inner))
	if len(innerBytes) == 0 || !json.Valid(innerBytes) {
		return trimmed
	}
	return innerBytes
}

// IsNull reports whether raw is absent or the JSON literal null.
func IsNull(raw json.RawMessage) bool {
	trimmed := bytes.TrimSpace(raw)
	return len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null"))
}

// Text returns raw as text: the content of a JSON string, the literal text of
// a number or boolean, or "" for null and absent values. Objects and arrays
// are not text; ok is false for them and for invalid JSON.
func Text(raw json.RawMessage) (text string, ok bool) {
	trimmed := bytes.TrimSpace(raw)
	if IsNull(trimmed) {
		return "", true
	}
	switch trimmed[0] {
	case '"':
		var s string
		if err := json.Unmarshal(trimmed, &s); err != nil {
			return "", false
		}
		return s, true
	case '{', '[':
		return "", false
	default:
		if !json.Valid(trimmed) {
			return "", false
		}
		return string(trimmed), true
	}
}

// Int64 reads a whole number given as a JSON number, as a numeric string
// ("4"), or as a double-encoded string ("\"4\"").
func Int64(raw json.RawMessage) (int64, bool) {
	text, ok := Text(Unwrap(raw))
	if !ok || text == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(text, 64)
		if ferr != nil || f != float64(int64(f)) {
			return 0, false
		}
		return int64(f), true
	}
	return n, true
}

// Bool reads true or false given as a JSON boolean or as a string in any case
// ("True", "\"False\""), the form Entra uses for "Is Hard Deleted".
func Bool(raw json.RawMessage) (value bool, ok bool) {
	text, ok := Text(Unwrap(raw))
	if !ok {
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// timeLayouts are tried in order. RFC 3339 parsing in Go accepts any number of
// fractional digits, so it covers Entra's seven; the zone-less forms come from
// the Event Hubs extension, which sends the DateTime part of an enqueued time
// without a zone (reference §A2), and are read as UTC.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"01/02/2006 15:04:05",
	"1/2/2006 3:04:05 PM",
}

// Time parses a timestamp in any of the forms producers use, returning it in
// UTC. A value without a zone is taken as UTC.
func Time(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// Kind names the JSON kind of the value raw starts with, for error messages:
// object, array, string, boolean, null or number; "nothing" for empty input
// and "invalid value" for anything else.
func Kind(raw []byte) string {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return "nothing"
	}
	switch trimmed[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "number"
	}
	return "invalid value"
}
