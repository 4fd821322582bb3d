package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

type testClock struct{ now time.Time }

func (c *testClock) Now() time.Time { return c.now }

// openStore is the real store, in memory: these tests are about grouping
// and delivery, not about durability, which the store's own suite checks.
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// deletion is the message for one detected hard delete of group i by admin.
func deletion(i int, admin string) notify.Message {
	ev := &audit.Event{ID: fmt.Sprintf("Directory_%05d", i), Activity: "Hard Delete group", Deletion: audit.DeletionHard,
		Time: sampleTime.Add(time.Duration(i) * time.Millisecond), Initiator: audit.Initiator{Type: audit.InitiatorUser, UserPrincipalName: admin}}
	return notify.Message{
		Kind: notify.KindDeletionDetected, Severity: rules.SeverityCritical, Time: ev.Time, Rule: "hard-deletes", Activity: ev.Activity,
		Initiator: ev.Initiator, Objects: []notify.Object{{ID: fmt.Sprintf("6d1c4a2e-0000-4000-8000-%012d", i), Type: audit.TargetGroup, Name: fmt.Sprintf("team-%d", i)}},
		Total: 1, Action: "notify", Outcome: notify.Outcome{Status: notify.StatusDetected}, Mode: rules.ModeEnforce, Event: ev,
	}
}

func lines(t *testing.T, out *bytes.Buffer) []notify.Message {
	t.Helper()
	var msgs []notify.Message
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line == "" {
			continue
		}
		var m notify.Message
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// TestStormIsOneMessage: 5,000 deletions by one administrator under one
// rule, announced three times over (as Event Hubs redelivers), go out as
// one message listing the first 20 objects and counting all 5,000; another
// initiator's deletion is a message of its own.
func TestStormIsOneMessage(t *testing.T) {
	st := openStore(t)
	clock := &testClock{now: sampleTime}
	var out bytes.Buffer
	channels := map[string]rules.Channel{"console": {Name: "console", Type: "console"}}
	d := notify.NewDispatcher(st, channels, map[string]notify.Sender{"console": notify.NewJSONLines("console", &out)},
		notify.DispatcherOptions{Now: clock.Now, GroupWait: 30 * time.Second})
	ctx := context.Background()
	for delivery := range 3 {
		recorded := 0
		for i := range 5000 {
			n, err := d.Announce(ctx, deletion(i, "it.admin@contoso.com"), []string{"console"})
			if err != nil {
				t.Fatal(err)
			}
			recorded += n
		}
		if want := map[bool]int{true: 5000, false: 0}[delivery == 0]; recorded != want {
			t.Errorf("delivery %d recorded %d messages, want %d", delivery, recorded, want)
		}
	}
	if _, err := d.Announce(ctx, deletion(9999, "someone.else@contoso.com"), []string{"console"}); err != nil {
		t.Fatal(err)
	}
	// Nothing goes out before the group's wait is over.
	if report, err := d.Drain(ctx); err != nil || report.Sent != 0 || out.Len() != 0 {
		t.Fatalf("before groupWait: %+v, %v, output %q", report, err, out.String())
	}
	clock.now = clock.now.Add(31 * time.Second)
	report, err := d.Drain(ctx)
	if err != nil || report != (notify.DrainReport{Sent: 2}) {
		t.Fatalf("after groupWait: %+v, %v; want 2 messages sent", report, err)
	}
	msgs := lines(t, &out)
	if len(msgs) != 2 {
		t.Fatalf("%d messages written, want 2", len(msgs))
	}
	storm := msgs[0]
	if storm.Initiator.UserPrincipalName != "it.admin@contoso.com" || storm.Total != 5000 || len(storm.Objects) != notify.MaxObjects || storm.Event != nil ||
		!storm.Time.Equal(sampleTime) || storm.Objects[0].Name != "team-0" {
		t.Errorf("storm message: total %d, %d objects listed, first %+v, time %s, event %v", storm.Total, len(storm.Objects), storm.Objects[0], storm.Time, storm.Event)
	}
	if msgs[1].Total != 1 || msgs[1].Event == nil || msgs[1].Initiator.UserPrincipalName != "someone.else@contoso.com" {
		t.Errorf("the other initiator's message: %+v", msgs[1])
	}
	// Delivered is delivered: a later drain sends nothing, and the journal
	// says what went out.
	if report, err := d.Drain(ctx); err != nil || report != (notify.DrainReport{}) {
		t.Errorf("second drain: %+v, %v", report, err)
	}
	entries, err := st.Journal(ctx, store.JournalQuery{Limit: 10})
	if err != nil || countEntries(entries, notify.KindSent) != 2 || !strings.Contains(entries[1].Detail, "5000 messages as one") {
		t.Errorf("journal %+v, %v", entries, err)
	}
}

func countEntries(entries []store.Entry, kind store.Kind) int {
	n := 0
	for _, e := range entries {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// TestMinSeverityKeepsMessagesOffAChannel: a warning does not page; it is
// journaled as suppressed, not lost without a word.
func TestMinSeverityKeepsMessagesOffAChannel(t *testing.T) {
	st := openStore(t)
	clock := &testClock{now: sampleTime}
	var pager, log bytes.Buffer
	channels := map[string]rules.Channel{
		"pager": {Name: "pager", Type: "console", MinSeverity: rules.SeverityCritical},
		"log":   {Name: "log", Type: "console"},
	}
	d := notify.NewDispatcher(st, channels, map[string]notify.Sender{"pager": notify.NewJSONLines("pager", &pager), "log": notify.NewJSONLines("log", &log)},
		notify.DispatcherOptions{Now: clock.Now, GroupWait: -1})
	ctx := context.Background()
	warning := deletion(1, "it.admin@contoso.com")
	warning.Severity = rules.SeverityWarning
	if n, err := d.Announce(ctx, warning, []string{"pager", "log"}); err != nil || n != 1 {
		t.Fatalf("Announce = %d, %v; want 1 (the log only)", n, err)
	}
	if n, err := d.Announce(ctx, deletion(2, "it.admin@contoso.com"), []string{"pager", "log"}); err != nil || n != 2 {
		t.Fatalf("Announce critical = %d, %v; want 2", n, err)
	}
	if _, err := d.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	// The log's two messages share a group: one message, at the higher
	// severity, listing both.
	if p, l := lines(t, &pager), lines(t, &log); len(p) != 1 || p[0].Severity != rules.SeverityCritical || p[0].Total != 1 ||
		len(l) != 1 || l[0].Total != 2 || l[0].Severity != rules.SeverityCritical {
		t.Errorf("pager got %+v, log %+v; want the critical alone on the pager, both as one on the log", p, l)
	}
	entries, _ := st.Journal(ctx, store.JournalQuery{Limit: 10})
	if countEntries(entries, notify.KindSuppressed) != 1 {
		t.Errorf("want one notify.suppressed entry: %+v", entries)
	}
}

// TestFailingReceiverRetriesThenDeadLetters: against a real Slack channel
// whose receiver fails, a message is retried with back-off (honouring
// Retry-After), becomes a dead letter once DeadLetterAfter has passed (kept
// once, journaled), is still retried every DeadLetterRetry, and goes out
// when the receiver is mended; nothing in the journal or the dead letter
// shows the webhook's secret path.
func TestFailingReceiverRetriesThenDeadLetters(t *testing.T) {
	st := openStore(t)
	clock := &testClock{now: sampleTime}
	status := http.StatusServiceUnavailable
	received := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		received++
		if status != http.StatusOK {
			w.Header().Set("Retry-After", "120")
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	url := srv.URL + "/services/T000/B000/S3CRET"
	slack, err := notify.NewSlack("slack", map[string]any{"url": url}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	channels := map[string]rules.Channel{"slack": {Name: "slack", Type: "slack"}}
	d := notify.NewDispatcher(st, channels, map[string]notify.Sender{"slack": slack},
		notify.DispatcherOptions{Now: clock.Now, GroupWait: -1, DeadLetterAfter: 15 * time.Minute, DeadLetterRetry: time.Hour, MaxAge: 7 * 24 * time.Hour})
	ctx := context.Background()
	if _, err := d.Announce(ctx, deletion(1, "it.admin@contoso.com"), []string{"slack"}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		status  int
		want    notify.DrainReport
		posts   int
	}{
		{0, http.StatusServiceUnavailable, notify.DrainReport{Retried: 1}, 1},
		{time.Minute, http.StatusServiceUnavailable, notify.DrainReport{}, 1},                     // Retry-After 120 s not over
		{90 * time.Second, http.StatusTooManyRequests, notify.DrainReport{Retried: 1}, 2},         // 2.5 min in
		{16 * time.Minute, http.StatusServiceUnavailable, notify.DrainReport{DeadLettered: 1}, 3}, // past DeadLetterAfter
		{30 * time.Minute, http.StatusOK, notify.DrainReport{}, 3},                                // waits for the hourly retry
		{31 * time.Minute, http.StatusServiceUnavailable, notify.DrainReport{DeadLettered: 1}, 4},
		{time.Hour, http.StatusOK, notify.DrainReport{Sent: 1}, 5}, // mended
		{2 * time.Hour, http.StatusOK, notify.DrainReport{}, 5},    // delivered once
	}
	for i, s := range steps {
		clock.now = clock.now.Add(s.advance)
		status = s.status
		report, err := d.Drain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if report != s.want || received != s.posts {
			t.Errorf("step %d (+%s, receiver %d): report %+v, %d posts; want %+v, %d", i, s.advance, s.status, report, received, s.want, s.posts)
		}
	}
	letters, err := st.DeadLetters(ctx, 10)
	if err != nil || len(letters) != 1 || letters[0].Source != "notify slack" {
		t.Fatalf("dead letters %+v, %v; want exactly one", letters, err)
	}
	entries, err := st.Journal(ctx, store.JournalQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[store.Kind]int{}
	for _, e := range entries {
		kinds[e.Kind]++
		if strings.Contains(e.Detail, "S3CRET") || strings.Contains(e.Detail, "/services/") {
			t.Errorf("journal entry shows the webhook's secret path: %+v", e)
		}
	}
	if kinds[notify.KindRetry] != 2 || kinds[notify.KindDeadLettered] != 1 || kinds[notify.KindSent] != 1 {
		t.Errorf("journal kinds %v; want 2 retries, 1 dead letter, 1 sent", kinds)
	}
	if strings.Contains(letters[0].Reason, "S3CRET") {
		t.Errorf("the dead letter's reason shows the secret: %s", letters[0].Reason)
	}
}

// TestUndeliverablePastMaxAgeIsGivenUp: past MaxAge a message is failed for
// good, journaled, never dropped without a word.
func TestUndeliverablePastMaxAgeIsGivenUp(t *testing.T) {
	st := openStore(t)
	clock := &testClock{now: sampleTime}
	d := notify.NewDispatcher(st, nil, nil, notify.DispatcherOptions{Now: clock.Now, GroupWait: -1, DeadLetterRetry: 24 * time.Hour, MaxAge: 48 * time.Hour})
	ctx := context.Background()
	if _, err := d.Announce(ctx, deletion(1, "it.admin@contoso.com"), []string{"gone"}); err != nil {
		t.Fatal(err)
	}
	var total notify.DrainReport
	for range 4 {
		r, err := d.Drain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total.DeadLettered += r.DeadLettered
		total.Failed += r.Failed
		clock.now = clock.now.Add(24 * time.Hour)
	}
	if total.DeadLettered != 2 || total.Failed != 1 {
		t.Errorf("over four days: %+v; want dead-lettered twice, then failed", total)
	}
	entries, _ := st.Journal(ctx, store.JournalQuery{Limit: 100})
	if countEntries(entries, notify.KindFailed) != 1 {
		t.Errorf("want one notify.failed entry: %+v", entries)
	}
}

// TestHangingChannelHoldsNoOneUp: a receiver that never answers costs one
// SendTimeout; the other channel's message goes out in the same drain, and
// the hung one is retried.
func TestHangingChannelHoldsNoOneUp(t *testing.T) {
	st := openStore(t)
	clock := &testClock{now: sampleTime}
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	slow, err := notify.NewSlack("slow", map[string]any{"url": hang.URL + "/hook"}, hang.Client())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	channels := map[string]rules.Channel{"slow": {Name: "slow", Type: "slack"}, "console": {Name: "console", Type: "console"}}
	d := notify.NewDispatcher(st, channels, map[string]notify.Sender{"slow": slow, "console": notify.NewJSONLines("console", &out)},
		notify.DispatcherOptions{Now: clock.Now, GroupWait: -1, SendTimeout: 200 * time.Millisecond})
	ctx := context.Background()
	if _, err := d.Announce(ctx, deletion(1, "it.admin@contoso.com"), []string{"slow", "console"}); err != nil {
		t.Fatal(err)
	}
	report, err := d.Drain(ctx)
	if err != nil || report.Sent != 1 || report.Retried != 1 || len(lines(t, &out)) != 1 {
		t.Errorf("drain %+v, %v, console %q; want the console message sent and the hung one retried", report, err, out.String())
	}
}
