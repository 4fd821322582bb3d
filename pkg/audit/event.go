// Package audit decodes Microsoft Entra ID audit records, in every shape they
// reach Reinstate, into one normalized Event.
//
// Accepted shapes (see ../shared/reference/functions-custom-handler-and-audit-logs.md §B5–B6):
//   - Event Hubs bodies written by Entra diagnostic settings: {"records":[...]}
//   - a single diagnostic-settings record: {"time":..., "properties":{...}}
//   - Graph GET /auditLogs/directoryAudits pages: {"value":[...]}
//   - a bare Graph directoryAudit object
//   - a JSON array of records
//   - NDJSON (or concatenated JSON) of any of these
//
// Decode takes a whole input (one Event Hubs body, a file, a Graph page) and
// never fails because of one bad record: each record it cannot use becomes a
// Skip naming the record and the field. Normalize turns one record into an
// Event.
//
// The JSON field names of Event are a contract: the rule engine's CEL
// variables, the journal and the `reinstate decode` output all use them.
package audit

import (
	"encoding/json"
	"time"
)

// Deletion says what kind of deletion an audit record describes.
type Deletion string

// Deletion kinds.
const (
	// DeletionNone is any activity that is not a delete, including restores
	// and bulk-job summaries ("Bulk delete users - finished (bulk)"), which
	// are followed by one event per object.
	DeletionNone Deletion = "none"
	// DeletionSoft is a delete that was not logged as permanent: "Delete
	// <object>" or "Remove service principal". For types with a recycle bin
	// the object can be restored for 30 days. It is not a promise that the
	// object is in a bin: groups that do not soft-delete (synced, mail-enabled)
	// and types without a bin (devices, directory policies) log the same
	// "Delete <object>", so whoever restores must look in the bin first.
	DeletionSoft Deletion = "soft"
	// DeletionHard is a permanent delete: a "Hard delete <object>" activity,
	// or any delete whose target carries "Is Hard Deleted" = true. Nothing is
	// left to restore.
	DeletionHard Deletion = "hard"
)

// InitiatorType says who caused an audit record.
type InitiatorType string

// Initiator types.
const (
	// InitiatorUser is a signed-in user (initiatedBy.user with an id or UPN).
	InitiatorUser InitiatorType = "user"
	// InitiatorApp is an application or managed identity acting as itself.
	InitiatorApp InitiatorType = "app"
	// InitiatorUnknown is a record that names neither, such as the empty
	// initiatedBy of some system activities.
	InitiatorUnknown InitiatorType = "unknown"
)

// TargetType is the normalized kind of directory object a record acts on.
type TargetType string

// Target types. Entra logs Conditional Access policies and named locations
// with the type "Policy"; the decoder tells them apart by activity and service.
const (
	TargetUser                    TargetType = "user"
	TargetGroup                   TargetType = "group"
	TargetApplication             TargetType = "application"
	TargetServicePrincipal        TargetType = "servicePrincipal"
	TargetAdministrativeUnit      TargetType = "administrativeUnit"
	TargetConditionalAccessPolicy TargetType = "conditionalAccessPolicy"
	TargetNamedLocation           TargetType = "namedLocation"
	TargetDevice                  TargetType = "device"
	TargetOther                   TargetType = "other"
)

// Event is one normalized audit record.
type Event struct {
	// ID is the audit record id (directoryAudit.id), the key for dedup.
	ID string `json:"id"`
	// TenantID is the tenant the record came from. Graph pages do not carry
	// it, so it may be empty for them.
	TenantID string `json:"tenantId"`
	// Time is when the activity happened, in UTC.
	Time time.Time `json:"time"`
	// Activity is activityDisplayName as logged. Compare it case-insensitively:
	// Microsoft's own pages disagree on case ("Hard Delete user" and
	// "Hard delete service principal").
	Activity string `json:"activity"`
	// Category is the audit category, such as "UserManagement" or "Policy"
	// (not the diagnostic log category "AuditLogs").
	Category string `json:"category"`
	// OperationType is as logged: Add, Update, Delete, Assign, ...
	OperationType string `json:"operationType"`
	// Result is lower case: success, failure, timeout or unknownFutureValue.
	Result string `json:"result"`
	// ResultReason is the logged reason, mostly set for failures.
	ResultReason string `json:"resultReason,omitempty"`
	// Service is loggedByService, such as "Core Directory" or "Conditional Access".
	Service string `json:"service"`
	// CorrelationID ties together the records one request caused.
	CorrelationID string `json:"correlationId,omitempty"`
	// Initiator is who did it.
	Initiator Initiator `json:"initiator"`
	// Targets are the objects acted on; never null in JSON, so rules can
	// index it without a null check.
	Targets []Target `json:"targets"`
	// Deletion is decided from the activity name (and the "Is Hard Deleted"
	// marker) alone, regardless of Result: a failed "Delete user" is still
	// DeletionSoft with Result "failure". Whoever acts on deletions must check
	// Result as well.
	Deletion Deletion `json:"deletion"`
}

// Initiator is who caused the activity: a user or an application.
type Initiator struct {
	// Type says which of the other fields can be set.
	Type InitiatorType `json:"type"`
	// ID is the user's object id, or for an app its service principal id.
	ID string `json:"id,omitempty"`
	// UserPrincipalName is set for users.
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	// AppID is set for apps when logged; managed identities often log null.
	AppID string `json:"appId,omitempty"`
	// ServicePrincipalID is set for apps.
	ServicePrincipalID string `json:"servicePrincipalId,omitempty"`
	// DisplayName is as logged; often null for users.
	DisplayName string `json:"displayName,omitempty"`
}

// Target is one object the activity acted on.
type Target struct {
	// ID is the object id, the key for restoring it.
	ID string `json:"id"`
	// Type is normalized from the logged type, activity and service.
	Type TargetType `json:"type"`
	// DisplayName is as logged; often null for users.
	DisplayName string `json:"displayName,omitempty"`
	// UserPrincipalName is set for users. In a soft-delete record it is
	// already rewritten to <objectIdWithoutDashes><originalUPN>.
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	// GroupType is as logged ("unifiedGroups", "azureAD", or a number as text).
	GroupType string `json:"groupType,omitempty"`
	// ModifiedProperties carries the logged old and new values, decoded once
	// more where Entra encoded them as JSON inside strings.
	ModifiedProperties []ModifiedProperty `json:"modifiedProperties,omitempty"`
}

// ModifiedProperty is one property change logged on a target.
type ModifiedProperty struct {
	// Name is the logged displayName, such as "Is Hard Deleted".
	Name string `json:"name"`
	// OldValue is absent when logged as null. A string that held JSON is
	// replaced by that JSON ("\"False\"" becomes "False", a serialized
	// policy becomes an object); any other string stays a string.
	OldValue json.RawMessage `json:"oldValue,omitempty"`
	// NewValue follows the same rules as OldValue.
	NewValue json.RawMessage `json:"newValue,omitempty"`
}

// ValidObjectID reports whether id has the form of a directory object id or
// application id: a GUID in its 36-character form. Ids arrive in audit events
// and settings, and are checked before they shape a Graph URL or $filter.
func ValidObjectID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, c := range id {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// DeleteActivities are the activity names Entra logs for a soft delete of
// each type (Learn entra/identity/monitoring-health/
// reference-audit-activities), for the events Reinstate synthesizes from a
// recycle-bin copy: on-call's view of the bin, and the reconciliation
// sweep.
var DeleteActivities = map[TargetType]string{
	TargetUser:                    "Delete user",
	TargetGroup:                   "Delete group",
	TargetApplication:             "Delete application",
	TargetServicePrincipal:        "Remove service principal",
	TargetAdministrativeUnit:      "Delete administrative unit",
	TargetConditionalAccessPolicy: "Delete conditional access policy",
	TargetNamedLocation:           "Delete named location",
}
