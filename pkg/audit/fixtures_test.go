package audit

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fixtureDir holds the hand-written sample inputs shared with other packages.
const fixtureDir = "../../testdata/audit"

// Values that recur in the fixtures, written out by hand.
const (
	tenant         = "9f3c6a1e-2b7d-4c58-8e0f-1a2b3c4d5e6f"
	adminID        = "3b1f7c2a-8d4e-4f6a-9c0b-5e7d1a2f3c4b"
	adminUPN       = "it.admin@contoso.onmicrosoft.com"
	helpdeskID     = "c4d2e6f8-0a1b-4c3d-9e5f-7a8b9c0d1e2f"
	helpdeskUPN    = "helpdesk.lead@contoso.onmicrosoft.com"
	coreDirectory  = "Core Directory"
	condAccess     = "Conditional Access"
	statusSuccess  = "success"
	statusFailure  = "failure"
	mfaPolicyName  = "Require MFA for admins"
	payrollApp     = "Payroll Connector"
	wikiApp        = "Contoso Wiki"
	marketingGroup = "Marketing Campaigns"
)

var (
	byAdmin    = Initiator{Type: InitiatorUser, ID: adminID, UserPrincipalName: adminUPN}
	byHelpdesk = Initiator{Type: InitiatorUser, ID: helpdeskID, UserPrincipalName: helpdeskUPN}
)

// wantTarget is the part of a Target the fixture table checks.
type wantTarget struct {
	id   string
	typ  TargetType
	name string
	upn  string
}

// wantEvent is one expected event of a fixture, by position in Events.
type wantEvent struct {
	at        int
	id        string
	tenant    string
	time      string // RFC 3339, compared as an instant and required to be UTC
	activity  string
	result    string
	service   string
	initiator Initiator
	targets   []wantTarget
	deletion  Deletion
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkEvent(t *testing.T, got Event, want wantEvent) {
	t.Helper()
	if got.ID != want.id {
		t.Errorf("event %d: id = %q, want %q", want.at, got.ID, want.id)
	}
	if got.TenantID != want.tenant {
		t.Errorf("event %d: tenantId = %q, want %q", want.at, got.TenantID, want.tenant)
	}
	wantTime, err := time.Parse(time.RFC3339Nano, want.time)
	if err != nil {
		t.Fatalf("bad want time %q: %v", want.time, err)
	}
	if !got.Time.Equal(wantTime) || got.Time.Location() != time.UTC {
		t.Errorf("event %d: time = %v, want %v in UTC", want.at, got.Time, wantTime.UTC())
	}
	if got.Activity != want.activity {
		t.Errorf("event %d: activity = %q, want %q", want.at, got.Activity, want.activity)
	}
	if got.Result != want.result {
		t.Errorf("event %d: result = %q, want %q", want.at, got.Result, want.result)
	}
	if got.Service != want.service {
		t.Errorf("event %d: service = %q, want %q", want.at, got.Service, want.service)
	}
	if got.Initiator != want.initiator {
		t.Errorf("event %d: initiator = %+v, want %+v", want.at, got.Initiator, want.initiator)
	}
	if got.Deletion != want.deletion {
		t.Errorf("event %d: deletion = %q, want %q", want.at, got.Deletion, want.deletion)
	}
	if len(got.Targets) != len(want.targets) {
		t.Fatalf("event %d: %d targets, want %d: %+v", want.at, len(got.Targets), len(want.targets), got.Targets)
	}
	for i, wt := range want.targets {
		gt := got.Targets[i]
		if gt.ID != wt.id || gt.Type != wt.typ || gt.DisplayName != wt.name || gt.UserPrincipalName != wt.upn {
			t.Errorf("event %d target %d = {%q %q %q %q}, want {%q %q %q %q}", want.at, i,
				gt.ID, gt.Type, gt.DisplayName, gt.UserPrincipalName, wt.id, wt.typ, wt.name, wt.upn)
		}
	}
}

func TestDecodeFixtures(t *testing.T) {
	tests := []struct {
		file   string
		events int
		skips  int
		want   []wantEvent
	}{
		{file: "eventhubs/user.json", events: 3, want: []wantEvent{
			{at: 0, id: "Directory_5c2e8f14-7a3b-4d9e-b1c6-0f8a2d4e6b13_8KQ2M_201556871", tenant: tenant,
				time: "2025-03-14T09:12:47.3318825Z", activity: "Delete user", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionSoft, targets: []wantTarget{
					{id: "6d8e2f4a-1c3b-4e5d-8f7a-9b0c1d2e3f4a", typ: TargetUser, upn: "6d8e2f4a1c3b4e5d8f7a9b0c1d2e3f4ajohn.doe@contoso.onmicrosoft.com"}}},
			{at: 1, id: "Directory_e71a3c5b-9d2f-4e8a-a6b4-2c0d8e1f5a37_3TZP9_201561402", tenant: tenant,
				time: "2025-03-14T09:40:02.1187342Z", activity: "Hard Delete user", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionHard, targets: []wantTarget{
					{id: "6d8e2f4a-1c3b-4e5d-8f7a-9b0c1d2e3f4a", typ: TargetUser, upn: "6d8e2f4a1c3b4e5d8f7a9b0c1d2e3f4ajohn.doe@contoso.onmicrosoft.com"}}},
			{at: 2, id: "Directory_2b9f4d61-c3e8-4a7b-95d0-6e1f3a8c2d47_R5WXA_201563318", tenant: tenant,
				time: "2025-03-14T10:05:19.9002417Z", activity: "Restore user", result: statusSuccess, service: coreDirectory,
				initiator: byHelpdesk, deletion: DeletionNone, targets: []wantTarget{
					{id: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", typ: TargetUser, upn: "jane.roe@contoso.onmicrosoft.com"}}},
		}},
		{file: "eventhubs/group.json", events: 3, want: []wantEvent{
			{at: 0, id: "Directory_a3d5f7b9-1c2e-4f6a-8b0d-3e5f7a9c1b2d_6HJ4N_201570025", tenant: tenant,
				time: "2025-03-15T16:21:08.4471936Z", activity: "Delete group", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionSoft, targets: []wantTarget{
					{id: "8a4c2e6f-3b5d-4f7a-b9c1-d2e3f4a5b6c7", typ: TargetGroup, name: marketingGroup}}},
			{at: 1, id: "Directory_4f6b8d0a-2e3c-4b5d-9f7e-1a3c5e7b9d0f_Q2LC7_201574460", tenant: tenant,
				time: "2025-03-15T16:48:55.009331Z", activity: "Hard Delete group", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionHard, targets: []wantTarget{
					{id: "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b", typ: TargetGroup, name: "Project Falcon (archived)"}}},
			{at: 2, id: "Directory_d9c7b5a3-8e6f-4d2c-a1b0-f9e8d7c6b5a4_MN8V2_201576112", tenant: tenant,
				time: "2025-03-15T17:02:33.7719048Z", activity: "Restore group", result: statusSuccess, service: coreDirectory,
				initiator: byHelpdesk, deletion: DeletionNone, targets: []wantTarget{
					{id: "8a4c2e6f-3b5d-4f7a-b9c1-d2e3f4a5b6c7", typ: TargetGroup, name: marketingGroup}}},
		}},
		{file: "eventhubs/application.json", events: 3, want: []wantEvent{
			{at: 0, id: "Directory_7e9a1c3e-5b7d-4f0a-a2c4-6e8a0c2e4b6d_KX3R8_201580977", tenant: tenant,
				time: "2025-04-02T08:03:41.2296655Z", activity: "Delete application", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionSoft, targets: []wantTarget{
					{id: "b7d9f1a3-5c6e-4a8b-9d0f-2e4a6c8e0b1d", typ: TargetApplication, name: payrollApp}}},
			{at: 1, id: "Directory_1d3f5b7d-9a0c-4e2a-b4d6-8f0b2d4f6a8c_P7GW2_201584150", tenant: tenant,
				time: "2025-04-02T08:31:12.6650981Z", activity: "Hard Delete application", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionHard, targets: []wantTarget{
					{id: "2c4e6a8b-0d1f-4b3c-8e5a-7c9e1b3d5f6a", typ: TargetApplication, name: "Legacy Intranet"}}},
			{at: 2, id: "Directory_6a8c0e2a-4c6e-4b8d-a0f2-3b5d7f9a1c3e_ZB5T1_201585733", tenant: tenant,
				time: "2025-04-02T09:10:27.5538862Z", activity: "Restore application", result: statusSuccess, service: coreDirectory,
				initiator: byHelpdesk, deletion: DeletionNone, targets: []wantTarget{
					{id: "b7d9f1a3-5c6e-4a8b-9d0f-2e4a6c8e0b1d", typ: TargetApplication, name: payrollApp}}},
		}},
		{file: "eventhubs/service-principal.json", events: 3, want: []wantEvent{
			{at: 0, id: "Directory_9c1e3a5c-7e9a-4b1d-b3f5-5d7f9b1d3f5a_WQ4E6_201588409", tenant: tenant,
				time: "2025-04-03T11:45:03.8875104Z", activity: "Remove service principal", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionSoft, targets: []wantTarget{
					{id: "e3a5c7e9-1b2d-4f4a-8c6e-0a2c4e6a8b0d", typ: TargetServicePrincipal, name: payrollApp}}},
			{at: 1, id: "Directory_3e5a7c9e-1a3c-4d5f-a7b9-7f9b1d3f5b7d_HC9M4_201592266", tenant: tenant,
				time: "2025-04-03T12:15:49.3021178Z", activity: "Hard delete service principal", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionHard, targets: []wantTarget{
					{id: "5b7d9f1b-3d5f-4a7c-9e0a-4c6e8a0c2e4f", typ: TargetServicePrincipal, name: "Legacy Intranet"}}},
			{at: 2, id: "Directory_8b0d2f4b-6d8f-4e0a-b2c4-9b1d3f5b7d9f_T6YK3_201593871", tenant: tenant,
				time: "2025-04-03T12:40:16.1174523Z", activity: "Restore service principal", result: statusSuccess, service: coreDirectory,
				initiator: byHelpdesk, deletion: DeletionNone, targets: []wantTarget{
					{id: "e3a5c7e9-1b2d-4f4a-8c6e-0a2c4e6a8b0d", typ: TargetServicePrincipal, name: payrollApp}}},
		}},
		{file: "eventhubs/administrative-unit.json", events: 2, want: []wantEvent{
			{at: 0, id: "Directory_0f2b4d6f-8b0d-4f2b-a4d6-1b3d5f7b9d1f_J8DN5_201601734", tenant: tenant,
				time: "2025-04-10T13:30:58.7743019Z", activity: "Delete administrative unit", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionSoft, targets: []wantTarget{
					{id: "d4f6a8c0-2e4a-4c6e-8a0c-5e7a9c1e3a5c", typ: TargetAdministrativeUnit, name: "EMEA Field Staff"}}},
			{at: 1, id: "Directory_c6e8a0c6-2e4a-4c6e-b8d0-2c4e6a8c0e2a_F3SU7_201603390", tenant: tenant,
				time: "2025-04-10T13:52:24.0216688Z", activity: "Hard Delete administrative unit", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionHard, targets: []wantTarget{
					{id: "a0c2e4a6-8c0e-4a2c-9e4a-6c8e0a2c4e6a", typ: TargetAdministrativeUnit, name: "Pilot Region (retired)"}}},
		}},
		{file: "eventhubs/conditional-access.json", events: 2, want: []wantEvent{
			{at: 0, id: "IPCGraph_b2d4f6b8-0d2f-4b4d-8f6b-3d5f7b9d1f3b", tenant: tenant,
				time: "2025-05-06T18:04:11.5520937Z", activity: "Delete conditional access policy", result: statusSuccess, service: condAccess,
				initiator: byAdmin, deletion: DeletionSoft, targets: []wantTarget{
					{id: "7c9e1a3c-5e7a-4c9e-a1b3-8d0f2b4d6f8a", typ: TargetConditionalAccessPolicy, name: mfaPolicyName}}},
			{at: 1, id: "IPCGraph_f8a0c2e4-6a8c-4e0a-a2c4-4e6a8c0e2a4c", tenant: tenant,
				time: "2025-05-06T18:09:37.0048261Z", activity: "Delete named location", result: statusSuccess, service: condAccess,
				initiator: byAdmin, deletion: DeletionSoft, targets: []wantTarget{
					{id: "1a3c5e7a-9c1e-4a3c-b5d7-9e1a3c5e7a9c", typ: TargetNamedLocation, name: "Corporate egress IPs"}}},
		}},
		{file: "eventhubs/failure-and-app.json", events: 2, want: []wantEvent{
			{at: 0, id: "Directory_5a7c9e1a-3c5e-4a7c-b9e1-a3c5e7a9c1e3_UV2B8_201611945", tenant: tenant,
				time: "2025-05-20T07:26:44.663159Z", activity: "Delete user", result: statusFailure, service: coreDirectory,
				initiator: byHelpdesk, deletion: DeletionSoft, targets: []wantTarget{
					{id: "9e1b3d5f-7a9c-4e1b-83d5-f7a9c1e3b5d7", typ: TargetUser, upn: "chief.exec@contoso.onmicrosoft.com"}}},
			{at: 1, id: "Directory_0b2d4f6b-8d0f-4b2d-a4f6-b8d0f2b4d6f8_NE7K5_201613077", tenant: tenant,
				time: "2025-05-20T07:30:02.9914738Z", activity: "Delete group", result: statusSuccess, service: coreDirectory,
				initiator: Initiator{Type: InitiatorApp, ID: "6c8e0a2c-4e6a-4c8e-92b4-c6e8a0c2e4a6", AppID: "4f6a8c0e-2a4c-4e6a-b0c2-e4a6c8e0a2c4",
					ServicePrincipalID: "6c8e0a2c-4e6a-4c8e-92b4-c6e8a0c2e4a6", DisplayName: "HR Offboarding Automation"},
				deletion: DeletionSoft, targets: []wantTarget{
					{id: "3d5f7b9d-1f3b-4d5f-97b9-d1f3b5d7f9b1", typ: TargetGroup, name: "Contractors - Q1 2025"}}},
		}},
		{file: "eventhubs/variance.json", events: 6, want: []wantEvent{
			{at: 4, id: "Directory_5a7c9e1a-3c5e-4a7c-89e1-a3c5e7a9c1e3_V5MSI_201620005", tenant: tenant,
				time: "2025-05-21T10:00:05.5000005Z", activity: "Remove service principal", result: statusSuccess, service: coreDirectory,
				initiator: Initiator{Type: InitiatorApp, ID: "7e0a2c4e-6a8c-4e0a-9b2c-e6a8c0e2a4c6",
					ServicePrincipalID: "7e0a2c4e-6a8c-4e0a-9b2c-e6a8c0e2a4c6", DisplayName: "Managed Service Identity"},
				deletion: DeletionSoft, targets: []wantTarget{
					{id: "6d8f0b2d-4f6b-4d8f-8a0b-d4f6b8d0f2b4", typ: TargetServicePrincipal, name: "func-reporting-prod"}}},
			{at: 5, id: "Directory_V6OLD_28148892", tenant: tenant,
				time: "2025-05-21T10:00:06.6000006Z", activity: "Update policy", result: statusSuccess, service: coreDirectory,
				initiator: Initiator{Type: InitiatorUnknown}, deletion: DeletionNone, targets: []wantTarget{
					{id: "8f1a3c5e-7a9c-4e1a-b3c5-e7a9c1e3a5c7", typ: TargetOther, name: "Default Policy"}}},
		}},
		{file: "eventhubs/mixed-batch.json", events: 8, want: []wantEvent{
			{at: 0, id: "Directory_11a3c5e7-a9c1-4e3a-95c7-e9a1c3e5a7c9_MB1UP_202100101", tenant: tenant,
				time: "2025-06-02T14:00:12.4418263Z", activity: "Update user", result: statusSuccess, service: coreDirectory,
				initiator: byHelpdesk, deletion: DeletionNone, targets: []wantTarget{
					{id: "7a9c1e3a-5c7e-4a9c-b1e3-a5c7e9a1c3e5", typ: TargetUser, upn: "alex.wilber@contoso.onmicrosoft.com"}}},
			{at: 1, id: "Directory_22b4d6f8-b0d2-4f4b-a6d8-f0b2d4f6b8d0_MB2DG_202100102", tenant: tenant,
				time: "2025-06-02T14:01:03.9902154Z", activity: "Delete group", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionSoft, targets: []wantTarget{
					{id: "c1e3a5c7-e9a1-4c3e-85c7-e9a1c3e5a7c9", typ: TargetGroup, name: "sec-prod-payments"}}},
			{at: 2, id: "Directory_33c5e7a9-c1e3-4a5c-b7e9-a1c3e5a7c9e1_MB3SP_202100103", tenant: tenant,
				time: "2025-06-02T14:01:47.2236671Z", activity: "Remove service principal", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionSoft, targets: []wantTarget{
					{id: "d2f4b6d8-f0b2-4d4f-96d8-f0b2d4f6b8d0", typ: TargetServicePrincipal, name: "payments-api-prod"}}},
			{at: 3, id: "Directory_44d6f8b0-d2f4-4b6d-88f0-b2d4f6b8d0f2_MB4HU_202100104", tenant: tenant,
				time: "2025-06-02T14:02:20.5573308Z", activity: "Hard Delete user", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionHard, targets: []wantTarget{
					{id: "e3a5c7e9-a1c3-4e5a-a7e9-a1c3e5a7c9e1", typ: TargetUser, upn: "e3a5c7e9a1c34e5aa7e9a1c3e5a7c9e1former.contractor@contoso.onmicrosoft.com"}}},
			{at: 4, id: "IPCGraph_55e7a9c1-e3a5-4c7e-99a1-c3e5a7c9e1a3", tenant: tenant,
				time: "2025-06-02T14:03:05.0081947Z", activity: "Delete conditional access policy", result: statusSuccess, service: condAccess,
				initiator: byAdmin, deletion: DeletionSoft, targets: []wantTarget{
					{id: "f4b6d8f0-b2d4-4f6b-b8f0-b2d4f6b8d0f2", typ: TargetConditionalAccessPolicy, name: mfaPolicyName}}},
			{at: 5, id: "Directory_66f8b0d2-f4b6-4d8f-a0b2-d4f6b8d0f2b4_MB6RU_202100106", tenant: tenant,
				time: "2025-06-02T14:03:41.776452Z", activity: "Restore user", result: statusSuccess, service: coreDirectory,
				initiator: byHelpdesk, deletion: DeletionNone, targets: []wantTarget{
					{id: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", typ: TargetUser, upn: "jane.roe@contoso.onmicrosoft.com"}}},
			{at: 6, id: "Directory_77a9c1e3-a5c7-4e9a-b1c3-e5a7c9e1a3c5_MB7AM_202100107", tenant: tenant,
				time: "2025-06-02T14:04:18.3349016Z", activity: "Add member to group", result: statusSuccess, service: coreDirectory,
				initiator: byHelpdesk, deletion: DeletionNone, targets: []wantTarget{
					{id: "7a9c1e3a-5c7e-4a9c-b1e3-a5c7e9a1c3e5", typ: TargetUser, upn: "alex.wilber@contoso.onmicrosoft.com"},
					{id: "a5c7e9a1-c3e5-4a7c-89a1-c3e5a7c9e1a3", typ: TargetGroup, name: "Engineering"}}},
			{at: 7, id: "Directory_88b0d2f4-b6d8-4f0b-82d4-f6b8d0f2b4d6_MB8DU_202100108", tenant: tenant,
				time: "2025-06-02T14:04:52.6617843Z", activity: "Delete user", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionSoft, targets: []wantTarget{
					{id: "b6d8f0b2-d4f6-4b8d-9ab2-d4f6b8d0f2b4", typ: TargetUser, upn: "b6d8f0b2d4f64b8d9ab2d4f6b8d0f2b4temp.vendor@contoso.onmicrosoft.com"}}},
		}},
		{file: "graph/directory-audits-page.json", events: 4, want: []wantEvent{
			{at: 0, id: "Directory_9a1c3e5a-7c9e-4a1c-b3e5-a7c9e1a3c5e7_GR1HS_202200201", tenant: "",
				time: "2025-06-10T07:15:42.881336Z", activity: "Hard delete service principal", result: statusSuccess, service: coreDirectory,
				initiator: Initiator{Type: InitiatorUser, ID: adminID, UserPrincipalName: adminUPN, DisplayName: "IT Admin"},
				deletion:  DeletionHard, targets: []wantTarget{
					{id: "0c2e4a6c-8e0a-4c2e-a4a6-c8e0a2c4e6a8", typ: TargetServicePrincipal, name: "Old SSO Bridge"}}},
			{at: 1, id: "Directory_ab2d4f6b-8d0f-4b2d-84f6-b8d0f2b4d6f8_GR2DG_202200202", tenant: "",
				time: "2025-06-10T07:09:05.1127745Z", activity: "Delete group", result: statusSuccess, service: coreDirectory,
				initiator: Initiator{Type: InitiatorUser, ID: adminID, UserPrincipalName: adminUPN, DisplayName: "IT Admin"},
				deletion:  DeletionSoft, targets: []wantTarget{ // logged with "Type", capitalised
					{id: "1d3f5b7d-9f1b-4d3f-b5b7-d9f1b3d5f7b9", typ: TargetGroup, name: "All Company Events"}}},
			{at: 2, id: "Directory_bc3e5a7c-9e1a-4c3e-95a7-c9e1a3c5e7a9_GR3AM_202200203", tenant: "",
				time: "2025-06-10T07:02:58.4490012Z", activity: "Add member to group", result: statusSuccess, service: coreDirectory,
				initiator: Initiator{Type: InitiatorApp, ID: "e7f9a1b3-c5d7-4e9f-b1a3-c5d7e9f1a3b5", AppID: "d6e8f0a2-b4c6-4d8e-a0f2-b4c6d8e0f2a4",
					ServicePrincipalID: "e7f9a1b3-c5d7-4e9f-b1a3-c5d7e9f1a3b5", DisplayName: "Microsoft Azure AD Connect"},
				deletion: DeletionNone, targets: []wantTarget{
					{id: "cd4f6b8d-0f2b-4d4f-a6b8-d0f2b4d6f8b0", typ: TargetUser, upn: "synced.user@contoso.com"},
					{id: "1d3f5b7d-9f1b-4d3f-b5b7-d9f1b3d5f7b9", typ: TargetGroup, name: "All Company Events"}}},
			{at: 3, id: "Directory_cd5a7c9e-1a3c-4e5a-a7c9-e1a3c5e7a9c1_GR4RG_202200204", tenant: "",
				time: "2025-06-10T06:55:31.0062291Z", activity: "Restore group", result: statusSuccess, service: coreDirectory,
				initiator: Initiator{Type: InitiatorUser, ID: helpdeskID, UserPrincipalName: helpdeskUPN, DisplayName: "Helpdesk Lead"},
				deletion:  DeletionNone, targets: []wantTarget{
					{id: "de6b8d0f-2b4d-4f6b-b8d0-f2b4d6f8b0d2", typ: TargetGroup, name: "Finance Team"}}},
		}},
		{file: "graph/directory-audit-bare.json", events: 1, want: []wantEvent{
			{at: 0, id: "Directory_ef7c9e1a-3c5e-4a7c-99e1-a3c5e7a9c1e3_GRBHU_202200299", tenant: "",
				time: "2025-06-11T15:30:09.7741602Z", activity: "Hard Delete user", result: statusSuccess, service: coreDirectory,
				initiator: Initiator{Type: InitiatorUser, ID: adminID, UserPrincipalName: adminUPN, DisplayName: "IT Admin"},
				deletion:  DeletionHard, targets: []wantTarget{
					{id: "f08d0f2b-4d6f-4b8d-80f2-b4d6f8b0d2f4", typ: TargetUser, upn: "f08d0f2b4d6f4b8d80f2b4d6f8b0d2f4lee.gu@contoso.onmicrosoft.com"}}},
		}},
		{file: "ndjson/mixed.ndjson", events: 5, want: []wantEvent{
			{at: 0, id: "Directory_a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d_ND1DU_202300301", tenant: tenant,
				time: "2025-06-12T08:00:10.1111111Z", activity: "Delete user", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionSoft, targets: []wantTarget{
					{id: "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e", typ: TargetUser, upn: "b2c3d4e5f6a74b8c9d0e1f2a3b4c5d6enina.park@contoso.onmicrosoft.com"}}},
			{at: 1, id: "Directory_c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f_ND2SP_202300302", tenant: "",
				time: "2025-06-12T08:01:20.2222222Z", activity: "Remove service principal", result: statusSuccess, service: coreDirectory,
				initiator: Initiator{Type: InitiatorUser, ID: adminID, UserPrincipalName: adminUPN, DisplayName: "IT Admin"},
				deletion:  DeletionSoft, targets: []wantTarget{
					{id: "d4e5f6a7-b8c9-4d0e-9f1a-3b4c5d6e7f8a", typ: TargetServicePrincipal, name: wikiApp}}},
			{at: 2, id: "Directory_e5f6a7b8-c9d0-4e1f-a2b3-4c5d6e7f8a9b_ND3DA_202300303", tenant: tenant,
				time: "2025-06-12T08:02:30.3333333Z", activity: "Delete application", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionSoft, targets: []wantTarget{
					{id: "f6a7b8c9-d0e1-4f2a-b3c4-5d6e7f8a9b0c", typ: TargetApplication, name: wikiApp}}},
			{at: 3, id: "Directory_a7b8c9d0-e1f2-4a3b-84c5-6e7f8a9b0c1d_ND3UG_202300304", tenant: tenant,
				time: "2025-06-12T08:02:31.4444444Z", activity: "Update group", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionNone, targets: []wantTarget{
					{id: "b8c9d0e1-f2a3-4b4c-95d6-7f8a9b0c1d2e", typ: TargetGroup, name: "Wiki Editors"}}},
			{at: 4, id: "Directory_c9d0e1f2-a3b4-4c5d-a6e7-8a9b0c1d2e3f_ND4RA_202300305", tenant: "",
				time: "2025-06-12T08:03:40.5555555Z", activity: "Restore application", result: statusSuccess, service: coreDirectory,
				initiator: Initiator{Type: InitiatorUser, ID: helpdeskID, UserPrincipalName: helpdeskUPN, DisplayName: "Helpdesk Lead"},
				deletion:  DeletionNone, targets: []wantTarget{
					{id: "f6a7b8c9-d0e1-4f2a-b3c4-5d6e7f8a9b0c", typ: TargetApplication, name: wikiApp}}},
		}},
		{file: "ndjson/partial.ndjson", events: 2, skips: 2, want: []wantEvent{
			{at: 0, id: "Directory_d0e1f2a3-b4c5-4d6e-b7f8-9a0b1c2d3e4f_PA1DU_202300401", tenant: tenant,
				time: "2025-06-13T09:10:00.1Z", activity: "Delete user", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionSoft, targets: []wantTarget{
					{id: "e1f2a3b4-c5d6-4e7f-88a9-0b1c2d3e4f5a", typ: TargetUser, upn: "e1f2a3b4c5d64e7f88a90b1c2d3e4f5aomar.ali@contoso.onmicrosoft.com"}}},
			{at: 1, id: "Directory_b4c5d6e7-f8a9-4b0c-b1d2-3e4f5a6b7c8d_PA4HG_202300404", tenant: tenant,
				time: "2025-06-13T09:13:00.4Z", activity: "Hard Delete group", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionHard, targets: []wantTarget{
					{id: "c5d6e7f8-a9b0-4c1d-82e3-4f5a6b7c8d9e", typ: TargetGroup, name: "Old Temp Project"}}},
		}},
		{file: "malformed/bad-records.json", events: 2, skips: 2, want: []wantEvent{
			{at: 0, id: "Directory_c6d7e8f9-a0b1-4c2d-93e4-5f6a7b8c9d0e_MA1DU_202300501", tenant: tenant,
				time: "2025-06-14T11:00:00.1Z", activity: "Delete user", result: statusSuccess, service: coreDirectory,
				initiator: byAdmin, deletion: DeletionSoft, targets: []wantTarget{
					{id: "d7e8f9a0-b1c2-4d3e-a4f5-6a7b8c9d0e1f", typ: TargetUser, upn: "d7e8f9a0b1c24d3ea4f56a7b8c9d0e1fkim.lee@contoso.onmicrosoft.com"}}},
			{at: 1, id: "Directory_c2d3e4f5-a6b7-4c8d-b9e0-1f2a3b4c5d6e_MA4RG_202300504", tenant: tenant,
				time: "2025-06-14T11:03:00.4Z", activity: "Restore group", result: statusSuccess, service: coreDirectory,
				initiator: byHelpdesk, deletion: DeletionNone, targets: []wantTarget{
					{id: "f9a0b1c2-d3e4-4f5a-86b7-8c9d0e1f2a3b", typ: TargetGroup, name: "Design Reviews"}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			res, err := Decode(readFixture(t, tt.file))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(res.Events) != tt.events || len(res.Skipped) != tt.skips {
				t.Fatalf("got %d events and %d skips, want %d and %d; skips: %v", len(res.Events), len(res.Skipped), tt.events, tt.skips, res.Skipped)
			}
			for _, w := range tt.want {
				checkEvent(t, res.Events[w.at], w)
			}
		})
	}
}

// TestFixtureCoverage guards the promise that the Event Hubs fixtures hold
// every delete activity, so that a fixture edit cannot silently drop one.
func TestFixtureCoverage(t *testing.T) {
	want := map[string]Deletion{
		"Delete user": DeletionSoft, "Hard Delete user": DeletionHard,
		"Delete group": DeletionSoft, "Hard Delete group": DeletionHard,
		"Delete application": DeletionSoft, "Hard Delete application": DeletionHard,
		"Remove service principal": DeletionSoft, "Hard delete service principal": DeletionHard,
		"Delete administrative unit": DeletionSoft, "Hard Delete administrative unit": DeletionHard,
		"Delete conditional access policy": DeletionSoft, "Delete named location": DeletionSoft,
		"Restore user": DeletionNone, "Restore group": DeletionNone,
		"Restore application": DeletionNone, "Restore service principal": DeletionNone,
	}
	files, err := filepath.Glob(filepath.Join(fixtureDir, "eventhubs", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Decode(b)
		if err != nil || len(res.Skipped) != 0 {
			t.Fatalf("%s: err %v, skips %v", f, err, res.Skipped)
		}
		for _, ev := range res.Events {
			if d, ok := want[ev.Activity]; ok {
				seen[ev.Activity] = true
				if ev.Deletion != d {
					t.Errorf("%s: %q has deletion %q, want %q", f, ev.Activity, ev.Deletion, d)
				}
			}
		}
	}
	for activity := range want {
		if !seen[activity] {
			t.Errorf("no Event Hubs fixture has %q", activity)
		}
	}
}
