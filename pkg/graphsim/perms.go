package graphsim

import (
	"slices"
	"sort"
	"strings"
)

// op is what a request does to an object, for the permission table.
type op int

const (
	opRead          op = iota // GET a live object, list, GET from a bin
	opDelete                  // DELETE a live object
	opRestore                 // restore from a bin
	opHardDelete              // permanently delete from a bin
	opAuditRead               // GET /auditLogs/directoryAudits
	opUpdate                  // PATCH a live object
	opBackupRead              // Entra Backup and Recovery: every GET under /directory/recovery
	opBackupPreview           // create a recoveryPreviewJob
	opBackupRecover           // create a recoveryJob
	opBackupCancel            // cancel a job
)

var opNames = [...]string{opRead: "read", opDelete: "delete", opRestore: "restore", opHardDelete: "permanent delete", opAuditRead: "read audit logs", opUpdate: "update",
	opBackupRead: "read backups and recovery jobs", opBackupPreview: "create recovery preview job", opBackupRecover: "create recovery job", opBackupCancel: "cancel recovery job"}

// permRule says which permissions allow op on kinds (rows without kinds
// apply to an op as a whole). App and Delegated are
// alternatives, each a set of permissions that must all be held ("A and B"
// in the Learn tables). A nil list means the docs say "Not supported" for
// that permission type, so every caller of that type is refused.
// Least-privileged and documented higher-privileged permissions are both
// listed. OwnedBy adds Application.ReadWrite.OwnedBy (application
// permission) for objects whose owners include the caller. Roles, when set,
// are the Microsoft Entra roles of which a delegated caller must also hold
// one ("In delegated scenarios ... the signed-in user must be assigned a
// supported Microsoft Entra role"). AppOptIn lists application permissions
// accepted, where the docs say "Not supported", only when the server is
// told Microsoft has opened the operation to apps
// (Options.Backup.AllowAppWrites).
type permRule struct {
	op        op
	kinds     []kind
	app       [][]string
	delegated [][]string
	ownedBy   bool
	roles     []string
	appOptIn  [][]string
	source    string
}

// Directory roles graphsim knows, by the names the Graph docs give them
// (docs repo api-reference/beta/includes/rbac-for-apis/
// rbac-entrarecoveryservices-apis-read.md and -write.md). Global
// Administrator "includes all Backup Administrator permissions" ([ED]
// docs/backup/overview.md; reference §1.8).
const (
	roleBackupReader = "Entra Backup Reader"
	roleBackupAdmin  = "Entra Backup Administrator"
	roleGlobalAdmin  = "Global Administrator"
)

var knownRoles = []string{roleBackupReader, roleBackupAdmin, roleGlobalAdmin}

// canonicalRole maps a role name to graphsim's spelling. The Graph docs say
// "Entra Backup Reader/Administrator", the Entra docs "Microsoft Entra
// Backup ..." and the reference "Backup ...": all three spellings, in any
// case, name the same role.
func canonicalRole(name string) (string, bool) {
	n := strings.ToLower(strings.Join(strings.Fields(name), " "))
	n = strings.TrimPrefix(n, "microsoft ")
	n = strings.TrimPrefix(n, "entra ")
	for _, r := range knownRoles {
		if strings.TrimPrefix(strings.ToLower(r), "entra ") == n {
			return r, true
		}
	}
	return "", false
}

func any1(perms ...string) [][]string {
	out := make([][]string, len(perms))
	for i, p := range perms {
		out[i] = []string{p}
	}
	return out
}

// permissionTable is the one place graphsim decides who may do what. Each
// row names the Learn page it follows. Roles (Entra admin roles a delegated
// user also needs) are simulated only for the rows that list them (Entra
// Backup and Recovery); elsewhere a user identity is assumed to hold
// whatever role the operation requires.
var permissionTable = []permRule{
	// Reads of live objects and of the directory bin.
	{op: opRead, kinds: []kind{kindUser},
		app:       any1("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
		delegated: any1("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
		source:    "Learn graph/api/user-get; graph/api/directory-deleteditems-list and -get (user row: User.Read.All)"},
	{op: opRead, kinds: []kind{kindGroup},
		app:       any1("Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
		delegated: any1("Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
		source:    "Learn graph/api/group-get; graph/api/directory-deleteditems-get (group: Group.Read.All, Group.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All)"},
	{op: opRead, kinds: []kind{kindApplication, kindServicePrincipal},
		app:       any1("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
		delegated: any1("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
		ownedBy:   true,
		source:    "Learn graph/api/application-get, serviceprincipal-get; graph/api/directory-deleteditems-get (applications: Application.Read.All, Application.ReadWrite.OwnedBy, Application.ReadWrite.All, Directory.Read.All)"},
	{op: opRead, kinds: []kind{kindAdministrativeUnit},
		app:       any1("AdministrativeUnit.Read.All", "AdministrativeUnit.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
		delegated: any1("AdministrativeUnit.Read.All", "AdministrativeUnit.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
		source:    "Learn graph/api/administrativeunit-get; graph/api/directory-deleteditems-list (administrativeUnit: AdministrativeUnit.Read.All)"},
	{op: opRead, kinds: []kind{kindCAPolicy, kindNamedLocation},
		// Unconfirmed: Policy.Read.ConditionalAccess and reads with
		// Policy.ReadWrite.ConditionalAccess come from third-party write-ups
		// (reference §2.3); the Learn pages list Policy.Read.All.
		app:       any1("Policy.Read.All", "Policy.Read.ConditionalAccess", "Policy.ReadWrite.ConditionalAccess"),
		delegated: any1("Policy.Read.All", "Policy.Read.ConditionalAccess", "Policy.ReadWrite.ConditionalAccess"),
		source:    "Learn graph/api/conditionalaccesspolicy-get, namedlocation-get; reference §2.3 for the beta deletedItems list/get"},

	// Updates: only a Conditional Access policy's state is simulated.
	{op: opUpdate, kinds: []kind{kindCAPolicy},
		app:       [][]string{{"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"}},
		delegated: [][]string{{"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"}},
		source:    "Learn graph/api/conditionalaccesspolicy-update (Policy.Read.All and Policy.ReadWrite.ConditionalAccess)"},

	// Deletes of live objects.
	{op: opDelete, kinds: []kind{kindUser},
		// Unconfirmed: User.DeleteRestore.All is not on the user-delete page
		// (which lists only User.ReadWrite.All) but is accepted by its name
		// and by the agentUser-delete page's higher-privileged list.
		app:       any1("User.ReadWrite.All", "User.DeleteRestore.All"),
		delegated: any1("User.ReadWrite.All", "User.DeleteRestore.All"),
		source:    "Learn graph/api/user-delete (User.ReadWrite.All; higher: Not available)"},
	{op: opDelete, kinds: []kind{kindGroup},
		app:       any1("Group.ReadWrite.All"),
		delegated: any1("Group.ReadWrite.All"),
		source:    "Learn graph/api/group-delete (Group.ReadWrite.All; higher: Not available)"},
	{op: opDelete, kinds: []kind{kindApplication},
		app:       any1("Application.ReadWrite.All"),
		delegated: any1("Application.ReadWrite.All"),
		ownedBy:   true,
		source:    "Learn graph/api/application-delete (application: Application.ReadWrite.OwnedBy; higher: Application.ReadWrite.All)"},
	{op: opDelete, kinds: []kind{kindServicePrincipal},
		app:       any1("Application.ReadWrite.All", "Directory.ReadWrite.All"),
		delegated: any1("Application.ReadWrite.All", "Directory.ReadWrite.All"),
		ownedBy:   true,
		source:    "Learn graph/api/serviceprincipal-delete (application: Application.ReadWrite.OwnedBy; higher: Application.ReadWrite.All, Directory.ReadWrite.All)"},
	{op: opDelete, kinds: []kind{kindAdministrativeUnit},
		app:       any1("AdministrativeUnit.ReadWrite.All", "Directory.ReadWrite.All"),
		delegated: any1("AdministrativeUnit.ReadWrite.All", "Directory.ReadWrite.All"),
		source:    "Learn graph/api/administrativeunit-delete"},
	{op: opDelete, kinds: []kind{kindCAPolicy, kindNamedLocation},
		app:       [][]string{{"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"}},
		delegated: [][]string{{"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"}},
		source:    "Learn graph/api/conditionalaccesspolicy-delete, namedlocation-delete (Policy.Read.All and Policy.ReadWrite.ConditionalAccess)"},

	// Restores from a bin.
	{op: opRestore, kinds: []kind{kindUser},
		app:       any1("User.DeleteRestore.All", "User.ReadWrite.All"),
		delegated: any1("User.DeleteRestore.All", "User.ReadWrite.All"),
		source:    "Learn graph/api/directory-deleteditems-restore (user: User.DeleteRestore.All; older revision: User.ReadWrite.All)"},
	{op: opRestore, kinds: []kind{kindGroup},
		app:       any1("Group.ReadWrite.All"),
		delegated: any1("Group.ReadWrite.All"),
		source:    "Learn graph/api/directory-deleteditems-restore (group: Group.ReadWrite.All)"},
	{op: opRestore, kinds: []kind{kindApplication, kindServicePrincipal},
		app:       any1("Application.ReadWrite.All"),
		delegated: any1("Application.ReadWrite.All"),
		ownedBy:   true,
		source:    "Learn graph/api/directory-deleteditems-restore (application, servicePrincipal: Application.ReadWrite.OwnedBy; older revision also Application.ReadWrite.All)"},
	{op: opRestore, kinds: []kind{kindAdministrativeUnit},
		app:       any1("AdministrativeUnit.ReadWrite.All"),
		delegated: any1("AdministrativeUnit.ReadWrite.All"),
		source:    "Learn graph/api/directory-deleteditems-restore (administrativeUnit: AdministrativeUnit.ReadWrite.All)"},
	{op: opRestore, kinds: []kind{kindCAPolicy, kindNamedLocation},
		// Unconfirmed: the Learn restore page's table reads "Not supported"
		// in every row (a doc defect, reference §2.3); this follows the
		// delete permissions, as third-party write-ups do.
		app:       [][]string{{"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"}},
		delegated: [][]string{{"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"}},
		source:    "Learn graph/api/conditionalaccesspolicy-restore?view=graph-rest-beta (table defective); reference §2.3"},

	// Permanent deletes from a bin.
	{op: opHardDelete, kinds: []kind{kindUser},
		app:       nil, // "Not supported."
		delegated: any1("User.ReadWrite.All"),
		source:    "Learn graph/api/directory-deleteditems-delete (user: delegated User.ReadWrite.All; application Not supported)"},
	{op: opHardDelete, kinds: []kind{kindGroup},
		app:       nil, // "Not supported."
		delegated: any1("Group.ReadWrite.All"),
		source:    "Learn graph/api/directory-deleteditems-delete (group: delegated Group.ReadWrite.All; application Not supported)"},
	{op: opHardDelete, kinds: []kind{kindApplication, kindServicePrincipal},
		app:       any1("Application.ReadWrite.All"),
		delegated: any1("Application.ReadWrite.All"),
		ownedBy:   true,
		source:    "Learn graph/api/directory-deleteditems-delete (application, servicePrincipal: Application.ReadWrite.OwnedBy; older revision also Application.ReadWrite.All)"},
	{op: opHardDelete, kinds: []kind{kindCAPolicy, kindNamedLocation},
		// Unconfirmed, as for restore.
		app:       [][]string{{"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"}},
		delegated: [][]string{{"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"}},
		source:    "reference §2.3 (no Learn permission table)"},

	// Audit log.
	{op: opAuditRead,
		// The newer permission include requires both; older pages listed
		// AuditLog.Read.All alone. graphsim follows the current page.
		app:       [][]string{{"AuditLog.Read.All", "Directory.Read.All"}},
		delegated: [][]string{{"AuditLog.Read.All", "Directory.Read.All"}},
		source:    "Learn graph/api/directoryaudit-list; docs repo api-reference/v1.0/includes/permissions/directoryaudit-list-permissions.md (AuditLog.Read.All and Directory.Read.All)"},

	// Microsoft Entra Backup and Recovery (reference §1.8). Every row's
	// delegated callers also need a role; "Not supported" application rows
	// are nil, opened only by Options.Backup.AllowAppWrites.
	{op: opBackupRead,
		app:       any1("EntraBackup.Read.All"),
		delegated: any1("EntraBackup.Read.All"),
		roles:     []string{roleBackupReader, roleBackupAdmin, roleGlobalAdmin},
		source:    "Learn graph/api/entrarecoveryservices-snapshot-get (EntraBackup.Read.All, delegated and application; higher: Not available); same table on the list-snapshots, get/list job, getChanges, getFailedChanges and list-jobs pages; roles: docs repo includes/rbac-for-apis/rbac-entrarecoveryservices-apis-read.md (Entra Backup Reader, Entra Backup Administrator)"},
	{op: opBackupPreview,
		app:       nil, // "Not supported."
		delegated: any1("EntraBackup.ReadWrite.Preview"),
		// Unconfirmed: the sources disagree on the role (reference §1.8).
		// The create-preview page includes the read RBAC block (Reader or
		// Administrator); the overview treats creating a preview as a write
		// needing the Administrator. graphsim requires the Administrator.
		roles:    []string{roleBackupAdmin, roleGlobalAdmin},
		appOptIn: any1("EntraBackup.ReadWrite.Preview"),
		source:   "docs repo api-reference/beta/includes/permissions/entrarecoveryservices-snapshot-post-recoverypreviewjobs-permissions.md (delegated EntraBackup.ReadWrite.Preview; application Not supported); roles: beta overview entrarecoveryservices-backup-recovery-overview.md"},
	{op: opBackupRecover,
		app:       nil, // "Not supported."
		delegated: any1("EntraBackup.ReadWrite.Recovery"),
		roles:     []string{roleBackupAdmin, roleGlobalAdmin},
		appOptIn:  any1("EntraBackup.ReadWrite.Recovery"),
		source:    "docs repo api-reference/{beta,v1.0}/includes/permissions/entrarecoveryservices-snapshot-post-recoveryjobs-permissions.md (delegated EntraBackup.ReadWrite.Recovery; application Not supported); roles: includes/rbac-for-apis/rbac-entrarecoveryservices-apis-write.md (Entra Backup Administrator)"},
	{op: opBackupCancel,
		// Unconfirmed: the cancel page's permission table reads "Not
		// supported" in every row (a doc defect, reference §1.8); graphsim
		// asks what creating a recovery job asks. The role is documented
		// (the page includes the write RBAC block).
		app:       nil,
		delegated: any1("EntraBackup.ReadWrite.Recovery"),
		roles:     []string{roleBackupAdmin, roleGlobalAdmin},
		appOptIn:  any1("EntraBackup.ReadWrite.Recovery"),
		source:    "Learn graph/api/entrarecoveryservices-recoveryjobbase-cancel (table defective: Not supported everywhere); roles: includes/rbac-for-apis/rbac-entrarecoveryservices-apis-write.md"},
}

// ownedByPermission lets an app act on the objects it owns.
const ownedByPermission = "Application.ReadWrite.OwnedBy"

// allows reports whether ident may do o on obj (nil for collections and the
// audit log). A ReadWrite permission does not imply anything not listed:
// each row lists every permission the docs accept.
func allows(ident *Identity, o op, k kind, obj *object) bool {
	return allowsWith(ident, o, k, obj, false)
}

// allowsWith is allows, with the rule's AppOptIn permissions accepted from
// apps when optIn is set.
func allowsWith(ident *Identity, o op, k kind, obj *object, optIn bool) bool {
	rule := ruleFor(o, k)
	if rule == nil {
		return false
	}
	alts := rule.delegated
	if ident.Type == "app" {
		alts = rule.app
		if optIn && alts == nil {
			alts = rule.appOptIn
		}
	} else if len(rule.roles) > 0 && !slices.ContainsFunc(ident.roles, func(r string) bool { return slices.Contains(rule.roles, r) }) {
		return false
	}
	for _, alt := range alts {
		ok := true
		for _, p := range alt {
			if !slices.Contains(ident.Permissions, p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	if rule.ownedBy && ident.Type == "app" && slices.Contains(ident.Permissions, ownedByPermission) && obj != nil && obj.ownedBy(ident.ID) {
		return true
	}
	return false
}

func ruleFor(o op, k kind) *permRule {
	for i := range permissionTable {
		r := &permissionTable[i]
		if r.op != o {
			continue
		}
		if len(r.kinds) == 0 || slices.Contains(r.kinds, k) {
			return r
		}
	}
	return nil
}

// knownPermissions lists every permission the table mentions, so that a
// misspelt seed permission is an error rather than a silent 403.
func knownPermissions() []string {
	set := map[string]bool{ownedByPermission: true}
	for _, r := range permissionTable {
		for _, alts := range [][][]string{r.app, r.delegated, r.appOptIn} {
			for _, alt := range alts {
				for _, p := range alt {
					set[p] = true
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// PermissionRow describes one row of the permission table, for
// documentation and the /_sim/permissions endpoint.
type PermissionRow struct {
	// Operation is read, delete, restore, permanent delete or read audit logs.
	Operation string `json:"operation"`
	// Types are the Graph type names the row covers.
	Types []string `json:"types"`
	// App and Delegated list alternatives; each alternative's permissions
	// are all required. Empty means "Not supported".
	App       [][]string `json:"application"`
	Delegated [][]string `json:"delegated"`
	// OwnedBy is true where Application.ReadWrite.OwnedBy is accepted for
	// objects the calling app owns.
	OwnedBy bool `json:"ownedByAccepted"`
	// Roles, when present, are the Microsoft Entra roles of which a
	// delegated caller must also hold one.
	Roles []string `json:"delegatedRoles,omitempty"`
	// AppWhenAllowed are application permissions accepted only with
	// Options.Backup.AllowAppWrites (--backup-app-writes), where the docs
	// say "Not supported".
	AppWhenAllowed [][]string `json:"applicationWhenAllowed,omitempty"`
	// Source names the Microsoft page the row follows.
	Source string `json:"source"`
}

// PermissionTable returns the permission table graphsim enforces.
func PermissionTable() []PermissionRow {
	out := make([]PermissionRow, 0, len(permissionTable))
	for _, r := range permissionTable {
		row := PermissionRow{Operation: opNames[r.op], App: r.app, Delegated: r.delegated, OwnedBy: r.ownedBy, Roles: r.roles, AppWhenAllowed: r.appOptIn, Source: r.source}
		for _, k := range r.kinds {
			row.Types = append(row.Types, k.info().name)
		}
		switch r.op {
		case opAuditRead:
			row.Types = []string{"directoryAudit"}
		case opBackupRead:
			row.Types = []string{"entraRecoveryServices.snapshot", "entraRecoveryServices.recoveryJobBase"}
		case opBackupPreview:
			row.Types = []string{"entraRecoveryServices.recoveryPreviewJob"}
		case opBackupRecover:
			row.Types = []string{"entraRecoveryServices.recoveryJob"}
		case opBackupCancel:
			row.Types = []string{"entraRecoveryServices.recoveryJobBase"}
		}
		out = append(out, row)
	}
	return out
}
