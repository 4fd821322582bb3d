package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

const fixtures = "../../testdata/audit"

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// clock is a settable time source for tests.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newPipeline(t *testing.T, st State) (*Pipeline, *clock) {
	t.Helper()
	c := &clock{now: time.Date(2026, 6, 2, 14, 5, 0, 0, time.UTC)}
	return New(st, Options{Now: c.Now, ClaimLease: time.Minute}), c
}

func journalOf(t *testing.T, st store.Store) []store.Entry {
	t.Helper()
	entries, err := st.Journal(context.Background(), store.JournalQuery{Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(entries) // oldest first reads more naturally in assertions
	return entries
}

func countKind(entries []store.Entry, kind store.Kind) int {
	n := 0
	for _, e := range entries {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func eventIDs(t *testing.T, data []byte) []string {
	t.Helper()
	var ids []string
	for _, e := range mustDecode(t, data).Events {
		ids = append(ids, e.ID)
	}
	return ids
}

func TestIngestRecordsEachEventOnceHoweverOftenDelivered(t *testing.T) {
	body := readFixture(t, "eventhubs/mixed-batch.json")
	wantIDs := eventIDs(t, body)
	if len(wantIDs) < 2 {
		t.Fatalf("fixture holds %d events; the test needs several", len(wantIDs))
	}
	st := openStore(t)
	p, _ := newPipeline(t, st)
	ctx := context.Background()

	for delivery := 1; delivery <= 3; delivery++ {
		report, err := p.Ingest(ctx, Batch{Source: "test", Bodies: []Body{{Data: body}}})
		if err != nil {
			t.Fatalf("delivery %d: %v", delivery, err)
		}
		want := Report{Bodies: 1, Records: len(wantIDs), New: len(wantIDs)}
		if delivery > 1 {
			want.New, want.Duplicates = 0, len(wantIDs)
		}
		if report != want {
			t.Errorf("delivery %d: report %+v, want %+v", delivery, report, want)
		}
	}

	entries := journalOf(t, st)
	var got []string
	for _, e := range entries {
		if e.Kind != store.KindEventReceived {
			t.Errorf("unexpected journal entry %+v", e)
		}
		got = append(got, e.EventID)
	}
	if !slices.Equal(got, wantIDs) {
		t.Errorf("journaled events %v, want each of %v once, in order", got, wantIDs)
	}
}

func TestIngestJournalsWhoDidWhatToWhich(t *testing.T) {
	body := readFixture(t, "eventhubs/mixed-batch.json")
	result := mustDecode(t, body)
	st := openStore(t)
	p, c := newPipeline(t, st)
	if _, err := p.Ingest(context.Background(), Batch{Source: "AuditEvents invocation 42", Bodies: []Body{{Data: body, Source: "partition 0 sequence 7"}}}); err != nil {
		t.Fatal(err)
	}
	entries := journalOf(t, st)
	if len(entries) != len(result.Events) {
		t.Fatalf("%d journal entries, want %d", len(entries), len(result.Events))
	}
	for i, event := range result.Events {
		e := entries[i]
		if e.EventID != event.ID || e.Activity != event.Activity || e.Outcome != event.Result {
			t.Errorf("entry %d = %+v, want event %s %q result %s", i, e, event.ID, event.Activity, event.Result)
		}
		if len(event.Targets) > 0 && (e.TargetID != event.Targets[0].ID || e.TargetType != string(event.Targets[0].Type)) {
			t.Errorf("entry %d target = %s %s, want %s %s", i, e.TargetType, e.TargetID, event.Targets[0].Type, event.Targets[0].ID)
		}
		wantActor := event.Initiator.UserPrincipalName
		if wantActor == "" {
			wantActor = event.Initiator.AppID
		}
		if wantActor != "" && e.Actor != wantActor {
			t.Errorf("entry %d actor = %q, want %q", i, e.Actor, wantActor)
		}
		if !strings.Contains(e.Detail, "deletion="+string(event.Deletion)) {
			t.Errorf("entry %d detail %q does not say deletion=%s", i, e.Detail, event.Deletion)
		}
		if e.Source != "AuditEvents invocation 42 event 0 (partition 0 sequence 7)" {
			t.Errorf("entry %d source = %q", i, e.Source)
		}
		if !e.Time.Equal(c.now) {
			t.Errorf("entry %d time = %v, want the pipeline clock %v", i, e.Time, c.now)
		}
	}
}

func TestIngestKeepsBadInputAsDeadLettersAndGoesOn(t *testing.T) {
	good := readFixture(t, "eventhubs/mixed-batch.json")
	notJSON := readFixture(t, "malformed/html-error-page.txt")
	badRecords := readFixture(t, "malformed/bad-records.json")
	badResult := mustDecode(t, badRecords)
	if len(badResult.Skipped) == 0 || len(badResult.Events) == 0 {
		t.Fatalf("bad-records fixture should hold good and bad records, got %d/%d", len(badResult.Events), len(badResult.Skipped))
	}
	goodIDs := eventIDs(t, good)

	st := openStore(t)
	p, _ := newPipeline(t, st)
	report, err := p.Ingest(context.Background(), Batch{Source: "b", Bodies: []Body{{Data: notJSON}, {Data: badRecords}, {Data: good}}})
	if err != nil {
		t.Fatalf("Ingest: %v (bad input must not fail the batch)", err)
	}
	want := Report{
		Bodies:     3,
		Records:    len(badResult.Events) + len(badResult.Skipped) + len(goodIDs),
		New:        len(badResult.Events) + len(goodIDs),
		Skipped:    len(badResult.Skipped),
		DeadBodies: 1,
	}
	if report != want {
		t.Errorf("report %+v, want %+v", report, want)
	}

	letters, err := st.DeadLetters(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(letters)
	if len(letters) != 1+len(badResult.Skipped) {
		t.Fatalf("%d dead letters, want %d", len(letters), 1+len(badResult.Skipped))
	}
	if !bytes.Equal(letters[0].Raw, notJSON) || letters[0].Source != "b event 0" || !strings.Contains(letters[0].Reason, "not JSON") {
		t.Errorf("body dead letter = source %q reason %q raw %d bytes; want the whole body from b event 0", letters[0].Source, letters[0].Reason, len(letters[0].Raw))
	}
	for i, skip := range badResult.Skipped {
		letter := letters[1+i]
		if !bytes.Equal(letter.Raw, skip.Raw) {
			t.Errorf("record dead letter %d raw = %q, want %q", i, letter.Raw, skip.Raw)
		}
		if letter.Source != "b event 1" || !strings.Contains(letter.Location, skip.Location) || !strings.Contains(letter.Reason, skip.Field) {
			t.Errorf("record dead letter %d = %q / %q / %q, want source b event 1, location %q, field %q", i, letter.Source, letter.Location, letter.Reason, skip.Location, skip.Field)
		}
	}

	entries := journalOf(t, st)
	if got := countKind(entries, store.KindBodyDeadLettered); got != 1 {
		t.Errorf("%d body.deadlettered entries, want 1", got)
	}
	if got := countKind(entries, store.KindRecordSkipped); got != len(badResult.Skipped) {
		t.Errorf("%d record.skipped entries, want %d", got, len(badResult.Skipped))
	}
	if got := countKind(entries, store.KindEventReceived); got != want.New {
		t.Errorf("%d event.received entries, want %d", got, want.New)
	}
}

func TestIngestRetriesRecordsAnotherInstanceHolds(t *testing.T) {
	body := readFixture(t, "eventhubs/mixed-batch.json")
	ids := eventIDs(t, body)
	st := openStore(t)
	p, c := newPipeline(t, st)
	ctx := context.Background()

	// Another instance claimed the second record and has not finished.
	if state, err := st.Claim(ctx, DedupKey(ids[1]), c.now, c.now.Add(time.Minute)); err != nil || state != store.Claimed {
		t.Fatalf("pre-claim: %v %v", state, err)
	}
	report, err := p.Ingest(ctx, Batch{Source: "b", Bodies: []Body{{Data: body}}})
	if !errors.Is(err, ErrRetryLater) {
		t.Fatalf("Ingest error = %v, want ErrRetryLater", err)
	}
	if report.Held != 1 || report.New != len(ids)-1 {
		t.Errorf("report %+v, want 1 held and %d new", report, len(ids)-1)
	}

	// That instance died; once its lease runs out, the retry takes the record over.
	c.now = c.now.Add(2 * time.Minute)
	report, err = p.Ingest(ctx, Batch{Source: "b retry", Bodies: []Body{{Data: body}}})
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if report.New != 1 || report.Duplicates != len(ids)-1 || report.Held != 0 {
		t.Errorf("retry report %+v, want 1 new and %d duplicates", report, len(ids)-1)
	}
	if got := countKind(journalOf(t, st), store.KindEventReceived); got != len(ids) {
		t.Errorf("%d events journaled, want %d", got, len(ids))
	}
}

func TestIngestAsksForRetryWhenTheStoreFails(t *testing.T) {
	st := openStore(t)
	p, _ := newPipeline(t, st)
	st.Close()
	_, err := p.Ingest(context.Background(), Batch{Source: "b", Bodies: []Body{{Data: readFixture(t, "eventhubs/mixed-batch.json")}}})
	if !errors.Is(err, ErrRetryLater) {
		t.Fatalf("Ingest with a closed store = %v, want ErrRetryLater", err)
	}
}

func TestMaintainForgetsOnlyRecordsPastRetention(t *testing.T) {
	body := readFixture(t, "eventhubs/mixed-batch.json")
	ids := eventIDs(t, body)
	st := openStore(t)
	p, c := newPipeline(t, st)
	ctx := context.Background()
	if _, err := p.Ingest(ctx, Batch{Bodies: []Body{{Data: body}}}); err != nil {
		t.Fatal(err)
	}

	c.now = c.now.Add(store.MinDedupRetention - time.Hour)
	report, err := p.Maintain(ctx)
	if err != nil || report.ExpiredClaims != 0 {
		t.Fatalf("Maintain within retention = %+v, %v; want nothing expired", report, err)
	}
	again, err := p.Ingest(ctx, Batch{Bodies: []Body{{Data: body}}})
	if err != nil || again.Duplicates != len(ids) {
		t.Fatalf("redelivery within retention = %+v, %v; want all duplicates", again, err)
	}

	c.now = c.now.Add(2 * time.Hour)
	report, err = p.Maintain(ctx)
	if err != nil || report.ExpiredClaims != len(ids) {
		t.Fatalf("Maintain past retention = %+v, %v; want %d expired", report, err, len(ids))
	}
}

func TestMaintainPagesThroughLargeBacklogs(t *testing.T) {
	st := openStore(t)
	c := &clock{now: time.Date(2026, 6, 2, 14, 5, 0, 0, time.UTC)}
	const page = 4
	p := New(st, Options{Now: c.Now, ExpirePage: page})
	ctx := context.Background()
	const n = page*2 + 3
	for i := range n {
		if _, err := st.Claim(ctx, DedupKey(fmt.Sprintf("record-%d", i)), c.now, c.now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	c.now = c.now.Add(store.MinDedupRetention + time.Hour)
	report, err := p.Maintain(ctx)
	if err != nil || report.ExpiredClaims != n {
		t.Fatalf("Maintain = %+v, %v; want %d expired over several pages", report, err, n)
	}
}

func TestRedeliveredBadInputIsKeptOnce(t *testing.T) {
	notJSON := readFixture(t, "malformed/html-error-page.txt")
	badRecords := readFixture(t, "malformed/bad-records.json")
	skipped := len(mustDecode(t, badRecords).Skipped)
	st := openStore(t)
	p, _ := newPipeline(t, st)
	batch := Batch{Source: "b", Bodies: []Body{{Data: notJSON}, {Data: badRecords}}}
	ctx := context.Background()
	if _, err := p.Ingest(ctx, batch); err != nil {
		t.Fatal(err)
	}
	report, err := p.Ingest(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if report.AlreadyKept != 1+skipped || report.DeadBodies != 1 || report.Skipped != skipped {
		t.Errorf("redelivery report %+v, want %d already kept of 1 dead body and %d skipped records", report, 1+skipped, skipped)
	}
	letters, err := st.DeadLetters(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 1+skipped {
		t.Errorf("%d dead letters after two deliveries, want %d", len(letters), 1+skipped)
	}
}

func mustDecode(t *testing.T, data []byte) audit.Result {
	t.Helper()
	result, err := audit.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return result
}

// listedRules restores the listed objects when a successful soft delete
// removes them, in mode.
func listedRules(t *testing.T, mode rules.Mode, ids ...string) *rules.Table {
	t.Helper()
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = strconv.Quote(id)
	}
	src := fmt.Sprintf(`version: 1
defaults: {mode: %s}
channels: {console: {type: console}}
rules:
  - name: listed-objects
    when: 'event.deletion == "soft" && event.result == "success" && target.id in [%s]'
    actions: [restore]
    notify: [console]
`, mode, strings.Join(quoted, ", "))
	table, err := rules.Parse("listed.yaml", []byte(src), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return table
}

func ruleDecider(table *rules.Table, st guard.State, self *guard.Self, now func() time.Time) Decider {
	return decide.New(table, guard.New(st, guard.Config{Self: self, Rules: table.Guards, Now: now}), now)
}

func TestDecideRecordsDurableRestoreIntents(t *testing.T) {
	const (
		criticalGroup = "c1e3a5c7-e9a1-4c3e-85c7-e9a1c3e5a7c9" // sec-prod-payments, soft-deleted in mixed-batch
		failedUser    = "9e1b3d5f-7a9c-4e1b-83d5-f7a9c1e3b5d7" // a Delete user that failed
		appDeleted    = "3d5f7b9d-1f3b-4d5f-97b9-d1f3b5d7f9b1" // deleted by the HR automation app
		automationApp = "4f6a8c0e-2a4c-4e6a-b0c2-e4a6c8e0a2c4"
	)
	tests := []struct {
		name          string
		fixture       string
		mode          rules.Mode
		listed        []string
		self          []string
		wantIntents   []string
		wantDecisions int
		wantObserved  int
		wantSelf      int
	}{
		{"listed soft delete", "eventhubs/mixed-batch.json", rules.ModeEnforce, []string{criticalGroup}, nil, []string{criticalGroup}, 1, 0, 0},
		{"observe mode records no intent", "eventhubs/mixed-batch.json", rules.ModeObserve, []string{criticalGroup}, nil, nil, 1, 1, 0},
		{"nothing listed", "eventhubs/mixed-batch.json", rules.ModeEnforce, []string{"00000000-0000-0000-0000-000000000000"}, nil, nil, 0, 0, 0},
		{"failed delete is not restored", "eventhubs/failure-and-app.json", rules.ModeEnforce, []string{failedUser}, nil, nil, 0, 0, 0},
		{"listed, deleted by someone else", "eventhubs/failure-and-app.json", rules.ModeEnforce, []string{appDeleted}, nil, []string{appDeleted}, 1, 0, 0},
		{"listed, but Reinstate itself did it", "eventhubs/failure-and-app.json", rules.ModeEnforce, []string{appDeleted}, []string{automationApp}, nil, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			woken := 0
			c := &clock{now: time.Date(2026, 6, 2, 14, 5, 0, 0, time.UTC)}
			self := guard.NewSelf(tt.self...)
			var console bytes.Buffer
			table := listedRules(t, tt.mode, tt.listed...)
			dispatcher := notify.NewDispatcher(st, table.Channels, map[string]notify.Sender{"console": notify.NewJSONLines("console", &console)},
				notify.DispatcherOptions{Now: c.Now, GroupWait: -1})
			p := New(st, Options{Now: c.Now, Decider: ruleDecider(table, st, self, c.Now), Self: self, Announcer: dispatcher, Wake: func() { woken++ }})
			body := readFixture(t, tt.fixture)
			ctx := context.Background()
			for delivery := 0; delivery < 2; delivery++ {
				report, err := p.Ingest(ctx, Batch{Source: "b", Bodies: []Body{{Data: body}}})
				if err != nil {
					t.Fatal(err)
				}
				wantIntents, wantDecisions, wantObserved, wantSelf := len(tt.wantIntents), tt.wantDecisions, tt.wantObserved, tt.wantSelf
				if delivery > 0 {
					wantIntents, wantDecisions, wantObserved, wantSelf = 0, 0, 0, 0 // a redelivery decides nothing again
				}
				if report.Intents != wantIntents || report.Decisions != wantDecisions || report.Observed != wantObserved || report.Self != wantSelf {
					t.Errorf("delivery %d: report %+v, want %d intents, %d decisions, %d observed, %d self", delivery, report, wantIntents, wantDecisions, wantObserved, wantSelf)
				}
			}
			if (len(tt.wantIntents) > 0) != (woken > 0) {
				t.Errorf("worker woken %d times, want a wake exactly when intents were recorded", woken)
			}
			intents, err := st.Intents(ctx, store.IntentQuery{Kind: recovery.IntentKind, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, intent := range intents {
				var plan recovery.Plan
				if err := json.Unmarshal(intent.Payload, &plan); err != nil {
					t.Fatal(err)
				}
				if intent.Kind != recovery.IntentKind || intent.State != store.IntentPending || plan.Reason != "listed-objects" || plan.EventID == "" {
					t.Errorf("intent %+v plan %+v", intent, plan)
				}
				got = append(got, plan.Request.ObjectID)
			}
			if !slices.Equal(got, tt.wantIntents) {
				t.Errorf("intents for %v, want %v", got, tt.wantIntents)
			}
			entries := journalOf(t, st)
			if n := countKind(entries, KindDecision); n != tt.wantDecisions {
				t.Errorf("%d decision entries, want %d", n, tt.wantDecisions)
			}
			if n := countKind(entries, KindEventSelf); n != tt.wantSelf {
				t.Errorf("%d event.self entries, want %d", n, tt.wantSelf)
			}
			// An observed decision is told on the console once, however often
			// the event is delivered; a restore is told when it has an
			// outcome, by the worker, not here.
			if _, err := dispatcher.Drain(ctx); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(console.String(), "\n"); n != tt.wantObserved {
				t.Errorf("console output %q: %d messages, want %d", console.String(), n, tt.wantObserved)
			}
			for _, e := range entries {
				if e.Kind == KindDecision && tt.mode == rules.ModeObserve && e.Outcome != "observe: would restore, notify:console" {
					t.Errorf("observe-mode decision outcome %q", e.Outcome)
				}
			}
		})
	}
}

func TestMaintainExpiresRecordsByTheirUntil(t *testing.T) {
	st := openStore(t)
	c := &clock{now: time.Date(2026, 6, 2, 14, 5, 0, 0, time.UTC)}
	p := New(st, Options{Now: c.Now})
	ctx := context.Background()
	for id, until := range map[string]time.Time{"done": c.now.Add(-time.Second), "open": c.now.Add(time.Hour)} {
		if _, err := st.PutRecord(ctx, store.Record{Kind: "backup.case", ID: id, Until: until}, c.now); err != nil {
			t.Fatal(err)
		}
	}
	report, err := p.Maintain(ctx)
	if err != nil || report.ExpiredRecords != 1 {
		t.Fatalf("Maintain = %+v, %v; want the one record past its Until expired", report, err)
	}
	if _, err := st.GetRecord(ctx, "backup.case", "open"); err != nil {
		t.Errorf("a record before its Until was expired: %v", err)
	}
}
