package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// route dispatches a call by path. Paths are matched case-sensitively on
// fixed segments except where Graph is known to be lenient ("deleteditems"
// appears in lower case in the list page's own examples).
func (s *Server) route(c *call) response {
	segs := c.segs
	if len(segs) == 0 {
		return c.unknownSegment("")
	}
	eq := strings.EqualFold
	switch {
	case eq(segs[0], "users"), eq(segs[0], "groups"), eq(segs[0], "applications"), eq(segs[0], "servicePrincipals"):
		k := map[string]kind{"users": kindUser, "groups": kindGroup, "applications": kindApplication, "serviceprincipals": kindServicePrincipal}[strings.ToLower(segs[0])]
		return s.routeCollection(c, k, segs[1:])
	case isAppIDKey(segs[0]):
		k, appID, _ := parseAppIDKey(segs[0])
		if len(segs) > 1 {
			return c.unknownSegment(segs[1])
		}
		return s.routeAppIDKey(c, k, appID)
	case eq(segs[0], "directory"):
		if len(segs) == 1 {
			return c.unknownSegment(segs[0]) // the directory singleton itself is out of scope
		}
		switch {
		case eq(segs[1], "administrativeUnits"):
			return s.routeCollection(c, kindAdministrativeUnit, segs[2:])
		case eq(segs[1], "deletedItems"):
			return s.routeDeletedItems(c, segs[2:])
		case eq(segs[1], "recovery"):
			return s.routeRecovery(c, segs[2:])
		}
		return c.unknownSegment(segs[1])
	case eq(segs[0], "identity"):
		if len(segs) < 2 || !eq(segs[1], "conditionalAccess") {
			if len(segs) < 2 {
				return c.unknownSegment(segs[0])
			}
			return c.unknownSegment(segs[1])
		}
		if len(segs) < 3 {
			return c.unknownSegment(segs[1])
		}
		switch {
		case eq(segs[2], "policies"):
			return s.routeCollection(c, kindCAPolicy, segs[3:])
		case eq(segs[2], "namedLocations"):
			return s.routeCollection(c, kindNamedLocation, segs[3:])
		case eq(segs[2], "deletedItems"):
			return s.routeCABin(c, segs[3:])
		}
		return c.unknownSegment(segs[2])
	case eq(segs[0], "auditLogs"):
		if len(segs) < 2 || !eq(segs[1], "directoryAudits") {
			if len(segs) < 2 {
				return c.unknownSegment(segs[0])
			}
			return c.unknownSegment(segs[1])
		}
		switch len(segs) {
		case 2:
			if c.method != http.MethodGet {
				return c.methodNotAllowed()
			}
			return s.listAudits(c)
		case 3:
			if c.method != http.MethodGet {
				return c.methodNotAllowed()
			}
			return s.getAudit(c, segs[2])
		}
		return c.unknownSegment(segs[3])
	case segs[0] == "$batch":
		// Only reachable inside a batch: batches do not nest.
		return c.fail(400, "BadRequest", "A $batch request cannot contain another $batch request.")
	}
	return c.unknownSegment(segs[0])
}

// routeCollection serves /<collection>[/{id}].
func (s *Server) routeCollection(c *call, k kind, rest []string) response {
	switch len(rest) {
	case 0:
		if c.method != http.MethodGet {
			return c.methodNotAllowed()
		}
		return s.listLive(c, k)
	case 1:
		switch c.method {
		case http.MethodGet:
			return s.getLive(c, k, rest[0])
		case http.MethodDelete:
			return s.deleteLive(c, k, rest[0])
		case http.MethodPatch:
			if k == kindCAPolicy {
				return s.patchCAPolicyState(c, rest[0])
			}
		}
		return c.methodNotAllowed()
	}
	// Navigation properties and actions on live objects are out of scope;
	// among them the bogus /{type}/{id}/restore builders the SDK generates,
	// which Graph itself answers with ResourceNotFound (reference §6.3).
	if len(rest) == 2 && isRestoreAction(rest[1]) {
		return c.notFound(rest[0])
	}
	return c.unknownSegment(rest[1])
}

// isAppIDKey recognizes the alternate key /applications(appId='...') and
// /servicePrincipals(appId='...') (Learn graph/api/application-get,
// serviceprincipal-get).
func isAppIDKey(seg string) bool {
	_, _, ok := parseAppIDKey(seg)
	return ok
}

func parseAppIDKey(seg string) (kind, string, bool) {
	for prefix, k := range map[string]kind{"applications(appId=": kindApplication, "servicePrincipals(appId=": kindServicePrincipal} {
		if rest, ok := cutPrefixFold(seg, prefix); ok && strings.HasSuffix(rest, ")") {
			v := strings.TrimSuffix(rest, ")")
			if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
				return k, v[1 : len(v)-1], true
			}
		}
	}
	return 0, "", false
}

func (s *Server) routeAppIDKey(c *call, k kind, appID string) response {
	s.mu.Lock()
	var id string
	for _, o := range sorted(s.t.live, k, false) {
		if strings.EqualFold(o.props.str("appId"), appID) {
			id = o.id
		}
	}
	s.mu.Unlock()
	if id == "" {
		id = appID // answered 404 (or 403) below
	}
	switch c.method {
	case http.MethodGet:
		return s.getLive(c, k, id)
	case http.MethodDelete:
		return s.deleteLive(c, k, id)
	}
	return c.methodNotAllowed()
}

// appKey is the caller's throttling key: its client app, as Graph keys
// quotas "per app per tenant".
func appKey(ident *Identity) string {
	if ident.AppID != "" {
		return strings.ToLower(ident.AppID)
	}
	return "user:" + strings.ToLower(ident.ID)
}

// admitWrite applies the directory write quotas. The caller holds s.mu.
func (s *Server) admitWrite(c *call) *response {
	if wait := s.throttle.admitWrite(appKey(c.ident), c.now); wait > 0 {
		r := c.throttled(wait, true)
		return &r
	}
	return nil
}

// admitCA applies the Conditional Access limit, whose 429 carries no
// Retry-After (reference §2.3, §3.3). The caller holds s.mu.
func (s *Server) admitCA(c *call) *response {
	if wait := s.throttle.admitCA(c.now); wait > 0 {
		r := c.throttled(wait, false)
		return &r
	}
	return nil
}

// checkQuery refuses query options graphsim does not simulate, so that a
// caller relying on one learns it here rather than from silently unfiltered
// data.
func checkQuery(c *call, allowed ...string) *response {
	for k := range c.query {
		if !strings.HasPrefix(k, "$") {
			continue
		}
		if !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, k) }) {
			r := c.fail(400, "Request_UnsupportedQuery", fmt.Sprintf("graphsim does not simulate the query option '%s' on this resource.", k))
			return &r
		}
	}
	return nil
}

func selectList(c *call) []string {
	v := c.query.Get("$select")
	if v == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func project(o *jsonObject, sel []string) *jsonObject {
	if len(sel) == 0 {
		return o
	}
	return o.selected(append(sel, "id"))
}

func (c *call) context(fragment string) string {
	return c.base + "/" + c.version + "/$metadata#" + fragment
}

// getLive serves GET /<collection>/{id}. Users can also be addressed by
// userPrincipalName (Learn graph/api/user-get: "GET /users/{id |
// userPrincipalName}"). Sources: Learn graph/api/user-get, group-get,
// application-get, serviceprincipal-get, administrativeunit-get,
// conditionalaccesspolicy-get, namedlocation-get.
func (s *Server) getLive(c *call, k kind, id string) response {
	if r := checkQuery(c, "$select"); r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !k.info().directory {
		if r := s.admitCA(c); r != nil {
			return *r
		}
	}
	obj := s.lookupLive(k, id)
	if !allows(c.ident, opRead, k, obj) {
		return c.forbidden()
	}
	if obj == nil {
		return c.notFound(id)
	}
	out := project(obj.props, selectList(c)).withFirst("@odata.context", c.context(k.info().contextSet+"/$entity"))
	return newResponse(200, out)
}

func (s *Server) lookupLive(k kind, id string) *object {
	if k == kindUser {
		return s.t.liveUser(id)
	}
	return s.t.liveByID(k, id)
}

// listLive serves GET /<collection>, with $top, $select, paging, and
// $filter on appId for applications and service principals.
func (s *Server) listLive(c *call, k kind) response {
	if r := checkQuery(c, "$select", "$top", "$skiptoken", "$filter"); r != nil {
		return *r
	}
	match, r := appIDFilter(c, k)
	if r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !k.info().directory {
		if r := s.admitCA(c); r != nil {
			return *r
		}
	}
	if !allows(c.ident, opRead, k, nil) {
		return c.forbidden()
	}
	return page(c, filtered(sorted(s.t.live, k, false), match), k.info().contextSet, false)
}

// appIDFilter reads the one $filter graphsim simulates: "appId eq '<id>'"
// on applications and service principals, which is how a caller finds the
// service principal of an application (Learn graph/filter-query-parameter;
// directory-deleteditems-list supports $filter). Any other filter is
// refused, as checkQuery refuses other options. match is nil without $filter.
func appIDFilter(c *call, k kind) (match func(*object) bool, r *response) {
	raw := c.query.Get("$filter")
	if raw == "" {
		return nil, nil
	}
	if k == kindApplication || k == kindServicePrincipal {
		if rest, ok := cutPrefixFold(strings.TrimSpace(raw), "appId eq '"); ok && strings.HasSuffix(rest, "'") {
			appID := strings.TrimSuffix(rest, "'")
			return func(o *object) bool { return strings.EqualFold(o.props.str("appId"), appID) }, nil
		}
	}
	fail := c.fail(400, "Request_UnsupportedQuery", fmt.Sprintf("graphsim simulates only $filter=appId eq '...' on applications and service principals, not '%s'.", raw))
	return nil, &fail
}

// filtered keeps the objects match accepts; a nil match keeps all.
func filtered(objs []*object, match func(*object) bool) []*object {
	if match == nil {
		return objs
	}
	var out []*object
	for _, o := range objs {
		if match(o) {
			out = append(out, o)
		}
	}
	return out
}

// page answers a collection with Graph's paging: $top (default 100, at most
// 999) and an absolute @odata.nextLink carrying $skiptoken (Learn
// graph/paging; graph/api/directory-deleteditems-list).
func page(c *call, objs []*object, contextSet string, withType bool) response {
	return pageItems(c, len(objs), contextSet, func(i int, sel []string) *jsonObject {
		o := project(objs[i].props, sel)
		if withType {
			o = o.withFirst("@odata.type", objs[i].kind.info().odataTypeOf(objs[i]))
		}
		return o
	})
}

// pageItems pages n items, item(i, $select) rendering the i-th, the way
// every Graph collection here pages.
func pageItems(c *call, n int, fragment string, item func(i int, sel []string) *jsonObject) response {
	top, r := pageSize(c, 100, 999)
	if r != nil {
		return *r
	}
	offset := 0
	if tok := c.query.Get("$skiptoken"); tok != "" {
		skip, ok := decodeSkipToken(tok)
		if !ok {
			return c.fail(400, "Request_BadRequest", "The specified page token value has expired or is not valid.")
		}
		offset = skip
	}
	sel := selectList(c)
	value := make([]*jsonObject, 0, min(top, n))
	for i := offset; i < n && len(value) < top; i++ {
		value = append(value, item(i, sel))
	}
	if len(sel) > 0 {
		fragment += "(" + strings.Join(sel, ",") + ")"
	}
	out := newJSONObject()
	out.set("@odata.context", c.context(fragment))
	if end := offset + len(value); end < n {
		out.set("@odata.nextLink", nextLink(c, end))
	}
	out.set("value", value)
	return newResponse(200, out)
}

// odataTypeOf is the object's @odata.type: as seeded when it has one (named
// locations are ipNamedLocation or countryNamedLocation), else the kind's.
func (ki *kindInfo) odataTypeOf(o *object) string {
	if t := o.props.str("@odata.type"); t != "" {
		return t
	}
	return ki.odataType
}

func pageSize(c *call, def, maxTop int) (int, *response) {
	v := c.query.Get("$top")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxTop {
		// Unconfirmed: the directory's text for an out-of-range page size.
		r := c.fail(400, "Request_BadRequest", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", v, maxTop))
		return 0, &r
	}
	return n, nil
}

func nextLink(c *call, offset int) string {
	q := url.Values{}
	for k, vs := range c.query {
		if !strings.EqualFold(k, "$skiptoken") {
			q[k] = vs
		}
	}
	q.Set("$skiptoken", encodeSkipToken(offset))
	return c.base + "/" + c.version + "/" + strings.Join(escapeSegs(c.segs), "/") + "?" + q.Encode()
}

func escapeSegs(segs []string) []string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = url.PathEscape(s)
	}
	return out
}

// Skip tokens are opaque to clients, as Graph's are.
func encodeSkipToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("graphsim:" + strconv.Itoa(offset)))
}

func decodeSkipToken(tok string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "graphsim:"))
	if err != nil || n < 0 || !strings.HasPrefix(string(b), "graphsim:") {
		return 0, false
	}
	return n, true
}

// deleteRefusal says why Graph refuses to delete o, if it does. Objects
// synchronized from on-premises AD are mastered there: Graph refuses to
// change them (observed for updates: "Unable to update the specified
// properties for on-premises mastered Directory Sync objects or objects
// currently undergoing migration.", microsoft-graph-docs-contrib#5768,
// KelvinTegelaar/CIPP#1407). Mail-enabled security groups and distribution
// groups are "read-only through Microsoft Graph" (Learn
// graph/office365-groups-concept-overview, group types table). Both kinds of
// group are deleted elsewhere, permanently; POST /_sim/external-delete/{id}
// simulates that.
//
// Unconfirmed: both texts are observed for updates; that DELETE gets the
// same 400 is inferred.
func deleteRefusal(o *object) (string, bool) {
	if o.props.boolean("onPremisesSyncEnabled") {
		return "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.", true
	}
	if o.kind == kindGroup && !isUnified(o) && o.props.boolean("mailEnabled") {
		return "Cannot Update a mail-enabled security groups and or distribution list.", true
	}
	return "", false
}

func isUnified(o *object) bool {
	return slices.ContainsFunc(o.props.strings("groupTypes"), func(t string) bool { return strings.EqualFold(t, "Unified") })
}

// deleteLive serves DELETE /<collection>/{id} → 204. Users, Microsoft 365
// groups, cloud security groups (soft-deletable since MC1183299; Learn
// graph/api/group-delete: "both Microsoft 365 and security groups are moved
// to a temporary container"), applications, service principals and
// administrative units go to the directory recycle bin; Conditional Access
// policies and named locations to theirs (beta; Learn
// graph/api/resources/policydeletableitem). Sources: Learn
// graph/api/user-delete, group-delete, application-delete,
// serviceprincipal-delete, administrativeunit-delete,
// conditionalaccesspolicy-delete, namedlocation-delete.
func (s *Server) deleteLive(c *call, k kind, id string) response {
	if r := checkQuery(c); r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	obj := s.lookupLive(k, id)
	if !allows(c.ident, opDelete, k, obj) {
		return c.forbidden()
	}
	if k.info().directory {
		if r := s.admitWrite(c); r != nil {
			return *r
		}
	} else if r := s.admitCA(c); r != nil {
		return *r
	}
	if obj == nil {
		return c.notFound(id)
	}
	if msg, refused := deleteRefusal(obj); refused {
		return c.fail(400, "Request_BadRequest", msg)
	}
	ev := s.newEvent(c.ident, c.header.Get("User-Agent"), c.now)
	s.softDeleteAndAudit(ev, obj)
	if k == kindApplication {
		// Deleting an app registration also deletes its service principal in
		// the home tenant (Entra docs, "Restore a soft deleted enterprise
		// application": "If you deleted an application registration in its
		// home tenant ..., the enterprise application, which is its
		// corresponding service principal also got deleted"); the Graph
		// restore page's warning that restoring an application does not
		// restore its service principal presumes it.
		// Unconfirmed: that the cascade is audited as a "Remove service
		// principal" record with the same initiator and correlation id.
		appID := obj.props.str("appId")
		for _, sp := range sorted(s.t.live, kindServicePrincipal, false) {
			if appID != "" && strings.EqualFold(sp.props.str("appId"), appID) {
				s.softDeleteAndAudit(ev, sp)
			}
		}
	}
	return newResponse(204, nil)
}

func (s *Server) softDeleteAndAudit(ev auditEvent, obj *object) {
	before := obj.props.clone()
	s.t.softDelete(obj, ev.at)
	s.emit(ev.deleted(obj, before, false))
}

// routeDeletedItems serves /directory/deletedItems/... (Learn
// graph/api/directory-deleteditems-list, -get, -restore, -delete).
func (s *Server) routeDeletedItems(c *call, rest []string) response {
	if len(rest) == 0 {
		if c.method != http.MethodGet {
			return c.methodNotAllowed()
		}
		// "The OData cast type is a required part of the URI and calling
		// GET /directory/deleteditems without a type is not supported"
		// (Learn graph/api/directory-deleteditems-list). The answer is the
		// one observed in microsoft-graph-docs-contrib#4424 and
		// msgraph-sdk-powershell#832. Unconfirmed: the status 400.
		return c.fail(400, "Request_UnsupportedQuery", "Searches against this resource are not supported. Only specific instances can be queried.")
	}
	if _, isCast := castName(rest[0]); isCast {
		k, ok := kindByCast(rest[0])
		if !ok {
			return c.unknownSegment(rest[0])
		}
		if len(rest) > 1 {
			return c.unknownSegment(rest[1])
		}
		if c.method != http.MethodGet {
			return c.methodNotAllowed()
		}
		return s.listDeleted(c, k)
	}
	id := rest[0]
	switch len(rest) {
	case 1:
		switch c.method {
		case http.MethodGet:
			return s.getDeleted(c, id)
		case http.MethodDelete:
			return s.hardDelete(c, id)
		}
		return c.methodNotAllowed()
	case 2:
		// Both the bare and the namespace-qualified action name are bound
		// (the SDK used /microsoft.graph.restore in older builds; reference
		// §6.3).
		if !isRestoreAction(rest[1]) {
			return c.unknownSegment(rest[1])
		}
		if c.method != http.MethodPost {
			return c.methodNotAllowed()
		}
		return s.restoreDeleted(c, id)
	}
	return c.unknownSegment(rest[2])
}

// listDeleted serves GET /directory/deletedItems/microsoft.graph.{type}: 100
// items by default, up to 999 with $top. The documented response carries no
// @odata.type on items (the cast fixes the type) and names the entity set in
// @odata.context ("$metadata#groups").
func (s *Server) listDeleted(c *call, k kind) response {
	if r := checkQuery(c, "$select", "$top", "$skiptoken", "$filter"); r != nil {
		return *r
	}
	match, r := appIDFilter(c, k)
	if r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !allows(c.ident, opRead, k, nil) {
		return c.forbidden()
	}
	return page(c, filtered(sorted(s.t.dirBin, k, false), match), k.info().contextSet, false)
}

// getDeleted serves GET /directory/deletedItems/{id}: a directoryObject, so
// the answer names its type in @odata.type (as the restore example does).
// Unconfirmed: the get example omits @odata.type ("shortened").
func (s *Server) getDeleted(c *call, id string) response {
	if r := checkQuery(c, "$select"); r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	obj := s.t.dirBin[strings.ToLower(id)]
	if obj == nil {
		// Without the object its type, and so the permission row, is
		// unknown: any directory read permission lets the caller learn that
		// nothing is there.
		if !s.anyRead(c.ident) {
			return c.forbidden()
		}
		return c.notFound(id)
	}
	if !allows(c.ident, opRead, obj.kind, obj) {
		return c.forbidden()
	}
	return newResponse(200, directoryObjectBody(c, obj))
}

func (s *Server) anyRead(ident *Identity) bool {
	for _, k := range []kind{kindUser, kindGroup, kindApplication, kindServicePrincipal, kindAdministrativeUnit} {
		if allows(ident, opRead, k, nil) {
			return true
		}
	}
	return false
}

func directoryObjectBody(c *call, obj *object) *jsonObject {
	return project(obj.props, selectList(c)).withFirst(
		"@odata.context", c.context("directoryObjects/$entity"),
		"@odata.type", obj.kind.info().odataTypeOf(obj))
}

// restoreBody is the optional body of restore (Learn
// graph/api/directory-deleteditems-restore, 2025 revision), users only.
type restoreBody struct {
	AutoReconcileProxyConflict *bool   `json:"autoReconcileProxyConflict"`
	NewUserPrincipalName       *string `json:"newUserPrincipalName"`
}

// restoreDeleted serves POST /directory/deletedItems/{id}/restore → 200 and
// the restored object. Restoring an application never restores its service
// principal (Learn graph/api/directory-deleteditems-restore).
func (s *Server) restoreDeleted(c *call, id string) response {
	if r := checkQuery(c); r != nil {
		return *r
	}
	var body restoreBody
	if r := decodeStrict(c, &body); r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, r := s.binWrite(c, id, opRestore, restorableKinds)
	if r != nil {
		return *r
	}
	upn := ""
	if obj.kind == kindUser {
		var r *response
		upn, r = s.userRestoreConflicts(c, obj, body)
		if r != nil {
			return *r
		}
	}
	// Unconfirmed: autoReconcileProxyConflict and newUserPrincipalName are
	// documented for users only; for other types they are ignored.
	s.t.restore(obj, upn)
	ev := s.newEvent(c.ident, c.header.Get("User-Agent"), c.now)
	s.emit(ev.restored(obj))
	return newResponse(200, directoryObjectBody(c, obj))
}

// The directory bin's kinds that each operation applies to.
var (
	restorableKinds    = []kind{kindUser, kindGroup, kindApplication, kindServicePrincipal, kindAdministrativeUnit}
	hardDeletableKinds = []kind{kindUser, kindGroup, kindApplication, kindServicePrincipal}
)

// binWrite admits a write (o) on the directory bin's item id: a missing item
// is 403 for a caller who could write on no kind at all, else 404 once the
// write quota admits it (Graph counts the attempt); a present one needs the
// permission for its kind, then the quota. The caller holds s.mu. The
// administrative-unit refusal of a permanent delete is checked before the
// permission for it, as the caller needs only restore rights to be told.
func (s *Server) binWrite(c *call, id string, o op, kinds []kind) (*object, *response) {
	obj := s.t.dirBin[strings.ToLower(id)]
	if obj == nil {
		if !anyAllowed(c.ident, o, kinds) {
			r := c.forbidden()
			return nil, &r
		}
		if r := s.admitWrite(c); r != nil {
			return nil, r
		}
		r := c.notFound(id)
		return nil, &r
	}
	if o == opHardDelete && obj.kind == kindAdministrativeUnit {
		r := c.forbidden()
		if allows(c.ident, opRestore, obj.kind, obj) {
			r = c.fail(400, "Request_BadRequest", "Administrative units cannot be permanently deleted by using the deletedItems API. Soft-deleted administrative units are permanently deleted 30 days after deletion unless they are restored.")
		}
		return nil, &r
	}
	if !allows(c.ident, o, obj.kind, obj) {
		r := c.forbidden()
		return nil, &r
	}
	if r := s.admitWrite(c); r != nil {
		return nil, r
	}
	return obj, nil
}

// anyAllowed reports whether ident may do o on some kind of kinds, counting
// Application.ReadWrite.OwnedBy (which depends on the object).
func anyAllowed(ident *Identity, o op, kinds []kind) bool {
	for _, k := range kinds {
		if allows(ident, o, k, nil) {
			return true
		}
	}
	return slices.Contains(ident.Permissions, ownedByPermission)
}

// userRestoreConflicts applies the directory's uniqueness rules to a user
// being restored and returns the UPN it comes back with. The 400 shape is
// the directory's conflict error (reference §2.5:
// microsoftgraph/microsoft-graph-docs#1508, microsoft-graph-docs-contrib#8421).
// With autoReconcileProxyConflict the conflicting proxyAddresses are removed
// instead (Learn graph/api/directory-deleteditems-restore; the same switch
// on Restore-MsolUser: "any proxy addresses that cause conflicts will be
// removed for the user").
// Unconfirmed: whether Graph reports the UPN conflict before the
// proxyAddresses one when both exist; that proxyAddresses are compared
// ignoring case, and against live users and groups.
func (s *Server) userRestoreConflicts(c *call, obj *object, body restoreBody) (string, *response) {
	upn := obj.originalUPN
	if body.NewUserPrincipalName != nil {
		upn = strings.TrimSpace(*body.NewUserPrincipalName)
		if at := strings.LastIndexByte(upn, '@'); at <= 0 || at == len(upn)-1 || strings.ContainsAny(upn, " \t") {
			r := c.fail(400, "Request_BadRequest", "Invalid value specified for property 'userPrincipalName' of resource 'User'.")
			return "", &r
		}
	}
	if other := s.t.liveUser(upn); other != nil {
		r := c.fail(400, "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.",
			errDetail{Target: "userPrincipalName", Code: "ObjectConflict"})
		return "", &r
	}
	taken := map[string]bool{}
	for _, o := range s.t.live {
		if o.kind != kindUser && o.kind != kindGroup {
			continue
		}
		for _, a := range o.props.strings("proxyAddresses") {
			taken[strings.ToLower(a)] = true
		}
	}
	mine := obj.props.strings("proxyAddresses")
	var keep []string
	conflict := false
	for _, a := range mine {
		if taken[strings.ToLower(a)] {
			conflict = true
			continue
		}
		keep = append(keep, a)
	}
	if conflict {
		if body.AutoReconcileProxyConflict == nil || !*body.AutoReconcileProxyConflict {
			r := c.fail(400, "Request_BadRequest", "Another object with the same value for property proxyAddresses already exists.",
				errDetail{Target: "proxyAddresses", Code: "ObjectConflict"})
			return "", &r
		}
		if keep == nil {
			keep = []string{}
		}
		obj.props.set("proxyAddresses", keep)
	}
	return upn, nil
}

// hardDelete serves DELETE /directory/deletedItems/{id} → 204.
// Administrative units "cannot be permanently deleted by using the
// deletedItems API" (Learn graph/api/directory-deleteditems-delete).
// Unconfirmed: the status and text of that refusal.
func (s *Server) hardDelete(c *call, id string) response {
	if r := checkQuery(c); r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, r := s.binWrite(c, id, opHardDelete, hardDeletableKinds)
	if r != nil {
		return *r
	}
	delete(s.t.dirBin, strings.ToLower(obj.id))
	s.t.dropLinks(obj.id)
	ev := s.newEvent(c.ident, c.header.Get("User-Agent"), c.now)
	s.emit(ev.hardDeleted(obj))
	return newResponse(204, nil)
}

// routeCABin serves the beta-only Conditional Access recycle bin (Learn
// graph/api/conditionalaccesspolicy-restore?view=graph-rest-beta,
// namedlocation-restore, and the list/get/delete pages linked from
// graph/api/resources/conditionalaccesspolicy?view=graph-rest-beta).
func (s *Server) routeCABin(c *call, rest []string) response {
	if c.version != "beta" {
		// Observed on a live tenant in 2026 (reference §2.3): v1.0 answers
		// 404 "No HTTP resource was found ...". Unconfirmed: the code.
		return c.fail(404, "NotFound", fmt.Sprintf("No HTTP resource was found that matches the request URI '%s%s'.", c.base, c.rawPath))
	}
	if len(rest) == 0 {
		if c.method != http.MethodGet {
			return c.methodNotAllowed()
		}
		out := newJSONObject()
		out.set("@odata.context", c.context("identity/conditionalAccess/deletedItems/$entity"))
		return newResponse(200, out)
	}
	var k kind
	switch {
	case strings.EqualFold(rest[0], "policies"):
		k = kindCAPolicy
	case strings.EqualFold(rest[0], "namedLocations"):
		k = kindNamedLocation
	default:
		return c.unknownSegment(rest[0])
	}
	switch len(rest) {
	case 1:
		if c.method != http.MethodGet {
			return c.methodNotAllowed()
		}
		return s.listCABin(c, k)
	case 2:
		switch c.method {
		case http.MethodGet:
			return s.getCABin(c, k, rest[1])
		case http.MethodDelete:
			return s.purgeCABin(c, k, rest[1])
		}
		return c.methodNotAllowed()
	case 3:
		if !isRestoreAction(rest[2]) {
			return c.unknownSegment(rest[2])
		}
		if c.method != http.MethodPost {
			return c.methodNotAllowed()
		}
		return s.restoreCABin(c, k, rest[1])
	}
	return c.unknownSegment(rest[3])
}

func (s *Server) listCABin(c *call, k kind) response {
	if r := checkQuery(c, "$select", "$top", "$skiptoken"); r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.admitCA(c); r != nil {
		return *r
	}
	if !allows(c.ident, opRead, k, nil) {
		return c.forbidden()
	}
	return page(c, sorted(s.t.caBin, k, false), "identity/conditionalAccess/deletedItems/"+map[kind]string{kindCAPolicy: "policies", kindNamedLocation: "namedLocations"}[k], k == kindNamedLocation)
}

func (s *Server) caBinObject(c *call, k kind, id string, o op) (*object, *response) {
	if r := s.admitCA(c); r != nil {
		return nil, r
	}
	obj := s.t.caBin[strings.ToLower(id)]
	if obj != nil && obj.kind != k {
		obj = nil
	}
	if !allows(c.ident, o, k, obj) {
		r := c.forbidden()
		return nil, &r
	}
	if obj == nil {
		// Unconfirmed: the Conditional Access API's 404 text; the
		// directory's is used.
		r := c.notFound(id)
		return nil, &r
	}
	return obj, nil
}

func (s *Server) caBody(c *call, obj *object) *jsonObject {
	set := map[kind]string{kindCAPolicy: "policies", kindNamedLocation: "namedLocations"}[obj.kind]
	return project(obj.props, selectList(c)).withFirst(
		"@odata.context", c.context("identity/conditionalAccess/deletedItems/"+set+"/$entity"),
		"@odata.type", obj.kind.info().odataTypeOf(obj))
}

func (s *Server) getCABin(c *call, k kind, id string) response {
	if r := checkQuery(c, "$select"); r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, r := s.caBinObject(c, k, id, opRead)
	if r != nil {
		return *r
	}
	return newResponse(200, s.caBody(c, obj))
}

// restoreCABin answers 200 with the policy, deletedDateTime null, in the
// state it was deleted in (reference §2.3; third-party sources only).
// Unconfirmed: the Learn example wraps the policy in {"value": ...}; an
// OData action returning an entity returns it bare, which is what graphsim
// does.
func (s *Server) restoreCABin(c *call, k kind, id string) response {
	if r := checkQuery(c); r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, r := s.caBinObject(c, k, id, opRestore)
	if r != nil {
		return *r
	}
	s.t.restore(obj, "")
	ev := s.newEvent(c.ident, c.header.Get("User-Agent"), c.now)
	s.emit(ev.restored(obj))
	out := s.caBody(c, obj)
	out.set("@odata.context", c.context(obj.kind.info().contextSet+"/$entity"))
	return newResponse(200, out)
}

func (s *Server) purgeCABin(c *call, k kind, id string) response {
	if r := checkQuery(c); r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, r := s.caBinObject(c, k, id, opHardDelete)
	if r != nil {
		return *r
	}
	delete(s.t.caBin, strings.ToLower(obj.id))
	ev := s.newEvent(c.ident, c.header.Get("User-Agent"), c.now)
	s.emit(ev.hardDeleted(obj))
	return newResponse(204, nil)
}

// decodeStrict reads an optional JSON object body, refusing unknown
// properties as OData does for action parameters.
// Unconfirmed: Graph's exact text for an unknown parameter.
func decodeStrict(c *call, v any) *response {
	body := strings.TrimSpace(string(c.body))
	if body == "" || body == "null" {
		return nil
	}
	if err := decodeJSONStrict([]byte(body), v); err != nil {
		r := c.fail(400, "BadRequest", "Invalid request body: "+err.Error())
		return &r
	}
	return nil
}

// caPolicyStates are the documented values of conditionalAccessPolicy.state
// (Learn graph/api/resources/conditionalaccesspolicy).
var caPolicyStates = []string{"enabled", "disabled", "enabledForReportingButNotEnforced"}

// patchCAPolicyState serves PATCH /identity/conditionalAccess/policies/{id}
// for the one property graphsim simulates updating, state: how Reinstate
// moves a restored policy to report-only (Learn graph/api/
// conditionalaccesspolicy-update; Policy.Read.All and
// Policy.ReadWrite.ConditionalAccess). Other properties are refused.
func (s *Server) patchCAPolicyState(c *call, id string) response {
	if r := checkQuery(c); r != nil {
		return *r
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(c.body, &body); err != nil {
		return c.fail(400, "BadRequest", "The request body is not a JSON object.")
	}
	var state string
	for key, raw := range body {
		if key != "state" || json.Unmarshal(raw, &state) != nil || !slices.Contains(caPolicyStates, state) {
			return c.fail(400, "BadRequest", fmt.Sprintf("graphsim simulates updating only 'state' (%s) on a policy, not '%s'.", strings.Join(caPolicyStates, ", "), key))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	obj := s.lookupLive(kindCAPolicy, id)
	if !allows(c.ident, opUpdate, kindCAPolicy, obj) {
		return c.forbidden()
	}
	if r := s.admitCA(c); r != nil {
		return *r
	}
	if obj == nil {
		return c.notFound(id)
	}
	if state == "" {
		return newResponse(204, nil)
	}
	before := obj.props.clone()
	obj.props.set("state", state)
	obj.props.set("modifiedDateTime", c.now.UTC().Format(time.RFC3339Nano))
	ev := s.newEvent(c.ident, c.header.Get("User-Agent"), c.now)
	mods := []modifiedProperty{{DisplayName: "ConditionalAccessPolicy", OldValue: jsonText(before), NewValue: jsonText(obj.props)}}
	// Unconfirmed: the update is logged like the delete (full policy JSON),
	// with old and new values.
	s.emit(pendingRecord{ev: ev, activity: "Update conditional access policy", kind: kindCAPolicy, operationType: "Update",
		target: target(obj, "", mods)})
	return newResponse(204, nil)
}
