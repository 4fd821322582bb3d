package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/backup"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
	"github.com/reinstate/reinstate/pkg/store"
)

// paymentsGroup is sec-prod-payments in the graphsim seed.
const paymentsGroup = "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65"

// backupTenant is graphsim with Backup & Recovery, its first snapshot an
// hour before start, and the variables every backup command reads. The
// clock stays where it starts: snapshots and jobs move only if a test
// advances it.
func backupTenant(t *testing.T) (*simtest.Tenant, *simtest.Clock, map[string]string) {
	t.Helper()
	clock := simtest.NewClock(time.Now().UTC().Truncate(time.Second))
	tn := simtest.Start(t, "../../testdata/graphsim/seed.json", simtest.WithClock(clock),
		simtest.WithBackup(graphsim.BackupConfig{FirstSnapshotAge: time.Hour, JobDuration: 8 * time.Minute}))
	vars := map[string]string{
		"REINSTATE_STORE":      "sqlite:" + filepath.Join(t.TempDir(), "state.db"),
		"REINSTATE_GRAPH_URL":  tn.URL,
		"REINSTATE_GRAPH_AUTH": "static", "REINSTATE_GRAPH_TOKEN": "reinstate-token",
		"REINSTATE_RULES":     "../../testdata/rules/oncall.yaml",
		"REINSTATE_TENANT_ID": "7f3c2a91-5d4e-4b8a-9c61-2e0f8d3b4a17",
		"USER":                "ada",
	}
	return tn, clock, vars
}

// TestSnapshotsListsTheStartSnapshot: the snapshot graphsim took at start
// is listed, in the table and as JSON, and its id is the base64 of its time.
func TestSnapshotsListsTheStartSnapshot(t *testing.T) {
	_, clock, vars := backupTenant(t)
	taken := clock.Now().Add(-time.Hour)

	r := invoke(t, vars, "", "snapshots")
	if r.code != 0 {
		t.Fatalf("snapshots: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	lines := nonEmptyLines(r.stdout)
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "ID CREATED CHANGED OBJECTS" {
		t.Fatalf("want a header and one snapshot:\n%s", r.stdout)
	}
	cols := strings.Fields(lines[1])
	decoded, err := base64.StdEncoding.DecodeString(cols[0])
	if err != nil {
		t.Fatalf("snapshot id %q is not base64: %v", cols[0], err)
	}
	if want := taken.Format(time.RFC3339); string(decoded) != want || cols[1] != want {
		t.Errorf("snapshot id decodes to %q, CREATED %q; want both %s", decoded, cols[1], want)
	}

	r = invoke(t, vars, "", "snapshots", "-o", "json")
	if r.code != 0 {
		t.Fatalf("snapshots -o json: exit %d\n%s", r.code, r.stderr)
	}
	var snaps []backup.Snapshot
	for _, line := range nonEmptyLines(r.stdout) {
		var s backup.Snapshot
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		snaps = append(snaps, s)
	}
	if len(snaps) != 1 || snaps[0].ID != cols[0] || !snaps[0].CreatedAt.Equal(taken) {
		t.Errorf("json snapshots %+v; want %s at %s", snaps, cols[0], taken)
	}
}

// TestSnapshotsNewestFirst: a snapshot taken later comes first.
func TestSnapshotsNewestFirst(t *testing.T) {
	tn, clock, vars := backupTenant(t)
	clock.Advance(time.Minute)
	later := tn.Snapshot()
	r := invoke(t, vars, "", "snapshots")
	lines := nonEmptyLines(r.stdout)
	if r.code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[1], later.ID+" ") {
		t.Fatalf("exit %d; want %s first of two:\n%s%s", r.code, later.ID, r.stdout, r.stderr)
	}
}

// preview runs `preview --now` for the deleted payments group as JSON and
// returns the case it prints.
func previewNow(t *testing.T, vars map[string]string, extra ...string) (backup.Case, result) {
	t.Helper()
	args := append([]string{"preview", "--types", "group", "--ids", paymentsGroup, "--reason", "x", "--now", "-o", "json"}, extra...)
	r := invoke(t, vars, "", args...)
	if r.code != 0 {
		t.Fatalf("%s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	lines := nonEmptyLines(r.stdout)
	if len(lines) != 1 {
		t.Fatalf("want one JSON line, got:\n%s", r.stdout)
	}
	var c backup.Case
	if err := json.Unmarshal([]byte(lines[0]), &c); err != nil {
		t.Fatalf("%q: %v", lines[0], err)
	}
	return c, r
}

// TestPreviewNowNeedsStartUnderAppOnlyIdentity: --now starts the preview at
// once, Graph refuses Reinstate's app-only identity, and the case it prints
// needs a person to start it; the request and the refusal are journaled,
// and asking again for the same object makes no second case.
func TestPreviewNowNeedsStartUnderAppOnlyIdentity(t *testing.T) {
	tn, clock, vars := backupTenant(t)
	tn.DeleteAs(t, "admin-token", "groups", paymentsGroup)
	taken := clock.Now().Add(-time.Hour)
	snapshot := base64.StdEncoding.EncodeToString([]byte(taken.Format(time.RFC3339))) + " (" + taken.Format(time.RFC3339) + ")"

	r := invoke(t, vars, "", "preview", "--types", "group", "--ids", paymentsGroup, "--reason", "x", "--since", "30m", "--now")
	if r.code != 0 {
		t.Fatalf("preview --now: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	fields := map[string]string{}
	for _, line := range nonEmptyLines(r.stdout) {
		k, v, _ := strings.Cut(line, "  ")
		fields[k] = strings.TrimSpace(v)
	}
	if fields["case"] == "" || fields["state"] != string(backup.CaseNeedsStart) || !strings.Contains(fields["detail"], "refused Reinstate's own identity") ||
		fields["objects"] != "1 (1 group)" || fields["reason"] != "reinstate preview: x (by ada)" || fields["snapshot"] != snapshot {
		t.Fatalf("want a case in needs-start with its detail, one group, the reason and the snapshot:\n%s", r.stdout)
	}
	if len(tn.Jobs()) != 0 {
		t.Errorf("Graph has jobs after a refusal: %+v", tn.Jobs())
	}

	j := invoke(t, vars, "", "journal", "-o", "json")
	for _, kind := range []store.Kind{backup.KindRequested, backup.KindPreviewRefused} {
		if !strings.Contains(j.stdout, `"kind":"`+string(kind)+`"`) {
			t.Errorf("journal lacks %s:\n%s", kind, j.stdout)
		}
	}

	again, ar := previewNow(t, vars, "--since", "30m")
	if again.ID != fields["case"] || again.State != backup.CaseNeedsStart || !strings.Contains(ar.stderr, "nothing new was requested") {
		t.Errorf("asking again: case %s %s, stderr %q; want case %s unchanged", again.ID, again.State, ar.stderr, fields["case"])
	}
}

// TestPreviewDefaultSinceIsADayBack: without --since the preview answers
// deletions from 24 hours ago, older than the only snapshot, so there is
// nothing to recover from and --now fails the case, saying so.
func TestPreviewDefaultSinceIsADayBack(t *testing.T) {
	_, _, vars := backupTenant(t)
	before := time.Now()
	c, _ := previewNow(t, vars)
	after := time.Now()
	if c.Since.Before(before.Add(-24*time.Hour)) || c.Since.After(after.Add(-24*time.Hour)) {
		t.Errorf("case since %s; want 24h before the command ran (%s)", c.Since, before)
	}
	if c.State != backup.CaseFailed || !strings.Contains(c.Detail, "no snapshot was taken before") {
		t.Errorf("case %s: %s; want failed for want of a snapshot", c.State, c.Detail)
	}
}

// TestPreviewWithoutNowLeavesTheCaseRequested: without --now nothing is
// asked of Graph; the case waits for the next tick.
func TestPreviewWithoutNowLeavesTheCaseRequested(t *testing.T) {
	tn, _, vars := backupTenant(t)
	before := tn.Writes("reinstate-token") + tn.Reads("reinstate-token")
	r := invoke(t, vars, "", "preview", "--types", "GROUP", "--ids", strings.ToUpper(paymentsGroup), "--reason", "x", "-o", "json")
	var c backup.Case
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &c) != nil {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if c.State != backup.CaseRequested || len(c.Scope["group"]) != 1 || c.Scope["group"][0] != paymentsGroup || !strings.Contains(r.stderr, "--now") {
		t.Errorf("case %+v, stderr %q; want requested, naming the group", c, r.stderr)
	}
	if after := tn.Writes("reinstate-token") + tn.Reads("reinstate-token"); after != before {
		t.Errorf("%d Graph requests without --now, want none", after-before)
	}
}

// TestJobsListsGraphJobsAndCases: jobs shows a preview job an administrator
// created in Graph and the case preview recorded, in both sections of the
// table and as the two JSON lines --help documents.
func TestJobsListsGraphJobsAndCases(t *testing.T) {
	tn, _, vars := backupTenant(t)
	tn.DeleteAs(t, "admin-token", "groups", paymentsGroup)
	c, _ := previewNow(t, vars, "--since", "30m")
	if c.State != backup.CaseNeedsStart {
		t.Fatalf("case %s, want needs-start", c.State)
	}
	jobID := createPreviewJob(t, tn, c.Snapshot.ID)

	r := invoke(t, vars, "", "jobs")
	if r.code != 0 {
		t.Fatalf("jobs: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	graphPart, casesPart, ok := strings.Cut(r.stdout, "REINSTATE CASES")
	if !ok || !strings.HasPrefix(graphPart, "GRAPH JOBS\n") {
		t.Fatalf("want the two sections:\n%s", r.stdout)
	}
	if !containsLine(graphPart, jobID, "preview", "initialized", c.Snapshot.CreatedAt.UTC().Format(time.RFC3339)) {
		t.Errorf("Graph section lacks job %s (preview, initialized, of the snapshot):\n%s", jobID, graphPart)
	}
	if !containsLine(casesPart, c.ID, string(backup.CaseNeedsStart), "1", "refused") {
		t.Errorf("cases section lacks case %s in needs-start:\n%s", c.ID, casesPart)
	}

	r = invoke(t, vars, "", "jobs", "-o", "json")
	lines := nonEmptyLines(r.stdout)
	if r.code != 0 || len(lines) != 2 {
		t.Fatalf("jobs -o json: exit %d, want two lines:\n%s%s", r.code, r.stdout, r.stderr)
	}
	var jobs jobsLine
	var cases casesLine
	if err := json.Unmarshal([]byte(lines[0]), &jobs); err != nil || jobs.Jobs == nil {
		t.Fatalf("first line %q: %v", lines[0], err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &cases); err != nil || cases.Cases == nil {
		t.Fatalf("second line %q: %v", lines[1], err)
	}
	if len(jobs.Jobs) != 1 || jobs.Jobs[0].ID != jobID || jobs.Jobs[0].Kind != backup.KindPreview {
		t.Errorf("json jobs %+v, want preview job %s", jobs.Jobs, jobID)
	}
	if len(cases.Cases) != 1 || cases.Cases[0].ID != c.ID || cases.Cases[0].State != backup.CaseNeedsStart {
		t.Errorf("json cases %+v, want case %s", cases.Cases, c.ID)
	}
}

// TestJobsWithNothingSaysNone: an empty tenant and store give two empty
// sections, and JSON empty lists rather than nulls.
func TestJobsWithNothingSaysNone(t *testing.T) {
	_, _, vars := backupTenant(t)
	r := invoke(t, vars, "", "jobs")
	if r.code != 0 || strings.Count(r.stdout, "(none)") != 2 {
		t.Errorf("exit %d, want two empty sections:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = invoke(t, vars, "", "jobs", "-o", "json")
	if r.code != 0 || r.stdout != "{\"jobs\":[]}\n{\"cases\":[]}\n" {
		t.Errorf("exit %d:\n%s", r.code, r.stdout)
	}
}

// TestJobsWhenGraphRefusesStillListsCases: a Graph that refuses the jobs
// listing exits 1, naming the refusal, and the cases are still written.
func TestJobsWhenGraphRefusesStillListsCases(t *testing.T) {
	_, _, vars := backupTenant(t)
	if r := invoke(t, vars, "", "preview", "--types", "user", "--ids", "a1c3e5f7-2b4d-4c6e-8a0b-1d3f5a7c9e21", "--reason", "x"); r.code != 0 {
		t.Fatalf("preview: exit %d\n%s", r.code, r.stderr)
	}
	vars["REINSTATE_GRAPH_TOKEN"] = "no-such-token"
	r := invoke(t, vars, "", "jobs", "-o", "json")
	lines := nonEmptyLines(r.stdout)
	if r.code != 1 || len(lines) != 2 || !strings.Contains(lines[0], `"error":`) || !strings.Contains(lines[1], string(backup.CaseRequested)) ||
		!strings.Contains(r.stderr, "list Graph's Backup & Recovery jobs") {
		t.Errorf("exit %d, want 1 with the error and the case:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestPreviewRefusesBadFlags: each mistake exits 1 naming the flag at
// fault, before anything is recorded.
func TestPreviewRefusesBadFlags(t *testing.T) {
	_, _, vars := backupTenant(t)
	const user = "a1c3e5f7-2b4d-4c6e-8a0b-1d3f5a7c9e21"
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"id not a GUID", []string{"--types", "group", "--ids", paymentsGroup + ",sec-prod-payments", "--reason", "x"}, []string{"--ids", `"sec-prod-payments"`, "GUID"}},
		{"two types with ids", []string{"--types", "group,user", "--ids", paymentsGroup + "," + user, "--reason", "x"}, []string{"--types", "2 types"}},
		{"missing reason", []string{"--types", "group", "--ids", paymentsGroup}, []string{"--reason"}},
		{"blank reason", []string{"--types", "group", "--ids", paymentsGroup, "--reason", "  "}, []string{"--reason"}},
		{"unknown type", []string{"--types", "device", "--ids", paymentsGroup, "--reason", "x"}, []string{"--types", `"device"`, "namedLocation"}},
		{"type without a resource type", []string{"--types", "administrativeUnit", "--ids", paymentsGroup, "--reason", "x"}, []string{"--types", `"administrativeUnit"`}},
		{"no types", []string{"--ids", paymentsGroup, "--reason", "x"}, []string{"--types is required"}},
		{"whole type", []string{"--types", "group", "--reason", "x"}, []string{"--ids", "not supported"}},
		{"bad since", []string{"--types", "group", "--ids", paymentsGroup, "--reason", "x", "--since", "yesterday"}, []string{"--since", `"yesterday"`}},
		{"future since", []string{"--types", "group", "--ids", paymentsGroup, "--reason", "x", "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, []string{"--since", "future"}},
		{"bad output", []string{"--types", "group", "--ids", paymentsGroup, "--reason", "x", "-o", "yaml"}, []string{"--output", `"yaml"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := invoke(t, vars, "", append([]string{"preview"}, tt.args...)...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not say %q: %s", want, r.stderr)
				}
			}
		})
	}
	if r := invoke(t, vars, "", "jobs", "-o", "json"); r.code != 0 || !strings.Contains(r.stdout, `{"cases":[]}`) {
		t.Errorf("refused previews recorded cases (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestBackupListingsRejectUnknownOutput: snapshots and jobs refuse an
// --output they do not write, naming it.
func TestBackupListingsRejectUnknownOutput(t *testing.T) {
	_, _, vars := backupTenant(t)
	for _, command := range []string{"snapshots", "jobs"} {
		if r := invoke(t, vars, "", command, "-o", "yaml"); r.code != 1 || !strings.Contains(r.stderr, `--output "yaml"`) {
			t.Errorf("%s -o yaml: exit %d, stderr %q", command, r.code, r.stderr)
		}
	}
}

// TestBackupCommandsHaveHelp: each command documents its output, jobs its
// JSON lines.
func TestBackupCommandsHaveHelp(t *testing.T) {
	for command, want := range map[string]string{"snapshots": "CHANGED OBJECTS", "jobs": `{"cases":[`, "preview": "needs-start"} {
		r := invoke(t, nil, "", command, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Usage:") || !strings.Contains(r.stdout, want) {
			t.Errorf("%s --help: exit %d, want usage mentioning %q:\n%s%s", command, r.code, want, r.stdout, r.stderr)
		}
	}
}

// createPreviewJob creates a preview job on snapshot as graphsim's
// delegated administrator, as the admin center would, and returns its id.
func createPreviewJob(t *testing.T, tn *simtest.Tenant, snapshot string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, tn.URL+"/beta/directory/recovery/snapshots/"+snapshot+"/recoveryPreviewJobs", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer admin-token")
	resp, err := tn.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("create preview job: %d, Location %q", resp.StatusCode, loc)
	}
	return loc[strings.LastIndexByte(loc, '/')+1:]
}

// containsLine reports whether some line of s holds every field.
func containsLine(s string, fields ...string) bool {
	for _, line := range strings.Split(s, "\n") {
		all := true
		for _, f := range fields {
			all = all && strings.Contains(line, f)
		}
		if all {
			return true
		}
	}
	return false
}
