package notify_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

func benchMessage(i int) notify.Message {
	at := time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	ev := &audit.Event{ID: fmt.Sprintf("Directory_bench_%06d", i), Activity: "Hard Delete group", Deletion: audit.DeletionHard, Time: at,
		Initiator: audit.Initiator{Type: audit.InitiatorUser, UserPrincipalName: "it.admin@contoso.com"}}
	return notify.Message{Kind: notify.KindDeletionDetected, Severity: rules.SeverityCritical, Time: at, Rule: "hard-deletes", Activity: ev.Activity,
		Initiator: ev.Initiator, Objects: []notify.Object{{ID: fmt.Sprintf("6d1c4a2e-0000-4000-8000-%012d", i), Type: audit.TargetGroup, Name: fmt.Sprintf("team-%d", i)}},
		Total: 1, Action: "notify", Outcome: notify.Outcome{Status: notify.StatusDetected}, Mode: rules.ModeEnforce, Event: ev}
}

// BenchmarkAnnounce records one message for one channel in the SQLite
// store on disk, as the pipeline does for each decision that tells.
func BenchmarkAnnounce(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	d := notify.NewDispatcher(st, nil, nil, notify.DispatcherOptions{})
	i := 0
	for b.Loop() {
		if n, err := d.Announce(context.Background(), benchMessage(i), []string{"console"}); err != nil || n != 1 {
			b.Fatal(n, err)
		}
		i++
	}
}

// BenchmarkDrainStorm delivers a storm of 5,000 recorded messages as the
// one grouped message it is (store on disk), per storm.
func BenchmarkDrainStorm(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	d := notify.NewDispatcher(st, nil, map[string]notify.Sender{"console": notify.NewJSONLines("console", io.Discard)},
		notify.DispatcherOptions{Now: func() time.Time { return now }, GroupWait: -1})
	ctx := context.Background()
	storm := 0
	for b.Loop() {
		b.StopTimer()
		for i := range 5000 {
			if _, err := d.Announce(ctx, benchMessage(storm*5000+i), []string{"console"}); err != nil {
				b.Fatal(err)
			}
		}
		storm++
		b.StartTimer()
		if r, err := d.Drain(ctx); err != nil || r.Sent != 1 {
			b.Fatalf("drain %+v, %v; want one message", r, err)
		}
	}
}
