package audit

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/reinstate/reinstate/pkg/lenient"
)

// The functions in this file walk JSON text that json.Valid has already
// accepted. They only find where values begin and end, which is all Decode
// needs to split bodies into records; the records themselves are decoded by
// encoding/json. Doing the split by hand keeps one full encoding/json pass
// (and a copy of every record) off the hot path, and lets Skip.Raw point at
// the bytes exactly as received. None of them may be given unvalidated input:
// they do not detect syntax errors, they only stay in bounds.

// isSpace reports the four white-space bytes JSON allows between tokens.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just past the string whose opening quote is at
// b[i].
func stringEnd(b []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b)
		}
		q := j + k
		escapes := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			escapes++
		}
		if escapes%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// valueEnd returns the index just past the value that starts at b[i].
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	default:
		j := i
		for j < len(b) {
			switch c := b[j]; {
			case isSpace(c), c == ',', c == ']', c == '}', c == ':':
				return j
			}
			j++
		}
		return j
	}
}

// eachMember calls fn with the raw key (quotes included) and raw value of
// every member of the object obj, in order. obj must start with '{'.
func eachMember(obj []byte, fn func(key, value []byte)) {
	i := skipSpace(obj, 1)
	for i < len(obj) && obj[i] == '"' {
		keyEnd := stringEnd(obj, i)
		key := obj[i:keyEnd]
		i = skipSpace(obj, keyEnd)
		if i >= len(obj) || obj[i] != ':' {
			return
		}
		i = skipSpace(obj, i+1)
		end := valueEnd(obj, i)
		fn(key, obj[i:end])
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ',' {
			return
		}
		i = skipSpace(obj, i+1)
	}
}

// eachElement calls fn with the index and raw bytes of every element of the
// array arr. arr must start with '['.
func eachElement(arr []byte, fn func(i int, elem []byte)) {
	i := skipSpace(arr, 1)
	for n := 0; i < len(arr) && arr[i] != ']'; n++ {
		end := valueEnd(arr, i)
		if end == i {
			return
		}
		fn(n, arr[i:end])
		i = skipSpace(arr, end)
		if i >= len(arr) || arr[i] != ',' {
			return
		}
		i = skipSpace(arr, i+1)
	}
}

// keyIs reports whether the raw JSON key names name, ignoring case as
// encoding/json does when it matches keys to struct fields, so that the
// shape Decode detects and the fields Normalize reads agree.
func keyIs(rawKey []byte, name string) bool {
	if len(rawKey) < 2 {
		return false
	}
	inner := rawKey[1 : len(rawKey)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return bytes.EqualFold(inner, []byte(name))
	}
	var key string
	if err := json.Unmarshal(rawKey, &key); err != nil {
		return false
	}
	return strings.EqualFold(key, name)
}

// aKind names the JSON kind of raw with its article, for messages: "an
// object", "a string".
func aKind(raw []byte) string {
	return withArticle(lenient.Kind(raw))
}

// withArticle puts "a" or "an" before a kind name.
func withArticle(kind string) string {
	switch kind {
	case "object", "array":
		return "an " + kind
	}
	return "a " + kind
}
