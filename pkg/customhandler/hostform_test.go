package customhandler

import (
	"reflect"
	"testing"
	"time"
)

// TestEncodeEventHubInvocationRoundTrips checks that what replay posts is
// read back exactly by the decoding the server applies to host requests.
func TestEncodeEventHubInvocationRoundTrips(t *testing.T) {
	enqueued := time.Date(2026, 3, 2, 9, 17, 1, 250_000_000, time.UTC)
	bodies := [][]byte{[]byte(`{"records":[{"a":"b \"quoted\""}]}`), []byte("<html>not json</html>"), []byte(`[1,2]`)}
	meta := EventHubMetadata{
		Partition: PartitionContext{FullyQualifiedNamespace: "ns.servicebus.windows.net", EventHubName: "entra-audit", ConsumerGroup: "reinstate", PartitionID: "3"},
		Events: []EventHubEventMeta{
			{PartitionKey: "k", Offset: "616008", SequenceNumber: 59, EnqueuedTime: enqueued},
			{Offset: "616100", SequenceNumber: 60, EnqueuedTime: enqueued.Add(time.Second)},
			{Offset: "616200", SequenceNumber: 61, EnqueuedTime: enqueued.Add(2 * time.Second)},
		},
	}
	payload, err := EncodeEventHubInvocation("events", bodies, meta)
	if err != nil {
		t.Fatal(err)
	}
	req, _, err := decodeEnvelope(payload)
	if err != nil {
		t.Fatalf("decodeEnvelope: %v", err)
	}
	// The host's form: the list arrives as a JSON string, not an array.
	if raw := req.Data["events"]; len(raw) == 0 || raw[0] != '"' {
		t.Fatalf("Data.events = %.40s…, want a JSON string holding the list", raw)
	}
	got, err := req.Strings("events")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{string(bodies[0]), string(bodies[1]), `[1,2]`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Strings = %q, want %q", got, want)
	}
	if gotMeta := req.EventHubMetadata(); !reflect.DeepEqual(gotMeta, meta) {
		t.Errorf("EventHubMetadata = %+v, want %+v", gotMeta, meta)
	}
}

func TestDescribe(t *testing.T) {
	meta := EventHubMetadata{
		Partition: PartitionContext{PartitionID: "0"},
		Events:    []EventHubEventMeta{{Offset: "616008", SequenceNumber: 59, EnqueuedTime: time.Date(2026, 3, 2, 9, 17, 1, 0, time.UTC)}},
	}
	tests := []struct {
		meta  EventHubMetadata
		index int
		want  string
	}{
		{meta, 0, "partition 0 sequence 59 offset 616008 enqueued 2026-03-02T09:17:01Z"},
		{meta, 1, "partition 0"},
		{EventHubMetadata{}, 0, ""},
	}
	for _, tt := range tests {
		if got := tt.meta.Describe(tt.index); got != tt.want {
			t.Errorf("Describe(%d) = %q, want %q", tt.index, got, tt.want)
		}
	}
}
