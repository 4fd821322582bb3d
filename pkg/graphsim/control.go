package graphsim

// Tenant changes made outside Graph, for tests and demos of Entra Backup
// and Recovery: an object created, a property changed, a static member
// added or removed, by whatever means (the admin center, PowerShell, a
// provisioning job). graphsim simulates no Graph write for these, so they
// come through the control plane (/_sim/objects/...) or these methods.
// They log no audit record and ask for no token.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// ControlError is a refused control-plane change; Status is the HTTP status
// /_sim/objects answers with it.
type ControlError struct {
	// Status is 400 (bad input), 404 (no such object) or 409 (conflict).
	Status int
	// Reason says what is wrong.
	Reason string
}

// Error returns the reason.
func (e *ControlError) Error() string { return e.Reason }

func controlErr(status int, format string, args ...any) error {
	return &ControlError{Status: status, Reason: fmt.Sprintf(format, args...)}
}

// kindBySeedKey maps a seed collection key ("users", "groups", ...) to its
// kind.
func kindBySeedKey(key string) (kind, bool) {
	for k := range numKinds {
		if strings.EqualFold(k.info().seedKey, key) {
			return k, true
		}
	}
	return 0, false
}

// CreateObject adds a live object to a seed collection ("users", "groups",
// "applications", "servicePrincipals", "administrativeUnits",
// "conditionalAccessPolicies", "namedLocations"), as the seed would have
// it: a Graph-shaped JSON object, with the hidden "members" (groups),
// "owners" and "directoryRoles" (users) accepted. Without an id it gets a
// new GUID. It returns the object as Graph would show it.
func (s *Server) CreateObject(collection string, obj json.RawMessage) (json.RawMessage, error) {
	k, ok := kindBySeedKey(collection)
	if !ok {
		return nil, controlErr(404, "unknown collection %q (use a seed key such as users or groups)", collection)
	}
	props, err := parseJSONObject(obj)
	if err != nil {
		return nil, controlErr(400, "not a JSON object: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceBackup(s.now())
	id := props.str("id")
	if id == "" {
		id = uuid.NewString()
		props = props.withFirst("id", id)
	}
	if s.t.anyByID(id) != nil {
		return nil, controlErr(409, "an object with id %q already exists", id)
	}
	o := &object{kind: k, id: id, props: props}
	if raw, ok := props.raw("owners"); ok {
		if err := json.Unmarshal(raw, &o.owners); err != nil {
			return nil, controlErr(400, "owners must be a list of object ids")
		}
		props.del("owners")
	}
	refs, err := hiddenLinks(s.t, collection, 0, o)
	if err != nil {
		return nil, controlErr(400, "%v", err)
	}
	for _, r := range refs {
		if s.t.anyByID(r.member) == nil {
			return nil, controlErr(400, "member %q is not an object of the tenant", r.member)
		}
	}
	if k == kindUser {
		upn := props.str("userPrincipalName")
		if upn == "" {
			return nil, controlErr(400, "a user needs a userPrincipalName")
		}
		if s.t.liveUser(upn) != nil {
			return nil, controlErr(409, "userPrincipalName %q is already used", upn)
		}
	}
	if k.info().directory && !props.has("deletedDateTime") {
		props.set("deletedDateTime", nil)
	}
	s.t.addLive(o)
	return mustJSON(o.props), nil
}

// UpdateObject sets properties of a live object (a JSON object of the
// properties to set; null sets null). The id cannot change, and
// deletedDateTime, members and owners are not properties to set.
func (s *Server) UpdateObject(collection, id string, patch json.RawMessage) (json.RawMessage, error) {
	k, ok := kindBySeedKey(collection)
	if !ok {
		return nil, controlErr(404, "unknown collection %q", collection)
	}
	props, err := parseJSONObject(patch)
	if err != nil {
		return nil, controlErr(400, "not a JSON object: %v", err)
	}
	for _, key := range props.keys {
		switch key {
		case "id", "deletedDateTime", "members", "owners", "directoryRoles", "@odata.type":
			return nil, controlErr(400, "%q cannot be set here", key)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceBackup(s.now())
	o := s.t.liveByID(k, id)
	if o == nil {
		return nil, controlErr(404, "no live %s with id %q", k.info().name, id)
	}
	if k == kindUser {
		if upn := props.str("userPrincipalName"); upn != "" {
			if other := s.t.liveUser(upn); other != nil && other != o {
				return nil, controlErr(409, "userPrincipalName %q is already used", upn)
			}
		}
	}
	for _, key := range props.keys {
		v, _ := props.raw(key)
		o.props.setRaw(key, v)
	}
	return mustJSON(o.props), nil
}

// liveGroup finds a live group. The caller holds s.mu.
func (s *Server) liveGroup(id string) (*object, error) {
	g := s.t.liveByID(kindGroup, id)
	if g == nil {
		return nil, controlErr(404, "no live group with id %q", id)
	}
	return g, nil
}

// AddMember makes memberID (a live object) a static member of a live
// group. Adding a member twice is not an error.
func (s *Server) AddMember(groupID, memberID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceBackup(s.now())
	g, err := s.liveGroup(groupID)
	if err != nil {
		return err
	}
	m := s.t.live[strings.ToLower(memberID)]
	if m == nil {
		return controlErr(404, "no live object with id %q", memberID)
	}
	if !g.hasMember(memberID) {
		g.members = append(g.members, m.id)
	}
	return nil
}

// RemoveMember removes a static member from a live group.
func (s *Server) RemoveMember(groupID, memberID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceBackup(s.now())
	g, err := s.liveGroup(groupID)
	if err != nil {
		return err
	}
	if !g.hasMember(memberID) {
		return controlErr(404, "%q is not a member of group %q", memberID, groupID)
	}
	kept := g.members[:0:0]
	for _, x := range g.members {
		if !strings.EqualFold(x, memberID) {
			kept = append(kept, x)
		}
	}
	g.members = kept
	return nil
}

// Members lists a group's static members (live or in the recycle bin) by
// id, the group itself being live or deleted.
func (s *Server) Members(groupID string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceBackup(s.now())
	g := s.t.anyByID(groupID)
	if g == nil || g.kind != kindGroup {
		return nil, controlErr(404, "no group with id %q", groupID)
	}
	return append([]string{}, g.members...), nil
}

// serveObjects answers /_sim/objects/...:
//
//	POST   /_sim/objects/{collection}                          CreateObject → 201
//	PATCH  /_sim/objects/{collection}/{id}                     UpdateObject → 200
//	GET    /_sim/objects/groups/{id}/members                   Members → 200 {"value":[ids]}
//	POST   /_sim/objects/groups/{id}/members/{memberId}        AddMember → 204
//	DELETE /_sim/objects/groups/{id}/members/{memberId}        RemoveMember → 204
func (s *Server) serveObjects(w http.ResponseWriter, r *http.Request, rest []string, reply func(int, any)) {
	fail := func(err error) {
		status := 400
		if ce, ok := err.(*ControlError); ok {
			status = ce.Status
		}
		reply(status, map[string]string{"error": err.Error()})
	}
	wrong := func(allow string) {
		w.Header().Set("Allow", allow)
		reply(405, map[string]string{"error": "use " + allow})
	}
	switch {
	case len(rest) == 1:
		if r.Method != http.MethodPost {
			wrong("POST")
			return
		}
		out, err := s.CreateObject(rest[0], readAllLimited(r))
		if err != nil {
			fail(err)
			return
		}
		reply(201, json.RawMessage(out))
	case len(rest) == 2:
		if r.Method != http.MethodPatch {
			wrong("PATCH")
			return
		}
		out, err := s.UpdateObject(rest[0], rest[1], readAllLimited(r))
		if err != nil {
			fail(err)
			return
		}
		reply(200, json.RawMessage(out))
	case len(rest) == 3 && strings.EqualFold(rest[0], "groups") && rest[2] == "members":
		if r.Method != http.MethodGet {
			wrong("GET")
			return
		}
		ids, err := s.Members(rest[1])
		if err != nil {
			fail(err)
			return
		}
		reply(200, map[string]any{"value": ids})
	case len(rest) == 4 && strings.EqualFold(rest[0], "groups") && rest[2] == "members":
		var err error
		switch r.Method {
		case http.MethodPost:
			err = s.AddMember(rest[1], rest[3])
		case http.MethodDelete:
			err = s.RemoveMember(rest[1], rest[3])
		default:
			wrong("POST, DELETE")
			return
		}
		if err != nil {
			fail(err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		reply(404, map[string]string{"error": "unknown control endpoint /_sim/objects/" + strings.Join(rest, "/")})
	}
}
