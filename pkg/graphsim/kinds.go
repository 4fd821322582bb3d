package graphsim

import "strings"

// kind is a type of object graphsim simulates.
type kind int

const (
	kindUser kind = iota
	kindGroup
	kindApplication
	kindServicePrincipal
	kindAdministrativeUnit
	kindCAPolicy
	kindNamedLocation
	numKinds
)

// kindInfo holds what differs between object types: where Graph serves them,
// how it names them, and how Entra audits them.
type kindInfo struct {
	// seedKey is the seed file's collection key.
	seedKey string
	// name is the OData type name without namespace ("user"), used in the
	// deletedItems cast segment "microsoft.graph.user".
	name string
	// odataType is the @odata.type value.
	odataType string
	// path is the live collection path under the version.
	path string
	// contextSet is the entity-set part of @odata.context.
	contextSet string
	// directory is true for directory objects (recycle bin under
	// /directory/deletedItems); false for Conditional Access objects, whose
	// bin is /identity/conditionalAccess/deletedItems.
	directory bool
	// auditType, auditCategory, auditService are the targetResources type,
	// category and loggedByService Entra logs (reference §4.1, Part B).
	auditType, auditCategory, auditService string
}

var kinds = [numKinds]kindInfo{
	kindUser: {
		seedKey: "users", name: "user", odataType: "#microsoft.graph.user",
		path: "users", contextSet: "users", directory: true,
		auditType: "User", auditCategory: "UserManagement", auditService: "Core Directory",
	},
	kindGroup: {
		seedKey: "groups", name: "group", odataType: "#microsoft.graph.group",
		path: "groups", contextSet: "groups", directory: true,
		auditType: "Group", auditCategory: "GroupManagement", auditService: "Core Directory",
	},
	kindApplication: {
		seedKey: "applications", name: "application", odataType: "#microsoft.graph.application",
		path: "applications", contextSet: "applications", directory: true,
		auditType: "Application", auditCategory: "ApplicationManagement", auditService: "Core Directory",
	},
	kindServicePrincipal: {
		seedKey: "servicePrincipals", name: "servicePrincipal", odataType: "#microsoft.graph.servicePrincipal",
		path: "servicePrincipals", contextSet: "servicePrincipals", directory: true,
		auditType: "ServicePrincipal", auditCategory: "ApplicationManagement", auditService: "Core Directory",
	},
	kindAdministrativeUnit: {
		seedKey: "administrativeUnits", name: "administrativeUnit", odataType: "#microsoft.graph.administrativeUnit",
		path: "directory/administrativeUnits", contextSet: "directory/administrativeUnits", directory: true,
		// Unconfirmed: the target type "AdministrativeUnit" is what the
		// project's own fixtures use; no Microsoft sample of this record
		// was found (reference Part B "Not found publicly").
		auditType: "AdministrativeUnit", auditCategory: "AdministrativeUnit", auditService: "Core Directory",
	},
	kindCAPolicy: {
		seedKey: "conditionalAccessPolicies", name: "conditionalAccessPolicy", odataType: "#microsoft.graph.conditionalAccessPolicy",
		path: "identity/conditionalAccess/policies", contextSet: "identity/conditionalAccess/policies",
		// Category "Policy", service "Conditional Access", type "Policy":
		// panther-labs azure_policy_changed.yml sample (reference Part B).
		auditType: "Policy", auditCategory: "Policy", auditService: "Conditional Access",
	},
	kindNamedLocation: {
		seedKey: "namedLocations", name: "namedLocation", odataType: "#microsoft.graph.namedLocation",
		path: "identity/conditionalAccess/namedLocations", contextSet: "identity/conditionalAccess/namedLocations",
		auditType: "Policy", auditCategory: "Policy", auditService: "Conditional Access",
	},
}

func (k kind) info() *kindInfo { return &kinds[k] }

// kindByCast maps the deletedItems cast segment to a kind; only the five
// directory types graphsim simulates are listed (Learn
// graph/api/directory-deleteditems-list lists more, such as agent identities).
// Both the full namespace ("microsoft.graph.group", as the docs write it)
// and its alias ("graph.group", which msgraph-sdk-go's URL templates use,
// e.g. directory/deleted_items_graph_group_request_builder.go) are accepted,
// as Graph declares "graph" as an alias of "microsoft.graph" in $metadata.
func kindByCast(segment string) (kind, bool) {
	name, ok := castName(segment)
	if !ok {
		return 0, false
	}
	for k := range numKinds {
		if k.info().directory && strings.EqualFold(k.info().name, name) {
			return k, true
		}
	}
	return 0, false
}

// kindByODataType maps a seed deletedItems entry's @odata.type to a kind.
// Named locations are polymorphic in Graph (ipNamedLocation,
// countryNamedLocation; Learn graph/api/resources/namedlocation).
func kindByODataType(t string) (kind, bool) {
	t = strings.TrimPrefix(t, "#")
	name, ok := strings.CutPrefix(t, "microsoft.graph.")
	if !ok {
		return 0, false
	}
	switch strings.ToLower(name) {
	case "ipnamedlocation", "countrynamedlocation", "namedlocation":
		return kindNamedLocation, true
	}
	for k := range numKinds {
		if strings.EqualFold(k.info().name, name) {
			return k, true
		}
	}
	return 0, false
}

// castName strips the namespace or its alias from a type-cast segment.
func castName(segment string) (string, bool) {
	if name, ok := strings.CutPrefix(segment, "microsoft.graph."); ok {
		return name, true
	}
	return strings.CutPrefix(segment, "graph.")
}

// isRestoreAction reports whether a segment names the restore action, bare
// or namespace-qualified.
func isRestoreAction(seg string) bool {
	return seg == "restore" || seg == "microsoft.graph.restore" || seg == "graph.restore"
}
