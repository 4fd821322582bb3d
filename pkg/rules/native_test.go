package rules

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/reinstate/reinstate/pkg/audit"
)

// TestNativeAgreesWithCEL checks the Go fast path (compiled.native and
// compiled.requires) against CEL's interpreter on generated events, and
// that the conditions meant to compile to Go do.
func TestNativeAgreesWithCEL(t *testing.T) {
	env, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	const native = -1 // wholly native; otherwise the number of native conjuncts
	conditions := []struct {
		src  string
		kind int
	}{
		// Wholly native.
		{`event.deletion == "soft"`, native},
		{`"soft" == event.deletion`, native},
		{`event.deletion != "none"`, native},
		{`"none" != event.deletion`, native},
		{`target.type in ["group", "user"]`, native},
		{`target.id in []`, native},
		{`target.id in ["a"]`, native},
		{`target.displayName.startsWith("sec-prod-")`, native},
		{`target.displayName.endsWith("-admins")`, native},
		{`target.userPrincipalName.contains("@contoso")`, native},
		{`target.displayName.startsWith("")`, native},
		{`event.activity.contains("")`, native},
		{`target.displayName == ""`, native},
		{`target.displayName.startsWith("é")`, native},
		{`!(target.type == "group")`, native},
		{`!!(target.type == "group")`, native},
		{`true`, native},
		{`false`, native},
		{`!false && true`, native},
		{`true && target.type == "user"`, native},
		{`false || target.type == "user"`, native},
		{`event.deletion == "soft" && event.result == "success" && target.type == "group" && (target.id in ["a", "b"] || target.displayName.startsWith("sec-"))`, native},
		{`event.initiator.type == "app" || event.initiator.id == "x" || event.initiator.appId in ["app-1", "app-2"]`, native},
		{`event.initiator.userPrincipalName.endsWith("@contoso.com") && !event.initiator.displayName.startsWith("svc-")`, native},
		{`!(event.deletion == "soft" && target.type == "group") || target.id == "a"`, native},
		{`target.groupType == "unifiedGroups" && event.category == "GroupManagement"`, native},
		{`event.tenantId == "t1" && event.operationType == "Delete" && event.service == "Core Directory"`, native},
		{`event.correlationId != "" || event.resultReason == "" || event.id == "e1"`, native},
		{`event.initiator.servicePrincipalId.startsWith("sp") && event.initiator.type != "user"`, native},
		// Partly native: the conjuncts Go can decide.
		{`event.deletion == "soft" && object != null && object.securityEnabled == true`, 1},
		{`event.deletion == "soft" && object.securityEnabled == true`, 1},
		{`target.type == "group" && event.time < now`, 1},
		{`event.deletion == "soft" && target.type == "group" && (object == null || "Unified" in object.groupTypes)`, 2},
		{`(target.type == "group" || object != null) && event.result == "success"`, 1},
		{`target.displayName.startsWith("sec-") && has(object.isAssignableToRole) && target.id != "a" && object.isAssignableToRole == true`, 2},
		// Not native at all.
		{`event.time < now`, 0},
		{`event.targets.exists(t, t.type == "group")`, 0},
		{`target.id == event.initiator.id`, 0},
		{`target.displayName.lowerAscii() == "sec-lab"`, 0},
		{`size(target.displayName) > 3`, 0},
		{`target.displayName.matches("^sec-")`, 0},
		{`target.type == "group" || object.securityEnabled == true`, 0},
		{`target.id in {"a": 1}`, 0},
	}

	pick := func(r *rand.Rand, pool ...string) string { return pool[r.IntN(len(pool))] }
	r := rand.New(rand.NewPCG(1, 2))
	type input struct {
		event  *audit.Event
		target audit.Target
		object map[string]any
		now    time.Time
	}
	base := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	inputs := make([]input, 3000)
	for i := range inputs {
		names := []string{"sec-prod-payments", "sec-lab", "SEC-prod-x", "team-admins", "", "é-admins", "sec-", "a"}
		target := audit.Target{
			ID:                pick(r, "a", "b", "c", "", "x"),
			Type:              audit.TargetType(pick(r, "group", "user", "application", "servicePrincipal", "")),
			DisplayName:       pick(r, names...),
			UserPrincipalName: pick(r, "adele@contoso.com", "x@fabrikam.com", "", "@contoso"),
			GroupType:         pick(r, "unifiedGroups", "azureAD", "", "2"),
		}
		e := &audit.Event{
			ID: pick(r, "e1", "e2", ""), TenantID: pick(r, "t1", "t2"), Time: base.Add(time.Duration(r.IntN(5)-2) * time.Hour),
			Activity: pick(r, "Delete group", "Update user", ""), Category: pick(r, "GroupManagement", "UserManagement"),
			OperationType: pick(r, "Delete", "Update"), Result: pick(r, "success", "failure"), ResultReason: pick(r, "", "denied"),
			Service: pick(r, "Core Directory", "Conditional Access"), CorrelationID: pick(r, "", "c1"),
			Deletion: audit.Deletion(pick(r, "soft", "hard", "none", "")),
			Initiator: audit.Initiator{
				Type: audit.InitiatorType(pick(r, "user", "app", "unknown")), ID: pick(r, "x", "a", ""),
				UserPrincipalName: pick(r, "admin@contoso.com", "svc@contoso.com", ""), AppID: pick(r, "app-1", "app-3", ""),
				ServicePrincipalID: pick(r, "sp-1", "", "xsp"), DisplayName: pick(r, "svc-cleanup", "Admin", ""),
			},
		}
		e.Targets = []audit.Target{target}
		if r.IntN(2) == 0 {
			e.Targets = append(e.Targets, audit.Target{ID: "g9", Type: audit.TargetType(pick(r, "group", "device"))})
		}
		objects := []map[string]any{
			nil,
			{"securityEnabled": true, "groupTypes": []any{"Unified"}, "isAssignableToRole": true},
			{"securityEnabled": false, "groupTypes": []any{}},
			{},
		}
		inputs[i] = input{e, target, objects[r.IntN(len(objects))], base}
	}

	adapter := env.env.CELTypeAdapter()
	for _, cond := range conditions {
		t.Run(cond.src, func(t *testing.T) {
			c, issues := env.compile(cond.src)
			if len(issues) > 0 {
				t.Fatalf("does not compile: %+v", issues)
			}
			switch {
			case cond.kind == native && c.native == nil:
				t.Fatalf("does not compile to Go; CEL would run for it (%d native conjuncts)", len(c.requires))
			case cond.kind != native && c.native != nil:
				t.Fatal("compiles to Go wholly, but it cannot")
			case cond.kind != native && len(c.requires) != cond.kind:
				t.Fatalf("%d native conjuncts, want %d", len(c.requires), cond.kind)
			}
			matched, noMatch := 0, 0
			for _, in := range inputs {
				act := &activation{adapter: adapter, event: in.event, target: &in.target, object: types.NullValue,
					now: types.Timestamp{Time: in.now}, values: make([]ref.Val, len(fields))}
				if in.object != nil {
					act.object = adapter.NativeToValue(in.object)
				}
				out, _, err := c.program.Eval(act)
				want := err == nil && out == types.True
				if err == nil && out != types.True && out != types.False {
					t.Fatalf("CEL gave %v", out)
				}
				if want {
					matched++
				} else {
					noMatch++
				}
				if c.native != nil {
					if err != nil {
						t.Fatalf("CEL failed on a wholly native condition: %v", err)
					}
					if got := c.native(in.event, &in.target); got != want {
						t.Fatalf("native %v, CEL %v for event %+v target %+v", got, want, in.event, in.target)
					}
					continue
				}
				for i, p := range c.requires {
					if !p(in.event, &in.target) && (want || err != nil) {
						t.Fatalf("native conjunct %d is false, but CEL gives %v (error %v) for event %+v target %+v object %v", i, out, err, in.event, in.target, in.object)
					}
				}
				// The whole path Evaluate takes agrees too, errors included.
				got, gotErr := c.matches(in.event, &in.target, &activation{adapter: adapter, event: in.event, target: &in.target,
					object: act.object, now: act.now, values: make([]ref.Val, len(fields))})
				if got != want || (gotErr != nil) != (err != nil) {
					t.Fatalf("matches gives %v, %v; CEL %v, %v", got, gotErr, out, err)
				}
			}
			constant := map[string]bool{"true": true, "false": true, "!false && true": true, `target.id in []`: true,
				`target.displayName.startsWith("")`: true, `event.activity.contains("")`: true}
			if !constant[cond.src] && (matched == 0 || noMatch == 0) {
				t.Errorf("the inputs never tell: %d matched, %d did not", matched, noMatch)
			}
		})
	}
}
