package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/reinstate/reinstate/pkg/pipeline"
)

// records returns the records of an Event Hubs fixture, each compacted to
// one line, as an NDJSON export holds them.
func records(t testing.TB, rel string) [][]byte {
	t.Helper()
	var body struct {
		Records []json.RawMessage `json:"records"`
	}
	if err := json.Unmarshal(readFixture(t, rel), &body); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, rec := range body.Records {
		var line bytes.Buffer
		if err := json.Compact(&line, rec); err != nil {
			t.Fatal(err)
		}
		out = append(out, line.Bytes())
	}
	return out
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func size(t testing.TB, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// readAll drains src max bodies at a time and returns every body and the
// size of every batch.
func readAll(t testing.TB, src Source, max int) ([]pipeline.Body, []int) {
	t.Helper()
	var bodies []pipeline.Body
	var batches []int
	for range 10_000 {
		got, err := src.Next(context.Background(), max)
		if len(got) > 0 {
			bodies = append(bodies, got...)
			batches = append(batches, len(got))
		}
		if errors.Is(err, io.EOF) {
			return bodies, batches
		}
		if err != nil {
			t.Fatalf("Next after %d bodies: %v", len(bodies), err)
		}
		if len(got) == 0 {
			t.Fatal("Next returned neither bodies nor an error")
		}
	}
	t.Fatal("source never ended")
	return nil, nil
}

func sources(bodies []pipeline.Body) []string {
	out := make([]string, len(bodies))
	for i, b := range bodies {
		out[i] = b.Source
	}
	return out
}

func TestFilesReadsEachNonBlankNDJSONLineAsABodyNamedByItsLine(t *testing.T) {
	recs := records(t, "audit/eventhubs/group.json")
	// CRLF and LF line ends, blank and whitespace-only lines, and a last
	// line without its newline, as exports and editors leave them.
	content := slices.Concat(recs[0], []byte("\r\n\r\n  \t\n"), recs[1], []byte("\n"), recs[2])
	for _, name := range []string{"audit.ndjson", "audit.jsonl", "AUDIT.NDJSON"} {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), name, content)
			src, err := NewFiles([]string{path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			bodies, _ := readAll(t, src, 10)
			want := []string{path + " line 1", path + " line 4", path + " line 5"}
			if got := sources(bodies); !slices.Equal(got, want) {
				t.Fatalf("sources %q, want %q", got, want)
			}
			for i, b := range bodies {
				if !bytes.Equal(b.Data, recs[i]) {
					t.Errorf("body %d is %q, want the record alone, without its line end", i, b.Data)
				}
			}
		})
	}
}

func TestFilesStreamsNDJSONRatherThanReadingTheFileWhole(t *testing.T) {
	line := records(t, "audit/eventhubs/user.json")[0]
	const lines = 200 // some 300 kB: several times the read buffer
	content := bytes.Repeat(append(slices.Clone(line), '\n'), lines)
	path := writeFile(t, t.TempDir(), "big.ndjson", content)
	src, err := NewFiles([]string{path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, err := src.Next(context.Background(), 1)
	if err != nil || len(first) != 1 {
		t.Fatalf("first Next: %d bodies, %v", len(first), err)
	}
	done, total := src.Progress()
	if total != int64(len(content)) || done >= total/2 {
		t.Errorf("after one line, progress %d of %d: want the total known and most of the file not read yet", done, total)
	}
	rest, _ := readAll(t, src, 64)
	if n := 1 + len(rest); n != lines {
		t.Errorf("%d bodies, want %d", n, lines)
	}
	if done, total := src.Progress(); done != total {
		t.Errorf("at EOF progress %d of %d, want the whole file", done, total)
	}
}

func TestFilesReadsOtherFilesAndStdinWhole(t *testing.T) {
	dir := t.TempDir()
	group := readFixture(t, "audit/eventhubs/group.json")
	html := readFixture(t, "audit/malformed/html-error-page.txt")
	page := readFixture(t, "audit/graph/directory-audits-page.json")
	jsonPath := writeFile(t, dir, "group.json", group)
	txtPath := writeFile(t, dir, "error.txt", html)
	src, err := NewFiles([]string{jsonPath, "-", txtPath}, bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	bodies, _ := readAll(t, src, 10)
	want := []pipeline.Body{{Data: group, Source: jsonPath}, {Data: page, Source: "stdin"}, {Data: html, Source: txtPath}}
	if len(bodies) != len(want) {
		t.Fatalf("%d bodies %q, want %d", len(bodies), sources(bodies), len(want))
	}
	for i := range want {
		if bodies[i].Source != want[i].Source || !bytes.Equal(bodies[i].Data, want[i].Data) {
			t.Errorf("body %d: %s (%d bytes), want %s (%d bytes)", i, bodies[i].Source, len(bodies[i].Data), want[i].Source, len(want[i].Data))
		}
	}
}

func TestFilesKeepsTheOrderOfFilesAndTheBatchSizeAcrossThem(t *testing.T) {
	dir := t.TempDir()
	recs := records(t, "audit/eventhubs/mixed-batch.json")
	a := writeFile(t, dir, "a.json", readFixture(t, "audit/eventhubs/user.json"))
	b := writeFile(t, dir, "b.ndjson", bytes.Join(recs[:3], []byte("\n")))
	c := writeFile(t, dir, "c.json", readFixture(t, "audit/eventhubs/group.json"))
	d := writeFile(t, dir, "d.jsonl", bytes.Join(recs[3:5], []byte("\n")))
	names := []string{a, b, c, d}
	wantSources := []string{a, b + " line 1", b + " line 2", b + " line 3", c, d + " line 1", d + " line 2"}
	for _, max := range []int{1, 2, 3, 4, 100} {
		t.Run(fmt.Sprintf("max %d", max), func(t *testing.T) {
			src, err := NewFiles(names, nil)
			if err != nil {
				t.Fatal(err)
			}
			bodies, batches := readAll(t, src, max)
			if got := sources(bodies); !slices.Equal(got, wantSources) {
				t.Errorf("sources %q, want %q", got, wantSources)
			}
			// Every batch is full but the last: a file boundary does not
			// cut one short.
			for i, n := range batches {
				if n > max || (i < len(batches)-1 && n != max) {
					t.Errorf("batch sizes %v with max %d", batches, max)
					break
				}
			}
		})
	}
}

func TestFilesProgressCountsBytesUpToTheSumOfSizes(t *testing.T) {
	dir := t.TempDir()
	stdin := readFixture(t, "audit/eventhubs/application.json")
	names := []string{
		writeFile(t, dir, "a.json", readFixture(t, "audit/eventhubs/user.json")),
		filepath.Join(testdata, "audit/ndjson/mixed.ndjson"),
		"-",
		writeFile(t, dir, "c.json", readFixture(t, "audit/eventhubs/group.json")),
	}
	var sum int64
	for _, name := range names {
		if name != "-" {
			sum += size(t, name)
		}
	}
	src, err := NewFiles(names, bytes.NewReader(stdin))
	if err != nil {
		t.Fatal(err)
	}
	if done, total := src.Progress(); done != 0 || total != sum {
		t.Fatalf("before reading, progress %d of %d, want 0 of %d (the sum of the files' sizes)", done, total, sum)
	}
	var last int64
	for {
		bodies, err := src.Next(context.Background(), 1)
		done, total := src.Progress()
		if done < last || done > total {
			t.Fatalf("progress %d of %d after %d", done, total, last)
		}
		last = done
		if errors.Is(err, io.EOF) {
			// Stdin's size is known once it is read: it joins the total.
			if want := sum + int64(len(stdin)); done != want || total != want {
				t.Errorf("at EOF progress %d of %d, want %d of %d", done, total, want, want)
			}
			return
		}
		if err != nil || len(bodies) != 1 {
			t.Fatalf("Next: %d bodies, %v", len(bodies), err)
		}
	}
}

// bigLine is one NDJSON line of exactly n bytes: an Event Hubs body whose
// record array is padded with whitespace, which JSON allows.
func bigLine(n int) []byte {
	const open, end = `{"records":[`, `]}`
	line := make([]byte, 0, n)
	line = append(line, open...)
	line = append(line, bytes.Repeat([]byte(" "), n-len(open)-len(end))...)
	return append(line, end...)
}

func TestFilesRefusesALineLongerThanMaxLineNamingFileAndLine(t *testing.T) {
	first := records(t, "audit/eventhubs/user.json")[0]
	tests := []struct {
		name    string
		line    []byte
		end     string
		refused bool
	}{
		{"exactly MaxLine, LF", bigLine(MaxLine), "\n", false},
		{"exactly MaxLine, CRLF", bigLine(MaxLine), "\r\n", false},
		{"exactly MaxLine, last line", bigLine(MaxLine), "", false},
		{"one byte over", bigLine(MaxLine + 1), "\n", true},
		{"one byte over, last line", bigLine(MaxLine + 1), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := slices.Concat(first, []byte("\n"), tt.line, []byte(tt.end))
			wantBodies := 2
			if tt.end != "" {
				content = slices.Concat(content, first, []byte("\n"))
				wantBodies = 3
			}
			path := writeFile(t, t.TempDir(), "big.ndjson", content)
			src, err := NewFiles([]string{path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			bodies, err := src.Next(context.Background(), 10)
			if !tt.refused {
				if err != nil || len(bodies) != wantBodies || len(bodies[1].Data) != MaxLine {
					t.Fatalf("Next: %d bodies, %v; want %d, the second of MaxLine bytes", len(bodies), err, wantBodies)
				}
				return
			}
			if err == nil {
				t.Fatalf("a line of %d bytes was read as a body", len(tt.line))
			}
			if want := path + " line 2: longer than"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
			if len(bodies) != 1 || bodies[0].Source != path+" line 1" {
				t.Errorf("bodies before the long line: %q, want line 1", sources(bodies))
			}
		})
	}
}

// readCounter counts reads, to show stdin was not touched.
type readCounter struct {
	r     io.Reader
	reads int
}

func (c *readCounter) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

func TestNewFilesRefusesWhatItCannotReadBeforeReadingAnything(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.json", readFixture(t, "audit/eventhubs/user.json"))
	missing := filepath.Join(dir, "missing.ndjson")
	tests := []struct {
		name  string
		names []string
		is    error
		want  string
	}{
		{"missing file", []string{"-", good, missing}, fs.ErrNotExist, missing},
		{"directory", []string{"-", good, dir}, nil, dir + " is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdin := &readCounter{r: strings.NewReader(`{"records":[]}`)}
			src, err := NewFiles(tt.names, stdin)
			if err == nil {
				t.Fatalf("NewFiles accepted %q", tt.names)
			}
			if src != nil {
				t.Error("NewFiles returned a source along with its error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if stdin.reads != 0 {
				t.Errorf("stdin read %d times before the files were checked", stdin.reads)
			}
		})
	}
}
