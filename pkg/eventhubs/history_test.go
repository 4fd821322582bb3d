package eventhubs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/pipeline"
)

// The adapter compiles to both interfaces History uses; it cannot be run
// here (no Event Hubs emulator).
var (
	_ HistoryClient   = NewConsumerHistory(nil)
	_ HistoryEndTimer = consumerHistory{}
)

// quickWait is a MaxWait for tests that expect a partition to be left
// stalled; tests that expect no wait count WaitedOut instead of timing.
const quickWait = 50 * time.Millisecond

// fill sends n events to a partition of hub, with bodies "p<id>-<seq>",
// enqueued a second apart from hub.start (as Send does).
func fill(hub *MemoryHub, partitionID string, n int) {
	for range n {
		hub.mu.Lock()
		seq := len(hub.partitions[partitionID].events)
		hub.mu.Unlock()
		hub.Send(partitionID, fmt.Appendf(nil, "p%s-%d", partitionID, seq))
	}
}

// readAll calls Next with max until io.EOF, and returns the batches.
func readAll(t *testing.T, h *History, max int) [][]pipeline.Body {
	t.Helper()
	var batches [][]pipeline.Body
	for range 1000 {
		bodies, err := h.Next(t.Context(), max)
		if errors.Is(err, io.EOF) {
			if len(bodies) != 0 {
				t.Fatalf("Next returned %d bodies with io.EOF", len(bodies))
			}
			return batches
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if len(bodies) == 0 {
			t.Fatal("Next returned no bodies and no error")
		}
		batches = append(batches, bodies)
	}
	t.Fatal("Next did not reach io.EOF in 1000 calls")
	return nil
}

// data lists the bodies' data, batch after batch.
func data(batches ...[]pipeline.Body) []string {
	var out []string
	for _, b := range batches {
		for _, body := range b {
			out = append(out, string(body.Data))
		}
	}
	return out
}

func TestHistoryReadsFromSinceInclusive(t *testing.T) {
	for _, tc := range []struct {
		name  string
		since time.Duration // after hub.start; events are at 0s..4s
		want  []string
		opens int
	}{
		{"before the first event", -time.Hour, []string{"p0-0", "p0-1", "p0-2", "p0-3", "p0-4"}, 1},
		{"at the first event", 0, []string{"p0-0", "p0-1", "p0-2", "p0-3", "p0-4"}, 1},
		{"at an event", 2 * time.Second, []string{"p0-2", "p0-3", "p0-4"}, 1},
		{"between events", 2500 * time.Millisecond, []string{"p0-3", "p0-4"}, 1},
		{"at the last event", 4 * time.Second, []string{"p0-4"}, 1},
		// Nothing to read: the end's enqueued time says so, and the
		// partition is not even opened, let alone waited on.
		{"after the last event", 4*time.Second + time.Nanosecond, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hub := NewMemoryHub("0")
			fill(hub, "0", 5)
			h := NewHistory(hub.History(), hub.start.Add(tc.since), HistoryOptions{MaxWait: quickWait})
			got := data(readAll(t, h, 16)...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("read %q, want %q", got, tc.want)
			}
			st := hub.HistoryStats("0")
			if st.Opens != tc.opens || st.Closes != st.Opens || st.WaitedOut != 0 {
				t.Errorf("stats %+v, want %d opened and closed, none waited out", st, tc.opens)
			}
			if s := h.Stalled(); len(s) != 0 {
				t.Errorf("Stalled() = %q, want none", s)
			}
		})
	}
}

func TestHistoryReadsEveryPartitionInOrder(t *testing.T) {
	hub := NewMemoryHub("0", "1", "2")
	// Partition 2 first, to tell partition order from sending order.
	fill(hub, "2", 2)
	fill(hub, "0", 2)
	fill(hub, "1", 1)
	h := NewHistory(hub.History(), hub.start, HistoryOptions{HubName: "audit", MaxWait: quickWait})
	batches := readAll(t, h, 16)
	if len(batches) != 1 {
		t.Fatalf("%d batches, want 1 spanning partitions", len(batches))
	}
	var got []string
	for _, b := range batches[0] {
		got = append(got, string(b.Data)+" from "+b.Source)
	}
	want := []string{
		"p0-0 from event hub audit partition 0 sequence 0 (enqueued 2026-06-02T14:00:00Z)",
		"p0-1 from event hub audit partition 0 sequence 1 (enqueued 2026-06-02T14:00:01Z)",
		"p1-0 from event hub audit partition 1 sequence 0 (enqueued 2026-06-02T14:00:00Z)",
		"p2-0 from event hub audit partition 2 sequence 0 (enqueued 2026-06-02T14:00:00Z)",
		"p2-1 from event hub audit partition 2 sequence 1 (enqueued 2026-06-02T14:00:01Z)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("read\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, id := range []string{"0", "1", "2"} {
		if st := hub.HistoryStats(id); st.Opens != 1 || st.Closes != 1 || st.WaitedOut != 0 {
			t.Errorf("partition %s: stats %+v, want opened and closed once, none waited out", id, st)
		}
	}
}

func TestHistoryEmptyPartitionEndsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client func(*MemoryHub) HistoryClient
	}{
		{"with end times", (*MemoryHub).History},
		// PartitionEnd's empty is enough.
		{"without end times", func(hub *MemoryHub) HistoryClient { return plainHistory{hub.History()} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hub := NewMemoryHub("0", "1", "2")
			fill(hub, "1", 3)
			h := NewHistory(tc.client(hub), hub.start, HistoryOptions{MaxWait: quickWait})
			if got, want := data(readAll(t, h, 16)...), []string{"p1-0", "p1-1", "p1-2"}; !slices.Equal(got, want) {
				t.Errorf("read %q, want %q", got, want)
			}
			for _, id := range []string{"0", "2"} {
				if st := hub.HistoryStats(id); st != (MemoryHistoryStats{}) {
					t.Errorf("empty partition %s: stats %+v, want never opened", id, st)
				}
			}
			// Nor is the partition with events waited on past its end:
			// its last receive asks for no more than it holds.
			if st := hub.HistoryStats("1"); st.WaitedOut != 0 {
				t.Errorf("partition 1: %d receives waited out, want none", st.WaitedOut)
			}
			if s := h.Stalled(); len(s) != 0 {
				t.Errorf("Stalled() = %q, want none", s)
			}
		})
	}
}

func TestHistoryLeavesEventsSentAfterReadingBegan(t *testing.T) {
	hub := NewMemoryHub("0", "1")
	fill(hub, "0", 3)
	fill(hub, "1", 1)
	h := NewHistory(hub.History(), hub.start, HistoryOptions{MaxWait: quickWait})
	first, err := h.Next(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	// The live pipeline's, from here on.
	fill(hub, "0", 2)
	fill(hub, "1", 2)
	rest := readAll(t, h, 16)
	if got, want := data(append([][]pipeline.Body{first}, rest...)...), []string{"p0-0", "p0-1", "p0-2", "p1-0"}; !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
	for _, id := range []string{"0", "1"} {
		if st := hub.HistoryStats(id); st.WaitedOut != 0 || st.Closes != 1 {
			t.Errorf("partition %s: stats %+v, want closed once and none waited out", id, st)
		}
	}
}

// An event enqueued after the end was captured, and after since, is the
// first the receiver sees: the partition is done, without waiting.
func TestHistoryEndBeforeTheFirstEventRead(t *testing.T) {
	hub := NewMemoryHub("0")
	fill(hub, "0", 3)
	since := hub.start.Add(time.Hour)
	client := &faultyHistory{HistoryClient: hub.History(), afterEnd: func(id string) {
		hub.SendAt(id, []byte("live"), since.Add(time.Minute))
	}}
	h := NewHistory(client, since, HistoryOptions{MaxWait: quickWait})
	if got := data(readAll(t, h, 16)...); len(got) != 0 {
		t.Errorf("read %q, want nothing", got)
	}
	if st := hub.HistoryStats("0"); st.Receives != 1 || st.WaitedOut != 0 || st.Closes != 1 {
		t.Errorf("stats %+v, want one receive, not waited out, closed", st)
	}
	if s := h.Stalled(); len(s) != 0 {
		t.Errorf("Stalled() = %q, want none", s)
	}
	if done, total := h.Progress(); done != 0 || total != 0 {
		t.Errorf("Progress() = %d, %d; want 0, 0", done, total)
	}
}

// Without end times, a partition with nothing since the start time cannot
// be told from a stalled one: it is waited on once, and reported.
func TestHistorySinceAfterTheLastEventWithoutEndTimes(t *testing.T) {
	hub := NewMemoryHub("0")
	fill(hub, "0", 3)
	h := NewHistory(plainHistory{hub.History()}, hub.start.Add(time.Hour), HistoryOptions{MaxWait: quickWait})
	if got := data(readAll(t, h, 16)...); len(got) != 0 {
		t.Errorf("read %q, want nothing", got)
	}
	if st := hub.HistoryStats("0"); st.WaitedOut != 1 || st.Closes != 1 {
		t.Errorf("stats %+v, want one wait and closed", st)
	}
	if s := h.Stalled(); !slices.Equal(s, []string{"0"}) {
		t.Errorf("Stalled() = %q, want [0]", s)
	}
}

func TestHistoryLeavesAStalledPartition(t *testing.T) {
	for _, tc := range []struct {
		name      string
		readFirst int // events of partition 0 read before it stalls
		wantDone  int64
	}{
		{"from the start", 0, 2},
		{"midway", 3, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hub := NewMemoryHub("0", "1")
			fill(hub, "0", 10)
			fill(hub, "1", 2)
			var logs bytes.Buffer
			h := NewHistory(hub.History(), hub.start, HistoryOptions{MaxWait: quickWait,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			var read []string
			if tc.readFirst > 0 {
				bodies, err := h.Next(t.Context(), tc.readFirst)
				if err != nil {
					t.Fatal(err)
				}
				read = data(bodies)
			}
			hub.StallHistory("0")
			read = append(read, data(readAll(t, h, 16)...)...)
			want := []string{"p0-0", "p0-1", "p0-2"}[:tc.readFirst]
			want = append(want, "p1-0", "p1-1")
			if !slices.Equal(read, want) {
				t.Errorf("read %q, want %q", read, want)
			}
			if s := h.Stalled(); !slices.Equal(s, []string{"0"}) {
				t.Errorf("Stalled() = %q, want [0]", s)
			}
			if st := hub.HistoryStats("0"); st.WaitedOut != 1 || st.Opens != 1 || st.Closes != 1 {
				t.Errorf("partition 0: stats %+v, want one wait, opened and closed once", st)
			}
			if st := hub.HistoryStats("1"); st.WaitedOut != 0 {
				t.Errorf("partition 1: stats %+v, want no wait", st)
			}
			// Partition 0's estimate is known only once its first event
			// is read.
			wantTotal := int64(2)
			if tc.readFirst > 0 {
				wantTotal += 10
			}
			if done, total := h.Progress(); done != tc.wantDone || total != wantTotal {
				t.Errorf("Progress() = %d, %d; want %d, %d", done, total, tc.wantDone, wantTotal)
			}
			if !strings.Contains(logs.String(), "level=WARN msg=\"event hub partition left before its end") ||
				!strings.Contains(logs.String(), "partition=0") {
				t.Errorf("no stall warning for partition 0 in the log:\n%s", logs.String())
			}
		})
	}
}

func TestHistoryProgress(t *testing.T) {
	hub := NewMemoryHub("0", "1")
	fill(hub, "0", 5)
	for range 5 {
		hub.SendAt("1", []byte("p1"), hub.start.Add(time.Hour))
	}
	// Partition 0 from its sequence 2: 3 events; partition 1: all 5.
	h := NewHistory(hub.History(), hub.start.Add(2*time.Second), HistoryOptions{MaxWait: quickWait})
	if done, total := h.Progress(); done != 0 || total != 0 {
		t.Fatalf("Progress() before reading = %d, %d; want 0, 0", done, total)
	}
	for i, want := range [][2]int64{{2, 3}, {4, 8}, {6, 8}, {8, 8}} {
		if _, err := h.Next(t.Context(), 2); err != nil {
			t.Fatalf("Next %d: %v", i+1, err)
		}
		if done, total := h.Progress(); done != want[0] || total != want[1] {
			t.Errorf("Progress() after Next %d = %d, %d; want %d, %d", i+1, done, total, want[0], want[1])
		}
	}
	if _, err := h.Next(t.Context(), 2); !errors.Is(err, io.EOF) {
		t.Errorf("last Next: %v, want io.EOF", err)
	}
}

func TestHistoryRespectsMax(t *testing.T) {
	want := []string{"p0-0", "p0-1", "p0-2", "p1-0", "p1-1", "p1-2", "p1-3"}
	for _, max := range []int{1, 2, 3, 5, 7, 100} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			hub := NewMemoryHub("0", "1")
			fill(hub, "0", 3)
			fill(hub, "1", 4)
			h := NewHistory(hub.History(), hub.start, HistoryOptions{MaxWait: quickWait})
			batches := readAll(t, h, max)
			// With nothing to wait for, every batch but the last is full.
			for i, b := range batches {
				if len(b) > max || (i < len(batches)-1 && len(b) != max) {
					t.Errorf("batch %d of %d has %d bodies, max %d", i+1, len(batches), len(b), max)
				}
			}
			if got := data(batches...); !slices.Equal(got, want) {
				t.Errorf("read %q, want %q", got, want)
			}
			for _, id := range []string{"0", "1"} {
				if st := hub.HistoryStats(id); st.WaitedOut != 0 {
					t.Errorf("partition %s: %d receives waited out, want none", id, st.WaitedOut)
				}
			}
		})
	}
	t.Run("0", func(t *testing.T) {
		hub := NewMemoryHub("0")
		fill(hub, "0", 1)
		if _, err := NewHistory(hub.History(), hub.start, HistoryOptions{}).Next(t.Context(), 0); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("Next(0) = %v, want an error", err)
		}
	})
}

func TestHistoryCancel(t *testing.T) {
	t.Run("before Next", func(t *testing.T) {
		hub := NewMemoryHub("0")
		fill(hub, "0", 3)
		h := NewHistory(hub.History(), hub.start, HistoryOptions{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if bodies, err := h.Next(ctx, 16); !errors.Is(err, context.Canceled) || len(bodies) != 0 {
			t.Errorf("Next = %d bodies, %v; want context.Canceled", len(bodies), err)
		}
		if st := hub.HistoryStats("0"); st.Opens != 0 {
			t.Errorf("stats %+v, want never opened", st)
		}
	})

	// A stalled partition with a MaxWait far beyond the test's: only
	// cancellation can end the wait.
	waiting := func(t *testing.T, hub *MemoryHub, partitionID string) (*History, context.Context, func() ([]pipeline.Body, error)) {
		t.Helper()
		h := NewHistory(hub.History(), hub.start, HistoryOptions{MaxWait: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		type result struct {
			bodies []pipeline.Body
			err    error
		}
		results := make(chan result, 1)
		go func() {
			bodies, err := h.Next(ctx, 16)
			results <- result{bodies, err}
		}()
		for start := time.Now(); hub.HistoryStats(partitionID).Receives == 0; time.Sleep(time.Millisecond) {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("partition %s not received from within 30s", partitionID)
			}
		}
		cancel()
		return h, ctx, func() ([]pipeline.Body, error) {
			select {
			case r := <-results:
				return r.bodies, r.err
			case <-time.After(30 * time.Second):
				t.Fatal("Next still waiting 30s after ctx was cancelled")
				return nil, nil
			}
		}
	}

	t.Run("while waiting", func(t *testing.T) {
		hub := NewMemoryHub("0")
		fill(hub, "0", 3)
		hub.StallHistory("0")
		_, _, result := waiting(t, hub, "0")
		bodies, err := result()
		if !errors.Is(err, context.Canceled) || len(bodies) != 0 {
			t.Errorf("Next = %d bodies, %v; want context.Canceled", len(bodies), err)
		}
		if st := hub.HistoryStats("0"); st.Closes != 1 {
			t.Errorf("stats %+v, want the receiver closed", st)
		}
	})

	t.Run("with bodies in hand", func(t *testing.T) {
		hub := NewMemoryHub("0", "1")
		fill(hub, "0", 2)
		fill(hub, "1", 3)
		hub.StallHistory("1")
		h, ctx, result := waiting(t, hub, "1")
		bodies, err := result()
		if err != nil || !slices.Equal(data(bodies), []string{"p0-0", "p0-1"}) {
			t.Errorf("Next = %q, %v; want partition 0's bodies", data(bodies), err)
		}
		if bodies, err := h.Next(ctx, 16); !errors.Is(err, context.Canceled) || len(bodies) != 0 {
			t.Errorf("next Next = %d bodies, %v; want context.Canceled", len(bodies), err)
		}
		if done, _ := h.Progress(); done != 2 {
			t.Errorf("Progress() done = %d, want 2", done)
		}
		if s := h.Stalled(); len(s) != 0 {
			t.Errorf("Stalled() = %q: a cancelled wait is no stall", s)
		}
	})
}

var errBoom = errors.New("boom")

func TestHistoryErrorsNameThePartition(t *testing.T) {
	for _, tc := range []struct {
		name    string
		client  func() *faultyHistory
		wantMsg string
	}{
		{"listing partitions", func() *faultyHistory { return &faultyHistory{ids: errBoom} }, "event hub partitions: boom"},
		{"partition end", func() *faultyHistory { return &faultyHistory{end: errBoom} }, "event hub partition 7: properties: boom"},
		{"opening", func() *faultyHistory { return &faultyHistory{open: errBoom} }, "event hub partition 7: open: boom"},
		{"receiving", func() *faultyHistory {
			return &faultyHistory{receive: func(int) error { return errBoom }}
		}, "event hub partition 7: receive: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hub := NewMemoryHub("7")
			fill(hub, "7", 2)
			client := tc.client()
			client.HistoryClient = hub.History()
			h := NewHistory(client, hub.start, HistoryOptions{MaxWait: quickWait})
			_, err := h.Next(t.Context(), 16)
			if !errors.Is(err, errBoom) || err.Error() != tc.wantMsg {
				t.Errorf("Next: %v, want %q wrapping errBoom", err, tc.wantMsg)
			}
			if st := hub.HistoryStats("7"); st.Closes != st.Opens {
				t.Errorf("stats %+v: a receiver left open", st)
			}
		})
	}
}

// A receive that fails closes the receiver; the next Next reopens it and
// goes on after the last body handed out.
func TestHistoryResumesAfterAReceiveError(t *testing.T) {
	hub := NewMemoryHub("0")
	fill(hub, "0", 5)
	client := &faultyHistory{HistoryClient: hub.History(), receive: func(n int) error {
		if n == 3 {
			return errBoom
		}
		return nil
	}}
	h := NewHistory(client, hub.start, HistoryOptions{MaxWait: quickWait})
	first, err := h.Next(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Next(t.Context(), 2); !errors.Is(err, errBoom) {
		t.Fatalf("second Next: %v, want errBoom", err)
	}
	rest := readAll(t, h, 2)
	if got, want := data(append([][]pipeline.Body{first}, rest...)...), []string{"p0-0", "p0-1", "p0-2", "p0-3", "p0-4"}; !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
	if st := hub.HistoryStats("0"); st.Opens != 2 || st.Closes != 2 || st.WaitedOut != 0 {
		t.Errorf("stats %+v, want opened and closed twice, none waited out", st)
	}
	if done, total := h.Progress(); done != 5 || total != 5 {
		t.Errorf("Progress() = %d, %d; want 5, 5", done, total)
	}
}

func TestMemoryHubSendAtKeepsTimesInOrder(t *testing.T) {
	hub := NewMemoryHub("0")
	at := hub.start.Add(time.Minute)
	if e := hub.SendAt("0", []byte("a"), at); e.SequenceNumber != 0 || !e.EnqueuedTime.Equal(at) {
		t.Errorf("SendAt = %+v, want sequence 0 enqueued %s", e, at)
	}
	hub.SendAt("0", []byte("b"), at) // the same time is in order
	defer func() {
		if recover() == nil {
			t.Error("SendAt before the last event's time did not panic")
		}
	}()
	hub.SendAt("0", []byte("c"), at.Add(-time.Nanosecond))
}

// plainHistory hides the client's HistoryEndTimer: a History then has
// only PartitionEnd.
type plainHistory struct{ HistoryClient }

// faultyHistory is a client without end times whose calls may fail.
type faultyHistory struct {
	HistoryClient
	ids, end, open error
	// afterEnd runs after PartitionEnd answered.
	afterEnd func(partitionID string)
	// receive, when set, runs before each receive, numbered from 1; an
	// error fails it.
	receive func(n int) error

	mu       sync.Mutex
	receives int
}

func (f *faultyHistory) PartitionIDs(ctx context.Context) ([]string, error) {
	if f.ids != nil {
		return nil, f.ids
	}
	return f.HistoryClient.PartitionIDs(ctx)
}

func (f *faultyHistory) PartitionEnd(ctx context.Context, partitionID string) (int64, bool, error) {
	if f.end != nil {
		return 0, false, f.end
	}
	last, empty, err := f.HistoryClient.PartitionEnd(ctx, partitionID)
	if f.afterEnd != nil {
		f.afterEnd(partitionID)
	}
	return last, empty, err
}

func (f *faultyHistory) OpenPartition(ctx context.Context, partitionID string, since time.Time) (HistoryReceiver, error) {
	if f.open != nil {
		return nil, f.open
	}
	r, err := f.HistoryClient.OpenPartition(ctx, partitionID, since)
	if err != nil {
		return nil, err
	}
	return faultyReceiver{r, f}, nil
}

type faultyReceiver struct {
	HistoryReceiver
	f *faultyHistory
}

func (r faultyReceiver) ReceiveEvents(ctx context.Context, count int) ([]Event, error) {
	if r.f.receive != nil {
		r.f.mu.Lock()
		r.f.receives++
		n := r.f.receives
		r.f.mu.Unlock()
		if err := r.f.receive(n); err != nil {
			return nil, err
		}
	}
	return r.HistoryReceiver.ReceiveEvents(ctx, count)
}

// The memory receiver waits for count events, as azeventhubs'
// PartitionClient does: History's tests of needless waits rely on it.
func TestMemoryHistoryReceiverWaitsForCount(t *testing.T) {
	for _, tc := range []struct {
		name      string
		events    int
		stall     bool
		count     int
		wantRead  int
		wantErr   error
		waitedOut int
	}{
		{"as many as asked", 3, false, 3, 3, nil, 0},
		{"fewer than asked", 3, false, 5, 3, nil, 1},
		{"none", 0, false, 1, 0, context.DeadlineExceeded, 1},
		{"stalled", 3, true, 1, 0, context.DeadlineExceeded, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hub := NewMemoryHub("0")
			fill(hub, "0", tc.events)
			if tc.stall {
				hub.StallHistory("0")
			}
			r, err := hub.History().OpenPartition(t.Context(), "0", hub.start)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), quickWait)
			defer cancel()
			events, err := r.ReceiveEvents(ctx, tc.count)
			if len(events) != tc.wantRead || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("ReceiveEvents = %d events, %v; want %d, %v", len(events), err, tc.wantRead, tc.wantErr)
			}
			if st := hub.HistoryStats("0"); st.Receives != 1 || st.WaitedOut != tc.waitedOut {
				t.Errorf("stats %+v, want 1 receive, %d waited out", st, tc.waitedOut)
			}
		})
	}
	t.Run("events arriving while waiting", func(t *testing.T) {
		hub := NewMemoryHub("0")
		fill(hub, "0", 1)
		r, err := hub.History().OpenPartition(t.Context(), "0", hub.start)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for hub.HistoryStats("0").Receives == 0 {
				time.Sleep(time.Millisecond)
			}
			fill(hub, "0", 2)
		}()
		events, err := r.ReceiveEvents(t.Context(), 3)
		if err != nil || len(events) != 3 || events[2].SequenceNumber != 2 {
			t.Errorf("ReceiveEvents = %+v, %v; want sequences 0-2", events, err)
		}
	})
}
