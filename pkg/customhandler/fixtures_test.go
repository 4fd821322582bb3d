package customhandler

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// auditBody is the part of an Entra diagnostic-settings event body the
// fixture checks look at (reference §B5).
type auditBody struct {
	Records []struct {
		OperationName string `json:"operationName"`
		Properties    struct {
			TargetResources []struct {
				ID string `json:"id"`
			} `json:"targetResources"`
		} `json:"properties"`
	} `json:"records"`
}

func operations(t *testing.T, events []string) []string {
	t.Helper()
	var ops []string
	for i, e := range events {
		var b auditBody
		if err := json.Unmarshal([]byte(e), &b); err != nil {
			ops = append(ops, "!json")
			continue
		}
		if len(b.Records) != 1 || len(b.Records[0].Properties.TargetResources) != 1 {
			t.Fatalf("event %d: unexpected shape %+v", i, b)
		}
		ops = append(ops, b.Records[0].OperationName)
	}
	return ops
}

// TestFixtures sends each realistic envelope through the Server, as the host
// would, and checks what the handler reads from it.
func TestFixtures(t *testing.T) {
	partition := PartitionContext{
		FullyQualifiedNamespace: "contoso-audit.servicebus.windows.net",
		EventHubName:            "entra-audit",
		ConsumerGroup:           "$Default",
		PartitionID:             "0",
	}
	enqueued := []time.Time{
		time.Date(2026, 3, 2, 9, 17, 1, 250_000_000, time.UTC),
		time.Date(2026, 3, 2, 9, 17, 1, 500_000_000, time.UTC),
		time.Date(2026, 3, 2, 9, 17, 2, 0, time.UTC),
	}
	batchMeta := func(n int) EventHubMetadata {
		md := EventHubMetadata{Partition: partition}
		offsets := []string{"616008", "617024", "618040"}
		for i := range n {
			md.Events = append(md.Events, EventHubEventMeta{
				Offset: offsets[i], SequenceNumber: int64(59 + i), EnqueuedTime: enqueued[i],
			})
		}
		return md
	}
	checkBatch := func(wantOps []string, retry *RetryContext) func(*testing.T, *Request) {
		return func(t *testing.T, req *Request) {
			events, err := req.Strings("events")
			if err != nil {
				t.Fatalf("Strings: %v", err)
			}
			if got := operations(t, events); !reflect.DeepEqual(got, wantOps) {
				t.Fatalf("operations = %q, want %q", got, wantOps)
			}
			if len(wantOps) == 3 && events[2] != "not json: a body an event producer wrote as plain text" {
				t.Fatalf("non-JSON body = %q", events[2])
			}
			if got, want := req.EventHubMetadata(), batchMeta(len(wantOps)); !reflect.DeepEqual(got, want) {
				t.Fatalf("EventHubMetadata =\n%+v\nwant\n%+v", got, want)
			}
			rc, ok := req.RetryContext()
			if (retry != nil) != ok {
				t.Fatalf("RetryContext present = %v, want %v", ok, retry != nil)
			}
			if retry != nil {
				if rc.RetryCount != retry.RetryCount || rc.MaxRetryCount != retry.MaxRetryCount {
					t.Fatalf("RetryContext = %+v, want %+v", rc, retry)
				}
				if !bytes.Contains(rc.Exception, []byte("HttpRequestException")) {
					t.Fatalf("RetryContext.Exception = %s", rc.Exception)
				}
			}
		}
	}
	stringOps := []string{"Delete user", "Remove service principal", "!json"}
	objectOps := []string{"Delete user", "Remove service principal"}
	retry := &RetryContext{RetryCount: 1, MaxRetryCount: 5}

	tests := []struct {
		file     string
		function string
		check    func(*testing.T, *Request)
	}{
		{"eventhub-string-host.json", "AuditEvents", checkBatch(stringOps, retry)},
		{"eventhub-string-plain.json", "AuditEvents", checkBatch(stringOps, retry)},
		{"eventhub-object-host.json", "AuditEvents", checkBatch(objectOps, nil)},
		{"eventhub-object-plain.json", "AuditEvents", checkBatch(objectOps, nil)},
		{"timer-host.json", "Maintenance", func(t *testing.T, req *Request) {
			ti, err := req.TimerInfo("timer")
			if err != nil {
				t.Fatal(err)
			}
			if ti.IsPastDue || !ti.HasScheduleStatus ||
				!ti.Next.Equal(time.Date(2026, 3, 3, 3, 0, 0, 0, time.UTC)) ||
				!ti.Last.Equal(time.Date(2026, 3, 2, 3, 0, 0, 3_458_200, time.UTC)) || ti.LastUpdated.IsZero() {
				t.Fatalf("TimerInfo = %+v", ti)
			}
			sys, ok := req.MetadataValue("sys")
			var parsed struct{ MethodName string }
			if !ok || json.Unmarshal(sys, &parsed) != nil || parsed.MethodName != "Maintenance" {
				t.Fatalf("sys = %s, %v", sys, ok)
			}
		}},
		{"timer-no-schedule-status.json", "Maintenance", func(t *testing.T, req *Request) {
			ti, err := req.TimerInfo("timer")
			if err != nil || !ti.IsPastDue || ti.HasScheduleStatus || !ti.Next.IsZero() {
				t.Fatalf("TimerInfo = %+v, %v", ti, err)
			}
		}},
		{"timer-unparseable-last.json", "Maintenance", func(t *testing.T, req *Request) {
			ti, err := req.TimerInfo("timer")
			if err != nil || !ti.HasScheduleStatus || !ti.Last.IsZero() || !ti.LastUpdated.IsZero() || ti.Next.IsZero() {
				t.Fatalf("TimerInfo = %+v, %v", ti, err)
			}
			rc, ok := req.RetryContext()
			if !ok || !reflect.DeepEqual(rc, RetryContext{RetryCount: 0, MaxRetryCount: -1}) {
				t.Fatalf("RetryContext = %+v, %v", rc, ok)
			}
		}},
		{"queue-host.json", "QueueFn", func(t *testing.T, req *Request) {
			if s, err := req.String("myQueueItem"); err != nil || s != "HelloWorld" {
				t.Fatalf("String = %q, %v", s, err)
			}
			if v, ok := req.MetadataValue("dequeueCount"); !ok || string(v) != "4" {
				t.Fatalf("DequeueCount = %s, %v", v, ok)
			}
			if v, ok := req.MetadataValue("helloString"); !ok || string(v) != `"helloMetadata"` {
				t.Fatalf("helloString = %s, %v", v, ok)
			}
		}},
		{"queue-docs.json", "QueueFn", func(t *testing.T, req *Request) {
			if s, err := req.String("myQueueItem"); err != nil || s != `{ message: "Message sent" }` {
				t.Fatalf("String = %q, %v", s, err)
			}
			if v, ok := req.MetadataValue("DequeueCount"); !ok || string(v) != "1" {
				t.Fatalf("DequeueCount = %s, %v", v, ok)
			}
		}},
	}

	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(fixtureDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var got *Request
			s := NewServer(Options{Logger: discardLogger()})
			s.Handle(tt.function, HandlerFunc(func(_ context.Context, req *Request) (*Response, error) {
				got = req
				return nil, nil
			}))
			status, _ := do(t, s, http.MethodPost, "/"+tt.function, bytes.NewReader(body),
				map[string]string{InvocationIDHeader: "6f1d2c1e-0000-4000-8000-000000000001"})
			if status != http.StatusOK || got == nil {
				t.Fatalf("status %d, handler called: %v", status, got != nil)
			}
			if got.FunctionName != tt.function || got.InvocationID != "6f1d2c1e-0000-4000-8000-000000000001" {
				t.Fatalf("FunctionName %q, InvocationID %q", got.FunctionName, got.InvocationID)
			}
			tt.check(t, got)
		})
	}

	// Every fixture file is covered by the table, so none rots unnoticed.
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures found: %v", err)
	}
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("fixture %s has no table entry", filepath.Base(f))
		}
	}
}

// TestFixturesHostAndPlainAgree checks that the two encodings of the same
// batch decode to the same events and metadata.
func TestFixturesHostAndPlainAgree(t *testing.T) {
	for _, pair := range [][2]string{
		{"eventhub-string-host.json", "eventhub-string-plain.json"},
		{"eventhub-object-host.json", "eventhub-object-plain.json"},
	} {
		var events [2][]string
		var meta [2]EventHubMetadata
		for i, f := range pair {
			body, err := os.ReadFile(filepath.Join(fixtureDir, f))
			if err != nil {
				t.Fatal(err)
			}
			req := mustRequest(t, string(body))
			if events[i], err = req.Strings("events"); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			meta[i] = req.EventHubMetadata()
		}
		if !reflect.DeepEqual(events[0], events[1]) {
			t.Errorf("%s and %s decode to different events:\n%s\n%s", pair[0], pair[1],
				strings.Join(events[0], "\n"), strings.Join(events[1], "\n"))
		}
		if !reflect.DeepEqual(meta[0], meta[1]) {
			t.Errorf("%s and %s decode to different metadata:\n%+v\n%+v", pair[0], pair[1], meta[0], meta[1])
		}
	}
}
