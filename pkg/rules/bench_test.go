package rules_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/rules"
)

// benchCase is one event with its one target, as Evaluate gets them.
type benchCase struct {
	event  *audit.Event
	target audit.Target
	object map[string]any
	state  rules.ObjectState
}

func id(kind string, i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012d", len(kind), i) }

func idList(kind string, from, n int) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = `"` + id(kind, from+i) + `"`
	}
	return "[" + strings.Join(ids, ", ") + "]"
}

// realisticTable is 50 rules shaped like a real tenant's: exemptions by
// initiator, hard-delete alerts, groups by name prefix and by id list, a few
// rules reading the recycle-bin copy, users, applications, service
// principals and Conditional Access policies by id list.
func realisticTable(b *testing.B) *rules.Table {
	var sb strings.Builder
	sb.WriteString("version: 1\nchannels:\n  console: {type: console}\n  secops: {type: webhook, url: https://hooks.example.invalid/secops}\nrules:\n")
	rule := func(name, when, actions string, extra ...string) {
		fmt.Fprintf(&sb, "  - name: %s\n    when: '%s'\n    actions: %s\n", name, strings.ReplaceAll(when, "'", "''"), actions)
		for _, e := range extra {
			sb.WriteString("    " + e + "\n")
		}
	}
	const soft = `event.deletion == "soft" && event.result == "success" && `
	// 3 exemptions.
	rule("exempt-lifecycle", `event.initiator.appId in `+idList("app", 900, 3), "[ignore]")
	rule("exempt-hr-script", `event.initiator.userPrincipalName.endsWith("@svc.contoso.com")`, "[ignore]")
	rule("exempt-break-glass", `event.initiator.id == "`+id("user", 999)+`"`, "[ignore]")
	// 2 hard-delete alerts.
	rule("hard-delete-privileged", `event.deletion == "hard" && target.type in ["group", "servicePrincipal", "application"]`, "[notify]", "notify: [secops, console]", "severity: critical")
	rule("hard-delete-users", `event.deletion == "hard" && target.type == "user"`, "[notify]", "notify: [console]")
	// 4 rules reading the bin copy, for groups.
	rule("role-assignable", soft+`target.type == "group" && object != null && has(object.isAssignableToRole) && object.isAssignableToRole == true`, "[preview]", "notify: [secops]", "severity: critical")
	rule("m365-groups", soft+`target.type == "group" && object != null && has(object.groupTypes) && "Unified" in object.groupTypes`, "[restore]", "notify: [console]")
	rule("synced-groups", soft+`target.type == "group" && object != null && has(object.onPremisesSyncEnabled) && object.onPremisesSyncEnabled == true`, "[notify]", "notify: [console]")
	rule("mail-enabled-security", soft+`target.type == "group" && object != null && object.mailEnabled == true && object.securityEnabled == true`, "[notify]", "notify: [console]")
	// 12 group prefixes.
	for i, team := range []string{"payments", "ledger", "hr", "crm", "erp", "data", "ml", "web", "api", "ops", "sre", "iam"} {
		rule(fmt.Sprintf("groups-prefix-%d", i), soft+`target.type == "group" && target.displayName.startsWith("sec-prod-`+team+`-")`, "[restore]", "notify: [console]", "severity: critical")
	}
	// 6 group id lists.
	for i := range 6 {
		rule(fmt.Sprintf("groups-listed-%d", i), soft+`target.type == "group" && target.id in `+idList("group", i*10, 10), "[restore]", "notify: [console]")
	}
	// 9 user id lists.
	for i := range 9 {
		rule(fmt.Sprintf("users-listed-%d", i), soft+`target.type == "user" && target.id in `+idList("user", i*10, 10), "[restore]", "notify: [console]", "options: {autoReconcileProxyConflict: true}")
	}
	// 5 applications, 5 service principals.
	for i := range 5 {
		rule(fmt.Sprintf("apps-%d", i), soft+`target.type == "application" && target.id in `+idList("app", i*10, 10), "[restore]", "options: {restoreServicePrincipal: true}")
	}
	for i := range 5 {
		rule(fmt.Sprintf("sps-%d", i), soft+`target.type == "servicePrincipal" && (target.id in `+idList("sp", i*10, 10)+` || target.displayName.startsWith("prod-sp-`+fmt.Sprint(i)+`-"))`, "[restore]")
	}
	// 3 Conditional Access.
	rule("ca-listed", soft+`target.type == "conditionalAccessPolicy" && target.id in `+idList("ca", 0, 10), "[restore]", "options: {caPolicyStateAfterRestore: reportOnly}", "severity: critical")
	rule("ca-named", soft+`target.type == "conditionalAccessPolicy" && target.displayName.startsWith("CA0")`, "[restore]", "options: {caPolicyStateAfterRestore: reportOnly}")
	rule("ca-others", soft+`target.type == "conditionalAccessPolicy"`, "[notify]", "notify: [secops]")
	// 1 catch-all for the rest of the soft deletes.
	rule("other-soft-deletes", `event.deletion == "soft" && event.result == "success"`, "[notify]", "notify: [console]", "severity: info")
	table, err := rules.Parse("realistic.yaml", []byte(sb.String()), envOf(nil))
	if err != nil {
		b.Fatal(err)
	}
	if len(table.Rules) != 50 {
		b.Fatalf("%d rules, want 50", len(table.Rules))
	}
	return table
}

// realisticEvents is a mix like a tenant's audit stream: mostly soft deletes
// of users and groups and non-deletion updates, some applications, service
// principals, Conditional Access policies and hard deletes; some of them by
// exempt initiators, some of them listed.
func realisticEvents(n int) []benchCase {
	r := rand.New(rand.NewPCG(7, 11))
	groupObject := func() map[string]any {
		o := map[string]any{"@odata.type": "#microsoft.graph.group", "securityEnabled": true, "mailEnabled": false, "groupTypes": []any{}, "isAssignableToRole": nil}
		switch r.IntN(4) {
		case 0:
			o["groupTypes"], o["mailEnabled"], o["securityEnabled"] = []any{"Unified"}, true, false
		case 1:
			o["isAssignableToRole"] = true
		}
		return o
	}
	out := make([]benchCase, n)
	for i := range out {
		d := audit.DeletionSoft
		ev := deletion(d)
		var target audit.Target
		var object map[string]any
		state := rules.ObjectNotRead
		switch x := r.IntN(100); {
		case x < 30: // user soft delete
			target = user(id("user", r.IntN(200)), "someone@contoso.com")
		case x < 50: // group soft delete, bin read
			names := []string{"sec-prod-ml-readers", "sec-lab-printers", "Team Orion", "sec-prod-iam-admins", "all-staff"}
			target = group(id("group", r.IntN(120)), names[r.IntN(len(names))])
			object, state = groupObject(), rules.ObjectFound
		case x < 55:
			target = audit.Target{ID: id("app", r.IntN(100)), Type: audit.TargetApplication, DisplayName: "Payroll Connector"}
		case x < 60:
			target = audit.Target{ID: id("sp", r.IntN(100)), Type: audit.TargetServicePrincipal, DisplayName: "prod-sp-3-worker"}
		case x < 62:
			target = audit.Target{ID: id("ca", r.IntN(20)), Type: audit.TargetConditionalAccessPolicy, DisplayName: "CA001 Require MFA"}
		case x < 67: // hard delete
			ev.Deletion, ev.Activity = audit.DeletionHard, "Hard delete user"
			target = user(id("user", r.IntN(200)), "someone@contoso.com")
		default: // updates: no deletion
			ev.Deletion, ev.Activity, ev.OperationType = audit.DeletionNone, "Update user", "Update"
			target = user(id("user", r.IntN(200)), "someone@contoso.com")
		}
		if r.IntN(20) == 0 { // deleted by the lifecycle automation
			ev.Initiator = audit.Initiator{Type: audit.InitiatorApp, AppID: id("app", 900+r.IntN(3))}
		}
		ev.Targets = []audit.Target{target}
		out[i] = benchCase{ev, target, object, state}
	}
	return out
}

// worstNativeTable: 50 rules that compile to Go, each reaching its last
// comparison, none matching.
func worstNativeTable(b *testing.B) (*rules.Table, []benchCase) {
	var sb strings.Builder
	sb.WriteString("version: 1\nrules:\n")
	for i := range 50 {
		fmt.Fprintf(&sb, "  - name: r%d\n    when: 'event.deletion == \"soft\" && event.result == \"success\" && target.type == \"group\" && target.displayName.startsWith(\"sec-prod-%d-\")'\n    actions: [restore]\n", i, i)
	}
	table, err := rules.Parse("worst-native.yaml", []byte(sb.String()), envOf(nil))
	if err != nil {
		b.Fatal(err)
	}
	if table.UsesObject() {
		b.Fatal("worst-native reads object")
	}
	t := group(id("group", 1), "sec-prod-x-readers")
	return table, []benchCase{{deletion(audit.DeletionSoft, t), t, nil, rules.ObjectNotRead}}
}

// worstCELTable: 50 rules that read object, so that CEL's interpreter runs
// for every one, none matching.
func worstCELTable(b *testing.B) (*rules.Table, []benchCase) {
	var sb strings.Builder
	sb.WriteString("version: 1\nrules:\n")
	for i := range 50 {
		fmt.Fprintf(&sb, "  - name: r%d\n    when: 'target.type == \"group\" && object != null && has(object.securityEnabled) && object.securityEnabled == true && object.mailNickname == \"team-%d\"'\n    actions: [restore]\n", i, i)
	}
	table, err := rules.Parse("worst-cel.yaml", []byte(sb.String()), envOf(nil))
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range table.Rules {
		if !r.UsesObject() {
			b.Fatalf("rule %s does not read object", r.Name)
		}
	}
	t := group(id("group", 1), "sec-prod-x-readers")
	object := map[string]any{"@odata.type": "#microsoft.graph.group", "id": t.ID, "displayName": t.DisplayName,
		"securityEnabled": true, "mailEnabled": false, "mailNickname": "sec-prod-x-readers", "groupTypes": []any{}}
	return table, []benchCase{{deletion(audit.DeletionSoft, t), t, object, rules.ObjectFound}}
}

func BenchmarkEvaluate50Rules(b *testing.B) {
	run := func(b *testing.B, table *rules.Table, cases []benchCase, wantMatches bool) {
		matched := 0
		for _, c := range cases {
			v := table.Subject(c.event, now).Evaluate(c.target, c.object, c.state)
			if len(v.Errors) > 0 {
				b.Fatalf("evaluation errors: %v", v.Errors)
			}
			if len(v.Matched) > 0 {
				matched++
			}
		}
		if wantMatches != (matched > 0) {
			b.Fatalf("%d of %d cases matched", matched, len(cases))
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c := &cases[i%len(cases)]
			i++
			table.Subject(c.event, now).Evaluate(c.target, c.object, c.state)
		}
	}
	b.Run("realistic", func(b *testing.B) {
		run(b, realisticTable(b), realisticEvents(1024), true)
	})
	b.Run("worst-native", func(b *testing.B) {
		table, cases := worstNativeTable(b)
		run(b, table, cases, false)
	})
	b.Run("worst-cel", func(b *testing.B) {
		table, cases := worstCELTable(b)
		run(b, table, cases, false)
	})
}

func BenchmarkLoad(b *testing.B) {
	path := filepath.Join(repoRoot, sampleFile)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rules.Load(path, envOf(nil)); err != nil {
			b.Fatal(err)
		}
	}
}
