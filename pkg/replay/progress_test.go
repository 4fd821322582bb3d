package replay

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/pipeline"
)

func TestUnitFormatsProgressInWordsAnOperatorReads(t *testing.T) {
	tests := []struct {
		unit Unit
		n    int64
		want string
	}{
		{Bytes, 0, "0.0 kB"},
		{Bytes, 512, "0.5 kB"},
		{Bytes, 1536, "1.5 kB"},
		{Bytes, 1 << 20, "1.0 MB"},
		{Bytes, 5<<20 + 1<<19, "5.5 MB"},
		{Seconds, 0, "0s"},
		{Seconds, 90, "1m30s"},
		{Seconds, 7 * 24 * 3600, "168h0m0s"},
		{Events, 0, "0 events"},
		{Events, 12345, "12345 events"},
	}
	for _, tt := range tests {
		if got := tt.unit.format(tt.n); got != tt.want {
			t.Errorf("Unit(%d).format(%d) = %q, want %q", tt.unit, tt.n, got, tt.want)
		}
	}
}

// fakeNow is a clock the test moves.
type fakeNow struct{ t time.Time }

func (f *fakeNow) now() time.Time { return f.t }

func TestLinesWritesAtMostEveryIntervalAndAlwaysAFinalLine(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeNow{t: t0}
	lines := NewLines(&out, Events, time.Minute)
	lines.now = clock.now
	status := func(done int64) Status {
		return Status{Done: done, Total: 40, Batches: int(done), Elapsed: time.Duration(done) * time.Second,
			Report: pipeline.Report{Records: int(done), New: int(done)}}
	}
	for _, step := range []struct {
		after time.Duration
		done  int64
		write bool
	}{
		{0, 1, true}, // the first update is shown at once
		{10 * time.Second, 2, false},
		{59 * time.Second, 3, false},
		{60 * time.Second, 4, true}, // a minute after the last line
		{61 * time.Second, 5, false},
		{3 * time.Minute, 6, true},
	} {
		clock.t = t0.Add(step.after)
		before := out.Len()
		lines.Update(status(step.done))
		if wrote := out.Len() > before; wrote != step.write {
			t.Errorf("update at +%s: wrote %v, want %v (output %q)", step.after, wrote, step.write, out.String()[before:])
		}
	}
	if got := strings.Count(out.String(), "\n"); got != 3 {
		t.Errorf("%d lines, want 3:\n%s", got, out.String())
	}
	// Finish writes at once, however recent the last line.
	before := out.Len()
	final := status(40)
	final.Unfinished = 2
	final.Report.Skipped, final.Report.DeadBodies, final.Report.Duplicates = 1, 1, 3
	lines.Finish(final)
	last := out.String()[before:]
	want := "replay done: 100% (40 events of 40 events), 40 records, 40 new, 3 duplicates, 2 dead letters, 2 held elsewhere, 40s elapsed\n"
	if last != want {
		t.Errorf("final line\n%q, want\n%q", last, want)
	}
	if first := strings.SplitN(out.String(), "\n", 2)[0]; first != "replay: 2% (1 events of 40 events), 1 records, 1 new, 0 duplicates, 1s elapsed" {
		t.Errorf("first line %q", first)
	}
}

func TestLinesWithoutATotalSaysHowFarOnly(t *testing.T) {
	var out bytes.Buffer
	lines := NewLines(&out, Bytes, 0)
	lines.Update(Status{Done: 2048})
	lines.Update(Status{Done: 4096}) // interval 0: every update
	lines.Finish(Status{Done: 3 << 20, Report: pipeline.Report{Records: 7, New: 5, Duplicates: 2, Decisions: 1, Observed: 1}})
	want := "replay: 2.0 kB, 0 records, 0 new, 0 duplicates, 0s elapsed\n" +
		"replay: 4.0 kB, 0 records, 0 new, 0 duplicates, 0s elapsed\n" +
		"replay done: 3.0 MB, 7 records, 5 new, 2 duplicates, 1 decisions, 1 would act, 0s elapsed\n"
	if out.String() != want {
		t.Errorf("output\n%s\nwant\n%s", out.String(), want)
	}
}

func TestNewProgressWritesLinesWhereverABarCannotRedraw(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "progress.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for name, w := range map[string]interface{ Write([]byte) (int, error) }{"buffer": &bytes.Buffer{}, "file": file} {
		p := NewProgress(w, Seconds, time.Second)
		if _, ok := p.(*Lines); !ok {
			t.Errorf("%s: NewProgress gave %T, want *Lines", name, p)
		}
		if IsTerminal(w) {
			t.Errorf("%s is taken for a terminal", name)
		}
	}
	p := NewProgress(file, Seconds, time.Second)
	p.Finish(Status{Done: 30, Total: 60})
	data, err := os.ReadFile(file.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "replay done: 50% (30s of 1m0s)") {
		t.Errorf("file holds %q", data)
	}
}

func TestBarShowsTheCountsAndEndsItsLine(t *testing.T) {
	var out bytes.Buffer
	bar := NewBar(&out, Events)
	bar.Update(Status{Done: 1, Total: 4, Report: pipeline.Report{Records: 3, New: 3}})
	bar.Finish(Status{Done: 4, Total: 4, Report: pipeline.Report{Records: 9, New: 8, Duplicates: 1}})
	s := out.String()
	if !strings.Contains(s, "9 records, 8 new, 1 duplicates") || !strings.HasSuffix(s, "\n") {
		t.Errorf("bar output %q: want the final counts and a line end", s)
	}
}
