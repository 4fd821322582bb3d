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
	// path is the file channel's, opened at the first message, so that
	// building senders (at start-up, or in `rules check`) touches nothing.
	path string
	file *os.File
}

// NewJSONLines writes to w as channel name.
func NewJSONLines(name string, w io.Writer) *JSONLines { return &JSONLines{name: name, w: w} }

// NewFile is the `file` channel: setting `path`, opened for appending at
// the first message (and created, readable by its owner only, since
// messages name people and objects). Close closes it.
func NewFile(name string, values map[string]any) (*JSONLines, error) {
	s := settings{channel: name, values: values}
	path := s.str("path", true)
	if len(s.errs) > 0 {
		return nil, s.errs[0]
	}
	return &JSONLines{name: name, path: path}, nil
}

// Close closes the file channel's file, if it was opened.
func (j *JSONLines) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.file == nil {
		return nil
	}
	err := j.file.Close()
	j.file, j.w = nil, nil
	return err
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
	if j.w == nil && j.path != "" {
		f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			// A retryable failure: the dispatcher keeps the message.
			return &DeliveryError{Channel: j.name, Endpoint: "file", Retryable: true, err: err}
		}
		j.file, j.w = f, f
	}
	if _, err := j.w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("channel %s: write: %w", j.name, err)
	}
	return nil
}
