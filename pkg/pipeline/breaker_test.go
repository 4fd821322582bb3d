package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/rules"
)

// massDeletion is a Graph page of n successful soft deletes of sec-prod-
// groups by one administrator, a second apart from start.
func massDeletion(t *testing.T, n int, start time.Time) []byte {
	t.Helper()
	records := make([]map[string]any, n)
	for i := range records {
		records[i] = map[string]any{
			"id":                  fmt.Sprintf("Directory_mass_%04d", i),
			"category":            "GroupManagement",
			"result":              "success",
			"activityDisplayName": "Delete group",
			"activityDateTime":    start.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano),
			"loggedByService":     "Core Directory",
			"operationType":       "Delete",
			"initiatedBy":         map[string]any{"user": map[string]any{"id": "3b1f7c2a-8d4e-4f6a-9c0b-5e7d1a2f3c4b", "userPrincipalName": "it.admin@contoso.onmicrosoft.com"}},
			"targetResources": []map[string]any{{
				"id": fmt.Sprintf("6d1c4a2e-0000-4000-8000-%012d", i), "displayName": fmt.Sprintf("sec-prod-team-%d", i), "type": "Group",
			}},
		}
	}
	page, err := json.Marshal(map[string]any{"value": records})
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// TestMassDeletionTripsTheBreakerOnce: 25 restore-worthy deletions within
// a minute, with a threshold of 20 per rule: 20 restores are recorded, the
// 21st trips the breaker (journaled once, with the affected ids) and it and
// the rest are held and told, not restored. A redelivery changes nothing.
func TestMassDeletionTripsTheBreakerOnce(t *testing.T) {
	table, err := rules.Parse("mass.yaml", []byte(`version: 1
defaults: {mode: enforce}
channels: {console: {type: console}}
guards:
  breaker: {window: 10m, perRule: 20, total: 50, quietPeriod: 30m, preview: true}
rules:
  - name: critical-groups
    when: 'event.deletion == "soft" && target.type == "group" && target.displayName.startsWith("sec-prod-")'
    actions: [restore]
    notify: [console]
`), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	c := &clock{now: time.Date(2026, 6, 2, 14, 5, 0, 0, time.UTC)}
	dispatcher := notify.NewDispatcher(st, table.Channels, nil, notify.DispatcherOptions{Now: c.Now})
	p := New(st, Options{Now: c.Now, Decider: ruleDecider(table, st, guard.NewSelf(), c.Now), Announcer: dispatcher})
	announced := 0
	page := massDeletion(t, 25, c.now.Add(-10*time.Minute))
	ctx := context.Background()
	for delivery := range 2 {
		report, err := p.Ingest(ctx, Batch{Source: "mass", Bodies: []Body{{Data: page}}})
		if err != nil {
			t.Fatal(err)
		}
		announced += report.Announced
		want := Report{Bodies: 1, Records: 25, New: 25, Intents: 20, Decisions: 25, Guarded: 5, Announced: 1}
		if delivery > 0 {
			want = Report{Bodies: 1, Records: 25, Duplicates: 25}
		}
		if report != want {
			t.Errorf("delivery %d: report %+v, want %+v", delivery, report, want)
		}
	}
	entries := journalOf(t, st)
	var trips []guard.Trip
	for _, e := range entries {
		if e.Kind == KindBreakerTripped {
			var trip guard.Trip
			if err := json.Unmarshal([]byte(e.Detail), &trip); err != nil {
				t.Fatal(err)
			}
			trips = append(trips, trip)
		}
	}
	if len(trips) != 1 || trips[0].Scope != "rule:critical-groups" || trips[0].Count != 21 || len(trips[0].ObjectIDs) != 21 || !trips[0].Preview {
		t.Fatalf("breaker trips %+v; want one, for rule:critical-groups, 21 ids, with a preview", trips)
	}
	if n := countKind(entries, KindGuard); n != 5 {
		t.Errorf("%d guarded decisions, want the 5 held back", n)
	}
	// The 20 restores are told when they have an outcome; of the 5 held,
	// one message tells of the trip and the other 4 are inhibited.
	if announced != 1 {
		t.Errorf("%d messages announced, want the one breaker message", announced)
	}
}

// TestThreeDeliveriesTellOnce: the same batch delivered three times, with
// the record ids forgotten in between (as when a claim's completion is
// lost), decides afresh each time but records each message once: the
// notification outbox is keyed by channel and content.
func TestThreeDeliveriesTellOnce(t *testing.T) {
	st := openStore(t)
	c := &clock{now: time.Date(2026, 6, 2, 14, 5, 0, 0, time.UTC)}
	table := listedRules(t, rules.ModeObserve, "c1e3a5c7-e9a1-4c3e-85c7-e9a1c3e5a7c9")
	var console bytes.Buffer
	dispatcher := notify.NewDispatcher(st, table.Channels, map[string]notify.Sender{"console": notify.NewJSONLines("console", &console)},
		notify.DispatcherOptions{Now: c.Now, GroupWait: -1})
	p := New(st, Options{Now: c.Now, Decider: ruleDecider(table, st, guard.NewSelf(), c.Now), Announcer: dispatcher})
	body := readFixture(t, "eventhubs/mixed-batch.json")
	ctx := context.Background()
	announced := 0
	for delivery := range 3 {
		report, err := p.Ingest(ctx, Batch{Source: "b", Bodies: []Body{{Data: body}}})
		if err != nil {
			t.Fatal(err)
		}
		if report.Decisions != 1 {
			t.Errorf("delivery %d: %d decisions, want the one decided afresh", delivery, report.Decisions)
		}
		announced += report.Announced
		if _, err := st.ExpireClaims(ctx, c.now.Add(time.Hour), 1000); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dispatcher.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(console.String(), "\n"); announced != 1 || n != 1 {
		t.Errorf("%d messages recorded and %d told over three deliveries, want 1 and 1", announced, n)
	}
}
