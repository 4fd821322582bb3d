package graphsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Seed is the initial state of the simulated tenant. Objects are Graph-shaped
// JSON objects, kept as given (unknown properties included) and returned as
// given, with these exceptions: the properties "owners" (a list of owner
// object ids), "members" (on groups: the static members' object ids) and
// "directoryRoles" (on users: the Microsoft Entra roles the user holds,
// such as "Entra Backup Administrator"), which Graph exposes only as
// relationships, are kept hidden; and the soft-delete markers Graph itself writes (deletedDateTime, the rewritten
// userPrincipalName) are managed by the server.
type Seed struct {
	// TenantID is the tenant's GUID; audit records and their Event Hubs
	// envelope carry it.
	TenantID string `json:"tenantId"`

	// Users, Groups, Applications, ServicePrincipals, AdministrativeUnits,
	// ConditionalAccessPolicies and NamedLocations are the live objects,
	// each a Graph-shaped JSON object with an "id".
	Users                     []json.RawMessage `json:"users"`
	Groups                    []json.RawMessage `json:"groups"`
	Applications              []json.RawMessage `json:"applications"`
	ServicePrincipals         []json.RawMessage `json:"servicePrincipals"`
	AdministrativeUnits       []json.RawMessage `json:"administrativeUnits"`
	ConditionalAccessPolicies []json.RawMessage `json:"conditionalAccessPolicies"`
	NamedLocations            []json.RawMessage `json:"namedLocations"`
	// DeletedItems are objects already in a recycle bin. Each carries
	// @odata.type (such as "#microsoft.graph.group"; Conditional Access
	// policies and named locations go to their own bin) and deletedDateTime.
	// A deleted user's userPrincipalName may be given either as it was or
	// already rewritten to <id without dashes><UPN>, as Entra stores it.
	DeletedItems []json.RawMessage `json:"deletedItems"`

	// Identities are the callers the server accepts, by bearer token.
	Identities []Identity `json:"identities"`
}

// Identity is a caller: an application acting as itself (application
// permissions) or a signed-in user (delegated permissions).
type Identity struct {
	// Token is the opaque bearer token that identifies the caller.
	Token string `json:"token"`
	// Type is "app" or "user".
	Type string `json:"type"`
	// DisplayName is logged as the app's name in audit records.
	DisplayName string `json:"displayName"`
	// AppID is the application (client) id. Required for apps; for users it
	// names the client app the user signs in with, and keys its throttling
	// quota.
	AppID string `json:"appId"`
	// ID is the service principal's object id for an app, the user's object
	// id for a user. Application.ReadWrite.OwnedBy compares it with an
	// object's owners.
	ID string `json:"id"`
	// UserPrincipalName is required for users and logged as the initiator.
	UserPrincipalName string `json:"userPrincipalName"`
	// Permissions are application permissions for an app and delegated
	// permissions for a user, by their Graph names.
	Permissions []string `json:"permissions"`

	// roles are the directory roles a user identity acts with: those of the
	// seed user whose id is ID. Only APIs whose Learn pages require a role
	// of a delegated caller check them (Entra Backup and Recovery).
	roles []string
}

// SeedError names the seed entry that is wrong: its collection key, its
// index in that collection (-1 for the top-level tenantId), and the field.
type SeedError struct {
	// File is the seed file, when the seed was loaded by LoadSeed.
	File string
	// Key is the seed's top-level key, such as "groups" or "identities".
	Key string
	// Index is the position in that collection; -1 for tenantId.
	Index int
	// Field is the offending field of that entry, "" for the entry as a whole.
	Field string
	// Reason says what is wrong.
	Reason string
}

// Error reads like "seed.json: users[2].id: missing".
func (e *SeedError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	} else {
		b.WriteString("seed: ")
	}
	b.WriteString(e.Key)
	if e.Index >= 0 {
		b.WriteString("[" + strconv.Itoa(e.Index) + "]")
	}
	if e.Field != "" {
		b.WriteString("." + e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// LoadSeed reads and validates a JSON seed file. Errors name the file and,
// where one is to blame, the key, index and field. Unknown top-level keys are
// errors, so that a misspelt collection is not silently empty.
func LoadSeed(path string) (Seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Seed{}, fmt.Errorf("seed: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var seed Seed
	if err := dec.Decode(&seed); err != nil {
		return Seed{}, seedDecodeError(path, data, err)
	}
	if _, err := dec.Token(); err == nil {
		return Seed{}, fmt.Errorf("%s: trailing data after the seed object", path)
	}
	if _, err := buildTenant(seed); err != nil {
		var se *SeedError
		if errors.As(err, &se) {
			se.File = path
		}
		return Seed{}, err
	}
	return seed, nil
}

// seedDecodeError turns an encoding/json error into one naming the file and,
// for a type mismatch, the key and index.
func seedDecodeError(path string, data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		return fmt.Errorf("%s: line %d: %v", path, line, se)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		key, index, field := te.Field, -1, ""
		if i := strings.IndexByte(key, '.'); i >= 0 {
			key, field = key[:i], key[i+1:]
		}
		// encoding/json does not report the element index; find it.
		if raw := topLevel(data, key); raw != nil {
			index = firstBadElement(raw, te.Type.Kind().String())
		}
		return &SeedError{File: path, Key: key, Index: index, Field: field, Reason: "expected " + te.Type.String() + ", got JSON " + te.Value}
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		return &SeedError{File: path, Key: strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), Index: -1, Reason: "unknown key (known keys: tenantId, users, groups, applications, servicePrincipals, administrativeUnits, conditionalAccessPolicies, namedLocations, deletedItems, identities; identity fields: token, type, displayName, appId, id, userPrincipalName, permissions)"}
	}
	return fmt.Errorf("%s: %w", path, err)
}

func topLevel(data []byte, key string) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	return m[key]
}

// firstBadElement returns the index of the first array element that is not
// a JSON object (what every collection holds), or -1.
func firstBadElement(raw json.RawMessage, _ string) int {
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil {
		return -1
	}
	for i, e := range elems {
		e = bytes.TrimSpace(e)
		if len(e) == 0 || e[0] != '{' {
			return i
		}
		var id Identity
		if json.Unmarshal(e, &id) != nil {
			return i
		}
	}
	return -1
}

// buildTenant validates the whole seed and builds the initial tenant. It
// reports the first problem found, in seed order.
func buildTenant(seed Seed) (*tenant, error) {
	if _, err := uuid.Parse(seed.TenantID); err != nil {
		return nil, &SeedError{Key: "tenantId", Index: -1, Reason: "must be a GUID, got " + strconv.Quote(seed.TenantID)}
	}
	t := newTenant(seed.TenantID)
	seen := map[string]string{} // lower-case id -> "key[i]"
	collections := []struct {
		kind kind
		objs []json.RawMessage
	}{
		{kindUser, seed.Users}, {kindGroup, seed.Groups}, {kindApplication, seed.Applications},
		{kindServicePrincipal, seed.ServicePrincipals}, {kindAdministrativeUnit, seed.AdministrativeUnits},
		{kindCAPolicy, seed.ConditionalAccessPolicies}, {kindNamedLocation, seed.NamedLocations},
	}
	upns := map[string]string{}
	var links []memberRef
	for _, c := range collections {
		key := c.kind.info().seedKey
		for i, raw := range c.objs {
			obj, err := seedObject(key, i, raw, seen)
			if err != nil {
				return nil, err
			}
			obj.kind = c.kind
			refs, err := hiddenLinks(t, key, i, obj)
			if err != nil {
				return nil, err
			}
			links = append(links, refs...)
			if c.kind == kindUser {
				upn := obj.props.str("userPrincipalName")
				if upn == "" {
					return nil, &SeedError{Key: key, Index: i, Field: "userPrincipalName", Reason: "missing: every user has one"}
				}
				if prev, dup := upns[strings.ToLower(upn)]; dup {
					return nil, &SeedError{Key: key, Index: i, Field: "userPrincipalName", Reason: fmt.Sprintf("%q is already used by %s", upn, prev)}
				}
				upns[strings.ToLower(upn)] = fmt.Sprintf("%s[%d]", key, i)
			}
			t.addLive(obj)
		}
	}
	for i, raw := range seed.DeletedItems {
		obj, err := seedObject("deletedItems", i, raw, seen)
		if err != nil {
			return nil, err
		}
		typ := obj.props.str("@odata.type")
		if typ == "" {
			return nil, &SeedError{Key: "deletedItems", Index: i, Field: "@odata.type", Reason: "missing: say which type the deleted object is, such as \"#microsoft.graph.group\""}
		}
		k, ok := kindByODataType(typ)
		if !ok {
			return nil, &SeedError{Key: "deletedItems", Index: i, Field: "@odata.type", Reason: fmt.Sprintf("%q is not a type graphsim simulates", typ)}
		}
		obj.kind = k
		refs, err := hiddenLinks(t, "deletedItems", i, obj)
		if err != nil {
			return nil, err
		}
		links = append(links, refs...)
		if k != kindNamedLocation {
			// The type was seed metadata; Graph names the type of these
			// only where the answer is a directoryObject (added on output).
			// Named locations are polymorphic and always carry it.
			obj.props.del("@odata.type")
		}
		when, err := time.Parse(time.RFC3339Nano, obj.props.str("deletedDateTime"))
		if err != nil {
			return nil, &SeedError{Key: "deletedItems", Index: i, Field: "deletedDateTime", Reason: "missing or not an RFC 3339 time: a deleted item needs the time it was deleted"}
		}
		obj.deletedAt = when.UTC()
		if k == kindUser {
			upn := obj.props.str("userPrincipalName")
			if upn == "" {
				return nil, &SeedError{Key: "deletedItems", Index: i, Field: "userPrincipalName", Reason: "missing: every user has one"}
			}
			prefix := strings.ReplaceAll(obj.id, "-", "")
			if orig, ok := cutPrefixFold(upn, prefix); ok && orig != "" {
				obj.originalUPN = orig
			} else {
				obj.originalUPN = upn
				obj.props.set("userPrincipalName", prefix+upn)
			}
		}
		t.addDeleted(obj)
	}
	for _, l := range links {
		if _, ok := seen[strings.ToLower(l.member)]; !ok {
			return nil, &SeedError{Key: l.key, Index: l.index, Field: "members", Reason: fmt.Sprintf("%q is not the id of an object in the seed", l.member)}
		}
	}
	tokens := map[string]int{}
	for i, id := range seed.Identities {
		if err := validateIdentity(i, id, tokens); err != nil {
			return nil, err
		}
		ident := id
		if ident.Type == "user" {
			ident.roles = t.roles[strings.ToLower(ident.ID)]
		}
		t.identities[id.Token] = &ident
	}
	return t, nil
}

// memberRef is a group's member link, checked once every seed id is known.
type memberRef struct {
	key    string
	index  int
	member string
}

// hiddenLinks takes the hidden "members" (groups) and "directoryRoles"
// (users) out of a seed object's properties.
func hiddenLinks(t *tenant, key string, i int, obj *object) ([]memberRef, error) {
	var refs []memberRef
	if raw, ok := obj.props.raw("members"); ok {
		var members []string
		if obj.kind != kindGroup {
			return nil, &SeedError{Key: key, Index: i, Field: "members", Reason: "only groups have static members here"}
		}
		if err := json.Unmarshal(raw, &members); err != nil {
			return nil, &SeedError{Key: key, Index: i, Field: "members", Reason: "must be a list of member object ids"}
		}
		obj.members = members
		obj.props.del("members")
		for _, m := range members {
			refs = append(refs, memberRef{key: key, index: i, member: m})
		}
	}
	if raw, ok := obj.props.raw("directoryRoles"); ok {
		var roles []string
		if obj.kind != kindUser {
			return nil, &SeedError{Key: key, Index: i, Field: "directoryRoles", Reason: "only users hold directory roles here"}
		}
		if err := json.Unmarshal(raw, &roles); err != nil {
			return nil, &SeedError{Key: key, Index: i, Field: "directoryRoles", Reason: "must be a list of role names"}
		}
		for j, r := range roles {
			canon, ok := canonicalRole(r)
			if !ok {
				return nil, &SeedError{Key: key, Index: i, Field: "directoryRoles[" + strconv.Itoa(j) + "]", Reason: fmt.Sprintf("unknown role %q (graphsim knows: %s)", r, strings.Join(knownRoles, ", "))}
			}
			roles[j] = canon
		}
		t.roles[strings.ToLower(obj.id)] = roles
		obj.props.del("directoryRoles")
	}
	return refs, nil
}

// seedObject parses one seed object and checks its id.
func seedObject(key string, i int, raw json.RawMessage, seen map[string]string) (*object, error) {
	props, err := parseJSONObject(raw)
	if err != nil {
		return nil, &SeedError{Key: key, Index: i, Reason: "not a JSON object: " + err.Error()}
	}
	idRaw, ok := props.raw("id")
	var id string
	if !ok || json.Unmarshal(idRaw, &id) != nil || strings.TrimSpace(id) == "" {
		return nil, &SeedError{Key: key, Index: i, Field: "id", Reason: "missing or not a non-empty string: every object needs an id"}
	}
	here := fmt.Sprintf("%s[%d]", key, i)
	if prev, dup := seen[strings.ToLower(id)]; dup {
		return nil, &SeedError{Key: key, Index: i, Field: "id", Reason: fmt.Sprintf("duplicate id %q (also %s)", id, prev)}
	}
	seen[strings.ToLower(id)] = here
	obj := &object{id: id, props: props}
	if ownersRaw, ok := props.raw("owners"); ok {
		var owners []string
		if err := json.Unmarshal(ownersRaw, &owners); err != nil {
			return nil, &SeedError{Key: key, Index: i, Field: "owners", Reason: "must be a list of owner object ids"}
		}
		obj.owners = owners
		props.del("owners")
	}
	return obj, nil
}

func validateIdentity(i int, id Identity, tokens map[string]int) error {
	fail := func(field, reason string) error {
		return &SeedError{Key: "identities", Index: i, Field: field, Reason: reason}
	}
	if strings.TrimSpace(id.Token) == "" {
		return fail("token", "missing")
	}
	if prev, dup := tokens[id.Token]; dup {
		return fail("token", fmt.Sprintf("same token as identities[%d]", prev))
	}
	tokens[id.Token] = i
	switch id.Type {
	case "app":
		if id.AppID == "" {
			return fail("appId", "missing: an app identity needs its application (client) id")
		}
	case "user":
		if id.UserPrincipalName == "" {
			return fail("userPrincipalName", "missing: a user identity needs a userPrincipalName")
		}
	default:
		return fail("type", fmt.Sprintf("must be \"app\" or \"user\", got %q", id.Type))
	}
	if id.ID == "" {
		return fail("id", "missing: the service principal's (app) or user's object id")
	}
	for j, p := range id.Permissions {
		if !slices.Contains(knownPermissions(), p) {
			return fail("permissions["+strconv.Itoa(j)+"]", fmt.Sprintf("unknown permission %q (graphsim knows: %s)", p, strings.Join(knownPermissions(), ", ")))
		}
	}
	return nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
