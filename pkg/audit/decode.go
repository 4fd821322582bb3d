package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrNotJSON is returned by Decode when no part of its input is JSON, such as
// an HTML error page or a body cut off in transit. Such input cannot be split
// into records, so the caller has to set aside the input as a whole.
var ErrNotJSON = errors.New("audit: input is not JSON")

// ErrEmpty is returned by Decode for input that is empty or only white space.
// It wraps ErrNotJSON, because empty input holds no JSON either, but is a
// separate value so that a caller can let an empty delivery pass quietly
// instead of treating it as corrupt.
var ErrEmpty = fmt.Errorf("audit: input is empty: %w", ErrNotJSON)

// Skip names one record the decoder could not use, with enough context to
// find it in the input and to keep it as a dead letter. It implements error.
type Skip struct {
	// Index is the 0-based position of the record among all records in the
	// input, skipped ones included, so that events and skips can be put back
	// in input order.
	Index int
	// Line is the 1-based line where the JSON document holding the record
	// starts. For a pretty-printed body that is the line of its opening
	// brace, not of the record; Location says where in the document to look.
	Line int
	// Location is where the record sits inside its document, such as
	// "records[4]", "value[0]", "[2]" or "[1].records[0]"; "" when the
	// document itself is the record.
	Location string
	// Field is the JSON path of the offending field inside the record, such
	// as "properties.activityDateTime"; "" when the record as a whole is
	// unusable.
	Field string
	// Reason says what is wrong, in words.
	Reason string
	// Raw is the record's bytes exactly as received, copied out of the input.
	// For a line of NDJSON that is not JSON it is that line (without its line
	// break), so Raw is then not valid JSON and must not be embedded in JSON
	// output as a json.RawMessage.
	Raw json.RawMessage
}

// Position says where the record is, 1-based like the line numbers, such as
// "record 5 (line 3, records[4])".
func (s Skip) Position() string {
	var b []byte
	b = append(b, "record "...)
	b = strconv.AppendInt(b, int64(s.Index)+1, 10)
	b = append(b, " (line "...)
	b = strconv.AppendInt(b, int64(s.Line), 10)
	if s.Location != "" {
		b = append(b, ", "...)
		b = append(b, s.Location...)
	}
	b = append(b, ')')
	return string(b)
}

// Problem says what is wrong, naming the field when one is to blame.
func (s Skip) Problem() string {
	if s.Field == "" {
		return s.Reason
	}
	return "field " + s.Field + ": " + s.Reason
}

// Error describes the skip in one line: its position, then the problem.
func (s Skip) Error() string { return s.Position() + ": " + s.Problem() }

// Result is what Decode made of its input: the records it could use, and one
// Skip for each record it could not.
type Result struct {
	// Events are in input order.
	Events []Event
	// Skipped are in input order; their Index values are strictly increasing.
	Skipped []Skip
}

// utf8BOM is dropped from the start of the input: some tools that export
// logs to files write one, and encoding/json does not accept it.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Decode splits data into audit records and normalizes each one. It accepts
// every shape listed in the package documentation, and never fails because of
// one bad record: such a record becomes a Skip and decoding goes on. It
// returns an error only when nothing in data is JSON at all: ErrEmpty for
// empty input, and otherwise an error wrapping ErrNotJSON.
//
// Decode does not keep references to data; the caller may reuse it.
func Decode(data []byte) (Result, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	start := skipSpace(data, 0)
	if start == len(data) {
		return Result{}, ErrEmpty
	}
	d := &decoder{}
	if json.Valid(data) {
		// The common case, one Event Hubs body: one pass to validate, and no
		// stream machinery.
		end := len(data)
		for end > start && isSpace(data[end-1]) {
			end--
		}
		d.document(data[start:end], 1+bytes.Count(data[:start], newline))
		return d.res, nil
	}
	if d.stream(data) {
		return d.res, nil
	}
	if err := d.lines(data); err != nil {
		return Result{}, err
	}
	return d.res, nil
}

var newline = []byte{'\n'}

// decoder collects events and skips and numbers the records.
type decoder struct {
	res   Result
	index int
}

// discard accepts any JSON value without keeping it, so that json.Decoder can
// find document boundaries without copying every document.
type discard struct{}

// UnmarshalJSON does nothing: only the position of the value is wanted.
func (*discard) UnmarshalJSON([]byte) error { return nil }

// stream reads data as a sequence of JSON documents (NDJSON, concatenated or
// pretty-printed). It finds all document boundaries before decoding any
// record, so when data is not such a sequence all the way to its end it
// reports false having decoded nothing, and lines can start afresh.
func (d *decoder) stream(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	type span struct{ start, end int }
	var spans []span
	prev := 0
	for {
		var v discard
		if err := dec.Decode(&v); err != nil {
			if err != io.EOF {
				return false
			}
			break
		}
		end := int(dec.InputOffset())
		spans = append(spans, span{skipSpace(data, prev), end})
		prev = end
	}
	line, counted := 1, 0
	for _, s := range spans {
		line += bytes.Count(data[counted:s.start], newline)
		counted = s.start
		d.document(data[s.start:s.end], line)
	}
	return true
}

// lines is the fallback for input that is not a clean sequence of JSON
// documents: each non-blank line is a document, and a line that is not JSON
// becomes a Skip.
func (d *decoder) lines(data []byte) error {
	var firstErr error
	anyJSON := false
	rest := data
	for n := 1; len(rest) > 0; n++ {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		doc := bytes.TrimSpace(line)
		if len(doc) == 0 {
			continue
		}
		if json.Valid(doc) {
			anyJSON = true
			d.document(doc, n)
			continue
		}
		detail := syntaxDetail(doc)
		if firstErr == nil {
			firstErr = fmt.Errorf("%w: line %d: %s", ErrNotJSON, n, detail)
		}
		d.skip(line, n, where{index: -1}, "", "not JSON: "+detail)
	}
	if !anyJSON {
		return firstErr
	}
	return nil
}

// syntaxDetail says where and why doc is not JSON.
func syntaxDetail(doc []byte) string {
	var v discard
	err := json.Unmarshal(doc, &v)
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("%s (at byte %d)", syn.Error(), syn.Offset)
	}
	if err != nil {
		return err.Error()
	}
	return "invalid JSON"
}

// where is the location of a record inside its document, kept in parts so
// that the string is only built for records that are skipped.
type where struct {
	prefix string // location of the enclosing array, such as "records"
	index  int    // position in that array, or -1 for no array
}

// String formats the location as Skip.Location does.
func (w where) String() string {
	if w.index < 0 {
		return w.prefix
	}
	return w.prefix + "[" + strconv.Itoa(w.index) + "]"
}

// document decodes one top-level JSON document that starts on line.
func (d *decoder) document(doc []byte, line int) {
	d.container(doc, line, where{index: -1}, true)
}

// container decodes a value that may hold records: an Event Hubs body, a
// Graph page, a record, or (at the top level only) an array of any of these.
func (d *decoder) container(v []byte, line int, at where, top bool) {
	switch v[0] {
	case '{':
		records, value, isRecord := classify(v)
		switch {
		case records != nil:
			d.array(v, records, line, at, "records")
		case isRecord:
			d.record(v, line, at)
		case value != nil:
			d.array(v, value, line, at, "value")
		default:
			d.skip(v, line, at, "", "not an audit record, Event Hubs body or Graph page: "+
				"the object has none of the keys records, value, properties, activityDisplayName, operationName")
		}
	case '[':
		if !top {
			d.skip(v, line, at, "", "a record must be a JSON object, not an array")
			return
		}
		eachElement(v, func(i int, elem []byte) {
			d.container(elem, line, where{index: i}, false)
		})
	default:
		d.skip(v, line, at, "", "a record must be a JSON object, not "+aKind(v))
	}
}

// classify looks at the top-level keys of obj. It returns the raw records and
// value members, and whether obj has a key only an audit record has.
func classify(obj []byte) (records, value []byte, isRecord bool) {
	eachMember(obj, func(key, v []byte) {
		switch {
		case keyIs(key, "records"):
			records = v
		case keyIs(key, "value"):
			value = v
		case keyIs(key, "properties"), keyIs(key, "activityDisplayName"), keyIs(key, "operationName"):
			isRecord = true
		}
	})
	return records, value, isRecord
}

// array decodes the records in arr, the member named field of the document
// doc found at docAt. A member that is not an array makes doc one Skip.
func (d *decoder) array(doc, arr []byte, line int, docAt where, field string) {
	if arr[0] != '[' {
		d.skip(doc, line, docAt, field, "expected an array of records, got "+aKind(arr))
		return
	}
	prefix := field
	if p := docAt.String(); p != "" {
		prefix = p + "." + field
	}
	eachElement(arr, func(i int, elem []byte) {
		at := where{prefix: prefix, index: i}
		if elem[0] != '{' {
			d.skip(elem, line, at, "", "a record must be a JSON object, not "+aKind(elem))
			return
		}
		d.record(elem, line, at)
	})
}

// record normalizes one record.
func (d *decoder) record(raw []byte, line int, at where) {
	ev, err := Normalize(raw)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			d.skip(raw, line, at, fe.Field, fe.Reason)
		} else {
			d.skip(raw, line, at, "", err.Error())
		}
		return
	}
	d.res.Events = append(d.res.Events, ev)
	d.index++
}

// skip records a Skip for raw, copying raw out of the caller's input.
func (d *decoder) skip(raw []byte, line int, at where, field, reason string) {
	d.res.Skipped = append(d.res.Skipped, Skip{
		Index:    d.index,
		Line:     line,
		Location: at.String(),
		Field:    field,
		Reason:   reason,
		Raw:      bytes.Clone(raw),
	})
	d.index++
}
