package replay

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/eventhubs"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
)

func TestRunOverEventHubHistoryIngestsOnlyEventsSinceTheStart(t *testing.T) {
	since := time.Date(2026, 6, 2, 12, 0, 0, 0, time.UTC)
	hub := eventhubs.NewMemoryHub("0", "1")
	// Each event a different fixture, so that the journal tells which
	// events were replayed.
	events := []struct {
		partition string
		fixture   string
		at        time.Time
		replayed  bool
	}{
		{"0", "audit/eventhubs/user.json", since.Add(-2 * time.Minute), false},
		{"1", "audit/eventhubs/service-principal.json", since.Add(-time.Nanosecond), false},
		{"0", "audit/eventhubs/group.json", since, true},
		{"1", "audit/eventhubs/administrative-unit.json", since.Add(30 * time.Second), true},
		{"0", "audit/eventhubs/application.json", since.Add(time.Minute), true},
	}
	var want []string
	var wantEvents int64
	for _, e := range events {
		body := readFixture(t, e.fixture)
		hub.SendAt(e.partition, body, e.at)
		if e.replayed {
			want = append(want, eventIDs(t, body)...)
			wantEvents++
		}
	}
	st := openStore(t)
	history := eventhubs.NewHistory(hub.History(), since, eventhubs.HistoryOptions{HubName: "audit"})
	var updates []Status
	status, err := Run(context.Background(), history, newPipeline(t, st, st, rules.ModeObserve),
		Options{Name: "replay --from-eventhub", Batch: 2, OnBatch: func(s Status) { updates = append(updates, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if r := status.Report; r.New != len(want) || r.Bodies != int(wantEvents) || r.Duplicates != 0 {
		t.Errorf("report %s; want %d bodies, %d new records", r, wantEvents, len(want))
	}
	got := received(t, st)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("journaled %q, want the records of events enqueued at or after the start, %q", got, want)
	}
	// Progress counts events.
	if status.Done != wantEvents || status.Total != wantEvents {
		t.Errorf("progress %d of %d events, want %d of %d", status.Done, status.Total, wantEvents, wantEvents)
	}
	if len(updates) != 2 || updates[0].Done != 2 {
		t.Errorf("updates %+v, want two batches, the first after 2 events", updates)
	}
	// The journal names the partition and sequence number of each event.
	for _, e := range journal(t, st) {
		if e.Kind == store.KindEventReceived && !strings.Contains(e.Source, "event hub audit partition ") {
			t.Errorf("journal entry source %q names no partition", e.Source)
		}
	}
}
