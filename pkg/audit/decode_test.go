package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Small records for the shape tests. ehRec is an Event Hubs record, bareRec a
// Graph directoryAudit; both carry only what the decoder needs.
func ehRec(id string) string {
	return `{"time":"2025-06-01T10:00:00.0000000Z","resourceId":"/tenants/` + tenant + `/providers/Microsoft.aadiam",` +
		`"operationName":"Delete user","category":"AuditLogs","tenantId":"` + tenant + `","Level":4,` +
		`"properties":{"id":"` + id + `","activityDisplayName":"Delete user","activityDateTime":"2025-06-01T10:00:00.0000000+00:00",` +
		`"loggedByService":"Core Directory","result":"success","targetResources":[{"id":"u-1","type":"User"}]}}`
}

func bareRec(id string) string {
	return `{"id":"` + id + `","activityDisplayName":"Remove service principal","activityDateTime":"2025-06-01T10:00:00Z",` +
		`"loggedByService":"Core Directory","result":"success","initiatedBy":{"user":null,"app":null},` +
		`"targetResources":[{"id":"sp-1","type":"ServicePrincipal"}]}`
}

func eventIDs(res Result) []string {
	ids := []string{}
	for _, ev := range res.Events {
		ids = append(ids, ev.ID)
	}
	return ids
}

type wantSkip struct {
	index int
	line  int
	loc   string
	field string
}

func skipsOf(res Result) []wantSkip {
	out := []wantSkip{}
	for _, s := range res.Skipped {
		out = append(out, wantSkip{s.Index, s.Line, s.Location, s.Field})
	}
	return out
}

func TestDecodeForms(t *testing.T) {
	tests := []struct {
		name  string
		input string
		ids   []string
		skips []wantSkip
	}{
		{"event hubs body", `{"records":[` + ehRec("a") + `,` + ehRec("b") + `]}`, []string{"a", "b"}, nil},
		{"empty event hubs body", `{"records":[]}`, nil, nil},
		{"single event hubs record", ehRec("a"), []string{"a"}, nil},
		{"graph page", `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits","value":[` +
			bareRec("g1") + `,` + bareRec("g2") + `],"@odata.nextLink":"https://graph.microsoft.com/v1.0/auditLogs/directoryAudits?$skiptoken=x"}`,
			[]string{"g1", "g2"}, nil},
		{"bare directoryAudit", bareRec("g1"), []string{"g1"}, nil},
		{"array of records", `[` + ehRec("a") + `,` + bareRec("g1") + `]`, []string{"a", "g1"}, nil},
		{"array of bodies and pages", `[{"records":[` + ehRec("a") + `]},{"value":[` + bareRec("g1") + `]}]`, []string{"a", "g1"}, nil},
		{"empty array", `[]`, nil, nil},
		{"ndjson", ehRec("a") + "\n" + bareRec("g1") + "\n\n" + `{"records":[` + ehRec("b") + `]}` + "\n", []string{"a", "g1", "b"}, nil},
		{"ndjson with CRLF", ehRec("a") + "\r\n" + bareRec("g1") + "\r\n", []string{"a", "g1"}, nil},
		{"concatenated on one line", ehRec("a") + ehRec("b") + " " + bareRec("g1"), []string{"a", "b", "g1"}, nil},
		{"leading UTF-8 BOM", "\uFEFF" + `{"records":[` + ehRec("a") + `]}`, []string{"a"}, nil},
		{"strings ending in a backslash", `[{"id":"x\\","activityDisplayName":"Delete user","activityDateTime":"2025-06-01T10:00:00Z",` +
			`"targetResources":[{"id":"t","displayName":"C:\\"}]},{"records":[` + ehRec("b") + `,{"id":"\\\\\"}"}]}]`,
			[]string{`x\`, "b"}, []wantSkip{{2, 1, "[1].records[1]", "activityDisplayName"}}},
		{"escaped key", `{"\u0072ecords":[` + ehRec("a") + `]}`, []string{"a"}, nil},
		{"record key case", strings.Replace(`{"Records":[`+ehRec("a")+`]}`, `"properties"`, `"Properties"`, 1), []string{"a"}, nil},

		{"wrong kind: number", `42`, nil, []wantSkip{{0, 1, "", ""}}},
		{"wrong kind: string", `"records"`, nil, []wantSkip{{0, 1, "", ""}}},
		{"wrong kind: null", `null`, nil, []wantSkip{{0, 1, "", ""}}},
		{"unrecognised object", `{"foo":1,"id":"x"}`, nil, []wantSkip{{0, 1, "", ""}}},
		{"empty object", `{}`, nil, []wantSkip{{0, 1, "", ""}}},
		{"records is a string", `{"records":"x"}`, nil, []wantSkip{{0, 1, "", "records"}}},
		{"records is null", `{"records":null}`, nil, []wantSkip{{0, 1, "", "records"}}},
		{"value is an object", `{"value":{"id":"x"}}`, nil, []wantSkip{{0, 1, "", "value"}}},
		{"non-object records", `{"records":[1,` + ehRec("a") + `,[],"x"]}`, []string{"a"},
			[]wantSkip{{0, 1, "records[0]", ""}, {2, 1, "records[2]", ""}, {3, 1, "records[3]", ""}}},
		{"nested arrays are not records", `[[` + ehRec("a") + `],` + ehRec("b") + `]`, []string{"b"}, []wantSkip{{0, 1, "[0]", ""}}},
		{"skip inside array of bodies", `[` + ehRec("a") + `,{"records":[` + ehRec("b") + `,{"properties":{}}]},{"records":5}]`,
			[]string{"a", "b"}, []wantSkip{{2, 1, "[1].records[1]", "properties.id"}, {3, 1, "[2]", "records"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Decode([]byte(tt.input))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got, want := strings.Join(eventIDs(res), ","), strings.Join(tt.ids, ","); got != want {
				t.Errorf("event ids = [%s], want [%s]", got, want)
			}
			got, want := skipsOf(res), tt.skips
			if want == nil {
				want = []wantSkip{}
			}
			if len(got) != len(want) {
				t.Fatalf("skips = %+v, want %+v (%v)", got, want, res.Skipped)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("skip %d = %+v, want %+v (%v)", i, got[i], want[i], res.Skipped[i])
				}
			}
		})
	}
}

// TestDecodeLines checks the 1-based start line of each document, for
// pretty-printed and concatenated input.
func TestDecodeLines(t *testing.T) {
	bad := `{"properties":{"activityDisplayName":"Delete user"}}` // no id, no time
	input := "\n\n" +                                             // lines 1-2 blank
		"{\n  \"records\": [\n    " + ehRec("a") + ",\n    " + bad + "\n  ]\n}\n" + // lines 3-8
		bad + " " + bad + "\n" + // line 9, two documents
		"[\n" + ehRec("b") + ",\n" + bad + "\n]\n" // lines 10-13
	res, err := Decode([]byte(input))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(eventIDs(res), ","); got != "a,b" {
		t.Errorf("events = %s, want a,b", got)
	}
	want := []wantSkip{
		{1, 3, "records[1]", "properties.id"},
		{2, 9, "", "properties.id"},
		{3, 9, "", "properties.id"},
		{5, 10, "[1]", "properties.id"},
	}
	got := skipsOf(res)
	if len(got) != len(want) {
		t.Fatalf("skips = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("skip %d = %+v, want %+v", i, got[i], want[i])
		}
		if string(res.Skipped[i].Raw) != bad {
			t.Errorf("skip %d raw = %s, want %s", i, res.Skipped[i].Raw, bad)
		}
	}
}

// TestDecodePartialNDJSON decodes around a garbage line and a record without
// an id, and checks that each Skip points at the right line with the line's
// exact bytes.
func TestDecodePartialNDJSON(t *testing.T) {
	data := readFixture(t, "ndjson/partial.ndjson")
	lines := bytes.Split(data, []byte("\n"))
	res, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(eventIDs(res), ","); got != "Directory_d0e1f2a3-b4c5-4d6e-b7f8-9a0b1c2d3e4f_PA1DU_202300401,Directory_b4c5d6e7-f8a9-4b0c-b1d2-3e4f5a6b7c8d_PA4HG_202300404" {
		t.Errorf("events = %s", got)
	}
	want := []struct {
		wantSkip
		raw    []byte
		reason string
	}{
		{wantSkip{1, 2, "", ""}, lines[1], "not JSON"},
		{wantSkip{2, 3, "", "properties.id"}, lines[2], "missing"},
	}
	if len(res.Skipped) != len(want) {
		t.Fatalf("skips = %v", res.Skipped)
	}
	for i, w := range want {
		s := res.Skipped[i]
		if got := (wantSkip{s.Index, s.Line, s.Location, s.Field}); got != w.wantSkip {
			t.Errorf("skip %d = %+v, want %+v", i, got, w.wantSkip)
		}
		if !bytes.Equal(s.Raw, w.raw) {
			t.Errorf("skip %d raw = %q, want %q", i, s.Raw, w.raw)
		}
		if !strings.Contains(s.Reason, w.reason) {
			t.Errorf("skip %d reason = %q, want it to mention %q", i, s.Reason, w.reason)
		}
	}
	// The garbage line ends in a space before its line break: Raw keeps it.
	if !bytes.HasSuffix(res.Skipped[0].Raw, []byte(`"time": `)) {
		t.Errorf("garbage line raw lost its trailing bytes: %q", res.Skipped[0].Raw)
	}
}

// TestDecodeMalformedBody checks skips inside one pretty-printed Event Hubs
// body. The expected raw bytes come from encoding/json, independently of the
// decoder's own splitting.
func TestDecodeMalformedBody(t *testing.T) {
	data := readFixture(t, "malformed/bad-records.json")
	var body struct{ Records []json.RawMessage }
	if err := json.Unmarshal(data, &body); err != nil || len(body.Records) != 4 {
		t.Fatalf("fixture: %v, %d records", err, len(body.Records))
	}
	res, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		wantSkip
		reason string
	}{
		{wantSkip{1, 1, "records[1]", "properties.targetResources"}, "expected an array, got a string"},
		{wantSkip{2, 1, "records[2]", "properties.activityDateTime"}, `cannot parse "14/06/2025 11h02" as a time`},
	}
	if len(res.Skipped) != len(want) || len(res.Events) != 2 {
		t.Fatalf("events %d, skips %v", len(res.Events), res.Skipped)
	}
	for i, w := range want {
		s := res.Skipped[i]
		if got := (wantSkip{s.Index, s.Line, s.Location, s.Field}); got != w.wantSkip {
			t.Errorf("skip %d = %+v, want %+v", i, got, w.wantSkip)
		}
		if s.Reason != w.reason {
			t.Errorf("skip %d reason = %q, want %q", i, s.Reason, w.reason)
		}
		if !bytes.Equal(s.Raw, body.Records[w.index]) {
			t.Errorf("skip %d raw differs from the record as received:\n%s", i, s.Raw)
		}
	}
	// Raw is a copy: the caller may reuse its buffer.
	raw := bytes.Clone(res.Skipped[0].Raw)
	for i := range data {
		data[i] = 'x'
	}
	if !bytes.Equal(res.Skipped[0].Raw, raw) {
		t.Error("Skip.Raw aliases the input buffer")
	}
}

func TestDecodeNotJSON(t *testing.T) {
	tests := []struct {
		name   string
		input  []byte
		empty  bool
		detail string
	}{
		{"html error page", readFixture(t, "malformed/html-error-page.txt"), false, "line 1: invalid character '<'"},
		{"truncated body", readFixture(t, "malformed/truncated.json"), false, "line 1: unexpected end of JSON input"},
		{"several garbage lines", []byte("hello\nworld\n{oops\n"), false, "line 1:"},
		{"empty", []byte{}, true, ""},
		{"nil", nil, true, ""},
		{"white space", []byte(" \n\t\r\n "), true, ""},
		{"BOM only", []byte("\uFEFF\n"), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Decode(tt.input)
			if !errors.Is(err, ErrNotJSON) {
				t.Fatalf("err = %v, want ErrNotJSON", err)
			}
			if errors.Is(err, ErrEmpty) != tt.empty {
				t.Errorf("errors.Is(err, ErrEmpty) = %v, want %v", !tt.empty, tt.empty)
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("err = %q, want it to contain %q", err, tt.detail)
			}
			if len(res.Events) != 0 || len(res.Skipped) != 0 {
				t.Errorf("result not empty: %+v", res)
			}
		})
	}
	if ErrEmpty == ErrNotJSON {
		t.Error("ErrEmpty must be a separate sentinel")
	}
}

// TestDecodeFallsBackToLines checks that one broken line does not cost the
// other documents, and that the line numbers survive the fallback.
func TestDecodeFallsBackToLines(t *testing.T) {
	input := ehRec("a") + "\n" + `{"records":[` + ehRec("b") + "\n" + bareRec("g1") + "\n"
	res, err := Decode([]byte(input))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(eventIDs(res), ","); got != "a,g1" {
		t.Errorf("events = %s, want a,g1", got)
	}
	if got := skipsOf(res); len(got) != 1 || got[0] != (wantSkip{1, 2, "", ""}) {
		t.Errorf("skips = %+v", got)
	}
}

// Skip must stay usable as an error, e.g. for errors.Join in callers.
var _ error = Skip{}

func TestSkipError(t *testing.T) {
	tests := []struct {
		skip Skip
		want string
	}{
		{Skip{Index: 4, Line: 3, Location: "records[4]", Field: "properties.activityDateTime", Reason: `cannot parse "x" as a time`},
			`record 5 (line 3, records[4]): field properties.activityDateTime: cannot parse "x" as a time`},
		{Skip{Index: 0, Line: 1, Reason: "not JSON"}, `record 1 (line 1): not JSON`},
		{Skip{Index: 2, Line: 7, Field: "properties.id", Reason: "missing"}, `record 3 (line 7): field properties.id: missing`},
	}
	for _, tt := range tests {
		if got := tt.skip.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// TestSkipRawExact checks that Raw is the value alone, without the white
// space or separators around it, whatever the kind of value.
func TestSkipRawExact(t *testing.T) {
	input := "[ 7 , {\"records\":[ -8.5e3 ,\t\"x\"\n]} , true , {\"value\" : [ {} ] } ]"
	res, err := Decode([]byte(input))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`7`, `-8.5e3`, `"x"`, `true`, `{}`}
	if len(res.Skipped) != len(want) {
		t.Fatalf("skips = %v", res.Skipped)
	}
	for i, w := range want {
		if got := string(res.Skipped[i].Raw); got != w {
			t.Errorf("skip %d raw = %q, want %q", i, got, w)
		}
		if res.Skipped[i].Index != i {
			t.Errorf("skip %d index = %d", i, res.Skipped[i].Index)
		}
	}
}
