package customhandler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/reinstate/reinstate/pkg/lenient"
)

// envelope is the request body: PascalCase top-level keys written by the
// host's JSON media-type formatter (HOST HttpScriptInvocationContext;
// reference §A2). encoding/json also accepts other casings.
type envelope struct {
	Data     json.RawMessage
	Metadata json.RawMessage
}

// decodeEnvelope parses a request body into a Request. It fails only on
// problems that make the invocation unreadable: a body that is not a JSON
// object, or Data missing or not an object. metadataIgnored reports a
// Metadata value that was present but not an object; it is dropped rather
// than failing the invocation, because metadata is informational and a
// failed invocation would put the events at risk.
func decodeEnvelope(body []byte) (req *Request, metadataIgnored bool, err error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, false, errors.New("request body is empty; expected a JSON object {\"Data\":{...},\"Metadata\":{...}}")
	}
	if trimmed[0] != '{' {
		return nil, false, errors.New("request body is not a JSON object; expected {\"Data\":{...},\"Metadata\":{...}}")
	}
	var env envelope
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return nil, false, fmt.Errorf("request body is not valid JSON: %w", err)
	}
	if lenient.IsNull(env.Data) {
		return nil, false, errors.New("request body has no Data object (missing or null)")
	}
	// Unwrap covers a producer that string-encoded the whole object, as the
	// host does with arrays (reference §A2).
	dataRaw := lenient.Unwrap(env.Data)
	if dataRaw[0] != '{' {
		return nil, false, fmt.Errorf("request Data is a JSON %s, not an object", lenient.Kind(dataRaw))
	}
	data := map[string]json.RawMessage{}
	if err := json.Unmarshal(dataRaw, &data); err != nil {
		return nil, false, fmt.Errorf("request Data: %w", err)
	}
	metadata := map[string]json.RawMessage{}
	if !lenient.IsNull(env.Metadata) {
		mdRaw := lenient.Unwrap(env.Metadata)
		if mdRaw[0] != '{' || json.Unmarshal(mdRaw, &metadata) != nil {
			metadata = map[string]json.RawMessage{}
			metadataIgnored = true
		}
	}
	return &Request{Data: data, Metadata: metadata}, metadataIgnored, nil
}
