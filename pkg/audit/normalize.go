package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/lenient"
)

// FieldError says which field made a record unusable. Decode turns it into a
// Skip; callers of Normalize get it as the error.
type FieldError struct {
	// Field is the JSON path of the offending field inside the record, such
	// as "properties.targetResources[0].groupType"; "" when the record as a
	// whole is unusable. Paths name fields as Entra spells them, whatever
	// case the record used.
	Field string
	// Reason says what is wrong, in words.
	Reason string
	// Err is the underlying decoding error, if there is one.
	Err error
}

// Error names the field and the reason.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return "audit: " + e.Reason
	}
	return "audit: field " + e.Field + ": " + e.Reason
}

// Unwrap gives access to the encoding/json error behind a type mismatch.
func (e *FieldError) Unwrap() error { return e.Err }

// wireRecord is one record as received. The same type serves the Event Hubs
// envelope, its properties (the Graph directoryAudit) and a bare
// directoryAudit, because old records flatten some directoryAudit fields
// into the envelope. Fields whose JSON type varies between exports are
// json.RawMessage and read with package lenient; the others are typed, so
// that encoding/json reports a wrong type with the field's path. Keys match
// case-insensitively (an encoding/json rule), which covers "Type" and "type".
type wireRecord struct {
	ID                  string          `json:"id"`
	TenantID            string          `json:"tenantId"`
	ResourceID          string          `json:"resourceId"`
	Time                string          `json:"time"`
	ActivityDateTime    string          `json:"activityDateTime"`
	ActivityDisplayName string          `json:"activityDisplayName"`
	OperationName       string          `json:"operationName"`
	Category            string          `json:"category"`
	OperationType       string          `json:"operationType"`
	Result              json.RawMessage `json:"result"`
	ResultReason        string          `json:"resultReason"`
	LoggedByService     string          `json:"loggedByService"`
	CorrelationID       string          `json:"correlationId"`
	InitiatedBy         *wireInitiator  `json:"initiatedBy"`
	TargetResources     []wireTarget    `json:"targetResources"`
	Properties          *wireRecord     `json:"properties"`
}

type wireInitiator struct {
	User *wireUser `json:"user"`
	App  *wireApp  `json:"app"`
}

type wireUser struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName"`
}

type wireApp struct {
	AppID                string `json:"appId"`
	DisplayName          string `json:"displayName"`
	ServicePrincipalID   string `json:"servicePrincipalId"`
	ServicePrincipalName string `json:"servicePrincipalName"`
}

type wireTarget struct {
	ID                 string                 `json:"id"`
	DisplayName        string                 `json:"displayName"`
	Type               string                 `json:"type"`
	UserPrincipalName  string                 `json:"userPrincipalName"`
	GroupType          json.RawMessage        `json:"groupType"`
	ModifiedProperties []wireModifiedProperty `json:"modifiedProperties"`
}

type wireModifiedProperty struct {
	DisplayName string          `json:"displayName"`
	OldValue    json.RawMessage `json:"oldValue"`
	NewValue    json.RawMessage `json:"newValue"`
}

// Normalize turns one audit record into an Event. The record may be an Event
// Hubs record (with a properties wrapper) or a bare Graph directoryAudit. The
// error is always a *FieldError naming the field that made the record
// unusable: a missing id, activity or time, or a field of the wrong JSON type.
//
// Where a record has a properties wrapper, each field is read from it first
// and, if absent there, from the same key at the top level, where records
// from 2018 put some of them. Two exceptions: the tenant prefers the
// top-level tenantId (the tenant whose log stream this is) and falls back to
// resourceId; and category is only read from properties, because the
// top-level category ("AuditLogs", "Audit") is the log category, not the
// audit category.
func Normalize(record json.RawMessage) (Event, error) {
	var rec wireRecord
	if err := json.Unmarshal(record, &rec); err != nil {
		return Event{}, decodeError(record, err)
	}
	p, prefix := &rec, ""
	wrapped := rec.Properties != nil
	if wrapped {
		p, prefix = rec.Properties, "properties."
	}
	// first returns the first non-empty value, from properties then the top.
	first := func(inner, outer string) string {
		if inner != "" {
			return inner
		}
		return outer
	}

	ev := Event{
		ID:            first(p.ID, rec.ID),
		Activity:      first(first(p.ActivityDisplayName, rec.ActivityDisplayName), first(p.OperationName, rec.OperationName)),
		Category:      p.Category,
		OperationType: first(p.OperationType, rec.OperationType),
		ResultReason:  first(p.ResultReason, rec.ResultReason),
		Service:       first(p.LoggedByService, rec.LoggedByService),
		CorrelationID: first(p.CorrelationID, rec.CorrelationID),
	}
	if ev.ID == "" {
		return Event{}, &FieldError{Field: prefix + "id", Reason: "missing: the record has no id"}
	}
	if ev.Activity == "" {
		return Event{}, &FieldError{Field: prefix + "activityDisplayName", Reason: "missing: the record has no activityDisplayName or operationName"}
	}

	t, err := recordTime(&rec, p, wrapped)
	if err != nil {
		return Event{}, err
	}
	ev.Time = t

	ev.TenantID = first(first(rec.TenantID, p.TenantID), first(tenantFromResourceID(rec.ResourceID), tenantFromResourceID(p.ResourceID)))

	resultRaw, resultPrefix := p.Result, prefix
	if lenient.IsNull(resultRaw) && wrapped {
		resultRaw, resultPrefix = rec.Result, ""
	}
	if ev.Result, err = normalizeResult(resultRaw); err != nil {
		return Event{}, &FieldError{Field: resultPrefix + "result", Reason: err.Error()}
	}

	initiatedBy := p.InitiatedBy
	if initiatedBy == nil {
		initiatedBy = rec.InitiatedBy
	}
	ev.Initiator = normalizeInitiator(initiatedBy)

	targets, targetsPrefix := p.TargetResources, prefix
	if targets == nil && wrapped && rec.TargetResources != nil {
		targets, targetsPrefix = rec.TargetResources, ""
	}
	ev.Targets = make([]Target, 0, len(targets))
	hardMarker := false
	for i := range targets {
		tg, hard, err := normalizeTarget(&targets[i], ev.Activity, ev.Service)
		if err != nil {
			err.Field = targetsPrefix + "targetResources[" + strconv.Itoa(i) + "]." + err.Field
			return Event{}, err
		}
		hardMarker = hardMarker || hard
		ev.Targets = append(ev.Targets, tg)
	}
	ev.Deletion = deletionOf(ev.Activity, hardMarker)
	return ev, nil
}

// recordTime picks the activity time: properties.activityDateTime, else a
// flattened activityDateTime, else the envelope's time. A value that is there
// but cannot be parsed gives way to the next one; if none can be used, the
// error names the first one that was there.
func recordTime(rec, p *wireRecord, wrapped bool) (time.Time, error) {
	candidates := [...]struct{ field, value string }{
		{"activityDateTime", p.ActivityDateTime},
		{"activityDateTime", rec.ActivityDateTime},
		{"time", rec.Time},
	}
	if wrapped {
		candidates[0].field = "properties.activityDateTime"
	} else {
		candidates[1].value = "" // the same field as candidates[0]
	}
	var firstBad *FieldError
	for _, c := range candidates {
		if c.value == "" {
			continue
		}
		t, ok := lenient.Time(c.value)
		if ok && !t.IsZero() && t.Year() >= 1 && t.Year() <= 9999 {
			return t, nil
		}
		if firstBad == nil {
			reason := "cannot parse " + strconv.Quote(c.value) + " as a time"
			if ok {
				reason = "time " + strconv.Quote(c.value) + " is out of range"
			}
			firstBad = &FieldError{Field: c.field, Reason: reason}
		}
	}
	if firstBad != nil {
		return time.Time{}, firstBad
	}
	return time.Time{}, &FieldError{Field: candidates[0].field, Reason: "missing: the record has no activityDateTime or time"}
}

// tenantFromResourceID reads the tenant id out of a diagnostic-settings
// resource id, "/tenants/<id>/providers/Microsoft.aadiam". Records that lack
// a tenantId still carry it there.
func tenantFromResourceID(resourceID string) string {
	const prefix = "/tenants/"
	if len(resourceID) <= len(prefix) || !strings.EqualFold(resourceID[:len(prefix)], prefix) {
		return ""
	}
	rest := resourceID[len(prefix):]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// operationResults are the values of Graph's operationResult enum, in the
// order of their integer codes, which 2018 exports used instead of names.
var operationResults = [...]string{"success", "failure", "timeout", "unknownFutureValue"}

// normalizeResult lower-cases a result given as a name in any case or as an
// enum code. An unknown name is kept (in lower case) rather than dropped, so
// that a new value Microsoft adds still shows up.
func normalizeResult(raw json.RawMessage) (string, error) {
	text, ok := lenient.Text(unwrap(raw))
	if !ok {
		return "", errors.New("expected a string or a number, got " + aKind(raw))
	}
	if text != "" && (text[0] == '-' || '0' <= text[0] && text[0] <= '9') {
		if n, err := strconv.Atoi(text); err == nil {
			if n >= 0 && n < len(operationResults) {
				return operationResults[n], nil
			}
			return text, nil
		}
	}
	for _, name := range operationResults {
		if strings.EqualFold(text, name) {
			return name, nil
		}
	}
	return strings.ToLower(text), nil
}

// normalizeInitiator applies the rule in Initiator's documentation.
func normalizeInitiator(in *wireInitiator) Initiator {
	if in == nil {
		return Initiator{Type: InitiatorUnknown}
	}
	if u := in.User; u != nil && (u.ID != "" || u.UserPrincipalName != "") {
		return Initiator{
			Type:              InitiatorUser,
			ID:                u.ID,
			UserPrincipalName: u.UserPrincipalName,
			DisplayName:       u.DisplayName,
		}
	}
	if a := in.App; a != nil && (a.AppID != "" || a.ServicePrincipalID != "" || a.DisplayName != "") {
		name := a.DisplayName
		if name == "" {
			name = a.ServicePrincipalName
		}
		return Initiator{
			Type:               InitiatorApp,
			ID:                 a.ServicePrincipalID,
			AppID:              a.AppID,
			ServicePrincipalID: a.ServicePrincipalID,
			DisplayName:        name,
		}
	}
	return Initiator{Type: InitiatorUnknown}
}

// isHardDeletedName is the modified property Entra sets on deletes: "False"
// on a soft delete, "True" on a hard one.
const isHardDeletedName = "Is Hard Deleted"

// normalizeTarget converts one target. It also reports whether the target
// carries the "Is Hard Deleted" = true marker. An error's Field is relative
// to the target. activity and service are as logged.
func normalizeTarget(t *wireTarget, activity, service string) (Target, bool, *FieldError) {
	out := Target{
		ID:                t.ID,
		Type:              targetType(t.Type, activity, service),
		DisplayName:       t.DisplayName,
		UserPrincipalName: t.UserPrincipalName,
	}
	groupType, ok := lenient.Text(unwrap(t.GroupType))
	if !ok {
		return Target{}, false, &FieldError{Field: "groupType", Reason: "expected a string or a number, got " + aKind(t.GroupType)}
	}
	out.GroupType = groupType
	hard := false
	if len(t.ModifiedProperties) > 0 {
		out.ModifiedProperties = make([]ModifiedProperty, len(t.ModifiedProperties))
		for i := range t.ModifiedProperties {
			mp := &t.ModifiedProperties[i]
			out.ModifiedProperties[i] = ModifiedProperty{
				Name:     mp.DisplayName,
				OldValue: unwrapValue(mp.OldValue),
				NewValue: unwrapValue(mp.NewValue),
			}
			if strings.EqualFold(strings.TrimSpace(mp.DisplayName), isHardDeletedName) {
				if v, ok := lenient.Bool(mp.NewValue); ok && v {
					hard = true
				}
			}
		}
	}
	return out, hard, nil
}

// unwrapValue decodes a modified property value once more where Entra wrote
// JSON inside a string; null becomes absent.
func unwrapValue(raw json.RawMessage) json.RawMessage {
	if lenient.IsNull(raw) {
		return nil
	}
	return unwrap(raw)
}

// unwrap is lenient.Unwrap, minus the call where it cannot unwrap: a string
// whose first character cannot start JSON text (such as "success",
// "DirectorySync" or a UPN) comes back unchanged anyway, and asking costs
// encoding/json a syntax error value for each one. Escapes, white space and
// non-ASCII bytes (which may be Unicode white space) still go to Unwrap.
func unwrap(raw json.RawMessage) json.RawMessage {
	if len(raw) >= 2 && raw[0] == '"' {
		switch c := raw[1]; {
		case c == '{', c == '[', c == '"', c == '-', '0' <= c && c <= '9',
			c == 't', c == 'f', c == 'n', c == '\\', c == ' ', c >= 0x80:
		default:
			return bytes.TrimSpace(raw) // what Unwrap returns for it
		}
	}
	return lenient.Unwrap(raw)
}

// loggedTargetTypes maps logged target types (matched ignoring case) to
// normalized ones. Types Entra logs as "Policy" are resolved by targetType.
// The last two are not seen in samples but are the Graph type names, should
// Entra ever log them.
var loggedTargetTypes = [...]struct {
	logged string
	typ    TargetType
}{
	{"User", TargetUser},
	{"Group", TargetGroup},
	{"Application", TargetApplication},
	{"ServicePrincipal", TargetServicePrincipal},
	{"AdministrativeUnit", TargetAdministrativeUnit},
	{"Device", TargetDevice},
	{"ConditionalAccessPolicy", TargetConditionalAccessPolicy},
	{"NamedLocation", TargetNamedLocation},
}

// targetType normalizes a logged target type. activity and service are as
// logged, compared ignoring case. Entra logs Conditional Access policies and named locations with the
// type "Policy" (named locations sometimes "Other"), the same type as
// directory policies, so the activity and the logging service tell them
// apart.
func targetType(logged, activity, service string) TargetType {
	logged = strings.TrimSpace(logged)
	for _, lt := range loggedTargetTypes {
		if strings.EqualFold(logged, lt.logged) {
			return lt.typ
		}
	}
	namedLocation := containsFold(activity, "named location")
	switch {
	case strings.EqualFold(logged, "Policy"):
		if namedLocation {
			return TargetNamedLocation
		}
		if containsFold(activity, "conditional access policy") || strings.EqualFold(service, "Conditional Access") {
			return TargetConditionalAccessPolicy
		}
	case logged == "", strings.EqualFold(logged, "Other"):
		if namedLocation {
			return TargetNamedLocation
		}
	}
	return TargetOther
}

// deletionOf classifies an activity, ignoring case. It ignores the result on
// purpose; see Event.Deletion.
func deletionOf(activity string, hardMarker bool) Deletion {
	switch {
	case hasPrefixFold(activity, "hard delete"), hardMarker:
		return DeletionHard
	case hasPrefixFold(activity, "delete "), strings.EqualFold(activity, "remove service principal"):
		return DeletionSoft
	}
	return DeletionNone
}

// hasPrefixFold is strings.HasPrefix ignoring case, without allocating.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// containsFold is strings.Contains ignoring case, for the short ASCII
// phrases activity names are matched against, without allocating.
func containsFold(s, substr string) bool {
	for i := 0; i+len(substr) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(substr)], substr) {
			return true
		}
	}
	return false
}

// decodeError turns an encoding/json error for record into a FieldError.
func decodeError(record []byte, err error) *FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return &FieldError{Reason: "a record must be a JSON object, not " + withArticle(valueKind(te.Value)), Err: err}
		}
		return &FieldError{
			Field:  refinePath(record, te.Field),
			Reason: "expected " + wantKind(te.Type) + ", got " + withArticle(valueKind(te.Value)),
			Err:    err,
		}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &FieldError{Reason: "not valid JSON: " + se.Error(), Err: err}
	}
	return &FieldError{Reason: err.Error(), Err: err}
}

// valueKind reduces encoding/json's description of a value ("number 5") to
// its kind.
func valueKind(v string) string {
	if i := strings.IndexByte(v, ' '); i >= 0 {
		v = v[:i]
	}
	if v == "bool" {
		return "boolean"
	}
	return v
}

// wantKind names the JSON kind a Go type is decoded from.
func wantKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Pointer, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "a boolean"
	}
	return "a number"
}

// refinePath adds array indices to a path reported by encoding/json, which
// names struct fields only ("properties.targetResources.type"), so that a
// Skip points at the target that is wrong. It runs only for records that are
// skipped.
func refinePath(record []byte, field string) string {
	for _, base := range [...]string{"properties.targetResources", "targetResources"} {
		if field != base && !strings.HasPrefix(field, base+".") {
			continue
		}
		arr := rawAt(record, strings.Split(base, "."))
		if len(arr) == 0 || arr[0] != '[' {
			return field
		}
		if sub, ok := failingElement(arr, func(elem []byte) error {
			var t wireTarget
			return json.Unmarshal(elem, &t)
		}); ok {
			return base + sub
		}
		return field
	}
	return field
}

// failingElement finds the first element of arr that decode rejects with a
// type error, and returns its index and the path inside it ("[1].type"),
// descending into modifiedProperties the same way.
func failingElement(arr []byte, decode func([]byte) error) (string, bool) {
	path, found := "", false
	eachElement(arr, func(i int, elem []byte) {
		if found {
			return
		}
		var te *json.UnmarshalTypeError
		if !errors.As(decode(elem), &te) {
			return
		}
		found = true
		path = "[" + strconv.Itoa(i) + "]"
		const mp = "modifiedProperties"
		switch {
		case te.Field == "":
		case te.Field == mp || strings.HasPrefix(te.Field, mp+"."):
			inner := rawAt(elem, []string{mp})
			if len(inner) > 0 && inner[0] == '[' {
				if sub, ok := failingElement(inner, func(e []byte) error {
					var m wireModifiedProperty
					return json.Unmarshal(e, &m)
				}); ok {
					path += "." + mp + sub
					return
				}
			}
			path += "." + te.Field
		default:
			path += "." + te.Field
		}
	})
	return path, found
}

// rawAt returns the raw value at the path of object keys inside doc (keys
// matched case-insensitively, last duplicate wins, as encoding/json does), or
// nil.
func rawAt(doc []byte, path []string) []byte {
	cur := bytes.TrimSpace(doc)
	for _, name := range path {
		if len(cur) == 0 || cur[0] != '{' {
			return nil
		}
		var found []byte
		eachMember(cur, func(key, v []byte) {
			if keyIs(key, name) {
				found = v
			}
		})
		if found == nil {
			return nil
		}
		cur = found
	}
	return cur
}
