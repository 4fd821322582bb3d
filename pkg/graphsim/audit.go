package graphsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// directoryAudit is the Graph directoryAudit resource (Learn
// graph/api/resources/directoryaudit; reference §4.2).
type directoryAudit struct {
	ID                  string           `json:"id"`
	Category            string           `json:"category"`
	CorrelationID       string           `json:"correlationId"`
	Result              string           `json:"result"`
	ResultReason        string           `json:"resultReason"`
	ActivityDisplayName string           `json:"activityDisplayName"`
	ActivityDateTime    string           `json:"activityDateTime"`
	LoggedByService     string           `json:"loggedByService"`
	OperationType       string           `json:"operationType"`
	InitiatedBy         initiatedBy      `json:"initiatedBy"`
	TargetResources     []targetResource `json:"targetResources"`
	AdditionalDetails   []keyValue       `json:"additionalDetails"`
}

// initiatedBy is auditActivityInitiator: one of user and app is null.
type initiatedBy struct {
	User *userIdentity `json:"user"`
	App  *appIdentity  `json:"app"`
}

type userIdentity struct {
	ID                string  `json:"id"`
	DisplayName       *string `json:"displayName"`
	UserPrincipalName string  `json:"userPrincipalName"`
	IPAddress         string  `json:"ipAddress"`
}

type appIdentity struct {
	AppID                string `json:"appId"`
	DisplayName          string `json:"displayName"`
	ServicePrincipalID   string `json:"servicePrincipalId"`
	ServicePrincipalName string `json:"servicePrincipalName"`
}

type targetResource struct {
	ID                 string             `json:"id"`
	DisplayName        *string            `json:"displayName"`
	Type               string             `json:"type"`
	UserPrincipalName  *string            `json:"userPrincipalName"`
	GroupType          *string            `json:"groupType"`
	ModifiedProperties []modifiedProperty `json:"modifiedProperties"`
}

// modifiedProperty values are JSON text inside strings, as Entra logs them
// ("\"False\"", a whole policy; reference Part B).
type modifiedProperty struct {
	DisplayName string  `json:"displayName"`
	OldValue    *string `json:"oldValue"`
	NewValue    *string `json:"newValue"`
}

type keyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// auditEntry is one stored record.
type auditEntry struct {
	seq    int64
	at     time.Time
	record directoryAudit
}

// auditEvent carries what every record of one request shares.
type auditEvent struct {
	at        time.Time
	corr      string
	initiator initiatedBy
	userAgent string
}

func (s *Server) newEvent(ident *Identity, userAgent string, at time.Time) auditEvent {
	return auditEvent{at: at, corr: uuid.NewString(), initiator: initiatorOf(ident), userAgent: userAgent}
}

func initiatorOf(ident *Identity) initiatedBy {
	if ident.Type == "app" {
		return initiatedBy{App: &appIdentity{AppID: ident.AppID, DisplayName: ident.DisplayName, ServicePrincipalID: ident.ID, ServicePrincipalName: ident.DisplayName}}
	}
	// Entra logs users with a null displayName (DataDog sample, reference
	// Part B). The caller's address is loopback: graphsim listens nowhere else.
	return initiatedBy{User: &userIdentity{ID: ident.ID, UserPrincipalName: ident.UserPrincipalName, IPAddress: "127.0.0.1"}}
}

// pendingRecord is a record about to be stored.
type pendingRecord struct {
	ev            auditEvent
	activity      string
	kind          kind
	operationType string
	target        targetResource
}

func jsonText(v any) *string {
	b, _ := marshalJSON(v)
	s := string(b)
	return &s
}

func strPtr(s string) *string { return &s }

// isHardDeleted is the marker Entra puts on user deletes: "\"False\"" on a
// soft delete, "\"True\"" on a hard one (DataDog sample; reference Part B).
func isHardDeleted(hard bool) modifiedProperty {
	v := "False"
	if hard {
		v = "True"
	}
	return modifiedProperty{DisplayName: "Is Hard Deleted", NewValue: jsonText(v)}
}

func target(obj *object, upn string, mods []modifiedProperty) targetResource {
	ki := obj.kind.info()
	t := targetResource{ID: obj.id, Type: ki.auditType, ModifiedProperties: mods}
	if t.ModifiedProperties == nil {
		t.ModifiedProperties = []modifiedProperty{}
	}
	if obj.kind == kindUser {
		// Users are logged with a null displayName and their UPN.
		t.UserPrincipalName = strPtr(upn)
	} else if name := obj.props.str("displayName"); name != "" {
		t.DisplayName = strPtr(name)
	}
	if obj.kind == kindGroup {
		// groupType enum: unifiedGroups, azureAD (Learn
		// graph/api/resources/targetresource).
		gt := "azureAD"
		if isUnified(obj) {
			gt = "unifiedGroups"
		}
		t.GroupType = &gt
	}
	return t
}

// Activity names, exactly as Microsoft's activity reference spells them
// (reference §4.1; Learn entra/identity/monitoring-health/
// reference-audit-activities).
var activities = [numKinds]struct{ del, hard, restore string }{
	kindUser:               {"Delete user", "Hard Delete user", "Restore user"},
	kindGroup:              {"Delete group", "Hard Delete group", "Restore group"},
	kindApplication:        {"Delete application", "Hard Delete application", "Restore application"},
	kindServicePrincipal:   {"Remove service principal", "Hard delete service principal", "Restore service principal"},
	kindAdministrativeUnit: {"Delete administrative unit", "Hard Delete administrative unit", "Restore administrative unit"},
	// The delete names are the sample records' (panther-labs
	// azure_policy_changed.yml; the activity reference capitalizes
	// "Conditional Access"). Unconfirmed: no source names the restore and
	// permanent-delete activities of the Conditional Access recycle bin
	// (reference §4.1, §7 question 4); these follow the directory pattern.
	kindCAPolicy:      {"Delete conditional access policy", "Hard delete conditional access policy", "Restore conditional access policy"},
	kindNamedLocation: {"Delete named location", "Hard delete named location", "Restore named location"},
}

// deleted is the record of a DELETE on a live object. before is the object
// as it was (for the Conditional Access oldValue).
func (ev auditEvent) deleted(obj *object, before *jsonObject, permanent bool) pendingRecord {
	var mods []modifiedProperty
	switch obj.kind {
	case kindUser, kindGroup:
		// Users: DataDog sample. Groups: Unconfirmed, no Microsoft sample;
		// the project's fixtures and the 2024 deletion blog's marker rule.
		// A group delete that is permanent at once (synced, mail-enabled)
		// is logged as a plain "Delete group" without the marker.
		// Unconfirmed: whether Entra adds "True" there.
		if !permanent {
			mods = append(mods, isHardDeleted(false))
		}
	case kindServicePrincipal:
		// Unconfirmed: the properties of the project's "Remove service
		// principal" fixture.
		mods = append(mods, modifiedProperty{DisplayName: "AccountEnabled", OldValue: jsonText([]bool{before.boolean("accountEnabled") || !before.has("accountEnabled")})})
		if names := before.strings("servicePrincipalNames"); len(names) > 0 {
			mods = append(mods, modifiedProperty{DisplayName: "TargetId.ServicePrincipalNames", NewValue: jsonText(strings.Join(names, ";"))})
		}
	case kindCAPolicy:
		// The full policy JSON in oldValue (panther-labs sample).
		mods = append(mods, modifiedProperty{DisplayName: "ConditionalAccessPolicy", OldValue: jsonText(before)})
	case kindNamedLocation:
		mods = append(mods, modifiedProperty{DisplayName: "NamedLocation", OldValue: jsonText(before)})
	}
	return pendingRecord{ev: ev, activity: activities[obj.kind].del, kind: obj.kind, operationType: "Delete",
		target: target(obj, obj.props.str("userPrincipalName"), mods)}
}

// hardDeleted is the record of a permanent delete from a bin. The target's
// UPN is the rewritten one the object had in the bin.
func (ev auditEvent) hardDeleted(obj *object) pendingRecord {
	var mods []modifiedProperty
	switch obj.kind {
	case kindUser, kindGroup, kindApplication:
		mods = append(mods, isHardDeleted(true))
	case kindCAPolicy:
		mods = append(mods, modifiedProperty{DisplayName: "ConditionalAccessPolicy", OldValue: jsonText(obj.props)})
	case kindNamedLocation:
		mods = append(mods, modifiedProperty{DisplayName: "NamedLocation", OldValue: jsonText(obj.props)})
	}
	return pendingRecord{ev: ev, activity: activities[obj.kind].hard, kind: obj.kind, operationType: "Delete",
		target: target(obj, obj.props.str("userPrincipalName"), mods)}
}

// restored is the record of a restore. operationType "Restore" follows the
// project's fixtures. Unconfirmed: the directoryAudit page lists "Add,
// Assign, Update, Unassign, and Delete" as examples only.
func (ev auditEvent) restored(obj *object) pendingRecord {
	var mods []modifiedProperty
	switch obj.kind {
	case kindCAPolicy:
		mods = append(mods, modifiedProperty{DisplayName: "ConditionalAccessPolicy", NewValue: jsonText(obj.props)})
	case kindNamedLocation:
		mods = append(mods, modifiedProperty{DisplayName: "NamedLocation", NewValue: jsonText(obj.props)})
	}
	return pendingRecord{ev: ev, activity: activities[obj.kind].restore, kind: obj.kind, operationType: "Restore",
		target: target(obj, obj.props.str("userPrincipalName"), mods)}
}

// emit stores a record and queues it for forwarding. The caller holds s.mu.
func (s *Server) emit(p pendingRecord) {
	seq := int64(len(s.audits) + 1)
	ki := p.kind.info()
	// Record ids look like Entra's: "Directory_<correlationId>_<5
	// characters>_<number>" for the directory (DataDog sample); the
	// Conditional Access service's are "IPCGraph_<correlationId>" in the
	// project's fixtures (Unconfirmed).
	id := fmt.Sprintf("Directory_%s_%s_%d", p.ev.corr, suffix5(seq), 201500000+seq)
	if ki.auditService == "Conditional Access" {
		id = fmt.Sprintf("IPCGraph_%s_%d", p.ev.corr, seq)
	}
	rec := directoryAudit{
		ID:                  id,
		Category:            ki.auditCategory,
		CorrelationID:       p.ev.corr,
		Result:              "success",
		ResultReason:        "",
		ActivityDisplayName: p.activity,
		ActivityDateTime:    p.ev.at.UTC().Format("2006-01-02T15:04:05.0000000Z"),
		LoggedByService:     ki.auditService,
		OperationType:       p.operationType,
		InitiatedBy:         p.ev.initiator,
		TargetResources:     []targetResource{p.target},
		AdditionalDetails:   []keyValue{},
	}
	if p.ev.userAgent != "" {
		rec.AdditionalDetails = append(rec.AdditionalDetails, keyValue{Key: "User-Agent", Value: p.ev.userAgent})
	}
	e := &auditEntry{seq: seq, at: p.ev.at, record: rec}
	s.audits = append(s.audits, e)
	if s.fwd != nil {
		s.fwdQueue = append(s.fwdQueue, e)
	}
}

func suffix5(n int64) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 5)
	for i := 4; i >= 0; i-- {
		b[i] = digits[n%36]
		n /= 36
	}
	return string(b)
}

// listAudits serves GET /auditLogs/directoryAudits with $filter, $top,
// $orderby and $skiptoken (Learn graph/api/directoryaudit-list).
// Unconfirmed: the default order (newest first) and page size (100, at most
// 1000); the docs state neither.
func (s *Server) listAudits(c *call) response {
	if r := checkQuery(c, "$filter", "$top", "$orderby", "$skiptoken"); r != nil {
		return *r
	}
	filter, err := parseAuditFilter(c.query.Get("$filter"))
	if err != nil {
		// Unconfirmed: the reporting API's text for a filter it rejects.
		return c.fail(400, "BadRequest", "Invalid filter clause: "+err.Error())
	}
	asc := false
	switch ob := strings.ToLower(strings.Join(strings.Fields(c.query.Get("$orderby")), " ")); ob {
	case "", "activitydatetime desc":
	case "activitydatetime", "activitydatetime asc":
		asc = true
	default:
		return c.fail(400, "BadRequest", fmt.Sprintf("Invalid $orderby '%s': only activityDateTime asc or desc is supported.", c.query.Get("$orderby")))
	}
	top, r := pageSize(c, 100, 1000)
	if r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.admitAuditRead(c); r != nil {
		return *r
	}
	// The skip token pins the records that existed when the first page was
	// read, so that records arriving meanwhile do not shift later pages.
	snapshot, offset := int64(len(s.audits)), 0
	if tok := c.query.Get("$skiptoken"); tok != "" {
		var ok bool
		if snapshot, offset, ok = decodeAuditToken(tok); !ok || snapshot > int64(len(s.audits)) {
			return c.fail(400, "BadRequest", "The specified page token value has expired or is not valid.")
		}
	}
	var matched []*auditEntry
	for _, e := range s.audits[:snapshot] {
		if filter.match(e) {
			matched = append(matched, e)
		}
	}
	sort.SliceStable(matched, func(i, j int) bool {
		a, b := matched[i], matched[j]
		if !a.at.Equal(b.at) {
			return a.at.After(b.at) != asc
		}
		return (a.seq > b.seq) != asc
	})
	value := []directoryAudit{}
	for i := offset; i < len(matched) && len(value) < top; i++ {
		value = append(value, matched[i].record)
	}
	out := newJSONObject()
	out.set("@odata.context", c.context("auditLogs/directoryAudits"))
	if end := offset + len(value); end < len(matched) {
		q := c.query
		nq := make(map[string][]string, len(q))
		for k, v := range q {
			nq[k] = v
		}
		cc := *c
		cc.query = nq
		link := nextLink(&cc, 0)
		link = replaceSkipToken(link, encodeAuditToken(snapshot, end))
		out.set("@odata.nextLink", link)
	}
	out.set("value", value)
	return newResponse(200, out)
}

// getAudit serves GET /auditLogs/directoryAudits/{id} (Learn
// graph/api/directoryaudit-get).
func (s *Server) getAudit(c *call, id string) response {
	if r := checkQuery(c); r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.admitAuditRead(c); r != nil {
		return *r
	}
	for _, e := range s.audits {
		if e.record.ID == id {
			out, _ := parseJSONObject(mustJSON(e.record))
			return newResponse(200, out.withFirst("@odata.context", c.context("auditLogs/directoryAudits/$entity")))
		}
	}
	return c.fail(404, "NotFound", fmt.Sprintf("Resource '%s' does not exist.", id))
}

func mustJSON(v any) []byte {
	b, err := marshalJSON(v)
	if err != nil {
		panic(err)
	}
	return b
}

func encodeAuditToken(snapshot int64, offset int) string {
	return encodeSkipToken(int(snapshot)*1_000_000 + offset)
}

func decodeAuditToken(tok string) (int64, int, bool) {
	n, ok := decodeSkipToken(tok)
	if !ok {
		return 0, 0, false
	}
	return int64(n / 1_000_000), n % 1_000_000, true
}

func replaceSkipToken(link, tok string) string {
	i := strings.Index(link, "%24skiptoken=")
	if i < 0 {
		return link
	}
	rest := link[i+len("%24skiptoken="):]
	end := strings.IndexByte(rest, '&')
	if end < 0 {
		return link[:i] + "%24skiptoken=" + tok
	}
	return link[:i] + "%24skiptoken=" + tok + rest[end:]
}

// auditFilter is a conjunction of clauses.
type auditFilter []func(*auditEntry) bool

func (f auditFilter) match(e *auditEntry) bool {
	for _, c := range f {
		if !c(e) {
			return false
		}
	}
	return true
}

// parseAuditFilter supports what the directoryAudit page documents for the
// fields recovery code needs: activityDateTime with eq, ge, le (and gt, lt,
// which OData defines), activityDisplayName with eq and startswith, and eq
// on category, correlationId, id, loggedByService and result; clauses joined
// by "and". Anything else is refused rather than ignored. String matches
// ignore case. Unconfirmed: case handling of the reporting API.
func parseAuditFilter(expr string) (auditFilter, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, nil
	}
	p := &filterParser{s: expr}
	var f auditFilter
	for {
		clause, err := p.clause()
		if err != nil {
			return nil, err
		}
		f = append(f, clause)
		p.space()
		if p.done() {
			return f, nil
		}
		if !p.keyword("and") {
			return nil, fmt.Errorf("expected 'and' at position %d (only 'and' is supported)", p.i)
		}
	}
}

type filterParser struct {
	s string
	i int
}

func (p *filterParser) done() bool { return p.i >= len(p.s) }

func (p *filterParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *filterParser) keyword(k string) bool {
	p.space()
	if strings.HasPrefix(p.s[p.i:], k) && (p.i+len(k) == len(p.s) || p.s[p.i+len(k)] == ' ' || p.s[p.i+len(k)] == '(') {
		p.i += len(k)
		return true
	}
	return false
}

func (p *filterParser) ident() string {
	p.space()
	start := p.i
	for p.i < len(p.s) && (isIdentChar(p.s[p.i])) {
		p.i++
	}
	return p.s[start:p.i]
}

func isIdentChar(c byte) bool {
	return c == '/' || c == '.' || c == '_' || c == '-' || c == ':' || c == '+' ||
		('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

func (p *filterParser) expect(c byte) error {
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != c {
		return fmt.Errorf("expected '%c' at position %d", c, p.i)
	}
	p.i++
	return nil
}

func (p *filterParser) quoted() (string, error) {
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != '\'' {
		return "", fmt.Errorf("expected a quoted string at position %d", p.i)
	}
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		if c == '\'' {
			if p.i < len(p.s) && p.s[p.i] == '\'' {
				b.WriteByte('\'')
				p.i++
				continue
			}
			return b.String(), nil
		}
		b.WriteByte(c)
	}
	return "", fmt.Errorf("unterminated string")
}

var auditStringFields = map[string]func(*auditEntry) string{
	"activitydisplayname": func(e *auditEntry) string { return e.record.ActivityDisplayName },
	"category":            func(e *auditEntry) string { return e.record.Category },
	"correlationid":       func(e *auditEntry) string { return e.record.CorrelationID },
	"id":                  func(e *auditEntry) string { return e.record.ID },
	"loggedbyservice":     func(e *auditEntry) string { return e.record.LoggedByService },
	"result":              func(e *auditEntry) string { return e.record.Result },
}

func (p *filterParser) clause() (func(*auditEntry) bool, error) {
	start := p.i
	name := p.ident()
	if name == "" {
		return nil, fmt.Errorf("expected a property at position %d", start)
	}
	if name == "startswith" {
		if err := p.expect('('); err != nil {
			return nil, err
		}
		field := p.ident()
		if !strings.EqualFold(field, "activityDisplayName") {
			return nil, fmt.Errorf("startswith is supported on activityDisplayName only, not %q", field)
		}
		if err := p.expect(','); err != nil {
			return nil, err
		}
		v, err := p.quoted()
		if err != nil {
			return nil, err
		}
		if err := p.expect(')'); err != nil {
			return nil, err
		}
		return func(e *auditEntry) bool {
			return len(e.record.ActivityDisplayName) >= len(v) && strings.EqualFold(e.record.ActivityDisplayName[:len(v)], v)
		}, nil
	}
	opName := p.ident()
	lname := strings.ToLower(name)
	if lname == "activitydatetime" {
		p.space()
		raw := p.ident()
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			return nil, fmt.Errorf("activityDateTime needs a date-time such as 2025-01-31T00:00:00Z, got %q", raw)
		}
		cmp := map[string]func(a time.Time) bool{
			"eq": func(a time.Time) bool { return a.Equal(t) },
			"ge": func(a time.Time) bool { return !a.Before(t) },
			"le": func(a time.Time) bool { return !a.After(t) },
			"gt": func(a time.Time) bool { return a.After(t) },
			"lt": func(a time.Time) bool { return a.Before(t) },
		}[opName]
		if cmp == nil {
			return nil, fmt.Errorf("operator %q is not supported on activityDateTime", opName)
		}
		return func(e *auditEntry) bool { return cmp(e.at) }, nil
	}
	get, ok := auditStringFields[lname]
	if !ok {
		return nil, fmt.Errorf("filtering on %q is not supported", name)
	}
	if opName != "eq" {
		return nil, fmt.Errorf("operator %q is not supported on %s", opName, name)
	}
	v, err := p.quoted()
	if err != nil {
		return nil, err
	}
	return func(e *auditEntry) bool { return strings.EqualFold(get(e), v) }, nil
}

// AuditRecords returns every stored record in the Graph directoryAudit
// shape, oldest first, for tests.
func (s *Server) AuditRecords() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]json.RawMessage, len(s.audits))
	for i, e := range s.audits {
		out[i] = mustJSON(e.record)
	}
	return out
}

// decodeJSONStrict decodes one JSON value, refusing unknown fields.
func decodeJSONStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// admitAuditRead applies the audit log read limit, then the permission. The
// caller holds s.mu.
func (s *Server) admitAuditRead(c *call) *response {
	if wait := s.throttle.admitAudit(appKey(c.ident), c.now); wait > 0 {
		r := c.throttled(wait, true)
		return &r
	}
	if !allows(c.ident, opAuditRead, 0, nil) {
		r := c.forbidden()
		return &r
	}
	return nil
}
