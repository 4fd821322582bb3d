package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
)

// Fixtures of the plan tests (testdata/plan). rules.yaml's header says which
// rule each kind of record matches; the ids below are the ones it lists.
const (
	planRules       = "../../testdata/plan/rules.yaml"
	planBadRules    = "../../testdata/plan/bad-rules.yaml"
	planEnvRules    = "../../testdata/plan/env-rules.yaml"
	planObjectRules = "../../testdata/plan/object-rules.yaml"
	planEvents      = "../../testdata/plan/events.json"

	planTenant      = "9f3c6a1e-2b7d-4c58-8e0f-1a2b3c4d5e6f"
	planOtherTenant = "2b9e4d6f-8a1c-4e3b-9d5f-7c6a8b0e2d41"
	planSelfAppID   = "4e6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c2e"
	planSelfSPID    = "8c0e2a4c-6e8a-4c0e-a2a4-c6e8a0c2e4a6"
	planExemptAppID = "5c0de1f3-7a2b-4c9d-8e6f-0a1b2c3d4e5f"
	planExemptUPN   = "hr.offboarding@contoso.onmicrosoft.com"
	planITAdminID   = "3b1f7c2a-8d4e-4f6a-9c0b-5e7d1a2f3c4b" // initiator of every record in events.json
)

// planAdminUserIDs are the users the admin-users rule lists.
var planAdminUserIDs = []string{
	"0a000001-1111-4111-8111-000000000001",
	"0a000002-1111-4111-8111-000000000002",
	"0a000003-1111-4111-8111-000000000003",
	"0a000004-1111-4111-8111-000000000004",
	"0a000005-1111-4111-8111-000000000005",
	"0a000006-1111-4111-8111-000000000006",
	"0a000007-1111-4111-8111-000000000007",
	"0a000008-1111-4111-8111-000000000008",
	"0a000009-1111-4111-8111-000000000009",
	"0a00000a-1111-4111-8111-00000000000a",
}

// The rules of planRules, as the generator knows them.
const (
	ruleIgnoreSandbox  = "ignore-sandbox"
	ruleCriticalGroups = "critical-groups"
	ruleAdminUsers     = "admin-users"
	ruleApplications   = "applications"
	ruleCA             = "conditional-access"
	ruleHardDeletes    = "hard-deletes"
)

// planRestoreRules are the rules that ask for a restore (notifying secops);
// hard-deletes only notifies oncall; ignore-sandbox does nothing.
var planRestoreRules = []string{ruleCriticalGroups, ruleAdminUsers, ruleApplications, ruleCA}

// Shape of the 10,000-record export.
const (
	planTotalRecords = 10000
	planBurst        = 60 // soft deletes of sec-prod- groups within 3 minutes
	planBurstStep    = 3 * time.Second
	planPerRule      = 20  // rules.yaml: breaker.perRule
	planTotal        = 50  // rules.yaml: breaker.total
	planDuplicates   = 150 // records delivered twice
)

// Time formats of diagnostic-settings records.
const (
	envelopeTimeLayout = "2006-01-02T15:04:05.0000000Z"
	activityTimeLayout = "2006-01-02T15:04:05.0000000-07:00"
)

// planExpect is what the generator expects plan to decide about one target
// of one record, worked out from what it generated and rules.yaml's header
// alone, never by running the rules.
type planExpect struct {
	rule, guard string
	actions     []string
	// trip is the breaker scope the decision trips, "" for none.
	trip string
}

// genTarget is one target of a generated record and the rule that, by
// construction, matches it ("" for none).
type genTarget struct {
	id, rule string
}

// Initiators of generated records.
const (
	byAdmin  = "admin"  // an ordinary administrator
	byExempt = "exempt" // an exempt initiator (the appId or the UPN in rules.yaml)
	bySelf   = "self"   // Reinstate's own app (REINSTATE_SELF_IDS)
)

// Scenarios that make the guards act on records that would otherwise be restored.
const (
	scenarioBreakerTrip = "breaker-trip" // the burst's deletion number perRule+1 (and total+1)
	scenarioBreaker     = "breaker"      // the burst's other deletions after the perRule-th
	scenarioCooldown    = "cooldown"     // deleted again 10 minutes after a restore decision
)

// genRecord is one generated audit record.
type genRecord struct {
	id    string
	at    time.Time
	props map[string]any // the directoryAudit as Graph returns it: no tenantId
	// tenant is the tenant whose log stream it is; Graph pages do not carry it.
	tenant    string
	initiator string
	targets   []genTarget
	scenario  string
	// tripScope is the breaker scope that this record trips, if any.
	tripScope string
}

// expect derives the expected decisions. tenantLogged is false for records
// written into a Graph page, which has no tenant, so the tenant guard cannot
// refuse them. The order of the cases is the guards' documented order:
// tenant and self refuse the event before any rule is evaluated (so no rule
// is named); then exempt, cooldown and breaker change only a decision that
// would restore.
func (r *genRecord) expect(tenantLogged bool) []planExpect {
	out := make([]planExpect, len(r.targets))
	for i, t := range r.targets {
		e := planExpect{rule: t.rule, actions: []string{}}
		restore := slices.Contains(planRestoreRules, t.rule)
		switch {
		case tenantLogged && r.tenant != planTenant:
			e.rule, e.guard = "", "tenant"
		case r.initiator == bySelf:
			e.rule, e.guard = "", "self"
		case t.rule == "" || t.rule == ruleIgnoreSandbox:
		case t.rule == ruleHardDeletes:
			e.actions = []string{"notify:oncall"}
		case !restore:
			panic("unknown rule " + t.rule)
		case r.initiator == byExempt:
			e.guard, e.actions = "exempt", []string{"notify:secops"}
		case r.scenario == scenarioBreakerTrip, r.scenario == scenarioBreaker:
			// The rule's channel, then breaker.notify.
			e.guard, e.actions, e.trip = "breaker", []string{"notify:secops", "notify:oncall"}, r.tripScope
		case r.scenario == scenarioCooldown:
			// The rule's channel, then cooldown.notify.
			e.guard, e.actions = "cooldown", []string{"notify:secops", "notify:oncall"}
		default:
			e.actions = []string{"restore", "notify:secops"}
		}
		out[i] = e
	}
	return out
}

// envelope is the record as diagnostic settings write it to Event Hubs.
func (r *genRecord) envelope() map[string]any {
	props := maps.Clone(r.props)
	props["tenantId"] = r.tenant
	return map[string]any{
		"time":             r.at.Format(envelopeTimeLayout),
		"resourceId":       "/tenants/" + r.tenant + "/providers/Microsoft.aadiam",
		"operationName":    r.props["activityDisplayName"],
		"operationVersion": "1.0",
		"category":         "AuditLogs",
		"tenantId":         r.tenant,
		"resultSignature":  "None",
		"durationMs":       0,
		"callerIpAddress":  "198.51.100.23",
		"correlationId":    r.props["correlationId"],
		"Level":            4,
		"properties":       props,
	}
}

// planGen generates records from a seeded source.
type planGen struct {
	r   *rand.Rand
	seq int
	// adminLastUse is when each listed admin user was last a target: the
	// generator never names one again within an hour, so no background
	// record can fall into a cooldown.
	adminLastUse map[string]time.Time
}

func newPlanGen() *planGen {
	return &planGen{r: rand.New(rand.NewPCG(20250601, 10000)), adminLastUse: map[string]time.Time{}}
}

func (g *planGen) guid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

var planWords = []string{"payments", "ledger", "billing", "orion", "falcon", "atlas", "apollo", "vega", "nova", "delta", "lynx", "cedar", "maple", "harbor", "summit"}

func (g *planGen) word() string {
	return planWords[g.r.IntN(len(planWords))] + "-" + strconv.Itoa(g.r.IntN(1000))
}

// record builds a directoryAudit. Its id is unique: a sequence number is in it.
func (g *planGen) record(at time.Time, activity, category, service, opType, result string, initiatedBy map[string]any, targets ...map[string]any) *genRecord {
	g.seq++
	corr := g.guid()
	id := fmt.Sprintf("Directory_%s_G%04d_%09d", corr, g.seq%10000, 203000000+g.seq)
	if service == "Conditional Access" {
		id = "IPCGraph_" + corr
	}
	props := map[string]any{
		"id":                  id,
		"category":            category,
		"correlationId":       corr,
		"result":              result,
		"resultReason":        "",
		"activityDisplayName": activity,
		"activityDateTime":    at.Format(activityTimeLayout),
		"loggedByService":     service,
		"operationType":       opType,
		"userAgent":           nil,
		"initiatedBy":         initiatedBy,
		"targetResources":     targets,
		"additionalDetails":   []any{map[string]any{"key": "User-Agent", "value": "Mozilla/5.0"}},
	}
	if result == "failure" {
		props["resultReason"] = "Insufficient privileges to complete the operation."
	}
	return &genRecord{id: id, at: at, props: props, tenant: planTenant, initiator: byAdmin}
}

var planAdmins = []struct{ id, upn string }{
	{"3b1f7c2a-8d4e-4f6a-9c0b-5e7d1a2f3c4b", "it.admin@contoso.onmicrosoft.com"},
	{"c4d2e6f8-0a1b-4c3d-9e5f-7a8b9c0d1e2f", "helpdesk.lead@contoso.onmicrosoft.com"},
	{"d5e3f7a9-1b2c-4d4e-8f6a-8b9c0d1e2f3a", "svc-automation@contoso.onmicrosoft.com"},
}

func adminInitiator(i int) map[string]any {
	a := planAdmins[i%len(planAdmins)]
	return map[string]any{"user": map[string]any{"id": a.id, "displayName": nil, "userPrincipalName": a.upn, "ipAddress": "198.51.100.23", "roles": []any{}}}
}

// initiator picks who did it: mostly administrators, some records from
// another tenant, some by Reinstate itself (with or without its appId, as
// managed identities log), some by an exempt app or exempt user.
func (g *planGen) initiator() (kind, tenant string, initiatedBy map[string]any) {
	switch n := g.r.IntN(100); {
	case n < 4:
		return byAdmin, planOtherTenant, adminInitiator(g.r.IntN(len(planAdmins)))
	case n < 7:
		app := map[string]any{"appId": planSelfAppID, "displayName": "Reinstate", "servicePrincipalId": planSelfSPID, "servicePrincipalName": nil}
		if n == 6 {
			app["appId"] = nil
		}
		return bySelf, planTenant, map[string]any{"app": app}
	case n < 9:
		return byExempt, planTenant, map[string]any{"app": map[string]any{"appId": planExemptAppID, "displayName": "Lifecycle Workflows", "servicePrincipalId": "6d1e2f30-8b3c-4dae-9f70-1b2c3d4e5f60", "servicePrincipalName": nil}}
	case n < 11:
		return byExempt, planTenant, map[string]any{"user": map[string]any{"id": "7e2f3041-9c4d-4ebf-8081-2c3d4e5f6071", "displayName": nil, "userPrincipalName": planExemptUPN}}
	}
	return byAdmin, planTenant, adminInitiator(g.r.IntN(len(planAdmins)))
}

func isHardDeleted(value bool) []any {
	v := `"False"`
	if value {
		v = `"True"`
	}
	return []any{map[string]any{"displayName": "Is Hard Deleted", "oldValue": nil, "newValue": v}}
}

func groupTarget(id, name string, modified []any) map[string]any {
	groupType := "azureAD"
	if strings.HasPrefix(name, "team-") {
		groupType = "unifiedGroups"
	}
	return map[string]any{"id": id, "displayName": name, "type": "Group", "groupType": groupType, "modifiedProperties": modified, "administrativeUnits": []any{}}
}

func userTarget(id string, deleted bool, modified []any) map[string]any {
	upn := "user" + id[:4] + "@contoso.onmicrosoft.com"
	if deleted {
		upn = strings.ReplaceAll(id, "-", "") + upn // what a soft delete logs
	}
	return map[string]any{"id": id, "displayName": nil, "type": "User", "userPrincipalName": upn, "modifiedProperties": modified, "administrativeUnits": []any{}}
}

func plainTarget(id, name, typ string, modified []any) map[string]any {
	return map[string]any{"id": id, "displayName": name, "type": typ, "modifiedProperties": modified, "administrativeUnits": []any{}}
}

// adminUser returns a listed admin user not named within the last hour, or "".
func (g *planGen) adminUser(at time.Time) string {
	start := g.r.IntN(len(planAdminUserIDs))
	for i := range planAdminUserIDs {
		id := planAdminUserIDs[(start+i)%len(planAdminUserIDs)]
		if last, used := g.adminLastUse[id]; !used || at.Sub(last) > time.Hour {
			g.adminLastUse[id] = at
			return id
		}
	}
	return ""
}

// background generates one record of the month's ordinary traffic, and the
// rule each of its targets matches by construction (see rules.yaml).
func (g *planGen) background(at time.Time) *genRecord {
	kind, tenant, initiatedBy := g.initiator()
	var rec *genRecord
	with := func(r *genRecord, rules ...string) {
		rec = r
		for i, t := range r.props["targetResources"].([]map[string]any) {
			r.targets = append(r.targets, genTarget{id: t["id"].(string), rule: rules[i]})
		}
	}
	softGroup := func(name, result string) *genRecord {
		return g.record(at, "Delete group", "GroupManagement", "Core Directory", "Delete", result, initiatedBy, groupTarget(g.guid(), name, isHardDeleted(false)))
	}
	softUser := func(id, result string) *genRecord {
		return g.record(at, "Delete user", "UserManagement", "Core Directory", "Delete", result, initiatedBy, userTarget(id, true, isHardDeleted(false)))
	}
	switch n := g.r.IntN(1000); {
	case n < 110:
		with(softGroup("sec-prod-"+g.word(), "success"), ruleCriticalGroups)
	case n < 190:
		names := []string{"team-", "sec-dev-", "sg-", "prod-sec-"}
		with(softGroup(names[g.r.IntN(len(names))]+g.word(), "success"), "")
	case n < 230:
		with(softGroup("sandbox-"+g.word(), "success"), ruleIgnoreSandbox)
	case n < 280:
		if id := g.adminUser(at); id != "" {
			with(softUser(id, "success"), ruleAdminUsers)
		} else {
			with(softUser(g.guid(), "success"), "")
		}
	case n < 430:
		with(softUser(g.guid(), "success"), "")
	case n < 490:
		with(g.record(at, "Delete application", "ApplicationManagement", "Core Directory", "Delete", "success", initiatedBy,
			plainTarget(g.guid(), "App "+g.word(), "Application", isHardDeleted(false))), ruleApplications)
	case n < 550:
		activity := "Delete service principal"
		if n%2 == 0 {
			activity = "Remove service principal"
		}
		with(g.record(at, activity, "ApplicationManagement", "Core Directory", "Delete", "success", initiatedBy,
			plainTarget(g.guid(), "SP "+g.word(), "ServicePrincipal", nil)), "")
	case n < 580:
		with(g.record(at, "Delete conditional access policy", "Policy", "Conditional Access", "Delete", "success", initiatedBy,
			plainTarget(g.guid(), "CA "+g.word(), "Policy", nil)), ruleCA)
	case n < 640:
		switch n % 5 {
		case 0:
			with(g.record(at, "Hard Delete group", "GroupManagement", "Core Directory", "Delete", "success", initiatedBy,
				groupTarget(g.guid(), "sec-prod-"+g.word(), isHardDeleted(true))), ruleHardDeletes)
		case 1:
			with(g.record(at, "Hard delete user", "UserManagement", "Core Directory", "Delete", "success", initiatedBy,
				userTarget(g.guid(), true, isHardDeleted(true))), ruleHardDeletes)
		case 2:
			with(g.record(at, "Hard delete application", "ApplicationManagement", "Core Directory", "Delete", "success", initiatedBy,
				plainTarget(g.guid(), "App "+g.word(), "Application", isHardDeleted(true))), ruleHardDeletes)
		case 3:
			with(g.record(at, "Hard delete service principal", "ApplicationManagement", "Core Directory", "Delete", "success", initiatedBy,
				plainTarget(g.guid(), "SP "+g.word(), "ServicePrincipal", nil)), ruleHardDeletes)
		default:
			// A "Delete user" that Entra marks permanent.
			with(g.record(at, "Delete user", "UserManagement", "Core Directory", "Delete", "success", initiatedBy,
				userTarget(g.guid(), true, isHardDeleted(true))), ruleHardDeletes)
		}
	case n < 900:
		switch n % 5 {
		case 0:
			with(g.record(at, "Update group", "GroupManagement", "Core Directory", "Update", "success", initiatedBy,
				groupTarget(g.guid(), "sec-prod-"+g.word(), nil)), "")
		case 1:
			with(g.record(at, "Update user", "UserManagement", "Core Directory", "Update", "success", initiatedBy,
				userTarget(planAdminUserIDs[g.r.IntN(len(planAdminUserIDs))], false, nil)), "")
		case 2:
			with(g.record(at, "Update application", "ApplicationManagement", "Core Directory", "Update", "success", initiatedBy,
				plainTarget(g.guid(), "App "+g.word(), "Application", nil)), "")
		case 3:
			with(g.record(at, "Update conditional access policy", "Policy", "Conditional Access", "Update", "success", initiatedBy,
				plainTarget(g.guid(), "CA "+g.word(), "Policy", nil)), "")
		default:
			// Two targets: one decision each.
			with(g.record(at, "Add member to group", "GroupManagement", "Core Directory", "Assign", "success", initiatedBy,
				userTarget(g.guid(), false, nil), groupTarget(g.guid(), "sec-prod-"+g.word(), nil)), "", "")
		}
	case n < 930:
		with(g.record(at, "Restore group", "GroupManagement", "Core Directory", "Restore", "success", initiatedBy,
			groupTarget(g.guid(), "sec-prod-"+g.word(), nil)), "")
	default:
		// Failed deletes: no rule requiring success matches; ignore-sandbox
		// does not look at the result.
		switch n % 5 {
		case 0:
			with(softGroup("sec-prod-"+g.word(), "failure"), "")
		case 1:
			with(softUser(planAdminUserIDs[g.r.IntN(len(planAdminUserIDs))], "failure"), "")
		case 2:
			with(g.record(at, "Delete application", "ApplicationManagement", "Core Directory", "Delete", "failure", initiatedBy,
				plainTarget(g.guid(), "App "+g.word(), "Application", nil)), "")
		case 3:
			with(g.record(at, "Hard Delete group", "GroupManagement", "Core Directory", "Delete", "failure", initiatedBy,
				groupTarget(g.guid(), "sec-prod-"+g.word(), isHardDeleted(true))), "")
		default:
			with(softGroup("sandbox-"+g.word(), "failure"), ruleIgnoreSandbox)
		}
	}
	rec.initiator, rec.tenant = kind, tenant
	return rec
}

// planMalformed is a way to spoil a record so that decoding skips it.
type planMalformed struct {
	name string
	// field is what stderr must say about it.
	field string
	// spoil changes the record as it will be written: doc is what is
	// written (an Event Hubs record, or for a Graph page the directoryAudit
	// itself), props its directoryAudit.
	spoil func(doc, props map[string]any)
}

var planMalformations = map[string]planMalformed{
	"targets-string": {"targets-string", "targetResources", func(_, p map[string]any) {
		p["targetResources"] = "f9a0b1c2-d3e4-4f5a-86b7-8c9d0e1f2a3b"
	}},
	"no-id": {"no-id", "id: missing", func(_, p map[string]any) { delete(p, "id") }},
	"initiator-string": {"initiator-string", "initiatedBy", func(_, p map[string]any) {
		p["initiatedBy"] = "it.admin@contoso.onmicrosoft.com"
	}},
	"result-object": {"result-object", "result", func(_, p map[string]any) { p["result"] = map[string]any{"status": "success"} }},
	"grouptype-object": {"grouptype-object", "groupType", func(_, p map[string]any) {
		p["targetResources"].([]map[string]any)[0]["groupType"] = map[string]any{"kind": "unified"}
	}},
	"bad-time": {"bad-time", "activityDateTime", func(d, p map[string]any) {
		p["activityDateTime"] = "14/06/2025 11h02"
		delete(d, "time")
	}},
	"no-activity": {"no-activity", "activityDisplayName", func(d, p map[string]any) {
		delete(p, "activityDisplayName")
		delete(d, "operationName")
	}},
	// Not a record at all: an NDJSON line cut off in transit.
	"truncated": {"truncated", "not JSON", nil},
}

// Formats of the export's files.
const (
	formatEventHubs = "eventhubs"
	formatGraph     = "graph"
	formatNDJSON    = "ndjson"
)

// planSlot is one record as written: a generated record, a second delivery
// of one, or a malformed record.
type planSlot struct {
	rec *genRecord
	dup bool
	bad *planMalformed
}

// planExport is the generated export and everything the test expects of it.
type planExport struct {
	files []string
	// expect is keyed by event id and target id.
	expect     map[[2]string]planExpect
	events     int // distinct good records
	duplicates int
	records    int // records written, good, duplicated and malformed
	// skips are the positions stderr must name, one per malformed record,
	// with the field it must mention.
	skips [][2]string
	// burst are the ids of the burst's groups, in order.
	burst []string
}

// generatePlanExport writes a month of audit records into dir, split over
// Event Hubs bodies, a Graph page and NDJSON files in time order, and
// derives what plan must decide about each.
func generatePlanExport(t testing.TB, dir string) *planExport {
	t.Helper()
	g := newPlanGen()
	start := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	span := 30 * 24 * time.Hour
	// The burst, with a gap around it that keeps ordinary traffic out of the
	// breaker's window before it and out of its quiet period after it.
	burstAt := start.Add(17*24*time.Hour + 9*time.Hour + 13*time.Minute)
	gapStart, gapLen := burstAt.Add(-15*time.Minute), 75*time.Minute
	cooldownAt := start.Add(8*24*time.Hour + 14*time.Hour + 2*time.Minute)

	layout := []struct {
		name, format string
		share        float64
		malformed    []string
	}{
		{"01-eventhubs.json", formatEventHubs, 0.20, []string{"targets-string"}},
		{"02-eventhubs.json", formatEventHubs, 0.15, []string{"no-id", "initiator-string"}},
		{"03-graph-page.json", formatGraph, 0.15, []string{"result-object", "grouptype-object"}},
		{"04-stream.ndjson", formatNDJSON, 0.20, []string{"truncated"}},
		{"05-eventhubs.json", formatEventHubs, 0.15, []string{"bad-time"}},
		{"06-stream.ndjson", formatNDJSON, 0.15, []string{"no-activity"}},
	}
	malformed := 0
	for _, f := range layout {
		malformed += len(f.malformed)
	}
	const cooldownRecords = 3
	background := planTotalRecords - planBurst - cooldownRecords - planDuplicates - malformed

	// Ordinary traffic: one record in each of `background` equal slots of
	// the month (minus the gap), so any 10 minutes hold at most 4 records:
	// far below the breaker's thresholds, by construction.
	var recs []*genRecord
	usable := span - gapLen
	for k := range background {
		at := start.Add(time.Duration((float64(k) + g.r.Float64()) * float64(usable) / float64(background))).Truncate(time.Microsecond)
		if !at.Before(gapStart) {
			at = at.Add(gapLen)
		}
		recs = append(recs, g.background(at))
	}

	// The burst: a compromised admin deletes 60 production groups in under
	// 3 minutes. perRule is 20: the 21st trips critical-groups' breaker, and
	// it and the rest are held. total is 50: the 51st, held already, also
	// trips the breaker for every rule.
	var burst []string
	for i := range planBurst {
		id := g.guid()
		burst = append(burst, id)
		rec := g.record(burstAt.Add(time.Duration(i)*planBurstStep), "Delete group", "GroupManagement", "Core Directory", "Delete", "success",
			adminInitiator(2), groupTarget(id, fmt.Sprintf("sec-prod-burst-%02d", i), isHardDeleted(false)))
		rec.targets = []genTarget{{id, ruleCriticalGroups}}
		switch {
		case i == planPerRule:
			rec.scenario, rec.tripScope = scenarioBreakerTrip, "rule:"+ruleCriticalGroups
		case i == planTotal:
			rec.scenario, rec.tripScope = scenarioBreakerTrip, "total"
		case i > planPerRule:
			rec.scenario = scenarioBreaker
		}
		recs = append(recs, rec)
	}

	// The cooldown: a group deleted and restored (the restore is Reinstate's
	// own, logged by Entra), then deleted again 10 minutes later.
	fought := g.guid()
	del := g.record(cooldownAt, "Delete group", "GroupManagement", "Core Directory", "Delete", "success", adminInitiator(0), groupTarget(fought, "sec-prod-fought", isHardDeleted(false)))
	del.targets = []genTarget{{fought, ruleCriticalGroups}}
	restored := g.record(cooldownAt.Add(time.Minute), "Restore group", "GroupManagement", "Core Directory", "Restore", "success",
		map[string]any{"app": map[string]any{"appId": planSelfAppID, "displayName": "Reinstate", "servicePrincipalId": planSelfSPID}}, groupTarget(fought, "sec-prod-fought", nil))
	restored.targets, restored.initiator = []genTarget{{fought, ""}}, bySelf
	again := g.record(cooldownAt.Add(10*time.Minute), "Delete group", "GroupManagement", "Core Directory", "Delete", "success", adminInitiator(1), groupTarget(fought, "sec-prod-fought", isHardDeleted(false)))
	again.targets, again.scenario = []genTarget{{fought, ruleCriticalGroups}}, scenarioCooldown
	recs = append(recs, del, restored, again)
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].at.Before(recs[j].at) })

	// Second deliveries: a copy of a record a little later in the stream,
	// sometimes in the next file.
	type keyed struct {
		key  float64
		slot planSlot
	}
	stream := make([]keyed, 0, len(recs)+planDuplicates)
	for i, rec := range recs {
		stream = append(stream, keyed{float64(i), planSlot{rec: rec}})
	}
	for _, i := range g.r.Perm(len(recs))[:planDuplicates] {
		stream = append(stream, keyed{float64(i) + 1.5 + float64(g.r.IntN(40)), planSlot{rec: recs[i], dup: true}})
	}
	sort.SliceStable(stream, func(i, j int) bool { return stream[i].key < stream[j].key })

	exp := &planExport{expect: map[[2]string]planExpect{}, burst: burst}
	from := 0
	for n, f := range layout {
		to := from + int(f.share*float64(len(stream)))
		if n == len(layout)-1 {
			to = len(stream)
		}
		slots := make([]planSlot, 0, to-from+len(f.malformed))
		for _, k := range stream[from:to] {
			slots = append(slots, k.slot)
		}
		from = to
		for _, name := range f.malformed {
			m := planMalformations[name]
			// A record that would be restored if it decoded.
			near := slots[g.r.IntN(len(slots))].rec.at
			bad := g.record(near, "Delete group", "GroupManagement", "Core Directory", "Delete", "success", adminInitiator(0), groupTarget(g.guid(), "sec-prod-"+g.word(), isHardDeleted(false)))
			at := 1 + g.r.IntN(len(slots)-1)
			slots = slices.Insert(slots, at, planSlot{rec: bad, bad: &m})
		}
		path := filepath.Join(dir, f.name)
		exp.files = append(exp.files, path)
		exp.writeFile(t, g, path, f.format, slots)
	}
	return exp
}

// writeFile writes slots in format, and records what plan must make of them.
func (exp *planExport) writeFile(t testing.TB, g *planGen, path, format string, slots []planSlot) {
	t.Helper()
	seen := map[string]bool{}
	for id := range exp.expect {
		seen[id[0]] = true
	}
	// docs are the file's JSON documents; positions[i] is where slot i's
	// record is, as a decode skip names it.
	var docs [][]byte
	note := func(i int, s planSlot, position string) {
		exp.records++
		switch {
		case s.bad != nil:
			exp.skips = append(exp.skips, [2]string{fmt.Sprintf("%s: record %d (%s)", path, i+1, position), s.bad.field})
		case s.dup || seen[s.rec.id]:
			exp.duplicates++
		default:
			seen[s.rec.id] = true
			exp.events++
			for j, e := range s.rec.expect(format != formatGraph) {
				exp.expect[[2]string{s.rec.id, s.rec.targets[j].id}] = e
			}
		}
	}
	render := func(s planSlot) map[string]any {
		doc := s.rec.envelope()
		props := doc["properties"].(map[string]any)
		if format == formatGraph {
			doc = maps.Clone(s.rec.props)
			props = doc
		}
		if s.bad != nil && s.bad.spoil != nil {
			s.bad.spoil(doc, props)
		}
		return doc
	}
	mustJSON := func(v any) []byte {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	switch format {
	case formatEventHubs, formatGraph:
		field := "records"
		if format == formatGraph {
			field = "value"
		}
		records := make([]map[string]any, len(slots))
		for i, s := range slots {
			records[i] = render(s)
			note(i, s, fmt.Sprintf("line 1, %s[%d]", field, i))
		}
		body := map[string]any{field: records}
		if format == formatGraph {
			body["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits"
		}
		docs = append(docs, mustJSON(body))
	case formatNDJSON:
		// Mostly one record a line; now and then a whole Event Hubs body.
		for i := 0; i < len(slots); {
			line := len(docs) + 1
			size := 1
			if g.r.IntN(50) == 0 {
				size = 2 + g.r.IntN(3)
			}
			group := slots[i:min(i+size, len(slots))]
			if j := slices.IndexFunc(group, func(s planSlot) bool { return s.bad != nil }); j >= 0 {
				group = group[:max(j, 1)] // a malformed record stands on its own line
			}
			if len(group) == 1 {
				s := group[0]
				note(i, s, fmt.Sprintf("line %d", line))
				if s.bad != nil && s.bad.spoil == nil {
					whole := mustJSON(render(s))
					docs = append(docs, whole[:len(whole)/2])
				} else {
					docs = append(docs, mustJSON(render(s)))
				}
			} else {
				records := make([]map[string]any, len(group))
				for j, s := range group {
					records[j] = render(s)
					note(i+j, s, fmt.Sprintf("line %d, records[%d]", line, j))
				}
				docs = append(docs, mustJSON(map[string]any{"records": records}))
			}
			i += len(group)
		}
	}
	var data []byte
	for _, doc := range docs {
		data = append(append(data, doc...), '\n')
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func planVars() map[string]string {
	return map[string]string{
		"REINSTATE_TENANT_ID": planTenant,
		"REINSTATE_SELF_IDS":  planSelfAppID + "," + planSelfSPID,
	}
}

// planSummaryRE is the first line plan writes to stderr at the end.
var planSummaryRE = regexp.MustCompile(`(?m)^plan: (\d+) events \((\d+) duplicates skipped\), (\d+) decisions, (\d+) deferred, (\d+) recycle-bin reads; table mode (\w+)$`)

// countLine formats counts as plan's summary does: name=count, sorted, or "-".
func countLine(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// TestPlanTenThousandRecords runs plan over a generated month of 10,000
// audit records in six files of three formats, and checks every decision
// against what the generator expects from what it generated.
func TestPlanTenThousandRecords(t *testing.T) {
	rulesText := readString(t, planRules)
	for _, id := range append(slices.Clone(planAdminUserIDs), planExemptAppID, planExemptUPN) {
		if !strings.Contains(rulesText, id) {
			t.Fatalf("%s does not list %s: the generator and the rule file disagree", planRules, id)
		}
	}
	exp := generatePlanExport(t, t.TempDir())
	if exp.records != planTotalRecords {
		t.Fatalf("generated %d records, want %d", exp.records, planTotalRecords)
	}
	// The mix has every case in it.
	rulesSeen, guardsSeen := map[string]int{}, map[string]int{}
	for _, e := range exp.expect {
		rulesSeen[e.rule]++
		guardsSeen[e.guard]++
	}
	for _, rule := range []string{"", ruleIgnoreSandbox, ruleCriticalGroups, ruleAdminUsers, ruleApplications, ruleCA, ruleHardDeletes} {
		if rulesSeen[rule] == 0 {
			t.Errorf("the generator made no record for rule %q", rule)
		}
	}
	for _, guard := range []string{"", "tenant", "self", "exempt", "cooldown", "breaker"} {
		if guardsSeen[guard] == 0 {
			t.Errorf("the generator made no record for guard %q", guard)
		}
	}
	t.Logf("generated %d records in %d files: %d distinct, %d duplicates, %d malformed; expected rules %v, guards %v",
		exp.records, len(exp.files), exp.events, exp.duplicates, len(exp.skips), rulesSeen, guardsSeen)

	began := time.Now()
	r := invoke(t, planVars(), "", append([]string{"plan", "--rules", planRules}, exp.files...)...)
	t.Logf("plan over %d records took %s", exp.records, time.Since(began).Round(time.Millisecond))

	if r.code != 2 {
		t.Errorf("exit %d, want 2 (some records skipped)", r.code)
	}
	// Every malformed record is named with its file and record, and nothing else is.
	for _, skip := range exp.skips {
		line := ""
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.HasPrefix(l, skip[0]+": ") {
				line = l
			}
		}
		if line == "" || !strings.Contains(line, skip[1]) {
			t.Errorf("stderr does not name %q (about %q); it says %q", skip[0], skip[1], line)
		}
	}
	recordLines := 0
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.Contains(l, ": record ") {
			recordLines++
		}
	}
	if recordLines != len(exp.skips) {
		t.Errorf("stderr names %d records, want the %d malformed ones:\n%s", recordLines, len(exp.skips), r.stderr)
	}

	// One decision per distinct event and target, as expected.
	got := map[[2]string]int{}
	byRule, byGuard := map[string]int{}, map[string]int{}
	lines := nonEmptyLines(r.stdout)
	for i, line := range lines {
		var d decide.Decision
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, line)
		}
		key := [2]string{d.EventID, d.ObjectID}
		got[key]++
		if got[key] > 1 {
			t.Errorf("event %s target %s decided %d times", d.EventID, d.ObjectID, got[key])
			continue
		}
		want, ok := exp.expect[key]
		if !ok {
			t.Errorf("decision about an event the generator did not expect: %s", line)
			continue
		}
		if d.RuleName() != want.rule || d.GuardName() != want.guard || !slices.Equal(d.Actions, want.actions) {
			t.Errorf("event %s target %s: rule %q guard %q actions %q; want rule %q guard %q actions %q\n%s",
				d.EventID, d.ObjectID, d.RuleName(), d.GuardName(), d.Actions, want.rule, want.guard, want.actions, line)
		}
		if restore := d.Has("restore"); restore != (want.guard == "" && slices.Contains(planRestoreRules, want.rule)) {
			t.Errorf("event %s: restore %t for rule %q guard %q", d.EventID, restore, want.rule, want.guard)
		}
		tripScope := ""
		if d.Trip != nil {
			tripScope = d.Trip.Scope
		}
		if tripScope != want.trip {
			t.Errorf("event %s: trip %+v, want a trip of %q", d.EventID, d.Trip, want.trip)
		}
		if d.Mode != "enforce" || d.Object != "not-read" || d.Deferred {
			t.Errorf("event %s: mode %q object %q deferred %t", d.EventID, d.Mode, d.Object, d.Deferred)
		}
		byRule[dashed(d.RuleName())]++
		if d.Guard != nil {
			byGuard[*d.Guard]++
		}
	}
	missing := 0
	for key := range exp.expect {
		if got[key] == 0 {
			if missing++; missing <= 10 {
				t.Errorf("no decision for event %s target %s", key[0], key[1])
			}
		}
	}
	if len(got) != len(exp.expect) || len(lines) != len(exp.expect) {
		t.Errorf("%d lines, %d distinct decisions; want %d (%d missing)", len(lines), len(got), len(exp.expect), missing)
	}

	// The trips: the burst's 21st deletion trips critical-groups counting the
	// burst's first 21 groups; its 51st trips the total counting 51.
	trips := 0
	for _, line := range lines {
		var d decide.Decision
		_ = json.Unmarshal([]byte(line), &d)
		if d.Trip == nil {
			continue
		}
		trips++
		n := planPerRule
		if d.Trip.Scope == "total" {
			n = planTotal
		}
		if d.ObjectID != exp.burst[n] || d.Trip.Count != n+1 || d.Trip.Threshold != n || !slices.Equal(d.Trip.ObjectIDs, exp.burst[:n+1]) {
			t.Errorf("trip of %s on %s: %+v; want the burst's deletion %d, counting its first %d groups", d.Trip.Scope, d.ObjectID, d.Trip, n+1, n+1)
		}
	}
	if trips != 2 {
		t.Errorf("%d decisions trip the breaker, want 2", trips)
	}

	// The summary agrees with the decisions and with the generator.
	m := planSummaryRE.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no summary on stderr:\n%s", r.stderr)
	}
	wantSummary := []string{strconv.Itoa(exp.events), strconv.Itoa(exp.duplicates), strconv.Itoa(len(exp.expect)), "0", "0", "enforce"}
	if !slices.Equal(m[1:], wantSummary) {
		t.Errorf("summary %q: events, duplicates, decisions, deferred, reads, mode = %q, want %q", m[0], m[1:], wantSummary)
	}
	wantRules, wantGuards := map[string]int{}, map[string]int{}
	for _, e := range exp.expect {
		wantRules[dashed(e.rule)]++
		if e.guard != "" {
			wantGuards[e.guard]++
		}
	}
	for _, want := range []string{"  by rule: " + countLine(wantRules) + "\n", "  changed by guards: " + countLine(wantGuards) + "\n"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if countLine(byRule) != countLine(wantRules) || countLine(byGuard) != countLine(wantGuards) {
		t.Errorf("decisions by rule %s, by guard %s; want %s and %s", countLine(byRule), countLine(byGuard), countLine(wantRules), countLine(wantGuards))
	}
}

func dashed(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// TestPlan runs plan over testdata/plan/events.json: five records, six
// decisions (rules.yaml's header says which).
func TestPlan(t *testing.T) {
	events := readString(t, planEvents)
	const (
		billing   = `"objectName":"sec-prod-billing","rule":"critical-groups",`
		noMatch   = `"objectName":"Marketing Campaigns","rule":null,"actions":[],"guard":null,`
		exempt    = `"objectName":"sec-prod-ledger","rule":"critical-groups","actions":["notify:secops"],"guard":"exempt",`
		restore   = billing + `"actions":["restore","notify:secops"],"guard":null,`
		hardAlert = `"rule":"hard-deletes","actions":["notify:oncall"],"guard":null,`
	)
	badRules, _ := filepath.Abs(planBadRules)
	tests := []struct {
		name       string
		vars       map[string]string
		stdin      string
		args       []string
		wantCode   int
		wantLines  int // -1: do not count
		wantStdout []string
		wantStderr []string
	}{
		{"decisions", planVars(), "", []string{"--rules", planRules, planEvents}, 0, 6,
			[]string{noMatch, restore, exempt, hardAlert, `"mode":"enforce","object":"not-read"`},
			[]string{"plan: 5 events (0 duplicates skipped), 6 decisions, 0 deferred, 0 recycle-bin reads; table mode enforce",
				"by rule: -=3 critical-groups=2 hard-deletes=1", "changed by guards: exempt=1"}},
		{"tenant guard refuses another tenant's events", map[string]string{"REINSTATE_TENANT_ID": planOtherTenant}, "", []string{"--rules", planRules, planEvents}, 0, 6,
			[]string{`"objectName":"sec-prod-billing","rule":null,"actions":[],"guard":"tenant","reason":"the event is from tenant ` + planTenant},
			[]string{"changed by guards: tenant=6"}},
		{"self guard refuses Reinstate's own events", map[string]string{"REINSTATE_SELF_IDS": planITAdminID}, "", []string{"--rules", planRules, planEvents}, 0, 6,
			[]string{`"objectName":"sec-prod-billing","rule":null,"actions":[],"guard":"self","reason":"caused by Reinstate itself"`},
			[]string{"changed by guards: exempt=1 self=5"}},
		{"REINSTATE_MODE=observe decides without carrying out", map[string]string{"REINSTATE_MODE": "observe"}, "", []string{"--rules", planRules, planEvents}, 0, 6,
			[]string{restore + `"reason":"matched critical-groups; observe mode: not carried out","severity":"critical","mode":"observe"`},
			[]string{"table mode observe"}},
		{"- reads stdin", planVars(), events, []string{"--rules", planRules, "-"}, 0, 6, []string{noMatch, restore, exempt}, nil},
		{"no file reads stdin", planVars(), events, []string{"--rules", planRules}, 0, 6, []string{noMatch, restore, exempt}, nil},
		{"REINSTATE_RULES names the rule file", map[string]string{"REINSTATE_RULES": planRules}, "", []string{planEvents}, 0, 6, []string{restore}, nil},
		{"skipped records exit 2", planVars(), "", []string{"--rules", planRules, planEvents, fixture("malformed/bad-records.json")}, 2, -1,
			[]string{restore}, []string{fixture("malformed/bad-records.json") + ": record 2 (line 1, records[1]): field properties.targetResources"}},
		{"nothing read exits 1", planVars(), "", []string{"--rules", planRules, fixture("malformed/html-error-page.txt")}, 1, 0,
			nil, []string{"html-error-page.txt", "not JSON"}},
		{"bad rule file", planVars(), "", []string{"--rules", badRules, planEvents}, 1, 0,
			nil, []string{badRules + ":5:9: defaults.mode:", badRules + ":18:15: rules[1].actions[0]:"}},
		{"missing rule file", planVars(), "", []string{"--rules", "no-such-rules.yaml", planEvents}, 1, 0,
			nil, []string{"no-such-rules.yaml: cannot read the rule file"}},
		{"--output xml is refused", planVars(), "", []string{"--rules", planRules, "--output", "xml", planEvents}, 1, 0,
			nil, []string{`--output "xml" is not json or table`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := invoke(t, tt.vars, tt.stdin, append([]string{"plan"}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.wantCode, r.stderr)
			}
			lines := nonEmptyLines(r.stdout)
			if tt.wantLines >= 0 && len(lines) != tt.wantLines {
				t.Errorf("%d decisions, want %d:\n%s", len(lines), tt.wantLines, r.stdout)
			}
			for i, line := range lines {
				var d map[string]json.RawMessage
				if err := json.Unmarshal([]byte(line), &d); err != nil {
					t.Fatalf("line %d is not JSON: %v", i+1, err)
				}
				for _, key := range []string{"eventId", "objectId", "rule", "actions", "guard", "reason", "mode", "object"} {
					if _, ok := d[key]; !ok {
						t.Errorf("line %d lacks %q: %s", i+1, key, line)
					}
				}
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout lacks %s:\n%s", want, r.stdout)
				}
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

// TestPlanTable: --output table prints a header and one row per decision,
// in columns that line up across all rows.
func TestPlanTable(t *testing.T) {
	r := invoke(t, planVars(), "", "plan", "--rules", planRules, "--output", "table", planEvents)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := nonEmptyLines(r.stdout)
	if len(lines) != 1+6 {
		t.Fatalf("%d lines, want a header and 6 rows:\n%s", len(lines), r.stdout)
	}
	header := lines[0]
	if got := strings.Fields(header); !slices.Equal(got, []string{"EVENT", "ACTIVITY", "OBJECT", "RULE", "ACTIONS", "GUARD", "REASON"}) {
		t.Fatalf("header %q", header)
	}
	want := []struct{ event, rule, actions, guard string }{
		{"Directory_plan-small-1", "critical-groups", "restore,notify:secops", "-"},
		{"Directory_plan-small-2", "critical-groups", "notify:secops", "exempt"},
		{"Directory_plan-small-3", "-", "-", "-"},
		{"Directory_plan-small-4", "hard-deletes", "notify:oncall", "-"},
		{"Directory_plan-small-5", "-", "-", "-"},
		{"Directory_plan-small-5", "-", "-", "-"},
	}
	column := func(row, name string) string {
		i := strings.Index(header, name)
		if len(row) <= i {
			return ""
		}
		return strings.Fields(row[i:])[0]
	}
	for i, row := range lines[1:] {
		w := want[i]
		got := []string{column(row, "EVENT"), column(row, "RULE"), column(row, "ACTIONS"), column(row, "GUARD")}
		if !slices.Equal(got, []string{w.event, w.rule, w.actions, w.guard}) {
			t.Errorf("row %d under EVENT, RULE, ACTIONS, GUARD: %q, want %q\n%s\n%s", i+1, got, []string{w.event, w.rule, w.actions, w.guard}, header, row)
		}
	}
}

// TestPlanReadsTheRecycleBinFromGraphsim: with --graph, a rule that reads
// `object` sees the recycle-bin copy graphsim holds; without it, `object`
// is null and the rule cannot match. Either way plan writes nothing.
func TestPlanReadsTheRecycleBinFromGraphsim(t *testing.T) {
	const (
		paymentsID = "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65" // sec-prod-payments, a cloud security group
		adminToken = "admin-token"
	)
	tn := simtest.Start(t, "../../testdata/graphsim/seed.json")

	// The administrator deletes the group; graphsim logs it. Counting starts
	// after: reads and writes are plan's requests, whatever token they bear.
	page := tn.DeleteAs(t, adminToken, "groups", paymentsID)
	reads0, writes0 := tn.Reads(""), tn.Writes("")
	reads := func() int64 { return tn.Reads("") - reads0 }
	writes := func() int64 { return tn.Writes("") - writes0 }
	file := filepath.Join(t.TempDir(), "audit-page.json")
	if err := os.WriteFile(file, page, 0o644); err != nil {
		t.Fatal(err)
	}

	vars := map[string]string{"REINSTATE_GRAPH_AUTH": "static", "REINSTATE_GRAPH_TOKEN": "reinstate-token"}
	r := invoke(t, vars, "", "plan", "--rules", planObjectRules, "--graph", tn.URL, file)
	if r.code != 0 {
		t.Fatalf("plan --graph: exit %d\n%s", r.code, r.stderr)
	}
	want := `"objectId":"` + paymentsID + `","objectType":"group","objectName":"sec-prod-payments","rule":"cloud-security-groups","actions":["restore","notify:secops"],"guard":null,`
	if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, `"object":"found"`) {
		t.Errorf("with --graph, want the rule to see the bin's copy (%s and \"object\":\"found\"):\n%s", want, r.stdout)
	}
	if !strings.Contains(r.stderr, "1 recycle-bin reads") {
		t.Errorf("summary does not count one recycle-bin read:\n%s", r.stderr)
	}
	if reads() == 0 || writes() != 0 {
		t.Errorf("plan made %d reads and %d other requests to graphsim; want reads and no writes", reads(), writes())
	}

	r = invoke(t, nil, "", "plan", "--rules", planObjectRules, file)
	if r.code != 0 {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	if want := `"objectName":"sec-prod-payments","rule":null,"actions":[],"guard":null,`; !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, `"object":"not-read"`) {
		t.Errorf("without --graph, want no match and \"object\":\"not-read\":\n%s", r.stdout)
	}
	if writes() != 0 {
		t.Errorf("%d requests other than GET reached graphsim", writes())
	}
	// The group is still in the bin: plan restored nothing.
	if status := tn.Status(t, adminToken, "groups", paymentsID); status != http.StatusNotFound {
		t.Errorf("GET the deleted group: %d, want 404", status)
	}
}

// BenchmarkPlanTenThousandRecords runs `reinstate plan` in-process over the
// generated export of TestPlanTenThousandRecords: decoding, the rules, and
// the guards over their in-memory SQLite state, for 10,000 records.
func BenchmarkPlanTenThousandRecords(b *testing.B) {
	exp := generatePlanExport(b, b.TempDir())
	args := append([]string{"plan", "--rules", planRules}, exp.files...)
	vars := planVars()
	for b.Loop() {
		if r := invoke(b, vars, "", args...); r.code != 2 {
			b.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	}
	b.ReportMetric(float64(exp.records)/(b.Elapsed().Seconds()/float64(b.N)), "records/s")
}
