package customhandler

import (
	"reflect"
	"testing"
	"time"
)

func TestEventHubMetadata(t *testing.T) {
	pc := PartitionContext{
		FullyQualifiedNamespace: "ns.servicebus.windows.net",
		EventHubName:            "entra-audit",
		ConsumerGroup:           "$Default",
		PartitionID:             "0",
	}
	t1 := time.Date(2023, 3, 13, 1, 25, 2, 250_000_000, time.UTC)
	t2 := time.Date(2023, 3, 13, 1, 25, 3, 0, time.UTC)
	tests := []struct {
		name string
		body string
		want EventHubMetadata
	}{
		{
			name: "host form: arrays are JSON strings, times without zone are UTC",
			body: `{"Data":{"events":"[]"},"Metadata":{
				"PartitionContext":{"FullyQualifiedNamespace":"ns.servicebus.windows.net","EventHubName":"entra-audit",
					"ConsumerGroup":"$Default","PartitionId":"0","IsCheckpointingAfterInvocation":true},
				"PartitionKeyArray":"[null,\"pk\"]","OffsetArray":"[\"616008\",\"616500\"]",
				"SequenceNumberArray":"[59,60]","EnqueuedTimeUtcArray":"[\"2023-03-13T01:25:02.25\",\"2023-03-13T01:25:03\"]"}}`,
			want: EventHubMetadata{Partition: pc, Events: []EventHubEventMeta{
				{Offset: "616008", SequenceNumber: 59, EnqueuedTime: t1},
				{PartitionKey: "pk", Offset: "616500", SequenceNumber: 60, EnqueuedTime: t2},
			}},
		},
		{
			name: "plain form: real arrays, numbers as numbers, zone given",
			body: `{"Data":{"events":[]},"Metadata":{
				"partitionContext":{"fullyQualifiedNamespace":"ns.servicebus.windows.net","eventHubName":"entra-audit",
					"consumerGroup":"$Default","partitionId":0},
				"PartitionKeyArray":[null,"pk"],"OffsetArray":[616008,"616500"],
				"SequenceNumberArray":[59,"60"],"EnqueuedTimeUtcArray":["2023-03-13T01:25:02.25Z","2023-03-13T02:25:03+01:00"]}}`,
			want: EventHubMetadata{Partition: pc, Events: []EventHubEventMeta{
				{Offset: "616008", SequenceNumber: 59, EnqueuedTime: t1},
				{PartitionKey: "pk", Offset: "616500", SequenceNumber: 60, EnqueuedTime: t2},
			}},
		},
		{
			name: "PartitionContext string-wrapped",
			body: `{"Data":{},"Metadata":{"PartitionContext":"{\"PartitionId\":\"7\"}"}}`,
			want: EventHubMetadata{Partition: PartitionContext{PartitionID: "7"}},
		},
		{
			name: "mismatched lengths: the longest array decides, missing entries are zero",
			body: `{"Data":{},"Metadata":{"OffsetArray":"[\"1\"]","SequenceNumberArray":"[1,2,3]","EnqueuedTimeUtcArray":"[]"}}`,
			want: EventHubMetadata{Events: []EventHubEventMeta{
				{Offset: "1", SequenceNumber: 1}, {SequenceNumber: 2}, {SequenceNumber: 3},
			}},
		},
		{
			name: "malformed arrays and elements are ignored",
			body: `{"Data":{},"Metadata":{"PartitionContext":[1],"OffsetArray":"not an array","PartitionKeyArray":{"a":1},
				"SequenceNumberArray":"[\"x\",{},1.5,7]","EnqueuedTimeUtcArray":"[\"yesterday\",42,null,\"0001-01-01T00:00:00\"]"}}`,
			want: EventHubMetadata{Events: []EventHubEventMeta{{}, {}, {}, {SequenceNumber: 7}}},
		},
		{
			name: "no metadata at all",
			body: `{"Data":{}}`,
			want: EventHubMetadata{},
		},
		{
			name: "year pushed past 9999 by a zone is zero (so it can be re-encoded)",
			body: `{"Data":{},"Metadata":{"EnqueuedTimeUtcArray":["9999-12-31T23:59:59-01:00"]}}`,
			want: EventHubMetadata{Events: []EventHubEventMeta{{}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustRequest(t, tt.body).EventHubMetadata()
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("EventHubMetadata =\n%+v\nwant\n%+v", got, tt.want)
			}
			for i, e := range got.Events {
				if !e.EnqueuedTime.IsZero() && e.EnqueuedTime.Location() != time.UTC {
					t.Errorf("event %d: EnqueuedTime in %v, want UTC", i, e.EnqueuedTime.Location())
				}
			}
		})
	}
}

func TestEventHubMetadataOnHandBuiltRequest(t *testing.T) {
	// A Request built by hand (nil maps) must not panic either.
	var r Request
	if got := r.EventHubMetadata(); !reflect.DeepEqual(got, EventHubMetadata{}) {
		t.Fatalf("got %+v", got)
	}
	if _, ok := r.RetryContext(); ok {
		t.Fatal("RetryContext on empty request reported present")
	}
	if _, err := r.Strings("events"); err == nil {
		t.Fatal("Strings on empty request succeeded")
	}
}
