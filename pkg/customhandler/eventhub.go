package customhandler

import (
	"encoding/json"
	"time"

	"github.com/reinstate/reinstate/pkg/lenient"
)

// PartitionContext identifies the Event Hubs partition a batch came from
// (EHX Config/TriggerPartitionContext.cs; reference §A2). Fields are empty
// when the host did not send them.
type PartitionContext struct {
	FullyQualifiedNamespace string
	EventHubName            string
	ConsumerGroup           string
	// PartitionID is the wire's "PartitionId".
	PartitionID string
}

// EventHubEventMeta is the per-event binding data of one event in a batch.
// Zero values mean "not sent or not readable"; note that 0 is also a valid
// sequence number, so a zero SequenceNumber alone does not prove absence.
type EventHubEventMeta struct {
	// PartitionKey is "" when the event had none (the host sends null).
	PartitionKey string
	// Offset is kept as text: the extension formats it with the invariant
	// culture as a string, and newer Event Hubs SDKs treat offsets as opaque
	// strings.
	Offset         string
	SequenceNumber int64
	// EnqueuedTime is in UTC. The extension sends the DateTime part without
	// a zone; it is read as UTC (EHX EventHubTriggerBindingStrategy;
	// reference §A2 table).
	EnqueuedTime time.Time
}

// EventHubMetadata is the binding data of an Event Hubs trigger with
// cardinality "many".
type EventHubMetadata struct {
	Partition PartitionContext
	// Events[i] describes element i of the trigger's Data list when the host
	// sends consistent arrays. Its length is that of the longest per-event
	// array present, so callers must bounds-check against the events.
	Events []EventHubEventMeta
}

// EventHubMetadata reads the Event Hubs batch metadata: PartitionContext and
// the per-event arrays PartitionKeyArray, OffsetArray, SequenceNumberArray
// and EnqueuedTimeUtcArray (EHX EventHubTriggerBindingStrategy.AddBindingData;
// reference §A2). Each array may be a JSON array or a JSON string holding
// one. It never fails: a missing, malformed or short array leaves zero
// values, because metadata is informational and events must not be lost
// because of it.
func (r *Request) EventHubMetadata() EventHubMetadata {
	var md EventHubMetadata
	if raw, ok := r.MetadataValue("PartitionContext"); ok && len(raw) > 0 && raw[0] == '{' {
		var wire struct {
			FullyQualifiedNamespace json.RawMessage
			EventHubName            json.RawMessage
			ConsumerGroup           json.RawMessage
			PartitionID             json.RawMessage `json:"PartitionId"`
		}
		if json.Unmarshal(raw, &wire) == nil {
			md.Partition = PartitionContext{
				FullyQualifiedNamespace: textValue(wire.FullyQualifiedNamespace),
				EventHubName:            textValue(wire.EventHubName),
				ConsumerGroup:           textValue(wire.ConsumerGroup),
				PartitionID:             textValue(wire.PartitionID),
			}
		}
	}

	keys := r.metadataArray("PartitionKeyArray")
	offsets := r.metadataArray("OffsetArray")
	seqs := r.metadataArray("SequenceNumberArray")
	times := r.metadataArray("EnqueuedTimeUtcArray")
	n := max(len(keys), len(offsets), len(seqs), len(times))
	if n == 0 {
		return md
	}
	md.Events = make([]EventHubEventMeta, n)
	for i := range md.Events {
		e := &md.Events[i]
		if i < len(keys) {
			e.PartitionKey = textValue(keys[i])
		}
		if i < len(offsets) {
			e.Offset = textValue(offsets[i])
		}
		if i < len(seqs) {
			e.SequenceNumber, _ = lenient.Int64(seqs[i])
		}
		if i < len(times) {
			e.EnqueuedTime = timeValue(times[i])
		}
	}
	return md
}

// metadataArray returns the elements of a Metadata array in either encoding,
// or nil when the key is absent or not an array.
func (r *Request) metadataArray(name string) []json.RawMessage {
	raw, ok := r.MetadataValue(name)
	if !ok || len(raw) == 0 || raw[0] != '[' {
		return nil
	}
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil {
		return nil
	}
	return elems
}

// textValue reads a string, number or boolean as text (one level of string
// wrapping removed); anything else is "".
func textValue(raw json.RawMessage) string {
	s, ok := lenient.Text(lenient.Unwrap(raw))
	if !ok {
		return ""
	}
	return s
}

// timeValue reads a timestamp leniently, in UTC. Unreadable values, .NET's
// DateTime.MinValue (year 1, which the host sends for "never") and years that
// a zone offset pushed past 9999 are the zero time, so that every non-zero
// result can be encoded again with encoding/json (time.Time.MarshalJSON
// rejects years outside 0..9999).
func timeValue(raw json.RawMessage) time.Time {
	t, ok := lenient.Time(textValue(raw))
	if !ok || t.Year() <= 1 || t.Year() > 9999 {
		return time.Time{}
	}
	return t
}
