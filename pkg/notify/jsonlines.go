package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
)

// JSONLines writes each message as one line of JSON: the `console` channel
// on standard output and the `file` channel appended to a file. They are
// the embedded defaults for `make run` and local use, and what a log
// shipper picks up. It is safe for concurrent use.
type JSONLines struct {
	name string
	mu   sync.Mutex
	w    io.Writer
}

// NewJSONLines writes to w as channel name.
func NewJSONLines(name string, w io.Writer) *JSONLines { return &JSONLines{name: name, w: w} }

// NewFile is the `file` channel: setting `path`, opened for appending (and
// created, readable by its owner only, since messages name people and
// objects).
func NewFile(name string, values map[string]any) (*JSONLines, io.Closer, error) {
	s := settings{channel: name, values: values}
	path := s.str("path", true)
	if len(s.errs) > 0 {
		return nil, nil, s.errs[0]
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("channel %s: open %s: %w", name, path, err)
	}
	return NewJSONLines(name, f), f, nil
}

// Send writes m as one line. A line is written whole or not at all as far
// as this process goes: writes are serialized.
func (j *JSONLines) Send(_ context.Context, m Message) error {
	line, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("channel %s: encode message: %w", j.name, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("channel %s: write: %w", j.name, err)
	}
	return nil
}
