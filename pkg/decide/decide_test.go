package decide_test

// The engine runs over real rule tables, the real SQLite store (in memory)
// and a real Bin: the recovery executor, through the msgraph-sdk-go client
// graphapi builds, over loopback HTTP against graphsim. Nothing of
// Reinstate's own is faked.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

const seedPath = "../../testdata/graphsim/seed.json"

// Ids and tokens of the sample seed (testdata/graphsim/README.md).
const (
	tenantID     = "7f3c2a91-5d4e-4b8a-9c61-2e0f8d3b4a17"
	paymentsID   = "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65" // cloud security group, live until a test deletes it
	printersID   = "a7c9e1f3-8b0d-4c2e-8a6b-7d9f1b3d5e87" // cloud security group, live
	deletedOrion = "a9c1e3f5-0b2d-4c4e-8a8b-9d1f3b5d7e09" // M365 group already in the bin
	adeleID      = "a1c3e5f7-2b4d-4c6e-8a0b-1d3f5a7c9e21"
	reinstateTok = "reinstate-token"
	adminTok     = "admin-token"
)

var (
	t0   = time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)
	wall = t0.Add(24 * time.Hour)
)

// newEnv is graphsim on loopback at t0, counting the recycle-bin reads it
// answers.
func newEnv(t *testing.T) *simtest.Tenant {
	return simtest.Start(t, seedPath, func(o *graphsim.Options) { o.Clock = func() time.Time { return t0 } })
}

// bin is the recovery executor as Reinstate, over baseURL.
func bin(t *testing.T, baseURL string) *recovery.Executor {
	return simtest.Executor(t, baseURL, reinstateTok)
}

// faults replaces graphsim's fault configuration through /_sim/faults.
func faults(t *testing.T, e *simtest.Tenant, body string) {
	t.Helper()
	resp, err := e.Server.Client().Post(e.URL+"/_sim/faults", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /_sim/faults %s: %s", body, resp.Status)
	}
}

// objectTable reads the recycle-bin copy.
const objectTable = `version: 1
defaults:
  mode: enforce
channels:
  secops: {type: console}
  audit-log: {type: console}
rules:
  - name: decided-early
    when: target.displayName == "decided-early"
    actions: [notify]
    notify: [audit-log]
  - name: security-groups
    when: 'event.deletion == "soft" && object != null && object.securityEnabled == true && object.mailEnabled == false && object.displayName == target.displayName'
    actions: [restore]
    notify: [secops]
    severity: critical
  - name: other-groups
    when: target.type == "group"
    actions: [notify]
    notify: [audit-log]
    severity: info
`

// plainTable never reads object.
const plainTable = `version: 1
defaults:
  mode: enforce
channels:
  secops: {type: console}
guards:
  breaker: {perRule: 1, total: 10, preview: true}
rules:
  - name: groups
    when: 'event.deletion == "soft" && target.type == "group"'
    actions: [restore]
    notify: [secops]
  - name: users
    when: 'target.type == "user"'
    actions: [notify]
    notify: [secops]
`

func parse(t *testing.T, src string, getenv func(string) string) *rules.Table {
	t.Helper()
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	table, err := rules.Parse("decide_test.yaml", []byte(src), getenv)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return table
}

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func engine(t *testing.T, table *rules.Table, st *sqlite.Store) *decide.Engine {
	t.Helper()
	now := func() time.Time { return wall }
	g := guard.New(st, guard.Config{TenantID: tenantID, Rules: table.Guards, Now: now})
	return decide.New(table, g, now)
}

func groupT(id, name string) audit.Target {
	return audit.Target{ID: id, Type: audit.TargetGroup, DisplayName: name}
}

func event(id string, deletion audit.Deletion, targets ...audit.Target) *audit.Event {
	activity := map[audit.Deletion]string{audit.DeletionSoft: "Delete group", audit.DeletionHard: "Hard Delete group", audit.DeletionNone: "Update group"}[deletion]
	return &audit.Event{
		ID: id, TenantID: tenantID, Time: t0, Activity: activity, Category: "GroupManagement", OperationType: "Delete",
		Result: "success", Service: "Core Directory", Deletion: deletion, Targets: targets,
		Initiator: audit.Initiator{Type: audit.InitiatorUser, ID: adeleID, UserPrincipalName: "adele@contoso.com"},
	}
}

func decideOne(t *testing.T, e *decide.Engine, ev *audit.Event, objects *decide.Objects) decide.Decision {
	t.Helper()
	ds, err := e.Decide(context.Background(), ev, objects)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 {
		t.Fatalf("%d decisions, want 1: %+v", len(ds), ds)
	}
	return ds[0]
}

// keys returns the top-level keys of a JSON object, in order.
func keys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", raw)
	}
	var out []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// contractOrder is the order of the keys `reinstate plan` promises.
var contractOrder = []string{"eventId", "activity", "objectId", "objectType", "rule", "actions", "guard", "reason"}

func TestDecisionJSON(t *testing.T) {
	table := parse(t, plainTable, nil)
	tests := []struct {
		name string
		// prior events decided first, on the same store.
		prior []*audit.Event
		ev    *audit.Event
		want  string
	}{{
		name: "restore and notify",
		ev:   event("e1", audit.DeletionSoft, groupT(paymentsID, "sec-prod-payments")),
		want: `{"eventId":"e1","activity":"Delete group","objectId":"` + paymentsID + `","objectType":"group","objectName":"sec-prod-payments",
			"rule":"groups","actions":["restore","notify:secops"],"guard":null,"reason":"matched groups","severity":"warning","mode":"enforce","object":"not-read"}`,
	}, {
		name: "no match: rule null, actions empty",
		ev:   event("e2", audit.DeletionSoft, audit.Target{ID: "d1", Type: audit.TargetDevice}),
		want: `{"eventId":"e2","activity":"Delete group","objectId":"d1","objectType":"device","rule":null,"actions":[],"guard":null,
			"reason":"no rule matched","mode":"enforce","object":"not-read"}`,
	}, {
		name: "notify only",
		ev:   event("e3", audit.DeletionNone, audit.Target{ID: adeleID, Type: audit.TargetUser, UserPrincipalName: "adele@contoso.com"}),
		want: `{"eventId":"e3","activity":"Update group","objectId":"` + adeleID + `","objectType":"user","objectName":"adele@contoso.com",
			"rule":"users","actions":["notify:secops"],"guard":null,"reason":"matched users","severity":"warning","mode":"enforce","object":"not-read"}`,
	}, {
		name:  "a guard named, with the trip",
		prior: []*audit.Event{event("e4", audit.DeletionSoft, groupT(printersID, "sec-lab-printers"))},
		ev:    event("e5", audit.DeletionSoft, groupT(paymentsID, "sec-prod-payments")),
		want: `{"eventId":"e5","activity":"Delete group","objectId":"` + paymentsID + `","objectType":"group","objectName":"sec-prod-payments",
			"rule":"groups","actions":["notify:secops"],"guard":"breaker",
			"reason":"mass-deletion breaker tripped for rule:groups: 2 restore-worthy deletions within 10m0s (threshold 1); auto-restore paused until 30m0s pass quietly or on-call resets it",
			"severity":"warning","mode":"enforce","object":"not-read",
			"trip":{"scope":"rule:groups","count":2,"threshold":1,"objectIds":["` + printersID + `","` + paymentsID + `"],"objectTypes":["group","group"],"preview":true,"firstAt":"2025-06-10T12:00:00Z"}}`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := engine(t, table, openStore(t))
			for _, p := range tc.prior {
				decideOne(t, e, p, nil)
			}
			d := decideOne(t, e, tc.ev, nil)
			raw, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatalf("bad want: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("JSON\n got %s\nwant %s", raw, tc.want)
			}
			// The contract's keys come in the contract's order.
			var order []string
			for _, k := range keys(t, raw) {
				if slices.Contains(contractOrder, k) {
					order = append(order, k)
				}
			}
			if !slices.Equal(order, contractOrder) {
				t.Errorf("key order %v, want %v", order, contractOrder)
			}
			if strings.Contains(string(raw), `"actions":null`) {
				t.Errorf("actions is null: %s", raw)
			}
		})
	}
}

func TestOneDecisionPerTarget(t *testing.T) {
	table := parse(t, plainTable, nil)
	e := engine(t, table, openStore(t))
	ds, err := e.Decide(context.Background(), event("e1", audit.DeletionSoft,
		groupT(paymentsID, "sec-prod-payments"), audit.Target{ID: adeleID, Type: audit.TargetUser}, audit.Target{ID: "d1", Type: audit.TargetDevice}), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ id, rule string }{{paymentsID, "groups"}, {adeleID, "users"}, {"d1", ""}}
	if len(ds) != len(want) {
		t.Fatalf("%d decisions, want %d", len(ds), len(want))
	}
	for i, w := range want {
		if ds[i].ObjectID != w.id || ds[i].RuleName() != w.rule || ds[i].EventID != "e1" {
			t.Errorf("decision %d: %s by %q (event %s), want %s by %q", i, ds[i].ObjectID, ds[i].RuleName(), ds[i].EventID, w.id, w.rule)
		}
	}
	if !ds[0].Has(rules.ActionRestore) || ds[1].Has(rules.ActionRestore) {
		t.Errorf("Has(restore): %v, %v", ds[0].Has(rules.ActionRestore), ds[1].Has(rules.ActionRestore))
	}

	t.Run("an event without targets gets one decision", func(t *testing.T) {
		for _, targets := range [][]audit.Target{nil, {}} {
			ev := event("e2", audit.DeletionNone)
			ev.Targets = targets
			d := decideOne(t, e, ev, nil)
			if d.ObjectID != "" || d.EventID != "e2" || d.Rule != nil || len(d.Actions) != 0 || d.Actions == nil {
				t.Errorf("decision %+v", d)
			}
		}
	})
}

func TestEnrichment(t *testing.T) {
	payments := groupT(paymentsID, "sec-prod-payments")
	printers := groupT(printersID, "sec-lab-printers")
	ctx := context.Background()

	t.Run("a rule reading object sees the bin copy; reads are cached", func(t *testing.T) {
		e := newEnv(t)
		e.DeleteAs(t, adminTok, "groups", paymentsID)
		eng := engine(t, parse(t, objectTable, nil), openStore(t))
		objects := decide.NewObjects(bin(t, e.URL))
		d := decideOne(t, eng, event("e1", audit.DeletionSoft, payments), objects)
		if d.Object != "found" || d.RuleName() != "security-groups" || !slices.Equal(d.Actions, []string{"restore", "notify:secops"}) || d.Severity != rules.SeverityCritical || d.Deferred {
			t.Errorf("decision %+v", d)
		}
		// A second event naming the same object (in another case): no read.
		d2 := decideOne(t, eng, event("e2", audit.DeletionSoft, groupT(strings.ToUpper(paymentsID), "sec-prod-payments")), objects)
		if d2.Object != "found" || d2.RuleName() != "security-groups" {
			t.Errorf("second decision %+v", d2)
		}
		if objects.Reads != 1 || e.BinReads() != 1 {
			t.Errorf("Reads %d, bin GETs %d; want 1, 1", objects.Reads, e.BinReads())
		}
		// Another instance reads again.
		other := decide.NewObjects(bin(t, e.URL))
		decideOne(t, eng, event("e3", audit.DeletionSoft, payments), other)
		if other.Reads != 1 || e.BinReads() != 2 {
			t.Errorf("new Objects: Reads %d, bin GETs %d; want 1, 2", other.Reads, e.BinReads())
		}
	})

	t.Run("a bin copy that does not satisfy the rule", func(t *testing.T) {
		e := newEnv(t)
		eng := engine(t, parse(t, objectTable, nil), openStore(t))
		objects := decide.NewObjects(bin(t, e.URL))
		// Orion is a Microsoft 365 group already in the bin: securityEnabled false.
		d := decideOne(t, eng, event("e1", audit.DeletionSoft, groupT(deletedOrion, "Orion")), objects)
		if d.Object != "found" || d.RuleName() != "other-groups" || !slices.Equal(d.Actions, []string{"notify:audit-log"}) {
			t.Errorf("decision %+v", d)
		}
	})

	t.Run("an object not in the bin is absent and null", func(t *testing.T) {
		e := newEnv(t)
		eng := engine(t, parse(t, objectTable, nil), openStore(t))
		objects := decide.NewObjects(bin(t, e.URL))
		d := decideOne(t, eng, event("e1", audit.DeletionSoft, printers), objects)
		if d.Object != "absent" || d.RuleName() != "other-groups" || d.Deferred || !strings.Contains(d.Reason, "matched other-groups") {
			t.Errorf("decision %+v", d)
		}
		// Absent is cached too.
		decideOne(t, eng, event("e2", audit.DeletionSoft, printers), objects)
		if objects.Reads != 1 || e.BinReads() != 1 {
			t.Errorf("Reads %d, bin GETs %d; want 1, 1", objects.Reads, e.BinReads())
		}
	})

	t.Run("a nil bin reads nothing", func(t *testing.T) {
		eng := engine(t, parse(t, objectTable, nil), openStore(t))
		for _, objects := range []*decide.Objects{nil, decide.NewObjects(nil)} {
			d := decideOne(t, eng, event("e1", audit.DeletionSoft, payments), objects)
			if d.Object != "not-read" || d.RuleName() != "other-groups" || d.Deferred {
				t.Errorf("decision %+v", d)
			}
		}
	})

	unavailable := []struct {
		name  string
		setup func(t *testing.T, e *simtest.Tenant) *recovery.Executor
	}{{
		name: "5xx from graphsim",
		setup: func(t *testing.T, e *simtest.Tenant) *recovery.Executor {
			faults(t, e, `{"errorRate": 1}`)
			return bin(t, e.URL)
		},
	}, {
		name: "a closed loopback port",
		setup: func(t *testing.T, e *simtest.Tenant) *recovery.Executor {
			closed := httptest.NewServer(http.NotFoundHandler())
			url := closed.URL
			closed.Close()
			return bin(t, url)
		},
	}}
	for _, tc := range unavailable {
		t.Run("Graph unavailable: "+tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.DeleteAs(t, adminTok, "groups", paymentsID)
			st := openStore(t)
			eng := engine(t, parse(t, objectTable, nil), st)
			objects := decide.NewObjects(tc.setup(t, e))
			d := decideOne(t, eng, event("e1", audit.DeletionSoft, payments), objects)
			if !d.Deferred || d.Object != "unavailable" || d.Rule != nil || len(d.Actions) != 0 || d.Guard != nil ||
				!strings.Contains(d.Reason, "rule security-groups") {
				t.Errorf("decision %+v", d)
			}
			raw, _ := json.Marshal(d)
			if !strings.Contains(string(raw), `"deferred":true`) || !strings.Contains(string(raw), `"actions":[]`) {
				t.Errorf("JSON %s", raw)
			}
			// A rule before the one reading object still decides.
			early := decideOne(t, eng, event("e2", audit.DeletionSoft, groupT(printersID, "decided-early")), objects)
			if early.Deferred || early.RuleName() != "decided-early" {
				t.Errorf("decided-early: %+v", early)
			}
			// A deferred decision leaves no guard state behind.
			if _, err := st.GetMark(context.Background(), "cooldown:"+paymentsID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("cooldown mark after a deferred decision: %v", err)
			}
		})
	}

	t.Run("unavailable is not cached: Graph back, the same Objects reads again", func(t *testing.T) {
		e := newEnv(t)
		e.DeleteAs(t, adminTok, "groups", paymentsID)
		eng := engine(t, parse(t, objectTable, nil), openStore(t))
		objects := decide.NewObjects(bin(t, e.URL))
		faults(t, e, `{"errorRate": 1}`)
		if d := decideOne(t, eng, event("e1", audit.DeletionSoft, payments), objects); !d.Deferred {
			t.Fatalf("not deferred: %+v", d)
		}
		faults(t, e, `{}`)
		d := decideOne(t, eng, event("e1", audit.DeletionSoft, payments), objects)
		if d.Deferred || d.Object != "found" || d.RuleName() != "security-groups" || objects.Reads != 2 {
			t.Errorf("decision %+v, Reads %d", d, objects.Reads)
		}
	})

	notRead := []struct {
		name  string
		table string
		ev    *audit.Event
		rule  string
	}{
		{"no rule reads object", plainTable, event("e1", audit.DeletionSoft, payments), "groups"},
		{"a hard delete", objectTable, event("e1", audit.DeletionHard, payments), "other-groups"},
		{"not a deletion", objectTable, event("e1", audit.DeletionNone, payments), "other-groups"},
		{"a type without a bin", objectTable, event("e1", audit.DeletionSoft, audit.Target{ID: "d0d0d0d0-0000-4000-8000-000000000001", Type: audit.TargetDevice}), ""},
	}
	for _, tc := range notRead {
		t.Run("the bin is not read: "+tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.DeleteAs(t, adminTok, "groups", paymentsID)
			eng := engine(t, parse(t, tc.table, nil), openStore(t))
			objects := decide.NewObjects(bin(t, e.URL))
			d := decideOne(t, eng, tc.ev, objects)
			if objects.Reads != 0 || e.BinReads() != 0 {
				t.Errorf("Reads %d, bin GETs %d; want 0", objects.Reads, e.BinReads())
			}
			if d.Object != "not-read" || d.RuleName() != tc.rule || d.Deferred {
				t.Errorf("decision %+v", d)
			}
		})
	}

	t.Run("one read per object of a multi-target event", func(t *testing.T) {
		e := newEnv(t)
		e.DeleteAs(t, adminTok, "groups", paymentsID)
		eng := engine(t, parse(t, objectTable, nil), openStore(t))
		objects := decide.NewObjects(bin(t, e.URL))
		ds, err := eng.Decide(ctx, event("e1", audit.DeletionSoft, payments, printers, payments), objects)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range ds {
			got = append(got, d.Object+"/"+d.RuleName())
		}
		if want := []string{"found/security-groups", "absent/other-groups", "found/security-groups"}; !slices.Equal(got, want) {
			t.Errorf("decisions %v, want %v", got, want)
		}
		if objects.Reads != 2 {
			t.Errorf("Reads %d, want 2", objects.Reads)
		}
	})
}

func TestObserveMode(t *testing.T) {
	observeTable := strings.Replace(plainTable, "mode: enforce", "mode: observe", 1)
	payments := groupT(paymentsID, "sec-prod-payments")
	cooldownKey := "cooldown:" + paymentsID
	tests := []struct {
		name      string
		src       string
		getenv    func(string) string
		mode      rules.Mode
		wantMark  bool
		secondGot string // guard of a second deletion of the same object
	}{
		{name: "observe from the file", src: observeTable, mode: rules.ModeObserve},
		{name: "observe from REINSTATE_MODE", src: plainTable, getenv: func(k string) string {
			if k == rules.EnvMode {
				return "observe"
			}
			return ""
		}, mode: rules.ModeObserve},
		{name: "enforce for contrast", src: plainTable, mode: rules.ModeEnforce, wantMark: true, secondGot: guard.Cooldown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table := parse(t, tc.src, tc.getenv)
			// A breaker that does not trip on the second deletion.
			table.Guards.Breaker.PerRule = 10
			st := openStore(t)
			eng := engine(t, table, st)
			d := decideOne(t, eng, event("e1", audit.DeletionSoft, payments), nil)
			if d.Mode != tc.mode || !d.Has(rules.ActionRestore) || d.GuardName() != "" {
				t.Errorf("decision %+v", d)
			}
			observed := strings.Contains(d.Reason, "observe mode: not carried out")
			if observed != (tc.mode == rules.ModeObserve) {
				t.Errorf("reason %q (mode %s)", d.Reason, tc.mode)
			}
			raw, _ := json.Marshal(d)
			if !strings.Contains(string(raw), `"mode":"`+string(tc.mode)+`"`) || !strings.Contains(string(raw), `"actions":["restore","notify:secops"]`) {
				t.Errorf("JSON %s", raw)
			}
			_, err := st.GetMark(context.Background(), cooldownKey)
			if tc.wantMark && err != nil {
				t.Errorf("no cooldown mark in enforce mode: %v", err)
			}
			if !tc.wantMark && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("cooldown mark in observe mode (err %v)", err)
			}
			second := event("e2", audit.DeletionSoft, payments)
			second.Time = t0.Add(time.Minute)
			d2 := decideOne(t, eng, second, nil)
			if d2.GuardName() != tc.secondGot {
				t.Errorf("second deletion: guard %q, want %q (%+v)", d2.GuardName(), tc.secondGot, d2)
			}
		})
	}

	t.Run("observe mode notes nothing when nothing would be written", func(t *testing.T) {
		eng := engine(t, parse(t, observeTable, nil), openStore(t))
		d := decideOne(t, eng, event("e1", audit.DeletionNone, audit.Target{ID: adeleID, Type: audit.TargetUser}), nil)
		if strings.Contains(d.Reason, "observe mode") || !slices.Equal(d.Actions, []string{"notify:secops"}) {
			t.Errorf("decision %+v", d)
		}
	})
}

// TestRefusedEventsReadNothing: an event from another tenant is refused
// before the recycle bin is read, so it is never deferred for Graph either.
func TestRefusedEventsReadNothing(t *testing.T) {
	e := newEnv(t)
	e.DeleteAs(t, adminTok, "groups", paymentsID)
	eng := engine(t, parse(t, objectTable, nil), openStore(t))
	objects := decide.NewObjects(bin(t, e.URL))
	foreign := event("e1", audit.DeletionSoft, groupT(paymentsID, "sec-prod-payments"))
	foreign.TenantID = "00000000-0000-4000-8000-000000000000"
	d := decideOne(t, eng, foreign, objects)
	if d.GuardName() != "tenant" || len(d.Actions) != 0 || d.Deferred || d.Object != "not-read" {
		t.Errorf("decision %+v; want refused by the tenant guard, nothing read", d)
	}
	if objects.Reads != 0 || e.BinReads() != 0 {
		t.Errorf("Reads %d, bin GETs %d; want none", objects.Reads, e.BinReads())
	}
}
