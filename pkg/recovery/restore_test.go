package recovery_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/recovery"
)

// TestRestoreEveryType deletes one object of each restorable type through
// Graph as the admin, restores it as Reinstate, and checks the outcome
// against what graphsim holds and logged.
func TestRestoreEveryType(t *testing.T) {
	cases := []struct {
		name string
		typ  audit.TargetType
		id   string
		// path is the live collection the admin deletes from; key is the
		// seed (and State.Live) key.
		path, key string
		activity  string
	}{
		{"user", audit.TargetUser, adeleID, "users", "users", "Restore user"},
		{"Microsoft 365 group", audit.TargetGroup, falconID, "groups", "groups", "Restore group"},
		{"cloud security group", audit.TargetGroup, paymentsID, "groups", "groups", "Restore group"},
		{"application", audit.TargetApplication, payrollAppID, "applications", "applications", "Restore application"},
		{"service principal", audit.TargetServicePrincipal, payrollSPID, "servicePrincipals", "servicePrincipals", "Restore service principal"},
		{"administrative unit", audit.TargetAdministrativeUnit, auID, "directory/administrativeUnits", "administrativeUnits", "Restore administrative unit"},
		{"conditional access policy", audit.TargetConditionalAccessPolicy, caPolicyID, "identity/conditionalAccess/policies", "conditionalAccessPolicies", "Restore conditional access policy"},
		{"named location", audit.TargetNamedLocation, namedLocID, "identity/conditionalAccess/namedLocations", "namedLocations", "Restore named location"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, simConfig{})
			live, _ := s.live(tc.key, tc.id)
			s.deleteAs(adminTok, tc.path, tc.id)
			if _, ok := s.live(tc.key, tc.id); ok || !s.inBin(tc.id) {
				t.Fatalf("graphsim did not move %s to a recycle bin", tc.id)
			}
			mark := s.auditCount()

			out, err := s.executor(reinstateTok, recovery.ExecutorOptions{}).Restore(context.Background(),
				recovery.Request{ObjectID: tc.id, ObjectType: tc.typ})
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != recovery.StatusRestored || !out.Verified || out.ObjectID != tc.id || out.ObjectType != tc.typ {
				t.Fatalf("outcome %+v, want %s restored and verified", out, tc.id)
			}
			before, after := decode(t, out.Before), decode(t, out.After)
			if before.ID != tc.id || before.DeletedDateTime == nil {
				t.Errorf("Before is not the bin copy (id and deletedDateTime): %s", out.Before)
			}
			if after.ID != tc.id || after.DeletedDateTime != nil {
				t.Errorf("After is not the live object (deletedDateTime null): %s", out.After)
			}
			if tc.typ == audit.TargetUser {
				if !strings.HasSuffix(before.UserPrincipalName, live.UserPrincipalName) || before.UserPrincipalName == live.UserPrincipalName {
					t.Errorf("Before UPN %q, want the bin's rewritten form of %q", before.UserPrincipalName, live.UserPrincipalName)
				}
				if after.UserPrincipalName != live.UserPrincipalName {
					t.Errorf("After UPN %q, want %q back", after.UserPrincipalName, live.UserPrincipalName)
				}
			}

			if _, ok := s.live(tc.key, tc.id); !ok {
				t.Errorf("%s is not live in graphsim after the restore", tc.id)
			}
			if s.inBin(tc.id) {
				t.Errorf("%s is still in a recycle bin", tc.id)
			}
			s.checkRestoredBy(mark, tc.activity, tc.id)

			if tc.typ == audit.TargetApplication {
				// The app's service principal went to the bin with it and
				// comes back with it (TestApplicationServicePrincipal has the rest).
				if len(out.Related) != 1 || out.Related[0].Status != recovery.StatusRestored || out.Related[0].ObjectID != payrollSPID {
					t.Errorf("Related %+v, want the service principal %s restored", out.Related, payrollSPID)
				}
				s.checkRestoredBy(mark, "Restore service principal", payrollSPID)
			} else if len(out.Related) != 0 {
				t.Errorf("Related %+v, want none", out.Related)
			}
		})
	}
}

// TestRestoreConflicts covers users whose restore collides with live users.
func TestRestoreConflicts(t *testing.T) {
	cases := []struct {
		name string
		id   string
		opts recovery.Options
		// deleteFirst is deleted by the admin before the restore.
		deleteFirst string
		want        recovery.Status
		detail      string // in Detail, for conflicts
		action      string // in Actions
		check       func(t *testing.T, s *sim, out recovery.Outcome)
	}{
		{
			name: "userPrincipalName taken", id: deletedMegan,
			want: recovery.StatusConflict, detail: "userPrincipalName",
		},
		{
			name: "userPrincipalName taken, even with autoReconcileProxyConflict", id: deletedMegan,
			opts: recovery.Options{AutoReconcileProxyConflict: true},
			want: recovery.StatusConflict, detail: "userPrincipalName",
		},
		{
			name: "proxyAddresses clash without the option", id: deletedLeeGu,
			want: recovery.StatusConflict, detail: "autoReconcileProxyConflict",
		},
		{
			name: "proxyAddresses clash with autoReconcileProxyConflict", id: deletedLeeGu,
			opts: recovery.Options{AutoReconcileProxyConflict: true},
			want: recovery.StatusRestored, action: "retried with autoReconcileProxyConflict",
			check: func(t *testing.T, s *sim, out recovery.Outcome) {
				got := decode(t, out.After).ProxyAddresses
				if !slices.Equal(got, []string{"smtp:lgu@contoso.com"}) {
					t.Errorf("restored proxyAddresses %q, want only the one that did not clash", got)
				}
				if !hasAction(out, "dropped proxyAddresses: SMTP:lee.gu@contoso.com") {
					t.Errorf("Actions %q do not name the dropped address", out.Actions)
				}
				isaiah, _ := s.live("users", isaiahID)
				if !slices.Contains(isaiah.ProxyAddresses, "smtp:lee.gu@contoso.com") {
					t.Errorf("the live holder of the address lost it: %q", isaiah.ProxyAddresses)
				}
			},
		},
		{
			name: "autoReconcileProxyConflict without a clash changes nothing", id: adeleID, deleteFirst: adeleID,
			opts: recovery.Options{AutoReconcileProxyConflict: true},
			want: recovery.StatusRestored,
			check: func(t *testing.T, s *sim, out recovery.Outcome) {
				if len(out.Actions) != 0 {
					t.Errorf("Actions %q, want none: nothing clashed", out.Actions)
				}
				if got := decode(t, out.After).ProxyAddresses; !slices.Equal(got, []string{"SMTP:adele.vance@contoso.com"}) {
					t.Errorf("proxyAddresses %q changed", got)
				}
			},
		},
		{
			name: "newUserPrincipalName resolves a userPrincipalName conflict", id: deletedMegan,
			opts: recovery.Options{NewUserPrincipalName: "megan.contractor@contoso.com"},
			want: recovery.StatusRestored,
			check: func(t *testing.T, s *sim, out recovery.Outcome) {
				if upn := decode(t, out.After).UserPrincipalName; upn != "megan.contractor@contoso.com" {
					t.Errorf("restored with UPN %q", upn)
				}
				if megan, _ := s.live("users", meganID); megan.UserPrincipalName != "megan.bowen@contoso.com" {
					t.Errorf("the live Megan's UPN changed to %q", megan.UserPrincipalName)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, simConfig{})
			if tc.deleteFirst != "" {
				s.deleteAs(adminTok, "users", tc.deleteFirst)
			}
			mark := s.auditCount()
			out, err := s.executor(reinstateTok, recovery.ExecutorOptions{}).Restore(context.Background(),
				recovery.Request{ObjectID: tc.id, ObjectType: audit.TargetUser, Options: tc.opts})
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != tc.want {
				t.Fatalf("status %s (%s), want %s", out.Status, out.Detail, tc.want)
			}
			if tc.action != "" && !hasAction(out, tc.action) {
				t.Errorf("Actions %q, want one containing %q", out.Actions, tc.action)
			}
			if tc.want == recovery.StatusConflict {
				if !strings.Contains(out.Detail, tc.detail) {
					t.Errorf("Detail %q does not mention %q", out.Detail, tc.detail)
				}
				// Nothing written: still in the bin, no record, not live.
				if !s.inBin(tc.id) {
					t.Errorf("%s left the bin", tc.id)
				}
				if _, ok := s.live("users", tc.id); ok {
					t.Errorf("%s is live", tc.id)
				}
				if n := s.auditCount() - mark; n != 0 {
					t.Errorf("%d audit records written, want none: %+v", n, s.audits(mark))
				}
				if out.Verified || out.After != nil {
					t.Errorf("a conflict carries a read-back: %+v", out)
				}
				if len(out.Before) == 0 {
					t.Errorf("a conflict should still show the bin copy")
				}
				return
			}
			if !out.Verified || s.inBin(tc.id) {
				t.Errorf("not restored: %+v", out)
			}
			s.checkRestoredBy(mark, "Restore user", tc.id)
			if tc.check != nil {
				tc.check(t, s, out)
			}
		})
	}
}

// TestApplicationServicePrincipal covers the pairing of an application with
// its service principal, which Graph deletes together but restores apart.
func TestApplicationServicePrincipal(t *testing.T) {
	cases := []struct {
		name string
		// before runs after the app's deletion, before its restore.
		before func(t *testing.T, s *sim, x *recovery.Executor)
		opts   recovery.Options
		// want is the service principal's related outcome; "" for none.
		want       recovery.Status
		spLive     bool
		spRestores int // "Restore service principal" records written by the app's restore
	}{
		{name: "restoring the app restores its service principal", want: recovery.StatusRestored, spLive: true, spRestores: 1},
		{name: "skipServicePrincipal leaves it in the bin", opts: recovery.Options{SkipServicePrincipal: true}, spLive: false},
		{
			name: "a service principal restored first is reported already live",
			before: func(t *testing.T, s *sim, x *recovery.Executor) {
				out, err := x.Restore(context.Background(), recovery.Request{ObjectID: payrollSPID, ObjectType: audit.TargetServicePrincipal})
				if err != nil || out.Status != recovery.StatusRestored {
					t.Fatalf("restore the service principal alone: %+v, %v", out, err)
				}
			},
			want: recovery.StatusAlreadyLive, spLive: true, spRestores: 0,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, simConfig{})
			s.deleteAs(adminTok, "applications", payrollAppID)
			if _, ok := s.live("servicePrincipals", payrollSPID); ok || !s.inBin(payrollSPID) {
				t.Fatal("deleting the app did not delete its service principal")
			}
			x := s.executor(reinstateTok, recovery.ExecutorOptions{})
			if tc.before != nil {
				tc.before(t, s, x)
			}
			mark := s.auditCount()
			out, err := x.Restore(context.Background(), recovery.Request{ObjectID: payrollAppID, ObjectType: audit.TargetApplication, Options: tc.opts})
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != recovery.StatusRestored || !out.Verified {
				t.Fatalf("app outcome %+v", out)
			}
			s.checkRestoredBy(mark, "Restore application", payrollAppID)
			if tc.want == "" {
				if len(out.Related) != 0 {
					t.Errorf("Related %+v, want none", out.Related)
				}
			} else {
				if len(out.Related) != 1 {
					t.Fatalf("Related %+v, want the service principal", out.Related)
				}
				sp := out.Related[0]
				if sp.Status != tc.want || sp.ObjectID != payrollSPID || sp.ObjectType != audit.TargetServicePrincipal || !sp.Verified {
					t.Errorf("service principal outcome %+v, want %s %s", sp, payrollSPID, tc.want)
				}
			}
			if _, ok := s.live("servicePrincipals", payrollSPID); ok != tc.spLive {
				t.Errorf("service principal live = %v, want %v", ok, tc.spLive)
			}
			if n := s.restoreRecords(mark, payrollSPID); n != tc.spRestores {
				t.Errorf("%d service principal restore records, want %d", n, tc.spRestores)
			}
		})
	}
}

// TestRestoreFinalOutcomes covers re-runs and the requests that cannot
// succeed, none of which may write anything.
func TestRestoreFinalOutcomes(t *testing.T) {
	cases := []struct {
		name  string
		token string
		// setup prepares graphsim; nil leaves the seed as it is.
		setup  func(s *sim, x *recovery.Executor)
		req    recovery.Request
		want   recovery.Status
		detail string
		// noRequests: the executor must not call Graph at all.
		noRequests bool
	}{
		{
			name: "second restore finds the object live",
			setup: func(s *sim, x *recovery.Executor) {
				s.deleteAs(adminTok, "groups", printersID)
				if out, err := x.Restore(context.Background(), recovery.Request{ObjectID: printersID, ObjectType: audit.TargetGroup}); err != nil || out.Status != recovery.StatusRestored {
					s.t.Fatalf("first restore: %+v, %v", out, err)
				}
			},
			req:  recovery.Request{ObjectID: printersID, ObjectType: audit.TargetGroup},
			want: recovery.StatusAlreadyLive,
		},
		{
			name: "never deleted",
			req:  recovery.Request{ObjectID: adeleID, ObjectType: audit.TargetUser},
			want: recovery.StatusAlreadyLive,
		},
		{
			name: "neither live nor in the bin",
			req:  recovery.Request{ObjectID: neverExisted, ObjectType: audit.TargetGroup},
			want: recovery.StatusNotFound, detail: "not live and not in the recycle bin",
		},
		{
			name:  "synced group deleted by directory synchronization",
			setup: func(s *sim, _ *recovery.Executor) { s.externalDelete(financeID) },
			req:   recovery.Request{ObjectID: financeID, ObjectType: audit.TargetGroup},
			want:  recovery.StatusNotFound, detail: "hard-deleted",
		},
		{
			name:  "mail-enabled security group deleted by Exchange Online",
			setup: func(s *sim, _ *recovery.Executor) { s.externalDelete(hrNoticesID) },
			req:   recovery.Request{ObjectID: hrNoticesID, ObjectType: audit.TargetGroup},
			want:  recovery.StatusNotFound, detail: "hard-deleted",
		},
		{
			name: "a user's id asked for as a group",
			req:  recovery.Request{ObjectID: deletedLeeGu, ObjectType: audit.TargetGroup},
			want: recovery.StatusFailed, detail: "#microsoft.graph.user",
		},
		{
			name: "a named location's id asked for as a policy",
			setup: func(s *sim, _ *recovery.Executor) {
				s.deleteAs(adminTok, "identity/conditionalAccess/namedLocations", namedLocID)
			},
			req:  recovery.Request{ObjectID: namedLocID, ObjectType: audit.TargetConditionalAccessPolicy},
			want: recovery.StatusNotFound,
		},
		{
			name:  "reader identity without restore permission",
			token: readerTok,
			req:   recovery.Request{ObjectID: deletedOrion, ObjectType: audit.TargetGroup},
			want:  recovery.StatusFailed, detail: "needs Group.ReadWrite.All",
		},
		{
			name:  "reader identity, user",
			token: readerTok,
			req:   recovery.Request{ObjectID: deletedLeeGu, ObjectType: audit.TargetUser},
			want:  recovery.StatusFailed, detail: "needs User.DeleteRestore.All",
		},
		{
			name: "object id that is not a GUID",
			req:  recovery.Request{ObjectID: "../users/" + adeleID, ObjectType: audit.TargetUser},
			want: recovery.StatusFailed, detail: "not a directory object id", noRequests: true,
		},
		{
			name: "type that cannot be restored",
			req:  recovery.Request{ObjectID: adeleID, ObjectType: audit.TargetDevice},
			want: recovery.StatusFailed, detail: "cannot be restored", noRequests: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, simConfig{})
			token := tc.token
			if token == "" {
				token = reinstateTok
			}
			x := s.executor(token, recovery.ExecutorOptions{})
			if tc.setup != nil {
				tc.setup(s, s.executor(reinstateTok, recovery.ExecutorOptions{}))
			}
			mark, requests := s.auditCount(), s.srv.State().Requests.Total
			binned := s.inBin(tc.req.ObjectID)

			out, err := x.Restore(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != tc.want || !strings.Contains(out.Detail, tc.detail) {
				t.Fatalf("outcome %s %q, want %s with %q", out.Status, out.Detail, tc.want, tc.detail)
			}
			if n := s.auditCount() - mark; n != 0 {
				t.Errorf("%d audit records written, want none: %+v", n, s.audits(mark))
			}
			if s.inBin(tc.req.ObjectID) != binned {
				t.Errorf("the bin changed")
			}
			if n := s.srv.State().Requests.Total - requests; tc.noRequests && n != 0 {
				t.Errorf("%d Graph requests, want none", n)
			}
			if tc.want == recovery.StatusAlreadyLive && (!out.Verified || decode(t, out.After).ID != tc.req.ObjectID) {
				t.Errorf("already-live outcome without the live object: %+v", out)
			}
		})
	}
}

// TestConditionalAccessReportOnly covers restoring a policy into report-only.
func TestConditionalAccessReportOnly(t *testing.T) {
	cases := []struct {
		name     string
		deleted  string // the policy's state when it was deleted
		option   string
		want     string
		reported bool // Actions record the move, and an update record is logged
	}{
		{"enabled policy, report-only asked", "enabled", recovery.CAStateReportOnly, "enabledForReportingButNotEnforced", true},
		{"enabled policy, no option", "enabled", "", "enabled", false},
		{"disabled policy stays disabled", "disabled", recovery.CAStateReportOnly, "disabled", false},
		{"report-only policy stays so", "enabledForReportingButNotEnforced", recovery.CAStateReportOnly, "enabledForReportingButNotEnforced", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, simConfig{seed: func(seed *graphsim.Seed) { setPolicyState(t, seed, tc.deleted) }})
			s.deleteAs(adminTok, "identity/conditionalAccess/policies", caPolicyID)
			mark := s.auditCount()
			out, err := s.executor(reinstateTok, recovery.ExecutorOptions{}).Restore(context.Background(), recovery.Request{
				ObjectID: caPolicyID, ObjectType: audit.TargetConditionalAccessPolicy,
				Options: recovery.Options{CAPolicyStateAfterRestore: tc.option},
			})
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != recovery.StatusRestored || !out.Verified {
				t.Fatalf("outcome %+v", out)
			}
			if got := decode(t, out.After).State; got != tc.want {
				t.Errorf("After state %q, want %q", got, tc.want)
			}
			if got := decode(t, out.Before).State; got != tc.deleted {
				t.Errorf("Before state %q, want the bin's %q", got, tc.deleted)
			}
			if live, _ := s.live("conditionalAccessPolicies", caPolicyID); live.State != tc.want {
				t.Errorf("graphsim holds the policy %q, want %q", live.State, tc.want)
			}
			if hasAction(out, "report-only") != tc.reported {
				t.Errorf("Actions %q; want the report-only move recorded: %v", out.Actions, tc.reported)
			}
			s.checkRestoredBy(mark, "Restore conditional access policy", caPolicyID)
			updates := 0
			for _, r := range s.audits(mark) {
				if r.Activity == "Update conditional access policy" {
					updates++
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tc.reported]; updates != want {
				t.Errorf("%d policy updates logged, want %d", updates, want)
			}
		})
	}
}

// setPolicyState sets the seeded policy's state.
func setPolicyState(t *testing.T, seed *graphsim.Seed, state string) {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(seed.ConditionalAccessPolicies[0], &p); err != nil {
		t.Fatal(err)
	}
	p["state"] = state
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	seed.ConditionalAccessPolicies[0] = raw
}
