package graphsim

// Microsoft Entra Backup and Recovery over HTTP: /directory/recovery under
// both /beta and /v1.0 (reference §1.2). The model is in backup.go.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Documented error texts ([ED] docs/backup/troubleshooting.md; reference
// §1.9). No OData error codes are documented for them.
const (
	msgBadSnapshot = "This isn't a valid timestamp for recovery. The provided timestamp should be in the list of available backups."
	msgJobRunning  = "A recovery job is currently in progress. Wait for it to complete before initiating a new job."
	msgDenied      = "Authorization has been denied for this request. Check your credentials."
)

// recoveryNamespace qualifies the functions and actions of the API.
const recoveryNamespace = "microsoft.graph.entraRecoveryServices."

// isRecoveryOp reports whether seg names the function or action name. In
// v1.0 the segment is namespace-qualified ([MGD]
// api-reference/v1.0/resources/entrarecoveryservices-backup-recovery-
// overview.md, v1.0 cancel page); in beta it is bare ([MGD] beta pages).
// Unconfirmed: that beta also accepts the qualified form (OData allows
// qualifying any bound operation), that v1.0 refuses the bare one, and how:
// graphsim answers it as any unknown segment (400 "Resource not found for
// the segment ..."). A trailing "()" on a function is accepted, as OData
// allows.
func isRecoveryOp(c *call, seg, name string) bool {
	seg = strings.TrimSuffix(seg, "()")
	if strings.EqualFold(seg, recoveryNamespace+name) {
		return true
	}
	return c.version == "beta" && strings.EqualFold(seg, name)
}

// includeUnknownEnums reports whether the caller sent "Prefer:
// include-unknown-enum-members".
func includeUnknownEnums(c *call) bool {
	for _, v := range c.header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "include-unknown-enum-members") {
				return true
			}
		}
	}
	return false
}

// shownStatus is the status as sent: calculating and loadingData become
// unknownFutureValue for a caller who did not ask for them (reference
// §1.4). Unconfirmed: the docs show the header but not the answer without
// it; this is standard evolvable-enum behaviour.
func shownStatus(c *call, status string) string {
	if (status == statusCalculating || status == statusLoadingData) && !includeUnknownEnums(c) {
		return statusUnknown
	}
	return status
}

// backupDenied is the 403 of the API ("Authorization has been denied for
// this request. Check your credentials.", documented for a missing role).
// Unconfirmed: that a missing permission, and an app calling a
// delegated-only operation, get the same answer; and the code.
func (c *call) backupDenied() response {
	return c.fail(403, "Authorization_RequestDenied", msgDenied)
}

func (c *call) badSnapshot() response {
	// Unconfirmed: the error code.
	return c.fail(404, "NotFound", msgBadSnapshot)
}

func (c *call) noSuchJob(id string) response {
	// "Job is queried with an invalid job ID: 404 Not Found"; no text is
	// documented. Unconfirmed: code and message.
	return c.fail(404, "NotFound", fmt.Sprintf("Job with identifier %s was not found.", id))
}

// allowsBackup checks the permission table for a backup operation.
func (s *Server) allowsBackup(ident *Identity, o op) bool {
	return allowsWith(ident, o, 0, nil, s.backup.cfg.AllowAppWrites)
}

// routeRecovery serves /directory/recovery/... .
func (s *Server) routeRecovery(c *call, rest []string) response {
	eq := strings.EqualFold
	if len(rest) == 0 {
		if c.method != http.MethodGet {
			return c.methodNotAllowed()
		}
		// The recovery singleton: its relationships only (reference §1.1).
		return s.backupRead(c, func() response {
			out := newJSONObject()
			out.set("@odata.context", c.context("directory/recovery/$entity"))
			return newResponse(200, out)
		})
	}
	if key, ok := cutPrefixFold(rest[0], "snapshots("); ok && strings.HasSuffix(key, ")") {
		// The key in parentheses: snapshots('{id}').
		rest = append([]string{"snapshots", "(" + key}, rest[1:]...)
	}
	switch {
	case eq(rest[0], "snapshots"):
		return s.routeSnapshots(c, rest[1:])
	case eq(rest[0], "jobs"):
		return s.routeAllJobs(c, rest[1:])
	}
	return c.unknownSegment(rest[0])
}

// backupRead runs a read after the permission check.
func (s *Server) backupRead(c *call, f func() response) response {
	if !s.allowsBackup(c.ident, opBackupRead) {
		return c.backupDenied()
	}
	return f()
}

// snapshotKey accepts both key forms OData allows: /snapshots/{id} and
// /snapshots('{id}').
func snapshotKey(seg string) string {
	if strings.HasPrefix(seg, "('") && strings.HasSuffix(seg, "')") {
		return seg[2 : len(seg)-2]
	}
	return seg
}

func (s *Server) routeSnapshots(c *call, rest []string) response {
	eq := strings.EqualFold
	if len(rest) == 0 {
		if c.method != http.MethodGet {
			return c.methodNotAllowed()
		}
		return s.listSnapshots(c)
	}
	sid := snapshotKey(rest[0])
	if len(rest) == 1 {
		if c.method != http.MethodGet {
			return c.methodNotAllowed()
		}
		return s.getSnapshot(c, sid)
	}
	var recovery bool
	switch {
	case eq(rest[1], "recoveryPreviewJobs"):
	case eq(rest[1], "recoveryJobs"):
		recovery = true
	default:
		return c.unknownSegment(rest[1])
	}
	switch len(rest) {
	case 2:
		switch c.method {
		case http.MethodGet:
			return s.listSnapshotJobs(c, sid, recovery)
		case http.MethodPost:
			return s.createJob(c, sid, recovery)
		}
		return c.methodNotAllowed()
	case 3:
		if c.method != http.MethodGet {
			return c.methodNotAllowed()
		}
		return s.getSnapshotJob(c, sid, rest[2], recovery)
	case 4:
		fn := "getChanges"
		if recovery {
			fn = "getFailedChanges"
		}
		if !isRecoveryOp(c, rest[3], fn) {
			return c.unknownSegment(rest[3])
		}
		if c.method != http.MethodGet {
			return c.methodNotAllowed()
		}
		return s.jobChanges(c, sid, rest[2], recovery)
	}
	return c.unknownSegment(rest[4])
}

func (s *Server) routeAllJobs(c *call, rest []string) response {
	switch len(rest) {
	case 0:
		if c.method != http.MethodGet {
			return c.methodNotAllowed()
		}
		return s.listAllJobs(c)
	case 1:
		if c.method != http.MethodGet {
			return c.methodNotAllowed()
		}
		return s.getAnyJob(c, rest[0])
	case 2:
		if !isRecoveryOp(c, rest[1], "cancel") {
			return c.unknownSegment(rest[1])
		}
		if c.method != http.MethodPost {
			return c.methodNotAllowed()
		}
		return s.cancelJob(c, rest[0])
	}
	return c.unknownSegment(rest[2])
}

// snapshotView is a snapshot as Graph shows it ([MGD]
// entrarecoveryservices-snapshot.md and the list example).
func snapshotView(sn *snapshot) *jsonObject {
	o := newJSONObject()
	o.set("@odata.type", "#microsoft.graph.entraRecoveryServices.snapshot")
	o.set("id", sn.id)
	o.set("createdDateTime", formatGraphTime(sn.at))
	o.set("totalChangedObjects", sn.totalChanged)
	return o
}

// listSnapshots serves GET /directory/recovery/snapshots with $select, $top
// and $orderby on createdDateTime; 100 a page by default, at most 999
// ([MGD] entrarecoveryservices-recovery-list-snapshots.md).
// Unconfirmed: the order without $orderby (graphsim: oldest first).
func (s *Server) listSnapshots(c *call) response {
	if r := checkQuery(c, "$select", "$top", "$orderby", "$skiptoken"); r != nil {
		return *r
	}
	desc, r := orderBy(c, "createdDateTime")
	if r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.allowsBackup(c.ident, opBackupRead) {
		return c.backupDenied()
	}
	var items []*jsonObject
	for _, sn := range s.backup.snapshots {
		items = append(items, snapshotView(sn))
	}
	if desc {
		slices.Reverse(items)
	}
	return pageJSON(c, items, "directory/recovery/snapshots")
}

// orderBy reads $orderby, which may name only field, asc (the default) or
// desc. Anything else is refused rather than ignored.
func orderBy(c *call, field string) (desc bool, r *response) {
	v := strings.ToLower(strings.Join(strings.Fields(c.query.Get("$orderby")), " "))
	f := strings.ToLower(field)
	switch v {
	case "", f, f + " asc":
		return false, nil
	case f + " desc":
		return true, nil
	}
	fail := c.fail(400, "BadRequest", fmt.Sprintf("graphsim simulates $orderby=%s asc or desc only, not '%s'.", field, c.query.Get("$orderby")))
	return false, &fail
}

// pageJSON pages a collection of ready-made items with $top (default 100,
// at most 999), $select and an absolute @odata.nextLink carrying
// $skiptoken (Learn graph/paging).
func pageJSON(c *call, items []*jsonObject, fragment string) response {
	return pageItems(c, len(items), fragment, func(i int, sel []string) *jsonObject { return project(items[i], sel) })
}

// getSnapshot serves GET /directory/recovery/snapshots/{id} ([MGD]
// entrarecoveryservices-snapshot-get.md); an id not among the retained
// snapshots is the documented 404.
func (s *Server) getSnapshot(c *call, sid string) response {
	if r := checkQuery(c, "$select"); r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.allowsBackup(c.ident, opBackupRead) {
		return c.backupDenied()
	}
	sn := s.findSnapshot(sid)
	if sn == nil {
		return c.badSnapshot()
	}
	out := project(snapshotView(sn), selectList(c)).withFirst("@odata.context", c.context("directory/recovery/snapshots/$entity"))
	return newResponse(200, out)
}

// jobView is a job as Graph shows it ([MGD]
// entrarecoveryservices-recoveryjobbase.md, -recoveryjob.md, the get and
// list examples): recoveryJob adds the three totals of what it modified.
// jobCompletionDateTime is null until the job is terminal and the
// calculated totals null until the changes are computed, which graphsim
// does when the job completes.
func jobView(c *call, j *backupJob) *jsonObject {
	o := newJSONObject()
	o.set("@odata.type", j.odataType())
	o.set("id", j.id)
	o.set("status", shownStatus(c, j.statusAt(c.now)))
	o.set("targetStateDateTime", formatGraphTime(j.snap.at))
	o.set("jobStartDateTime", formatGraphTime(j.start))
	if j.status != "" {
		o.set("jobCompletionDateTime", formatGraphTime(j.completed))
	} else {
		o.set("jobCompletionDateTime", nil)
	}
	if j.filter != nil {
		o.set("filteringCriteria", j.filter.view())
	} else {
		o.set("filteringCriteria", nil)
	}
	o.set("totalChangedObjectsCalculated", j.objectsCalc)
	o.set("totalChangedLinksCalculated", j.linksCalc)
	if j.recovery {
		o.set("totalObjectsModified", j.objectsModified)
		o.set("totalLinksModified", j.linksModified)
		o.set("totalFailedChanges", j.failedCount)
	}
	return o
}

func jobsSegment(recovery bool) string {
	if recovery {
		return "recoveryJobs"
	}
	return "recoveryPreviewJobs"
}

// snapshotJob finds a job of the given type under a snapshot. The caller
// holds s.mu and has checked the permission.
func (s *Server) snapshotJob(c *call, sid, jid string, recovery bool) (*backupJob, *response) {
	sn := s.findSnapshot(sid)
	if sn == nil {
		r := c.badSnapshot()
		return nil, &r
	}
	for _, j := range s.backup.jobs {
		if strings.EqualFold(j.id, jid) && j.snap == sn && j.recovery == recovery {
			return j, nil
		}
	}
	r := c.noSuchJob(jid)
	return nil, &r
}

// listSnapshotJobs serves GET .../snapshots/{id}/recoveryPreviewJobs and
// .../recoveryJobs ([MGD] entrarecoveryservices-snapshot-list-*.md).
func (s *Server) listSnapshotJobs(c *call, sid string, recovery bool) response {
	if r := checkQuery(c, "$select", "$top", "$skiptoken"); r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.allowsBackup(c.ident, opBackupRead) {
		return c.backupDenied()
	}
	sn := s.findSnapshot(sid)
	if sn == nil {
		return c.badSnapshot()
	}
	var items []*jsonObject
	for _, j := range s.backup.jobs {
		if j.snap == sn && j.recovery == recovery {
			items = append(items, jobView(c, j))
		}
	}
	return pageJSON(c, items, "directory/recovery/snapshots('"+sid+"')/"+jobsSegment(recovery))
}

// getSnapshotJob serves GET .../recoveryPreviewJobs/{id} and
// .../recoveryJobs/{id}: the URL the Location header of the create names,
// which a caller polls until the status is terminal (reference §1.4).
func (s *Server) getSnapshotJob(c *call, sid, jid string, recovery bool) response {
	if r := checkQuery(c, "$select"); r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.allowsBackup(c.ident, opBackupRead) {
		return c.backupDenied()
	}
	j, r := s.snapshotJob(c, sid, jid, recovery)
	if r != nil {
		return *r
	}
	out := project(jobView(c, j), selectList(c)).withFirst("@odata.context", c.context("directory/recovery/snapshots('"+sid+"')/"+jobsSegment(recovery)+"/$entity"))
	return newResponse(200, out)
}

// jobChanges serves getChanges on a preview job and getFailedChanges on a
// recovery job: $top (default 100, at most 999), $skip and $select, paged
// by an @odata.nextLink carrying $skip ([MGD]
// entrarecoveryservices-recoverypreviewjob-getchanges.md,
// -recoveryjob-getfailedchanges.md; the latter's example 2 pages with
// $skip). getChanges before the job is successful is the documented 400.
// Unconfirmed: getFailedChanges "can only be called on a recovery job that
// has completed"; graphsim answers the same 400 before the job is
// terminal, and an empty page afterwards when nothing failed. The
// documented $filter on change objects is not simulated (refused).
func (s *Server) jobChanges(c *call, sid, jid string, recovery bool) response {
	if r := checkQuery(c, "$top", "$skip", "$select"); r != nil {
		return *r
	}
	top, r := pageSize(c, 100, 999)
	if r != nil {
		return *r
	}
	skip := 0
	if v := c.query.Get("$skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			// Unconfirmed: Graph's text for a bad $skip.
			return c.fail(400, "BadRequest", fmt.Sprintf("Invalid value '%s' for $skip: must be a non-negative integer.", v))
		}
		skip = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.allowsBackup(c.ident, opBackupRead) {
		return c.backupDenied()
	}
	j, rr := s.snapshotJob(c, sid, jid, recovery)
	if rr != nil {
		return *rr
	}
	items := j.changes
	if recovery {
		if j.status == "" {
			return c.fail(400, "BadRequest", fmt.Sprintf("Job with identifier %s must have completed successfully prior to enumerating changes.", j.id))
		}
		items = j.failed
	} else if j.status != statusSuccessful {
		return c.fail(400, "BadRequest", fmt.Sprintf("Job with identifier %s must have completed successfully prior to enumerating changes.", j.id))
	}
	sel := selectList(c)
	value := make([]*jsonObject, 0, min(top, len(items)))
	for i := skip; i < len(items) && len(value) < top; i++ {
		value = append(value, project(items[i], sel))
	}
	out := newJSONObject()
	out.set("@odata.context", c.context("Collection(microsoft.graph.entraRecoveryServices.recoveryChangeObjectBase)"))
	if end := skip + len(value); end < len(items) {
		q := url.Values{}
		for k, vs := range c.query {
			if !strings.EqualFold(k, "$skip") && !strings.EqualFold(k, "$top") {
				q[k] = vs
			}
		}
		q.Set("$skip", strconv.Itoa(end))
		q.Set("$top", strconv.Itoa(top))
		out.set("@odata.nextLink", c.base+"/"+c.version+"/"+strings.Join(escapeSegs(c.segs), "/")+"?"+q.Encode())
	}
	out.set("value", value)
	return newResponse(200, out)
}

// listAllJobs serves GET /directory/recovery/jobs: both job types, told
// apart by @odata.type, with $select, $top, $orderby (jobStartDateTime) and
// $filter ([MGD] entrarecoveryservices-recovery-list-jobs.md). graphsim
// simulates $filter=status eq '...' only.
func (s *Server) listAllJobs(c *call) response {
	if r := checkQuery(c, "$select", "$top", "$orderby", "$filter", "$skiptoken"); r != nil {
		return *r
	}
	desc, r := orderBy(c, "jobStartDateTime")
	if r != nil {
		return *r
	}
	status := ""
	if f := strings.TrimSpace(c.query.Get("$filter")); f != "" {
		rest, ok := cutPrefixFold(f, "status eq '")
		if !ok || !strings.HasSuffix(rest, "'") {
			return c.fail(400, "Request_UnsupportedQuery", fmt.Sprintf("graphsim simulates only $filter=status eq '...' on jobs, not '%s'.", f))
		}
		status = strings.TrimSuffix(rest, "'")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.allowsBackup(c.ident, opBackupRead) {
		return c.backupDenied()
	}
	var items []*jsonObject
	for _, j := range s.backup.jobs {
		v := jobView(c, j)
		if status != "" && v.str("status") != status {
			continue
		}
		items = append(items, v)
	}
	if desc {
		slices.Reverse(items)
	}
	return pageJSON(c, items, "directory/recovery/jobs")
}

// getAnyJob serves GET /directory/recovery/jobs/{id}, where the Location of
// a cancel points ([MGD] entrarecoveryservices-recoveryjobbase-cancel.md).
func (s *Server) getAnyJob(c *call, jid string) response {
	if r := checkQuery(c, "$select"); r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.allowsBackup(c.ident, opBackupRead) {
		return c.backupDenied()
	}
	for _, j := range s.backup.jobs {
		if strings.EqualFold(j.id, jid) {
			out := project(jobView(c, j), selectList(c)).withFirst("@odata.context", c.context("directory/recovery/jobs/$entity"))
			return newResponse(200, out)
		}
	}
	return c.noSuchJob(jid)
}

// createJob serves POST .../snapshots/{id}/recoveryPreviewJobs and
// .../recoveryJobs: 202 Accepted, no body, and a Location header with the
// job's absolute URL ([MGD] entrarecoveryservices-snapshot-post-
// recoverypreviewjobs.md, -post-recoveryjobs.md). The body is optional:
// {"filteringCriteria": ...}, none meaning every supported entity.
// A second job while one is not terminal is the documented 409.
// Unconfirmed: the order of the checks (permission, snapshot, body,
// conflict).
func (s *Server) createJob(c *call, sid string, recovery bool) response {
	if r := checkQuery(c); r != nil {
		return *r
	}
	o := opBackupPreview
	if recovery {
		o = opBackupRecover
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.allowsBackup(c.ident, o) {
		return c.backupDenied()
	}
	sn := s.findSnapshot(sid)
	if sn == nil {
		return c.badSnapshot()
	}
	f, r := parseJobBody(c)
	if r != nil {
		return *r
	}
	if s.runningJob() != nil {
		// Unconfirmed: the code.
		return c.fail(409, "Conflict", msgJobRunning)
	}
	j := s.newJob(c, sn, f, recovery)
	resp := newResponse(202, nil)
	resp.header.Set("Location", c.base+"/"+c.version+"/directory/recovery/snapshots/"+url.PathEscape(sn.id)+"/"+jobsSegment(recovery)+"/"+j.id)
	return resp
}

// cancelJob serves POST /directory/recovery/jobs/{id}/cancel: 202 and a
// Location naming the job; a job that is not terminal becomes abandoned
// ([MGD] entrarecoveryservices-recoveryjobbase-cancel.md). Cancellation is
// documented as best-effort ("the job may keep running briefly");
// graphsim abandons at once, with jobCompletionDateTime the cancel time,
// applying nothing. Unconfirmed: cancelling a terminal job is answered 400.
func (s *Server) cancelJob(c *call, jid string) response {
	if r := checkQuery(c); r != nil {
		return *r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.allowsBackup(c.ident, opBackupCancel) {
		return c.backupDenied()
	}
	var j *backupJob
	for _, x := range s.backup.jobs {
		if strings.EqualFold(x.id, jid) {
			j = x
		}
	}
	if j == nil {
		return c.noSuchJob(jid)
	}
	if j.status != "" {
		return c.fail(400, "BadRequest", fmt.Sprintf("Job with identifier %s is %s; only a job that is initialized, loadingData, calculating or running can be cancelled.", j.id, j.status))
	}
	j.status, j.completed = statusAbandoned, c.now
	resp := newResponse(202, nil)
	resp.header.Set("Location", c.base+"/"+c.version+"/directory/recovery/jobs/"+j.id)
	return resp
}

// recoveryFilter is a job's filteringCriteria ([MGD]
// entrarecoveryservices-recoveryjobentitynamesfilter.md,
// -recoveryjobentitynameandidsfilter.md; reference §1.5).
type recoveryFilter struct {
	odataType   string
	entityTypes []string
	values      []entityTypeAndIDs
}

type entityTypeAndIDs struct {
	EntityType string   `json:"entityType"`
	EntityIDs  []string `json:"entityIds"`
}

const (
	namesFilterType    = "#microsoft.graph.entraRecoveryServices.recoveryJobEntityNamesFilter"
	nameAndIDsFilterTy = "#microsoft.graph.entraRecoveryServices.recoveryJobEntityNameAndIdsFilter"
)

// match reports whether the filter covers an object. A nil filter covers
// every supported entity.
func (f *recoveryFilter) match(k kind, id string) bool {
	if f == nil {
		return true
	}
	name := resourceTypeNames[k]
	if f.entityTypes != nil {
		return slices.Contains(f.entityTypes, name)
	}
	for _, v := range f.values {
		if v.EntityType == name {
			return slices.ContainsFunc(v.EntityIDs, func(x string) bool { return strings.EqualFold(x, id) })
		}
	}
	return false
}

func (f *recoveryFilter) view() *jsonObject {
	o := newJSONObject()
	o.set("@odata.type", f.odataType)
	if f.entityTypes != nil {
		o.set("entityTypes", f.entityTypes)
	} else {
		o.set("filterValues", f.values)
	}
	return o
}

// parseJobBody reads the optional body of a create. Unknown properties,
// an unknown filter type, a resourceTypeName outside the enum, a member
// after unknownFutureValue without "Prefer: include-unknown-enum-members",
// and an entity type repeated in filterValues (documented, [MGD]
// entrarecoveryservices-recoveryjobentitynameandidsfilter.md) are 400.
// Unconfirmed: every 400 text, and the 400s other than the repeated type.
func parseJobBody(c *call) (*recoveryFilter, *response) {
	bad := func(format string, args ...any) (*recoveryFilter, *response) {
		r := c.fail(400, "BadRequest", fmt.Sprintf(format, args...))
		return nil, &r
	}
	var body struct {
		FilteringCriteria json.RawMessage `json:"filteringCriteria"`
	}
	if r := decodeStrict(c, &body); r != nil {
		return nil, r
	}
	raw := strings.TrimSpace(string(body.FilteringCriteria))
	if raw == "" || raw == "null" {
		return nil, nil
	}
	var head struct {
		Type string `json:"@odata.type"`
	}
	if err := json.Unmarshal(body.FilteringCriteria, &head); err != nil {
		return bad("Invalid request body: filteringCriteria must be an object.")
	}
	t := "#" + strings.TrimPrefix(head.Type, "#")
	f := &recoveryFilter{odataType: t}
	var names []string
	switch {
	case strings.EqualFold(t, namesFilterType):
		f.odataType = namesFilterType
		var v struct {
			Type        string   `json:"@odata.type"`
			EntityTypes []string `json:"entityTypes"`
		}
		if err := decodeJSONStrict(body.FilteringCriteria, &v); err != nil {
			return bad("Invalid request body: %v", err)
		}
		if len(v.EntityTypes) == 0 {
			return bad("The filteringCriteria of type recoveryJobEntityNamesFilter must list at least one entity type in entityTypes.")
		}
		f.entityTypes = v.EntityTypes
		names = v.EntityTypes
	case strings.EqualFold(t, nameAndIDsFilterTy):
		f.odataType = nameAndIDsFilterTy
		var v struct {
			Type         string             `json:"@odata.type"`
			FilterValues []entityTypeAndIDs `json:"filterValues"`
		}
		if err := decodeJSONStrict(body.FilteringCriteria, &v); err != nil {
			return bad("Invalid request body: %v", err)
		}
		if len(v.FilterValues) == 0 {
			return bad("The filteringCriteria of type recoveryJobEntityNameAndIdsFilter must have at least one entry in filterValues.")
		}
		seen := map[string]bool{}
		for i := range v.FilterValues {
			et := v.FilterValues[i].EntityType
			if seen[et] {
				return bad("The entity type '%s' appears more than once in filterValues; list each entity type once.", et)
			}
			seen[et] = true
			names = append(names, et)
			if v.FilterValues[i].EntityIDs == nil {
				v.FilterValues[i].EntityIDs = []string{}
			}
		}
		f.values = v.FilterValues
	case head.Type == "":
		return bad("Invalid request body: filteringCriteria needs an @odata.type: %s or %s.", namesFilterType, nameAndIDsFilterTy)
	default:
		return bad("Invalid request body: '%s' is not a filtering criteria type; use %s or %s.", head.Type, namesFilterType, nameAndIDsFilterTy)
	}
	unknownOK := includeUnknownEnums(c)
	sentinel := slices.Index(resourceTypeEnum, "unknownFutureValue")
	for _, n := range names {
		i := slices.Index(resourceTypeEnum, n)
		switch {
		case i < 0:
			return bad("The value '%s' is not a valid resourceTypeName (%s).", n, strings.Join(resourceTypeEnum[:sentinel], ", "))
		case i == sentinel:
			return bad("The value 'unknownFutureValue' is a sentinel and cannot be used as a resourceTypeName.")
		case i > sentinel && !unknownOK:
			return bad("The value '%s' is a resourceTypeName that requires the request header 'Prefer: include-unknown-enum-members'.", n)
		}
	}
	return f, nil
}
