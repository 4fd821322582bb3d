package customhandler

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestStrings(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []string
		wantErr string // substring; "" means no error
		noValue bool   // error must wrap ErrNoValue
	}{
		{
			name: "host form: JSON string holding an array of strings (dataType string)",
			body: `{"Data":{"events":"[\"{\\\"records\\\":[]}\",\"x\"]"},"Metadata":{"SequenceNumberArray":"[59,60]"}}`,
			want: []string{`{"records":[]}`, "x"},
		},
		{
			name: "plain form as documented",
			body: `{"Data":{"events":["{\"records\":[]}","x"]},"Metadata":{"SequenceNumberArray":[59,60]}}`,
			want: []string{`{"records":[]}`, "x"},
		},
		{
			name: "no dataType: host form with object elements come back as JSON text",
			body: `{"Data":{"events":"[{\"records\":[]}]"}}`,
			want: []string{`{"records":[]}`},
		},
		{
			name: "no dataType: plain form with object elements",
			body: `{"Data":{"events":[{"records":[{"a":1}]}, [1,2], 3, true, null]}}`,
			want: []string{`{"records":[{"a":1}]}`, `[1,2]`, `3`, `true`, `null`},
		},
		{
			name: "element strings are not unwrapped again: an event body that is a JSON string stays one",
			body: `{"Data":{"events":"[\"\\\"quoted\\\"\"]"}}`,
			want: []string{`"quoted"`},
		},
		{
			name: "empty batch, host form",
			body: `{"Data":{"events":"[]"}}`,
			want: []string{},
		},
		{
			name: "empty batch, plain form with white space",
			body: `{"Data":{"events":  [ ] }}`,
			want: []string{},
		},
		{
			name: "unicode and escapes survive both levels",
			body: `{"Data":{"events":"[\"caf\\u00e9 \\\\n \\u2603\"]"}}`,
			want: []string{"café \\n ☃"},
		},
		{
			name: "binding name matched case-insensitively",
			body: `{"Data":{"Events":["a"]}}`,
			want: []string{"a"},
		},
		{
			name:    "absent",
			body:    `{"Data":{"other":"[]"}}`,
			wantErr: "Data.events",
			noValue: true,
		},
		{
			name:    "null",
			body:    `{"Data":{"events":null}}`,
			wantErr: "Data.events",
			noValue: true,
		},
		{
			name:    "single string (cardinality one) is not a list",
			body:    `{"Data":{"events":"\"HelloWorld\""}}`,
			wantErr: "not a list",
		},
		{
			name:    "object is not a list",
			body:    `{"Data":{"events":{"records":[]}}}`,
			wantErr: "JSON object, not a list",
		},
		{
			name:    "string that is not JSON is not a list",
			body:    `{"Data":{"events":"[not json"}}`,
			wantErr: "not a list",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := mustRequest(t, tt.body)
			got, err := req.Strings("events")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if errors.Is(err, ErrNoValue) != tt.noValue {
					t.Fatalf("errors.Is(err, ErrNoValue) = %v, want %v (err %v)", !tt.noValue, tt.noValue, err)
				}
				if got != nil {
					t.Fatalf("got %q with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Strings: %v", err)
			}
			if got == nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Strings = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    string
		noValue bool
	}{
		{name: "host double encoding", body: `{"Data":{"item":"\"HelloWorld\""}}`, want: "HelloWorld"},
		{name: "plain string", body: `{"Data":{"item":"HelloWorld"}}`, want: "HelloWorld"},
		{name: "docs example: string that is not JSON", body: `{"Data":{"item":"{ message: \"Message sent\" }"}}`, want: `{ message: "Message sent" }`},
		{name: "host-encoded number", body: `{"Data":{"item":"4"}}`, want: "4"},
		{name: "object comes back as JSON text", body: `{"Data":{"item":{"a":[1,"b"]}}}`, want: `{"a":[1,"b"]}`},
		{name: "empty string", body: `{"Data":{"item":""}}`, want: ""},
		{name: "absent", body: `{"Data":{}}`, noValue: true},
		{name: "null", body: `{"Data":{"item":null}}`, noValue: true},
		{name: "host-encoded null", body: `{"Data":{"item":"null"}}`, noValue: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustRequest(t, tt.body).String("item")
			if tt.noValue {
				if !errors.Is(err, ErrNoValue) {
					t.Fatalf("err = %v, want ErrNoValue", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("String = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestValueAndMetadataValue(t *testing.T) {
	req := mustRequest(t, `{"Data":{"timer":{"IsPastDue":false},"item":"\"x\""},
		"Metadata":{"DequeueCount":"4","dequeuecount":"5","sys":{"MethodName":"F"},"helloString":"\"helloMetadata\""}}`)

	if v, ok := req.Value("item"); !ok || string(v) != `"x"` {
		t.Errorf(`Value("item") = %s, %v; want "x" (one level unwrapped)`, v, ok)
	}
	if v, ok := req.Value("TIMER"); !ok || string(v) != `{"IsPastDue":false}` {
		t.Errorf(`Value("TIMER") = %s, %v`, v, ok)
	}
	if _, ok := req.Value("missing"); ok {
		t.Error(`Value("missing") reported present`)
	}
	// An exact key wins over a case-insensitive one.
	if v, ok := req.MetadataValue("dequeuecount"); !ok || string(v) != "5" {
		t.Errorf(`MetadataValue("dequeuecount") = %s, %v; want 5`, v, ok)
	}
	if v, ok := req.MetadataValue("DequeueCount"); !ok || string(v) != "4" {
		t.Errorf(`MetadataValue("DequeueCount") = %s, %v; want 4`, v, ok)
	}
	// Several case-insensitive matches: the result must not depend on map order.
	for range 20 {
		if v, ok := req.MetadataValue("DEQUEUECOUNT"); !ok || string(v) != "4" {
			t.Fatalf(`MetadataValue("DEQUEUECOUNT") = %s, %v; want the lexically smallest key's value 4`, v, ok)
		}
	}
	if v, ok := req.MetadataValue("HELLOSTRING"); !ok || string(v) != `"helloMetadata"` {
		t.Errorf(`MetadataValue("HELLOSTRING") = %s, %v`, v, ok)
	}
	if _, ok := req.MetadataValue("nope"); ok {
		t.Error(`MetadataValue("nope") reported present`)
	}
}

func TestRetryContext(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   RetryContext
		wantOK bool
	}{
		{
			name:   "numbers, as the host serializes the RetryContext object",
			body:   `{"Data":{},"Metadata":{"RetryContext":{"RetryCount":2,"MaxRetryCount":5,"Exception":{"Message":"boom"}}}}`,
			want:   RetryContext{RetryCount: 2, MaxRetryCount: 5, Exception: json.RawMessage(`{"Message":"boom"}`)},
			wantOK: true,
		},
		{
			name:   "strings",
			body:   `{"Data":{},"Metadata":{"RetryContext":{"RetryCount":"1","MaxRetryCount":"-1","Exception":null}}}`,
			want:   RetryContext{RetryCount: 1, MaxRetryCount: -1},
			wantOK: true,
		},
		{
			name:   "double-encoded strings and camelCase keys",
			body:   `{"Data":{},"Metadata":{"retryContext":{"retryCount":"\"3\"","maxRetryCount":"4"}}}`,
			want:   RetryContext{RetryCount: 3, MaxRetryCount: 4},
			wantOK: true,
		},
		{
			name:   "whole object string-wrapped",
			body:   `{"Data":{},"Metadata":{"RetryContext":"{\"RetryCount\":1,\"MaxRetryCount\":2}"}}`,
			want:   RetryContext{RetryCount: 1, MaxRetryCount: 2},
			wantOK: true,
		},
		{
			name:   "unreadable counts are zero but the context is present",
			body:   `{"Data":{},"Metadata":{"RetryContext":{"RetryCount":"many","MaxRetryCount":[1]}}}`,
			want:   RetryContext{},
			wantOK: true,
		},
		{name: "absent", body: `{"Data":{},"Metadata":{}}`},
		{name: "no Metadata at all", body: `{"Data":{}}`},
		{name: "null", body: `{"Data":{},"Metadata":{"RetryContext":null}}`},
		{name: "not an object", body: `{"Data":{},"Metadata":{"RetryContext":"3"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := mustRequest(t, tt.body).RetryContext()
			if ok != tt.wantOK || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("RetryContext = %+v (Exception %s), %v; want %+v, %v", got, got.Exception, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestDecodeEnvelope(t *testing.T) {
	tests := []struct {
		name            string
		body            string
		wantErr         string
		wantData        int
		wantMetadata    int
		metadataIgnored bool
	}{
		{name: "full", body: `{"Data":{"a":"1","b":{}},"Metadata":{"sys":{}}}`, wantData: 2, wantMetadata: 1},
		{name: "Metadata absent", body: `{"Data":{"a":1}}`, wantData: 1},
		{name: "Metadata null", body: `{"Data":{"a":1},"Metadata":null}`, wantData: 1},
		{name: "Metadata string-wrapped object", body: `{"Data":{},"Metadata":"{\"x\":1}"}`, wantMetadata: 1},
		{name: "Metadata not an object is dropped, not fatal", body: `{"Data":{"a":1},"Metadata":[1]}`, wantData: 1, metadataIgnored: true},
		{name: "Data string-wrapped object", body: `{"Data":"{\"a\":1}"}`, wantData: 1},
		{name: "lower-case keys", body: `{"data":{"a":1},"metadata":{"b":2}}`, wantData: 1, wantMetadata: 1},
		{name: "surrounding white space", body: " \n{\"Data\":{}}\n", wantData: 0},
		{name: "empty body", body: ``, wantErr: "empty"},
		{name: "white space only", body: " \t\n", wantErr: "empty"},
		{name: "array", body: `[{"Data":{}}]`, wantErr: "not a JSON object"},
		{name: "string", body: `"{\"Data\":{}}"`, wantErr: "not a JSON object"},
		{name: "null", body: `null`, wantErr: "not a JSON object"},
		{name: "invalid JSON", body: `{"Data":{"a":}`, wantErr: "not valid JSON"},
		{name: "trailing garbage", body: `{"Data":{}} x`, wantErr: "not valid JSON"},
		{name: "Data missing", body: `{"Metadata":{}}`, wantErr: "no Data"},
		{name: "Data null", body: `{"Data":null}`, wantErr: "no Data"},
		{name: "Data array", body: `{"Data":[1]}`, wantErr: "Data is a JSON array"},
		{name: "Data plain string", body: `{"Data":"events"}`, wantErr: "Data is a JSON string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, ignored, err := decodeEnvelope([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeEnvelope: %v", err)
			}
			if req.Data == nil || req.Metadata == nil {
				t.Fatal("Data or Metadata map is nil")
			}
			if len(req.Data) != tt.wantData || len(req.Metadata) != tt.wantMetadata || ignored != tt.metadataIgnored {
				t.Fatalf("got %d Data, %d Metadata, ignored %v; want %d, %d, %v",
					len(req.Data), len(req.Metadata), ignored, tt.wantData, tt.wantMetadata, tt.metadataIgnored)
			}
		})
	}
}

func TestTransient(t *testing.T) {
	base := errors.New("graph throttled")
	if Transient(nil) != nil {
		t.Fatal("Transient(nil) != nil")
	}
	err := Transient(base)
	if !IsTransient(err) || err.Error() != "graph throttled" || !errors.Is(err, base) {
		t.Fatalf("Transient(base) = %v: IsTransient %v, Is(base) %v", err, IsTransient(err), errors.Is(err, base))
	}
	wrapped := errors.Join(errors.New("batch 3"), err)
	if !IsTransient(wrapped) {
		t.Fatal("IsTransient does not see through wrapping")
	}
	var te *TransientError
	if !errors.As(wrapped, &te) || te.Err != base {
		t.Fatal("errors.As does not find *TransientError")
	}
	if IsTransient(base) || IsTransient(nil) {
		t.Fatal("unmarked error reported transient")
	}
	if (&TransientError{}).Error() == "" {
		t.Fatal("empty TransientError has no text")
	}
}
