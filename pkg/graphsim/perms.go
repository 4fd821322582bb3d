package graphsim

import (
	"slices"
	"sort"
)

// op is what a request does to an object, for the permission table.
type op int

const (
	opRead       op = iota // GET a live object, list, GET from a bin
	opDelete               // DELETE a live object
	opRestore              // restore from a bin
	opHardDelete           // permanently delete from a bin
	opAuditRead            // GET /auditLogs/directoryAudits
	opUpdate               // PATCH a live object
)

var opNames = [...]string{opRead: "read", opDelete: "delete", opRestore: "restore", opHardDelete: "permanent delete", opAuditRead: "read audit logs", opUpdate: "update"}

// permRule says which permissions allow op on kinds. App and Delegated are
// alternatives, each a set of permissions that must all be held ("A and B"
// in the Learn tables). A nil list means the docs say "Not supported" for
// that permission type, so every caller of that type is refused.
// Least-privileged and documented higher-privileged permissions are both
// listed. OwnedBy adds Application.ReadWrite.OwnedBy (application
// permission) for objects whose owners include the caller.
type permRule struct {
	op        op
	kinds     []kind
	app       [][]string
	delegated [][]string
	ownedBy   bool
	source    string
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
// user also needs) are not simulated: a user identity is assumed to hold
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
}

// ownedByPermission lets an app act on the objects it owns.
const ownedByPermission = "Application.ReadWrite.OwnedBy"

// allows reports whether ident may do o on obj (nil for collections and the
// audit log). A ReadWrite permission does not imply anything not listed:
// each row lists every permission the docs accept.
func allows(ident *Identity, o op, k kind, obj *object) bool {
	rule := ruleFor(o, k)
	if rule == nil {
		return false
	}
	alts := rule.delegated
	if ident.Type == "app" {
		alts = rule.app
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
		if o == opAuditRead || slices.Contains(r.kinds, k) {
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
		for _, alts := range [][][]string{r.app, r.delegated} {
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
	// Source names the Microsoft page the row follows.
	Source string `json:"source"`
}

// PermissionTable returns the permission table graphsim enforces.
func PermissionTable() []PermissionRow {
	out := make([]PermissionRow, 0, len(permissionTable))
	for _, r := range permissionTable {
		row := PermissionRow{Operation: opNames[r.op], App: r.app, Delegated: r.delegated, OwnedBy: r.ownedBy, Source: r.source}
		for _, k := range r.kinds {
			row.Types = append(row.Types, k.info().name)
		}
		if r.op == opAuditRead {
			row.Types = []string{"directoryAudit"}
		}
		out = append(out, row)
	}
	return out
}
