package replay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/reinstate/reinstate/pkg/pipeline"
)

// MaxLine bounds one line of an NDJSON file: an Event Hubs event is at
// most 1 MB, so a longer line is not one event body.
const MaxLine = 16 << 20

// Files reads event bodies from files, streaming: in a .ndjson or .jsonl
// file each line is a body, and any other file is one body (an Event Hubs
// body, a Graph page, an array of either: whatever audit.Decode accepts).
// "-" is stdin, read as one body. Its progress is in bytes.
type Files struct {
	names []string
	stdin io.Reader
	// total is the files' sizes, and stdin's once it is read; atomic, like
	// done, so that progress can be shown while Next runs.
	total atomic.Int64
	done  atomic.Int64

	// The file being read line by line, if any.
	current *os.File
	lines   *bufio.Reader
	name    string
	line    int
}

// NewFiles checks that every file can be opened, before anything is read,
// and sums their sizes for the progress total.
func NewFiles(names []string, stdin io.Reader) (*Files, error) {
	f := &Files{names: names, stdin: stdin}
	for _, name := range names {
		if name == "-" {
			continue
		}
		info, err := os.Stat(name)
		if err != nil {
			return nil, err
		}
		if info.IsDir() {
			return nil, fmt.Errorf("%s is a directory", name)
		}
		f.total.Add(info.Size())
	}
	return f, nil
}

// Progress implements Source, in bytes read.
func (f *Files) Progress() (done, total int64) { return f.done.Load(), f.total.Load() }

// Next implements Source.
func (f *Files) Next(ctx context.Context, max int) ([]pipeline.Body, error) {
	var bodies []pipeline.Body
	for len(bodies) < max {
		if err := ctx.Err(); err != nil {
			return bodies, err
		}
		if f.lines != nil {
			body, err := f.nextLine()
			if errors.Is(err, io.EOF) {
				f.closeCurrent()
				continue
			}
			if err != nil {
				f.closeCurrent()
				return bodies, err
			}
			if body != nil {
				bodies = append(bodies, *body)
			}
			continue
		}
		if len(f.names) == 0 {
			if len(bodies) == 0 {
				return nil, io.EOF
			}
			return bodies, nil
		}
		name := f.names[0]
		f.names = f.names[1:]
		body, err := f.open(name)
		if err != nil {
			return bodies, err
		}
		if body != nil {
			bodies = append(bodies, *body)
		}
	}
	return bodies, nil
}

// open starts reading name: a whole-file body is returned at once; an
// NDJSON file is left open for nextLine.
func (f *Files) open(name string) (*pipeline.Body, error) {
	if name == "-" {
		data, err := io.ReadAll(f.stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		// Its size is known only now; without it in the total, done would
		// pass the total and the percentage would stop meaning anything.
		f.total.Add(int64(len(data)))
		f.done.Add(int64(len(data)))
		return &pipeline.Body{Data: data, Source: "stdin"}, nil
	}
	file, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".ndjson", ".jsonl":
		f.current, f.name, f.line = file, name, 0
		f.lines = bufio.NewReaderSize(&countingReader{r: file, n: &f.done}, 64<<10)
		return nil, nil
	}
	defer file.Close()
	data, err := io.ReadAll(&countingReader{r: file, n: &f.done})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &pipeline.Body{Data: data, Source: name}, nil
}

// nextLine returns the next non-blank line as a body; nil for a blank one.
func (f *Files) nextLine() (*pipeline.Body, error) {
	var line []byte
	for {
		chunk, err := f.lines.ReadSlice('\n')
		line = append(line, chunk...)
		// The line end is not part of the body: a body of exactly MaxLine
		// bytes is accepted whether LF, CRLF or nothing ends it.
		if len(bytes.TrimRight(line, "\r\n")) > MaxLine {
			return nil, fmt.Errorf("%s line %d: longer than %d bytes: not one event body (is the file NDJSON?)", f.name, f.line+1, MaxLine)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		switch {
		case errors.Is(err, io.EOF) && len(line) == 0:
			return nil, io.EOF
		case err != nil && !errors.Is(err, io.EOF):
			return nil, fmt.Errorf("%s line %d: %w", f.name, f.line+1, err)
		}
		break
	}
	f.line++
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil, nil
	}
	return &pipeline.Body{Data: line, Source: fmt.Sprintf("%s line %d", f.name, f.line)}, nil
}

func (f *Files) closeCurrent() {
	if f.current != nil {
		f.current.Close()
	}
	f.current, f.lines = nil, nil
}

// Close releases the file being read, for a caller that stops early.
func (f *Files) Close() error {
	f.closeCurrent()
	return nil
}

// countingReader adds what it reads to n, for progress.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
