package lenient

import (
	"encoding/json"
	"testing"
	"time"
)

func TestUnwrap(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"double-encoded string", `"\"False\""`, `"False"`},
		{"double-encoded array", `"[\"fdsgvc\"]"`, `["fdsgvc"]`},
		{"double-encoded object", `"{\"state\":\"enabled\"}"`, `{"state":"enabled"}`},
		{"double-encoded number", `"4"`, `4`},
		{"double-encoded literal", `"true"`, `true`},
		{"plain string stays", `"DirectorySync"`, `"DirectorySync"`},
		{"empty string stays", `""`, `""`},
		{"blank string stays", `"   "`, `"   "`},
		{"one level only", `"\"\\\"x\\\"\""`, `"\"x\""`},
		{"string with inner white space", `" [1, 2] "`, `[1, 2]`},
		{"number stays", ` 4 `, `4`},
		{"object stays, trimmed", " {\"a\":1}\n", `{"a":1}`},
		{"null stays", `null`, `null`},
		{"absent", ``, ``},
		{"invalid JSON is returned trimmed", ` "unterminated `, `"unterminated`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Unwrap(json.RawMessage(tt.in))); got != tt.want {
				t.Errorf("Unwrap(%s) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestIsNull(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{``, true},
		{`null`, true},
		{"  null\n", true},
		{`"null"`, false},
		{`0`, false},
		{`""`, false},
		{`{}`, false},
	}
	for _, tt := range tests {
		if got := IsNull(json.RawMessage(tt.in)); got != tt.want {
			t.Errorf("IsNull(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{`"unifiedGroups"`, "unifiedGroups", true},
		{`"a\u00e9\"b"`, `aé"b`, true},
		{`1`, "1", true},
		{` -1.5 `, "-1.5", true},
		{`true`, "true", true},
		{`null`, "", true},
		{``, "", true},
		{`{}`, "", false},
		{`["a"]`, "", false},
		{`"unterminated`, "", false},
		{`01`, "", false},
		{`tru`, "", false},
	}
	for _, tt := range tests {
		got, ok := Text(json.RawMessage(tt.in))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Text(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestInt64(t *testing.T) {
	tests := []struct {
		in     string
		want   int64
		wantOK bool
	}{
		{`4`, 4, true},
		{`"4"`, 4, true},
		{`"\"4\""`, 4, true},
		{`" 4 "`, 4, true},
		{`-1`, -1, true},
		{`"-1"`, -1, true},
		{`4.0`, 4, true},
		{`1e3`, 1000, true},
		{`4.5`, 0, false},
		{`"Informational"`, 0, false},
		{`null`, 0, false},
		{``, 0, false},
		{`true`, 0, false},
		{`[4]`, 0, false},
	}
	for _, tt := range tests {
		got, ok := Int64(json.RawMessage(tt.in))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Int64(%s) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestBool(t *testing.T) {
	tests := []struct {
		in     string
		want   bool
		wantOK bool
	}{
		{`true`, true, true},
		{`false`, false, true},
		{`"True"`, true, true},
		{`"FALSE"`, false, true},
		{`"\"True\""`, true, true},
		{`"\"False\""`, false, true},
		{`"true"`, true, true},
		{`" true "`, true, true},
		{`1`, false, false},
		{`"yes"`, false, false},
		{`null`, false, false},
		{``, false, false},
		{`{"a":true}`, false, false},
	}
	for _, tt := range tests {
		got, ok := Bool(json.RawMessage(tt.in))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Bool(%s) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestTime(t *testing.T) {
	at := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	tests := []struct {
		in     string
		want   time.Time
		wantOK bool
	}{
		{"2020-04-08T07:40:53.1695436Z", at(2020, 4, 8, 7, 40, 53, 169543600), true},
		{"2020-04-08T07:40:53.1695436+00:00", at(2020, 4, 8, 7, 40, 53, 169543600), true},
		{"2020-04-08T09:40:53.1695436+02:00", at(2020, 4, 8, 7, 40, 53, 169543600), true},
		{"2020-04-08T07:40:53Z", at(2020, 4, 8, 7, 40, 53, 0), true},
		{" 2020-04-08T07:40:53Z ", at(2020, 4, 8, 7, 40, 53, 0), true},
		{"2007-01-09T09:41:00", at(2007, 1, 9, 9, 41, 0, 0), true},
		{"2007-01-09 09:41:00.5", at(2007, 1, 9, 9, 41, 0, 500000000), true},
		{"2007-01-09 09:41:00+01:00", at(2007, 1, 9, 8, 41, 0, 0), true},
		{"01/09/2007 09:41:00", at(2007, 1, 9, 9, 41, 0, 0), true},
		{"1/9/2007 9:41:00 PM", at(2007, 1, 9, 21, 41, 0, 0), true},
		{"", time.Time{}, false},
		{"   ", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"2020-13-01T00:00:00Z", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := Time(tt.in)
		if ok != tt.wantOK || !got.Equal(tt.want) {
			t.Errorf("Time(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
			continue
		}
		if ok && got.Location() != time.UTC {
			t.Errorf("Time(%q) location = %v, want UTC", tt.in, got.Location())
		}
	}
}

func TestKind(t *testing.T) {
	tests := map[string]string{
		``: "nothing", `  `: "nothing", ` {"a":1}`: "object", `[1]`: "array", `"s"`: "string",
		`true`: "boolean", `false`: "boolean", `null`: "null", `-1`: "number", `42`: "number", `<html>`: "invalid value",
	}
	for raw, want := range tests {
		if got := Kind([]byte(raw)); got != want {
			t.Errorf("Kind(%q) = %q, want %q", raw, got, want)
		}
	}
}
