package notify_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

// TestDrainStopsBeforeItsLeaseEnds: sends that take long (here, each moves
// the clock 40 s) stop before the lease could run out mid-send, so that
// no other dispatcher can take a message over and send it too; what is
// left goes out once the lease has ended.
func TestDrainStopsBeforeItsLeaseEnds(t *testing.T) {
	st, err := sqlite.Open(context.Background(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	posts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		posts++
		now = now.Add(40 * time.Second)
	}))
	defer srv.Close()
	slack, err := notify.NewSlack("slack", map[string]any{"url": srv.URL + "/hook"}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	d := notify.NewDispatcher(st, map[string]rules.Channel{"slack": {Name: "slack", Type: "slack"}}, map[string]notify.Sender{"slack": slack},
		notify.DispatcherOptions{Now: func() time.Time { return now }, GroupWait: -1, SendTimeout: 15 * time.Second})
	ctx := context.Background()
	for i, admin := range []string{"a@contoso.com", "b@contoso.com", "c@contoso.com"} { // three groups
		m := benchMessage(i)
		m.Initiator.UserPrincipalName = admin
		if _, err := d.Announce(ctx, m, []string{"slack"}); err != nil {
			t.Fatal(err)
		}
	}
	report, err := d.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Lease 75 s (SendTimeout + 1 min): sends at 0 s and 40 s; at 80 s one
	// more send could outlast it.
	if report.Sent != 2 || posts != 2 {
		t.Fatalf("first drain sent %d (%d posts), want 2", report.Sent, posts)
	}
	// The clock is past that lease now: the third is due, and only it.
	report, err = d.Drain(ctx)
	if err != nil || report.Sent != 1 || posts != 3 {
		t.Fatalf("second drain: %+v, %v, %d posts; want the third sent, once", report, err, posts)
	}
}
