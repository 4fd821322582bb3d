package rules_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
)

var now = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// deletion is an event of kind d by a user, a minute before now; targets
// are what event.targets holds.
func deletion(d audit.Deletion, targets ...audit.Target) *audit.Event {
	activity := map[audit.Deletion]string{audit.DeletionSoft: "Delete group", audit.DeletionHard: "Hard delete group", audit.DeletionNone: "Update group"}[d]
	op := "Delete"
	if d == audit.DeletionNone {
		op = "Update"
	}
	if targets == nil {
		targets = []audit.Target{}
	}
	return &audit.Event{
		ID: "0d5b8c4e-6f1a-4b2c-9d3e-4f5a6b7c8d9e", TenantID: "7f3c2a91-5d4e-4b8a-9c61-2e0f8d3b4a17",
		Time: now.Add(-time.Minute), Activity: activity, Category: "GroupManagement", OperationType: op,
		Result: "success", Service: "Core Directory", CorrelationID: "c0ffee00-1111-4222-8333-444455556666",
		Deletion: d, Targets: targets,
		Initiator: audit.Initiator{Type: audit.InitiatorUser, ID: "3b1f7c2a-8d4e-4f6a-9c0b-5e7d1a2f3c4b", UserPrincipalName: "it.admin@contoso.onmicrosoft.com"},
	}
}

func group(id, name string) audit.Target {
	return audit.Target{ID: id, Type: audit.TargetGroup, DisplayName: name}
}

func user(id, upn string) audit.Target {
	return audit.Target{ID: id, Type: audit.TargetUser, UserPrincipalName: upn}
}

func ruleNames(rs []*rules.Rule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

// want is a verdict as the tests spell it.
type want struct {
	matched  []string
	actions  []rules.Action
	notify   []string
	severity rules.Severity
	options  recovery.Options
	deferred string
	errors   []string // rules whose condition failed
}

func checkVerdict(t *testing.T, v rules.Verdict, w want) {
	t.Helper()
	if got := ruleNames(v.Matched); !slices.Equal(got, w.matched) {
		t.Errorf("matched %q, want %q", got, w.matched)
	}
	if !slices.Equal(v.Actions, w.actions) {
		t.Errorf("actions %q, want %q", v.Actions, w.actions)
	}
	if !slices.Equal(v.Notify, w.notify) {
		t.Errorf("notify %q, want %q", v.Notify, w.notify)
	}
	if v.Severity != w.severity {
		t.Errorf("severity %q, want %q", v.Severity, w.severity)
	}
	if v.Options != w.options {
		t.Errorf("options %+v, want %+v", v.Options, w.options)
	}
	deferred := ""
	if v.Deferred != nil {
		deferred = v.Deferred.Name
	}
	if deferred != w.deferred {
		t.Errorf("deferred %q, want %q", deferred, w.deferred)
	}
	var errs []string
	for _, e := range v.Errors {
		errs = append(errs, e.Rule)
		if e.Err == nil || !strings.Contains(e.Error(), "rule "+e.Rule+": ") {
			t.Errorf("EvalError %v does not name its rule and cause", e)
		}
	}
	if !slices.Equal(errs, w.errors) {
		t.Errorf("errors in %q (%v), want %q", errs, v.Errors, w.errors)
	}
	wantRule := ""
	if len(w.matched) > 0 {
		wantRule = w.matched[0]
	}
	if v.Rule() != wantRule {
		t.Errorf("Rule() = %q, want %q", v.Rule(), wantRule)
	}
	for _, a := range []rules.Action{rules.ActionRestore, rules.ActionPreview, rules.ActionNotify, rules.ActionIgnore} {
		if v.Has(a) != slices.Contains(w.actions, a) {
			t.Errorf("Has(%s) = %v", a, v.Has(a))
		}
	}
}

const orderTable = `version: 1
channels:
  console: {type: console}
  audit-log: {type: webhook, url: https://example.invalid/hook}
rules:
  - name: report-all
    when: event.deletion != "none"
    actions: [notify]
    notify: [audit-log]
    severity: info
    continue: true
  - name: skip-lab
    when: target.displayName.startsWith("lab-")
    actions: [ignore]
    severity: info
  - name: restore-groups
    when: target.type == "group"
    actions: [restore]
    notify: [console]
    continue: true
    options: {autoReconcileProxyConflict: true}
  - name: preview-critical
    when: target.type == "group" && target.displayName.startsWith("crit-")
    actions: [preview]
    notify: [audit-log, console]
    severity: critical
    options: {restoreServicePrincipal: false}
  - name: groups-again
    when: target.type == "group"
    actions: [notify]
    notify: [console]
  - name: users-first
    when: target.type == "user"
    actions: [restore]
  - name: users-second
    when: target.type == "user"
    actions: [notify]
    notify: [console]
    severity: critical
  - name: preview-then-restore
    when: target.type == "application"
    actions: [preview]
    severity: critical
    continue: true
    options: {caPolicyStateAfterRestore: reportOnly}
  - name: restore-apps
    when: target.type == "application"
    actions: [restore]
    severity: info
    options: {autoReconcileProxyConflict: true}
`

func TestRuleOrderAndContinue(t *testing.T) {
	table := mustParse(t, orderTable, nil)
	tests := []struct {
		name   string
		event  *audit.Event
		target audit.Target
		want   want
	}{{
		name:   "first match wins",
		event:  deletion(audit.DeletionNone),
		target: user("u1", "adele@contoso.com"),
		want:   want{matched: []string{"users-first"}, actions: []rules.Action{rules.ActionRestore}, severity: rules.SeverityWarning},
	}, {
		name:   "continue lets later rules match",
		event:  deletion(audit.DeletionSoft),
		target: user("u1", "adele@contoso.com"),
		want: want{matched: []string{"report-all", "users-first"}, actions: []rules.Action{rules.ActionNotify, rules.ActionRestore},
			notify: []string{"audit-log"}, severity: rules.SeverityWarning},
	}, {
		name:   "ignore stops later rules and adds nothing",
		event:  deletion(audit.DeletionSoft),
		target: group("g1", "lab-printers"),
		want: want{matched: []string{"report-all", "skip-lab"}, actions: []rules.Action{rules.ActionNotify},
			notify: []string{"audit-log"}, severity: rules.SeverityInfo},
	}, {
		name:   "ignore first: nothing at all",
		event:  deletion(audit.DeletionNone),
		target: group("g1", "lab-printers"),
		want:   want{matched: []string{"skip-lab"}, severity: rules.SeverityInfo},
	}, {
		name:   "merged actions, channels and severity; preview wins over restore",
		event:  deletion(audit.DeletionSoft),
		target: group("g2", "crit-payments"),
		want: want{matched: []string{"report-all", "restore-groups", "preview-critical"},
			actions: []rules.Action{rules.ActionNotify, rules.ActionPreview}, notify: []string{"audit-log", "console"},
			severity: rules.SeverityCritical, options: recovery.Options{SkipServicePrincipal: true}},
	}, {
		name:   "a rule's notify list adds the notify action",
		event:  deletion(audit.DeletionNone),
		target: group("g3", "sales"),
		want: want{matched: []string{"restore-groups", "groups-again"}, actions: []rules.Action{rules.ActionRestore, rules.ActionNotify},
			notify: []string{"console"}, severity: rules.SeverityWarning, options: recovery.Options{AutoReconcileProxyConflict: true}},
	}, {
		name:   "preview before restore keeps the preview and its options; the highest severity, not the last",
		event:  deletion(audit.DeletionNone),
		target: audit.Target{ID: "a1", Type: audit.TargetApplication},
		want: want{matched: []string{"preview-then-restore", "restore-apps"}, actions: []rules.Action{rules.ActionPreview},
			severity: rules.SeverityCritical, options: recovery.Options{CAPolicyStateAfterRestore: recovery.CAStateReportOnly}},
	}, {
		name:   "no match",
		event:  deletion(audit.DeletionNone),
		target: audit.Target{ID: "d1", Type: audit.TargetDevice},
		want:   want{},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := table.Subject(tc.event, now).Evaluate(tc.target, nil, rules.ObjectNotRead)
			checkVerdict(t, v, tc.want)
		})
	}
}

func readObject(t testing.TB, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "testdata/rules/objects", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestObjectStates(t *testing.T) {
	table := mustParse(t, `version: 1
rules:
  - name: decided-early
    when: target.displayName == "decided-early"
    actions: [restore]
  - name: continues
    when: target.displayName == "continues"
    actions: [preview]
    continue: true
  - name: security
    when: object != null && object.securityEnabled == true
    actions: [restore]
    continue: true
  - name: unsafe
    when: object.securityEnabled == true
    actions: [restore]
    continue: true
  - name: unified
    when: 'object != null && has(object.groupTypes) && "Unified" in object.groupTypes'
    actions: [restore]
    continue: true
  - name: role-assignable
    when: object != null && object.isAssignableToRole == true
    actions: [preview]
    continue: true
  - name: catch-all
    when: target.type == "group"
    actions: [restore]
`, nil)
	if !table.UsesObject() {
		t.Error("Table.UsesObject is false, but rules read object")
	}
	for _, r := range table.Rules {
		if uses := r.UsesObject(); uses != slices.Contains([]string{"security", "unsafe", "unified", "role-assignable"}, r.Name) {
			t.Errorf("rule %s: UsesObject %v", r.Name, uses)
		}
	}
	if noObject := mustParse(t, orderTable, nil); noObject.UsesObject() {
		t.Error("Table.UsesObject is true for a table that never reads object")
	}

	security, unified, role := readObject(t, "security-group.json"), readObject(t, "unified-group.json"), readObject(t, "role-assignable-group.json")
	restore, preview := []rules.Action{rules.ActionRestore}, []rules.Action{rules.ActionPreview}
	ev := deletion(audit.DeletionSoft)
	tests := []struct {
		name   string
		target audit.Target
		object map[string]any
		state  rules.ObjectState
		want   want
	}{{
		name: "not read: object is null", target: group("g", "x"), state: rules.ObjectNotRead,
		want: want{matched: []string{"catch-all"}, actions: restore, severity: rules.SeverityWarning, errors: []string{"unsafe"}},
	}, {
		name: "absent: object is null", target: group("g", "x"), state: rules.ObjectAbsent,
		want: want{matched: []string{"catch-all"}, actions: restore, severity: rules.SeverityWarning, errors: []string{"unsafe"}},
	}, {
		name: "not read with a map: still null", target: group("g", "x"), object: security, state: rules.ObjectNotRead,
		want: want{matched: []string{"catch-all"}, actions: restore, severity: rules.SeverityWarning, errors: []string{"unsafe"}},
	}, {
		name: "found: security group", target: group(security["id"].(string), "sec-lab-printers"), object: security, state: rules.ObjectFound,
		want: want{matched: []string{"security", "unsafe", "catch-all"}, actions: restore, severity: rules.SeverityWarning},
	}, {
		name: "found: Microsoft 365 group", target: group(unified["id"].(string), "Team Orion"), object: unified, state: rules.ObjectFound,
		want: want{matched: []string{"unified", "catch-all"}, actions: restore, severity: rules.SeverityWarning},
	}, {
		name: "found: role-assignable group", target: group(role["id"].(string), "role-helpdesk-admins"), object: role, state: rules.ObjectFound,
		want: want{matched: []string{"security", "unsafe", "role-assignable", "catch-all"}, actions: preview, severity: rules.SeverityWarning},
	}, {
		name: "unavailable: deferred at the first rule reading object", target: group("g", "x"), object: security, state: rules.ObjectUnavailable,
		want: want{deferred: "security"},
	}, {
		name: "unavailable: a rule before it decides", target: group("g", "decided-early"), state: rules.ObjectUnavailable,
		want: want{matched: []string{"decided-early"}, actions: restore, severity: rules.SeverityWarning},
	}, {
		name: "unavailable: a continue rule before it matches, then the decision waits", target: group("g", "continues"), state: rules.ObjectUnavailable,
		want: want{matched: []string{"continues"}, actions: preview, severity: rules.SeverityWarning, deferred: "security"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := table.Subject(ev, now).Evaluate(tc.target, tc.object, tc.state)
			checkVerdict(t, v, tc.want)
		})
	}

	for state, name := range map[rules.ObjectState]string{rules.ObjectNotRead: "not-read", rules.ObjectFound: "found", rules.ObjectAbsent: "absent", rules.ObjectUnavailable: "unavailable"} {
		if state.String() != name {
			t.Errorf("ObjectState(%d).String() = %q, want %q", state, state.String(), name)
		}
	}
}

func TestWholeObjectsInConditions(t *testing.T) {
	targets := []audit.Target{
		{ID: "g1", Type: audit.TargetGroup, DisplayName: "Team Orion", GroupType: "unifiedGroups"},
		{ID: "u1", Type: audit.TargetUser, UserPrincipalName: "adele.vance@contoso.com"},
	}
	soft := deletion(audit.DeletionSoft, targets...)
	byApp := deletion(audit.DeletionSoft, targets...)
	byApp.Initiator = audit.Initiator{Type: audit.InitiatorApp, ID: "e3a5c7e9-1b2d-4f4a-8c6e-0a2c4e6a8b0d", AppID: "9e4b2d7a-3c1f-4a8e-b6d5-0f2e8c7a1b93", ServicePrincipalID: "e3a5c7e9-1b2d-4f4a-8c6e-0a2c4e6a8b0d", DisplayName: "Lifecycle Workflows"}
	future := deletion(audit.DeletionSoft, targets...)
	future.Time = now.Add(time.Hour)
	empty := deletion(audit.DeletionSoft)

	tests := []struct {
		when   string
		event  *audit.Event
		target audit.Target
		match  bool
	}{
		{`event.targets.exists(t, t.type == "group")`, soft, targets[1], true},
		{`event.targets.exists(t, t.type == "device")`, soft, targets[1], false},
		{`event.targets.exists(t, t.type == "group")`, empty, targets[0], false},
		{`event.targets.size() == 2 && event.targets[1].userPrincipalName == "adele.vance@contoso.com"`, soft, targets[0], true},
		{`event.targets.all(t, t.id != "")`, soft, targets[0], true},
		{`event.targets.filter(t, t.type == "group").map(t, t.displayName) == ["Team Orion"]`, soft, targets[1], true},
		{`event.targets[0].groupType == "unifiedGroups"`, soft, targets[1], true},
		// A comprehension variable named target shadows the target variable.
		{`event.targets.exists(target, target.type == "user")`, soft, targets[0], true},
		{`event.targets.all(target, target.type == "group")`, soft, targets[0], false},
		{`target.id == event.targets[0].id`, soft, targets[0], true},
		{`target.id == event.targets[0].id`, soft, targets[1], false},
		{`event.initiator.type == "app"`, byApp, targets[0], true},
		{`event.initiator.type == "app"`, soft, targets[0], false},
		{`event.initiator.type == "user" && event.initiator.userPrincipalName.endsWith("@contoso.onmicrosoft.com")`, soft, targets[0], true},
		{`event.initiator.appId == "9e4b2d7a-3c1f-4a8e-b6d5-0f2e8c7a1b93" && event.initiator.displayName == "Lifecycle Workflows"`, byApp, targets[0], true},
		{`event.initiator.appId == ""`, soft, targets[0], true},
		{`event.time < now`, soft, targets[0], true},
		{`event.time < now`, future, targets[0], false},
		{`now - event.time < duration("5m")`, soft, targets[0], true},
		{`now - event.time < duration("30s")`, soft, targets[0], false},
		{`event.time.getFullYear() == 2026`, soft, targets[0], true},
		{`target.groupType == "unifiedGroups"`, soft, targets[0], true},
		{`target.groupType == "unifiedGroups"`, soft, targets[1], false},
		{`target.userPrincipalName.split("@")[1] == "contoso.com"`, soft, targets[1], true},
		{`event.activity.lowerAscii() == "delete group" && event.category == "GroupManagement"`, soft, targets[0], true},
		{`event.correlationId.startsWith("c0ffee00") && event.tenantId.size() == 36 && event.id != ""`, soft, targets[0], true},
		{`event.operationType == "Delete" && event.result == "success" && event.service == "Core Directory" && event.resultReason == ""`, soft, targets[0], true},
	}
	for _, tc := range tests {
		t.Run(tc.when, func(t *testing.T) {
			table := mustParse(t, "version: 1\nrules:\n  - name: r\n    actions: [restore]\n    when: '"+strings.ReplaceAll(tc.when, "'", "''")+"'\n", nil)
			v := table.Subject(tc.event, now).Evaluate(tc.target, nil, rules.ObjectNotRead)
			if len(v.Errors) > 0 {
				t.Fatalf("evaluation failed: %v", v.Errors)
			}
			if got := len(v.Matched) == 1; got != tc.match {
				t.Errorf("matched %v, want %v", got, tc.match)
			}
		})
	}
}

// seedObject is an object of testdata/graphsim/seed.json as the recycle bin
// returns it: with its @odata.type and a deletedDateTime.
func seedObject(t testing.TB, seed map[string][]map[string]any, collection, id string, odataType string) map[string]any {
	t.Helper()
	for _, o := range seed[collection] {
		if o["id"] == id {
			bin := map[string]any{"@odata.type": odataType, "deletedDateTime": "2026-03-02T11:59:00Z"}
			for k, v := range o {
				bin[k] = v
			}
			return bin
		}
	}
	t.Fatalf("%s %s is not in the seed", collection, id)
	return nil
}

func TestSampleRuleTable(t *testing.T) {
	table, err := rules.Load(filepath.Join(repoRoot, sampleFile), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if table.Mode != rules.ModeObserve || table.ModeSource != "file" {
		t.Errorf("mode %s from %s, want observe from the file", table.Mode, table.ModeSource)
	}
	if !table.UsesObject() {
		t.Error("the sample reads object (role-assignable-groups), but UsesObject is false")
	}
	if g := table.Guards; len(g.ExemptInitiators) != 1 || g.ExemptInitiators[0].ID != "9e4b2d7a-3c1f-4a8e-b6d5-0f2e8c7a1b93" ||
		g.Cooldown.Window != 30*time.Minute || !slices.Equal(g.Cooldown.Notify, []string{"console"}) ||
		g.Breaker.Window != 10*time.Minute || g.Breaker.PerRule != 20 || g.Breaker.Total != 50 || g.Breaker.QuietPeriod != 30*time.Minute ||
		!g.Breaker.Preview || !slices.Equal(g.Breaker.Notify, []string{"console"}) {
		t.Errorf("guards %+v", g)
	}

	data, err := os.ReadFile(filepath.Join(repoRoot, "testdata/graphsim/seed.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The seed holds lists of objects by collection, and the tenant id.
	var collections map[string]json.RawMessage
	if err := json.Unmarshal(data, &collections); err != nil {
		t.Fatal(err)
	}
	seed := map[string][]map[string]any{}
	for k, raw := range collections {
		var list []map[string]any
		if json.Unmarshal(raw, &list) == nil {
			seed[k] = list
		}
	}
	const (
		payments  = "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65"
		falcon    = "f6b8d0e2-7a9c-4b1d-9f5a-6c8e0a2c4d76"
		printers  = "a7c9e1f3-8b0d-4c2e-8a6b-7d9f1b3d5e87"
		orion     = "a9c1e3f5-0b2d-4c4e-8a8b-9d1f3b5d7e09"
		adele     = "a1c3e5f7-2b4d-4c6e-8a0b-1d3f5a7c9e21"
		megan     = "b2d4f6a8-3c5e-4d7f-9b1c-2e4a6c8e0f32"
		payrollA  = "d0f2b4c6-1e3a-4f5b-9d9e-0a2c4e6a8b10"
		payrollSP = "e3a5c7e9-1b2d-4f4a-8c6e-0a2c4e6a8b0d"
		mfaPolicy = "7c9e1a3c-5e7a-4c9e-a1b3-8d0f2b4d6f8a"
		auFinance = "b4d6f8a0-5c7e-4d9f-9b3c-4e6a8c0e2f54"
	)
	groupObj := func(id string) map[string]any {
		for _, c := range []string{"groups", "deletedItems"} {
			for _, o := range seed[c] {
				if o["id"] == id {
					return seedObject(t, seed, c, id, "#microsoft.graph.group")
				}
			}
		}
		t.Fatalf("group %s not in seed", id)
		return nil
	}
	roleAssignablePayments := groupObj(payments)
	roleAssignablePayments["isAssignableToRole"] = true
	gt := func(id, name string) audit.Target { return group(id, name) }

	console := []string{"console"}
	restore := []rules.Action{rules.ActionRestore, rules.ActionNotify}
	tests := []struct {
		name   string
		event  *audit.Event
		target audit.Target
		object map[string]any
		state  rules.ObjectState
		want   want
	}{
		{"critical group by id and prefix", deletion(audit.DeletionSoft), gt(payments, "sec-prod-payments"), groupObj(payments), rules.ObjectFound,
			want{matched: []string{"critical-groups"}, actions: restore, notify: console, severity: rules.SeverityCritical}},
		{"critical group by prefix, bin not read", deletion(audit.DeletionSoft), gt("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "sec-prod-ledger"), nil, rules.ObjectNotRead,
			want{matched: []string{"critical-groups"}, actions: restore, notify: console, severity: rules.SeverityCritical}},
		{"Microsoft 365 group listed by id", deletion(audit.DeletionSoft), gt(falcon, "Project Falcon"), groupObj(falcon), rules.ObjectFound,
			want{matched: []string{"critical-groups"}, actions: restore, notify: console, severity: rules.SeverityCritical}},
		{"Microsoft 365 group known only from the bin", deletion(audit.DeletionSoft), gt(orion, "Team Orion"), groupObj(orion), rules.ObjectFound,
			want{matched: []string{"critical-groups"}, actions: restore, notify: console, severity: rules.SeverityCritical}},
		{"Microsoft 365 group not in the bin", deletion(audit.DeletionSoft), gt(orion, "Team Orion"), nil, rules.ObjectAbsent,
			want{}},
		{"role-assignable group: preview, never restore", deletion(audit.DeletionSoft), gt(payments, "sec-prod-payments"), roleAssignablePayments, rules.ObjectFound,
			want{matched: []string{"role-assignable-groups"}, actions: []rules.Action{rules.ActionPreview, rules.ActionNotify}, notify: console, severity: rules.SeverityCritical}},
		{"group while the bin cannot be read", deletion(audit.DeletionSoft), gt(payments, "sec-prod-payments"), nil, rules.ObjectUnavailable,
			want{deferred: "role-assignable-groups"}},
		{"non-critical security group", deletion(audit.DeletionSoft), gt(printers, "sec-lab-printers"), groupObj(printers), rules.ObjectFound,
			want{}},
		{"failed delete of a critical group", failed(deletion(audit.DeletionSoft)), gt(payments, "sec-prod-payments"), groupObj(payments), rules.ObjectFound,
			want{}},
		{"listed admin user", deletion(audit.DeletionSoft), user(adele, "a1c3e5f72b4d4c6e8a0b1d3f5a7c9e21adele.vance@contoso.com"), nil, rules.ObjectNotRead,
			want{matched: []string{"admin-users"}, actions: restore, notify: console, severity: rules.SeverityCritical, options: recovery.Options{AutoReconcileProxyConflict: true}}},
		{"unlisted user", deletion(audit.DeletionSoft), user(megan, "megan.bowen@contoso.com"), nil, rules.ObjectNotRead,
			want{}},
		{"listed application, with its service principal", deletion(audit.DeletionSoft), audit.Target{ID: payrollA, Type: audit.TargetApplication, DisplayName: "Payroll Connector"}, nil, rules.ObjectNotRead,
			want{matched: []string{"applications"}, actions: restore, notify: console, severity: rules.SeverityWarning}},
		{"the service principal's own deletion", deletion(audit.DeletionSoft), audit.Target{ID: payrollSP, Type: audit.TargetServicePrincipal, DisplayName: "Payroll Connector"}, nil, rules.ObjectNotRead,
			want{}},
		{"Conditional Access policy in report-only", deletion(audit.DeletionSoft), audit.Target{ID: mfaPolicy, Type: audit.TargetConditionalAccessPolicy, DisplayName: "Require MFA for admins"}, nil, rules.ObjectNotRead,
			want{matched: []string{"conditional-access"}, actions: restore, notify: console, severity: rules.SeverityCritical, options: recovery.Options{CAPolicyStateAfterRestore: recovery.CAStateReportOnly}}},
		{"hard delete", deletion(audit.DeletionHard), gt(payments, "sec-prod-payments"), nil, rules.ObjectNotRead,
			want{matched: []string{"hard-deletes"}, actions: []rules.Action{rules.ActionNotify}, notify: console, severity: rules.SeverityCritical}},
		{"hard delete of a user", deletion(audit.DeletionHard), user(adele, "adele.vance@contoso.com"), nil, rules.ObjectNotRead,
			want{matched: []string{"hard-deletes"}, actions: []rules.Action{rules.ActionNotify}, notify: console, severity: rules.SeverityCritical}},
		{"administrative unit: no rule", deletion(audit.DeletionSoft), audit.Target{ID: auFinance, Type: audit.TargetAdministrativeUnit, DisplayName: "AU Finance EMEA"}, nil, rules.ObjectNotRead,
			want{}},
		{"update of a critical group", deletion(audit.DeletionNone), gt(payments, "sec-prod-payments"), nil, rules.ObjectNotRead,
			want{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := table.Subject(tc.event, now).Evaluate(tc.target, tc.object, tc.state)
			checkVerdict(t, v, tc.want)
		})
	}
}

func failed(e *audit.Event) *audit.Event {
	e.Result = "failure"
	e.ResultReason = "Insufficient privileges"
	return e
}

// TestDeferOnlyWhatTheObjectDecides: while the bin cannot be read, a rule
// that reads `object` defers the decision only when its plain comparisons
// hold; a rule they already rule out is passed over, so a user's deletion
// is not held back by a rule about groups.
func TestDeferOnlyWhatTheObjectDecides(t *testing.T) {
	table := mustParse(t, `version: 1
rules:
  - name: role-assignable-groups
    when: 'target.type == "group" && object != null && object.isAssignableToRole == true'
    actions: [preview]
  - name: users
    when: 'target.type == "user"'
    actions: [restore]
`, nil)
	tests := []struct {
		name   string
		target audit.Target
		want   want
	}{
		{"a group waits for its copy", group("6d1c4a2e-0000-4000-8000-000000000001", "sec-prod-x"), want{deferred: "role-assignable-groups"}},
		{"a user is decided now", user("6d1c4a2e-0000-4000-8000-000000000002", "a@contoso.com"), want{matched: []string{"users"}, actions: []rules.Action{rules.ActionRestore}, severity: rules.SeverityWarning}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := deletion(audit.DeletionSoft, tt.target)
			checkVerdict(t, table.Subject(ev, now).Evaluate(tt.target, nil, rules.ObjectUnavailable), tt.want)
		})
	}
}
