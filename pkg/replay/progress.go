package replay

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Unit is what a source's progress counts.
type Unit int

// Units of progress.
const (
	Bytes Unit = iota
	// Seconds of history: how far into the replayed window the records
	// read have reached.
	Seconds
	Events
)

// format says n of the unit in words an operator reads at a glance.
func (u Unit) format(n int64) string {
	switch u {
	case Bytes:
		const mb = 1 << 20
		if n >= mb {
			return fmt.Sprintf("%.1f MB", float64(n)/mb)
		}
		return fmt.Sprintf("%.1f kB", float64(n)/1024)
	case Seconds:
		return (time.Duration(n) * time.Second).String()
	}
	return fmt.Sprintf("%d events", n)
}

// Progress shows how far a replay has got.
type Progress interface {
	// Update is called after each batch.
	Update(Status)
	// Finish is called once, with the final status.
	Finish(Status)
}

// IsTerminal reports whether w is a terminal, where a bar can redraw
// itself; anywhere else (a file, a pipe, CI logs) progress is lines.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// NewProgress is a bar on a terminal and lines every interval elsewhere.
func NewProgress(w io.Writer, unit Unit, interval time.Duration) Progress {
	if IsTerminal(w) {
		return NewBar(w, unit)
	}
	return NewLines(w, unit, interval)
}

// counts is the part of a status both renderings show.
func counts(s Status) string {
	r := s.Report
	parts := []string{fmt.Sprintf("%d records", r.Records), fmt.Sprintf("%d new", r.New), fmt.Sprintf("%d duplicates", r.Duplicates)}
	for _, c := range []struct {
		n    int
		what string
	}{
		{r.Skipped + r.DeadBodies, "dead letters"},
		{r.Decisions, "decisions"},
		{r.Observed, "would act"},
		{r.Intents, "restore intents"},
		{r.Deferred, "deferred"},
		{s.Unfinished, "held elsewhere"},
	} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return strings.Join(parts, ", ")
}

// Lines writes a progress line at most every interval, and a last one at
// the end: for logs, where a redrawn bar would be noise.
type Lines struct {
	w        io.Writer
	unit     Unit
	interval time.Duration
	now      func() time.Time
	mu       sync.Mutex
	last     time.Time
}

// NewLines writes to w at most every interval (every update when 0).
func NewLines(w io.Writer, unit Unit, interval time.Duration) *Lines {
	return &Lines{w: w, unit: unit, interval: interval, now: time.Now}
}

// Update implements Progress.
func (l *Lines) Update(s Status) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		return
	}
	l.last = now
	l.write(s, "")
}

// Finish implements Progress.
func (l *Lines) Finish(s Status) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.write(s, " done")
}

func (l *Lines) write(s Status, suffix string) {
	where := l.unit.format(s.Done)
	if s.Total > 0 {
		where = fmt.Sprintf("%d%% (%s of %s)", percent(s.Done, s.Total), l.unit.format(s.Done), l.unit.format(s.Total))
	}
	fmt.Fprintf(l.w, "replay%s: %s, %s, %s elapsed\n", suffix, where, counts(s), s.Elapsed.Round(time.Millisecond))
}

func percent(done, total int64) int64 {
	if total <= 0 {
		return 0
	}
	return min(done*100/total, 100)
}

// Bar redraws one progress bar on a terminal.
type Bar struct {
	bar   *progressbar.ProgressBar
	total int64
}

// NewBar draws on w, which should be a terminal.
func NewBar(w io.Writer, unit Unit) *Bar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("replay"),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetRenderBlankState(true),
		// The bar's line stays; what follows starts on the next.
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	}
	switch unit {
	case Bytes:
		opts = append(opts, progressbar.OptionShowBytes(true))
	case Seconds:
		opts = append(opts, progressbar.OptionSetItsString("s of history"))
	default:
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionSetItsString("events"))
	}
	return &Bar{bar: progressbar.NewOptions64(-1, opts...), total: -1}
}

// Update implements Progress.
func (b *Bar) Update(s Status) {
	if s.Total > 0 && s.Total != b.total {
		b.total = s.Total
		b.bar.ChangeMax64(s.Total)
	}
	b.bar.Describe(counts(s))
	_ = b.bar.Set64(s.Done)
}

// Finish implements Progress.
func (b *Bar) Finish(s Status) {
	b.Update(s)
	_ = b.bar.Finish()
}
