package customhandler

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// EncodeEventHubInvocation builds a request body the way the Functions host
// sends an eventHubTrigger invocation with cardinality "many" and dataType
// "string": Data.<binding> is the list of event bodies serialized to JSON
// text and sent as a JSON string, and so is each per-event Metadata array;
// PartitionContext is a real object (HOST ScriptInvocationContextExtensions
// GetHttpScriptInvocationContextValue; reference §A2 "expected wire shape").
// `reinstate replay` and the end-to-end tests use it, so that what they post
// is what production receives.
func EncodeEventHubInvocation(binding string, bodies [][]byte, meta EventHubMetadata) ([]byte, error) {
	texts := make([]string, len(bodies))
	for i, body := range bodies {
		texts[i] = string(body)
	}
	n := len(bodies)
	keys := make([]*string, n)
	offsets := make([]string, n)
	sequences := make([]int64, n)
	// The extension sends the DateTime part of the enqueued time, without a zone.
	enqueued := make([]string, n)
	for i := range n {
		var e EventHubEventMeta
		if i < len(meta.Events) {
			e = meta.Events[i]
		}
		if e.PartitionKey != "" {
			keys[i] = &e.PartitionKey
		}
		offsets[i], sequences[i] = e.Offset, e.SequenceNumber
		enqueued[i] = e.EnqueuedTime.UTC().Format("2006-01-02T15:04:05.9999999")
	}
	data, err := hostString(texts)
	if err != nil {
		return nil, err
	}
	metadata := map[string]any{
		"PartitionContext": map[string]any{
			"FullyQualifiedNamespace":        meta.Partition.FullyQualifiedNamespace,
			"EventHubName":                   meta.Partition.EventHubName,
			"ConsumerGroup":                  meta.Partition.ConsumerGroup,
			"PartitionId":                    meta.Partition.PartitionID,
			"IsCheckpointingAfterInvocation": true,
		},
		"sys": map[string]any{"MethodName": "", "UtcNow": time.Now().UTC(), "RandGuid": ""},
	}
	arrays := map[string]any{
		"PartitionKeyArray":    keys,
		"OffsetArray":          offsets,
		"SequenceNumberArray":  sequences,
		"EnqueuedTimeUtcArray": enqueued,
	}
	for name, value := range arrays {
		if metadata[name], err = hostString(value); err != nil {
			return nil, err
		}
	}
	return json.Marshal(map[string]any{
		"Data":     map[string]any{binding: data},
		"Metadata": metadata,
	})
}

// hostString serializes v to JSON text, as the host does for values that are
// not objects; the caller then encodes that text as a JSON string.
func hostString(v any) (string, error) {
	text, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode host value: %w", err)
	}
	return string(text), nil
}

// Describe names event i of a batch for logs, the journal and dead letters,
// such as "partition 0 sequence 59 offset 616008". It returns "" when the
// host sent nothing about that event.
func (m EventHubMetadata) Describe(i int) string {
	var parts []string
	if m.Partition.PartitionID != "" {
		parts = append(parts, "partition "+m.Partition.PartitionID)
	}
	if i >= 0 && i < len(m.Events) {
		e := m.Events[i]
		if e.Offset != "" || e.SequenceNumber != 0 {
			parts = append(parts, fmt.Sprintf("sequence %d", e.SequenceNumber))
		}
		if e.Offset != "" {
			parts = append(parts, "offset "+e.Offset)
		}
		if !e.EnqueuedTime.IsZero() {
			parts = append(parts, "enqueued "+e.EnqueuedTime.Format(time.RFC3339Nano))
		}
	}
	return strings.Join(parts, " ")
}
