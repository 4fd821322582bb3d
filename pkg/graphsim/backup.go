package graphsim

// Microsoft Entra Backup and Recovery (Graph namespace
// microsoft.graph.entraRecoveryServices, under /directory/recovery): the
// model. Snapshots of the tenant, preview and recovery jobs, the difference
// between a snapshot and the tenant, and what a recovery job does about it.
// The HTTP side is in backup_http.go. Facts and their sources:
// /work/shared/reference/graph-recovery-apis.md §1; docs repo
// microsoftgraph/microsoft-graph-docs-contrib api-reference/beta/api/
// entrarecoveryservices-*.md and api-reference/beta/resources/
// entrarecoveryservices-*.md (cited below as [MGD] and the file name).
//
// Everything advances by Options.Clock, never by wall-clock timers:
// advanceBackup runs before every request and control call and catches up
// with whatever fell due (snapshots taken, jobs completed) in time order.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// BackupConfig sets how graphsim's Entra Backup and Recovery behaves. A zero
// field takes the default. Like the throttling windows, SnapshotEvery and
// JobDuration are simulated time: both (and the seven-day job retention)
// are divided by Options.TimeScale.
type BackupConfig struct {
	// SnapshotEvery is the time between automatic snapshots; default 24h:
	// "one snapshot is taken automatically per day" ([MGD] overview
	// "Limitations"; [ED] docs/backup/overview.md; reference §1.3).
	SnapshotEvery time.Duration `json:"snapshotEvery"`
	// FirstSnapshotAge dates the snapshot taken at start this far before
	// the clock's time at New (not divided by TimeScale), so that a test can
	// have "the latest snapshot before the deletion" without waiting a day.
	// The next automatic snapshot is due SnapshotEvery after the first.
	FirstSnapshotAge time.Duration `json:"firstSnapshotAge"`
	// JobDuration is how long a preview or recovery job takes from creation
	// to its terminal state, spent in four equal phases: initialized,
	// loadingData, calculating, running. Default 8 minutes (2 per phase).
	// Real jobs take up to hours ([ED] backup-difference-report-recovery-
	// model.md, "allow at least 1 hour"); a demo does not want to wait.
	JobDuration time.Duration `json:"jobDuration"`
	// AllowAppWrites lets application identities create preview and
	// recovery jobs and cancel jobs, with EntraBackup.ReadWrite.Preview or
	// .Recovery as application permissions. The docs say "Not supported"
	// for apps (reference §1.8); the switch exists for when Microsoft opens
	// it up. Flag --backup-app-writes.
	AllowAppWrites bool `json:"allowAppWrites"`
}

func (c BackupConfig) withDefaults() BackupConfig {
	if c.SnapshotEvery <= 0 {
		c.SnapshotEvery = 24 * time.Hour
	}
	if c.JobDuration <= 0 {
		c.JobDuration = 8 * time.Minute
	}
	if c.FirstSnapshotAge < 0 {
		c.FirstSnapshotAge = 0
	}
	return c
}

const (
	// snapshotRetention: snapshots are kept five days, one a day ([MGD]
	// overview; [ED] overview; reference §1.3). graphsim keeps the newest
	// five whatever the interval. Sources disagree: [ED] troubleshooting
	// speaks of "seven days of backups".
	snapshotRetention = 5
	// jobRetention: difference reports and recovery jobs are kept seven
	// days after completion ([ED] docs/backup/troubleshooting.md).
	jobRetention = 7 * 24 * time.Hour
)

// Job status values: the recoveryStatus enum ([MGD]
// enums-entrarecoveryservices.md). calculating and loadingData come after
// unknownFutureValue in the enum, so they are sent only to callers asking
// for them with "Prefer: include-unknown-enum-members" (evolvable enums,
// Learn graph/best-practices-concept#handling-future-members-in-evolvable-
// enumerations).
const (
	statusInitialized = "initialized"
	statusLoadingData = "loadingData"
	statusCalculating = "calculating"
	statusRunning     = "running"
	statusSuccessful  = "successful"
	statusFailed      = "failed"
	statusAbandoned   = "abandoned"
	statusUnknown     = "unknownFutureValue"
)

// Recovery actions ([MGD] entrarecoveryservices-recoverychangeobjectbase.md).
const (
	actionRestore    = "restore"
	actionUpdate     = "update"
	actionSoftDelete = "softDelete"
)

// backupKinds are the kinds a snapshot holds, in the order changes are
// listed. Administrative units are not backed up: the resourceTypeName
// enum has no value for them (reference §1.5).
var backupKinds = []kind{kindUser, kindGroup, kindApplication, kindServicePrincipal, kindCAPolicy, kindNamedLocation}

// resourceTypeName values of the kinds graphsim simulates ([MGD]
// enums-entrarecoveryservices.md; named locations are "namedLocationPolicy").
var resourceTypeNames = map[kind]string{
	kindUser: "user", kindGroup: "group", kindApplication: "application", kindServicePrincipal: "servicePrincipal",
	kindCAPolicy: "conditionalAccessPolicy", kindNamedLocation: "namedLocationPolicy",
}

// resourceTypeEnum is the whole resourceTypeName enum, in its order. The
// members after unknownFutureValue need "Prefer:
// include-unknown-enum-members" (reference §1.5).
var resourceTypeEnum = []string{"user", "group", "conditionalAccessPolicy", "namedLocationPolicy", "authenticationMethodPolicy",
	"authorizationPolicy", "authenticationStrengthPolicy", "application", "servicePrincipal", "unknownFutureValue",
	"oAuth2PermissionGrant", "appRoleAssignment"}

func isBackedUp(k kind) bool { return slices.Contains(backupKinds, k) }

// snapshot is one backup: deep copies of the backed-up live objects.
type snapshot struct {
	id           string
	at           time.Time // whole seconds
	objects      map[string]*object
	totalChanged int
}

// snapshotID is the base64 of the timestamp string ([MGD]
// entrarecoveryservices-snapshot.md: "MjAyNC0wOC0yNlQwMjozMDowMFo=" is
// "2024-08-26T02:30:00Z").
func snapshotID(at time.Time) string {
	return base64.StdEncoding.EncodeToString([]byte(at.UTC().Format("2006-01-02T15:04:05Z")))
}

// backupJob is a preview job (recoveryPreviewJob) or a recovery job
// (recoveryJob).
type backupJob struct {
	id        string
	recovery  bool
	snap      *snapshot
	filter    *recoveryFilter
	start     time.Time
	end       time.Time // when it reaches its terminal state, unless cancelled
	status    string    // terminal status once reached; "" before
	completed time.Time
	fail      bool // FaultConfig.FailNextBackupJob was set when it was created
	ident     *Identity
	userAgent string

	objectsCalc, linksCalc                      *int
	objectsModified, linksModified, failedCount *int
	changes                                     []*jsonObject // getChanges
	failed                                      []*jsonObject // getFailedChanges
}

// statusAt is the job's status at now: the terminal status once reached,
// else the phase now falls in.
func (j *backupJob) statusAt(now time.Time) string {
	if j.status != "" {
		return j.status
	}
	d := j.end.Sub(j.start)
	switch el := now.Sub(j.start); {
	case el < d/4:
		return statusInitialized
	case el < d/2:
		return statusLoadingData
	case el < 3*d/4:
		return statusCalculating
	}
	return statusRunning
}

func (j *backupJob) odataType() string {
	if j.recovery {
		return "#microsoft.graph.entraRecoveryServices.recoveryJob"
	}
	return "#microsoft.graph.entraRecoveryServices.recoveryPreviewJob"
}

// backupState is the tenant's backups and jobs. Guarded by Server.mu.
type backupState struct {
	cfg       BackupConfig
	every     time.Duration // scaled
	jobDur    time.Duration // scaled
	keepJobs  time.Duration // scaled
	snapshots []*snapshot   // oldest first
	next      time.Time     // when the next automatic snapshot is due
	jobs      []*backupJob  // creation order
}

func newBackupState(cfg BackupConfig, scale float64) *backupState {
	cfg = cfg.withDefaults()
	b := &backupState{cfg: cfg, every: scaled(cfg.SnapshotEvery, scale), jobDur: scaled(cfg.JobDuration, scale), keepJobs: scaled(jobRetention, scale)}
	if b.every <= 0 {
		b.every = time.Nanosecond
	}
	return b
}

// startBackups takes the first snapshot when the server starts.
func (s *Server) startBackups(now time.Time) {
	first := now.Add(-s.backup.cfg.FirstSnapshotAge)
	s.takeSnapshot(first)
	s.backup.next = first.Add(s.backup.every)
}

// advanceBackup brings backups up to now, in time order: automatic
// snapshots that fell due, jobs that reached their end (a job completing
// before a snapshot is due is in that snapshot), and the retention of
// finished jobs. The caller holds s.mu.
func (s *Server) advanceBackup(now time.Time) {
	b := s.backup
	// Snapshots older than the newest five due ones would be dropped at
	// once; skip them so that a clock jumping years ahead costs nothing.
	if due := now.Sub(b.next); due > 0 {
		if n := int64(due/b.every) + 1; n > snapshotRetention {
			b.next = b.next.Add(time.Duration(n-snapshotRetention) * b.every)
		}
	}
	for {
		var job *backupJob
		for _, j := range b.jobs {
			if j.status == "" && (job == nil || j.end.Before(job.end)) {
				job = j
			}
		}
		switch {
		case job != nil && !job.end.After(now) && !job.end.After(b.next):
			s.completeJob(job, job.end)
		case !b.next.After(now):
			s.takeSnapshot(b.next)
			b.next = b.next.Add(b.every)
		default:
			kept := b.jobs[:0:0]
			for _, j := range b.jobs {
				if j.status == "" || now.Sub(j.completed) <= b.keepJobs {
					kept = append(kept, j)
				}
			}
			b.jobs = kept
			return
		}
	}
}

// takeSnapshot copies the backed-up live objects. A second snapshot within
// the same second replaces the first (their ids would be equal). The caller
// holds s.mu.
func (s *Server) takeSnapshot(at time.Time) *snapshot {
	b := s.backup
	at = at.UTC().Truncate(time.Second)
	snap := &snapshot{id: snapshotID(at), at: at, objects: map[string]*object{}}
	for id, o := range s.t.live {
		if isBackedUp(o.kind) {
			snap.objects[id] = o.deepCopy()
		}
	}
	if n := len(b.snapshots); n > 0 && b.snapshots[n-1].id == snap.id {
		b.snapshots = b.snapshots[:n-1]
	}
	var prev *snapshot
	if n := len(b.snapshots); n > 0 {
		prev = b.snapshots[n-1]
	}
	snap.totalChanged = countChanged(prev, snap)
	b.snapshots = append(b.snapshots, snap)
	if len(b.snapshots) > snapshotRetention {
		b.snapshots = append([]*snapshot(nil), b.snapshots[len(b.snapshots)-snapshotRetention:]...)
	}
	return snap
}

// countChanged is a snapshot's totalChangedObjects: the objects added,
// removed or changed since the previous snapshot.
// Unconfirmed: the docs define the property only as "Int32"; that it
// counts changes since the previous snapshot, and that the first snapshot
// counts every object it holds, are graphsim's reading of its name.
func countChanged(prev, snap *snapshot) int {
	if prev == nil {
		return len(snap.objects)
	}
	n := 0
	for id, o := range snap.objects {
		p := prev.objects[id]
		if p == nil || len(propsDiff(p.props, o.props)) > 0 || !sameMembers(p, o) {
			n++
		}
	}
	for id := range prev.objects {
		if snap.objects[id] == nil {
			n++
		}
	}
	return n
}

// findSnapshot finds a retained snapshot by id. The caller holds s.mu.
func (s *Server) findSnapshot(id string) *snapshot {
	for _, sn := range s.backup.snapshots {
		if sn.id == id {
			return sn
		}
	}
	return nil
}

// runningJob is the job that is not yet terminal, if any: "only one job
// (preview or recovery) can run at a time" per tenant (reference §1.4).
func (s *Server) runningJob() *backupJob {
	for _, j := range s.backup.jobs {
		if j.status == "" {
			return j
		}
	}
	return nil
}

// ignoredProps are not compared between a snapshot and the tenant: the id,
// the soft-delete marker (the action says it), and read-only timestamps the
// service sets, which a recovery cannot write back.
// Unconfirmed: which read-only properties Entra leaves out of a difference
// report; the getChanges example does show renewedDateTime, which graphsim
// therefore compares.
var ignoredProps = []string{"id", "deletedDateTime", "createdDateTime", "modifiedDateTime", "@odata.type"}

// propsDiff lists the properties whose values differ between from and to
// (absent counts as null), in from's order then to's.
func propsDiff(from, to *jsonObject) []string {
	var out []string
	seen := map[string]bool{}
	check := func(k string) {
		if seen[k] || slices.Contains(ignoredProps, k) {
			return
		}
		seen[k] = true
		a, _ := from.raw(k)
		b, _ := to.raw(k)
		if !sameJSON(a, b) {
			out = append(out, k)
		}
	}
	for _, k := range from.keys {
		check(k)
	}
	for _, k := range to.keys {
		check(k)
	}
	return out
}

// sameJSON compares two JSON values by meaning (member order and spacing
// aside); an absent value equals null.
func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if len(a) > 0 {
		if json.Unmarshal(a, &va) != nil {
			return false
		}
	}
	if len(b) > 0 {
		if json.Unmarshal(b, &vb) != nil {
			return false
		}
	}
	return reflect.DeepEqual(va, vb)
}

func sameMembers(a, b *object) bool {
	add, remove := memberDiff(a, b)
	return len(add) == 0 && len(remove) == 0
}

// memberDiff compares a group's static members in a snapshot (from) with
// its current ones (to): add are the links recovery would add back,
// remove the links it would remove. Both sorted.
func memberDiff(from, to *object) (add, remove []string) {
	for _, m := range from.members {
		if !to.hasMember(m) {
			add = append(add, m)
		}
	}
	for _, m := range to.members {
		if !from.hasMember(m) {
			remove = append(remove, m)
		}
	}
	sort.Strings(add)
	sort.Strings(remove)
	return add, remove
}

// logicalProps is a current object as a snapshot would have held it: a
// deleted user's rewritten userPrincipalName is put back (restoring it
// puts it back too).
func logicalProps(o *object) *jsonObject {
	p := o.props
	if o.kind == kindUser && !o.deletedAt.IsZero() && o.originalUPN != "" {
		p = p.clone()
		p.set("userPrincipalName", o.originalUPN)
	}
	return p
}

// change is one difference between a snapshot and the tenant.
type change struct {
	kind   kind
	id     string
	action string
	snap   *object // in the snapshot; nil when added since
	cur    *object // live or in a bin; nil when permanently deleted
	props  []string
	add    []string // member links to add back
	remove []string // member links to remove
}

func (ch *change) links() int { return len(ch.add) + len(ch.remove) }

// diff computes the changes that would bring the tenant back to snap,
// within the filter: objects soft-deleted since are restored, objects
// added (or restored) since are soft-deleted, changed properties and
// static members are reverted (reference §1.6, recovery model table). An
// object permanently deleted since still shows as a restore; recovering it
// fails, since recovery never creates objects. The caller holds s.mu.
func (s *Server) diff(snap *snapshot, f *recoveryFilter) []*change {
	var out []*change
	for _, k := range backupKinds {
		ids := map[string]bool{}
		for id, o := range snap.objects {
			if o.kind == k {
				ids[id] = true
			}
		}
		for id, o := range s.t.live {
			if o.kind == k {
				ids[id] = true
			}
		}
		sortedIDs := make([]string, 0, len(ids))
		for id := range ids {
			sortedIDs = append(sortedIDs, id)
		}
		sort.Strings(sortedIDs)
		for _, id := range sortedIDs {
			if !f.match(k, id) {
				continue
			}
			so := snap.objects[id]
			live := s.t.liveByID(k, id)
			ch := &change{kind: k, snap: so}
			switch {
			case so != nil && live != nil:
				ch.id, ch.cur, ch.action = so.id, live, actionUpdate
				ch.props = propsDiff(so.props, logicalProps(live))
				if k == kindGroup {
					ch.add, ch.remove = memberDiff(so, live)
				}
				if len(ch.props) == 0 && ch.links() == 0 {
					continue
				}
			case so != nil:
				ch.id, ch.action = so.id, actionRestore
				if bin := s.t.binFor(k)[id]; bin != nil && bin.kind == k {
					ch.cur = bin
					ch.props = propsDiff(so.props, logicalProps(bin))
					if k == kindGroup {
						ch.add, ch.remove = memberDiff(so, bin)
					}
				}
			default:
				ch.id, ch.cur, ch.action = live.id, live, actionSoftDelete
			}
			out = append(out, ch)
		}
	}
	return out
}

// memberEntry is one members@delta entry. The docs' example writes the
// member's type bare ("@odata.type": "user"); graphsim does the same.
func (s *Server) memberEntry(snap *snapshot, id string, removed bool) *jsonObject {
	typ := "directoryObject"
	if o := s.t.anyByID(id); o != nil {
		typ = o.kind.info().name
	} else if o := snap.objects[strings.ToLower(id)]; o != nil {
		typ = o.kind.info().name
	}
	e := newJSONObject()
	e.set("@odata.type", typ)
	e.set("id", id)
	if removed {
		e.set("@removed", map[string]string{"reason": "changed"})
	}
	return e
}

// view is the change object getChanges lists ([MGD]
// entrarecoveryservices-recoverychangeobjectbase.md and the getChanges
// examples): entityTypeName, id, displayName, recoveryAction, and the open
// properties deltaFromCurrent (what recovery would write, typed as the
// entity) and currentState (the same properties as they are now).
//
//   - update: the changed properties, snapshot values in deltaFromCurrent,
//     current ones in currentState (example 1).
//   - restore: likewise, plus "deletedDateTime": null against the current
//     deletion time (example 2). For an object permanently deleted since,
//     deltaFromCurrent holds every backed-up property and currentState is
//     null (Unconfirmed: the docs show no such change).
//   - softDelete: "@removed": {"reason": "changed"} and the deletedDateTime
//     recovery would set, against "deletedDateTime": null (example 4).
//     Unconfirmed: which time that deletedDateTime is (the example's is
//     neither the snapshot's nor the job's); graphsim writes the time the
//     changes were computed.
//   - static members: "members@delta" in deltaFromCurrent.
//     Unconfirmed: graphsim's reading of the example (which shows one entry
//     with "@removed" and one without, and says nothing more): as in Graph
//     delta queries,
//     deltaFromCurrent is what recovery applies to the current state, so an
//     entry without "@removed" is a member recovery adds back (removed
//     since the snapshot) and an entry with "@removed": {"reason":
//     "changed"} a member recovery removes (added since), just as
//     "@removed" on a softDelete change marks an object recovery removes.
//
// No @odata.type on the change object itself: the collection's declared
// type (OData minimal metadata; getChanges example 1 shows none, while
// getFailedChanges example 2 shows the base type).
func (s *Server) view(snap *snapshot, ch *change, at time.Time) *jsonObject {
	var typ, name string
	if ch.cur != nil {
		typ, name = ch.kind.info().odataTypeOf(ch.cur), ch.cur.props.str("displayName")
	} else {
		typ, name = ch.kind.info().odataTypeOf(ch.snap), ch.snap.props.str("displayName")
	}
	delta, cur := newJSONObject(), newJSONObject()
	delta.set("@odata.type", typ)
	cur.set("@odata.type", typ)
	var curProps *jsonObject
	if ch.cur != nil {
		curProps = logicalProps(ch.cur)
	}
	props := ch.props
	if ch.action == actionRestore && ch.cur == nil {
		props = nil
		for _, k := range ch.snap.props.keys {
			if !slices.Contains(ignoredProps, k) {
				props = append(props, k)
			}
		}
	}
	for _, p := range props {
		v, ok := ch.snap.props.raw(p)
		if !ok {
			v = json.RawMessage("null")
		}
		delta.setRaw(p, v)
		if curProps != nil {
			w, ok := curProps.raw(p)
			if !ok {
				w = json.RawMessage("null")
			}
			cur.setRaw(p, w)
		}
	}
	switch ch.action {
	case actionRestore:
		delta.set("deletedDateTime", nil)
		if ch.cur != nil {
			cur.set("deletedDateTime", formatGraphTime(ch.cur.deletedAt))
		}
	case actionSoftDelete:
		delta.set("@removed", map[string]string{"reason": "changed"})
		delta.set("deletedDateTime", formatGraphTime(at))
		cur.set("deletedDateTime", nil)
	}
	if ch.links() > 0 {
		var entries []*jsonObject
		for _, m := range ch.remove {
			entries = append(entries, s.memberEntry(snap, m, true))
		}
		for _, m := range ch.add {
			entries = append(entries, s.memberEntry(snap, m, false))
		}
		delta.set("members@delta", entries)
	}
	out := newJSONObject()
	out.set("entityTypeName", resourceTypeNames[ch.kind])
	out.set("id", ch.id)
	out.set("displayName", nullIfEmpty(name))
	out.set("recoveryAction", ch.action)
	out.set("deltaFromCurrent", delta)
	if ch.action == actionRestore && ch.cur == nil {
		out.set("currentState", nil)
	} else {
		out.set("currentState", cur)
	}
	return out
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// completeJob ends a job at its end time: a job marked to fail fails;
// otherwise the changes are computed now, against the tenant as it is at
// that moment, and a recovery job applies them. The caller holds s.mu.
func (s *Server) completeJob(j *backupJob, at time.Time) {
	j.completed = at
	if j.fail {
		// Unconfirmed: what a failed job reports; graphsim leaves every
		// total null, applies nothing and lists no failed changes.
		j.status = statusFailed
		return
	}
	changes := s.diff(j.snap, j.filter)
	objs, links := len(changes), 0
	for _, ch := range changes {
		links += ch.links()
	}
	// Unconfirmed: that totalChangedObjectsCalculated counts change objects
	// (a group whose only change is its members counts once) and
	// totalChangedLinksCalculated the members@delta entries.
	j.objectsCalc, j.linksCalc = &objs, &links
	if !j.recovery {
		for _, ch := range changes {
			j.changes = append(j.changes, s.view(j.snap, ch, at))
		}
		j.status = statusSuccessful
		return
	}
	s.recover(j, changes, at)
	j.status = statusSuccessful
}

// recover applies a recovery job's changes: restores first (so that a
// member restored by the job can be linked back), then updates, then soft
// deletes. A change that cannot be applied is listed by getFailedChanges
// with its failureMessage; a recovery job with failed changes still ends
// successful (getFailedChanges "can only be called on a recovery job that
// has completed and has a totalFailedChanges value greater than 0", [MGD]
// entrarecoveryservices-recoveryjob-getfailedchanges.md).
//
// Audit: the docs say only that every operation is logged under the audit
// category "Backup and Recovery"; no activity name is documented
// (reference §1.7, §4.1, §7 question 4). Unconfirmed: graphsim logs what
// the same change made through Graph logs ("Restore user", "Delete group",
// "Update user", "Add member to group", ...), in those activities' own
// categories, initiated by the caller who created the recovery job.
func (s *Server) recover(j *backupJob, changes []*change, at time.Time) {
	ev := s.newEvent(j.ident, j.userAgent, at)
	objs, links := 0, 0
	var failed []*jsonObject
	for _, action := range []string{actionRestore, actionUpdate, actionSoftDelete} {
		for _, ch := range changes {
			if ch.action != action {
				continue
			}
			view := s.view(j.snap, ch, at) // before applying: the state it was computed on
			n, msg := s.apply(ev, ch, at)
			links += n
			if msg != "" {
				view.set("failureMessage", msg)
				failed = append(failed, view)
				continue
			}
			objs++
		}
	}
	nFailed := len(failed)
	j.objectsModified, j.linksModified, j.failedCount = &objs, &links, &nFailed
	j.failed = failed
}

// updateActivities are the activity names of an update (reference §4.1;
// the Conditional Access name as graphsim logs a state change).
var updateActivities = map[kind]string{
	kindUser: "Update user", kindGroup: "Update group", kindApplication: "Update application",
	kindServicePrincipal: "Update service principal", kindCAPolicy: "Update conditional access policy",
	kindNamedLocation: "Update named location",
}

// apply makes one change. It returns the member links it changed and, when
// the change (or part of it) could not be made, the failure message.
// Unconfirmed: every failureMessage text. The one documented example is
// "Update failed: Service principal is managed by another service."; the
// texts follow its "<Action> failed: <reason>" form.
func (s *Server) apply(ev auditEvent, ch *change, at time.Time) (int, string) {
	prefix := map[string]string{actionRestore: "Restore failed: ", actionUpdate: "Update failed: ", actionSoftDelete: "Soft delete failed: "}[ch.action]
	// On-premises-synced objects are "shown in the diff, excluded from
	// recovery" ([MGD] overview; [ED] scope-supported-objects-limitations.md).
	if (ch.snap != nil && ch.snap.props.boolean("onPremisesSyncEnabled")) || (ch.cur != nil && ch.cur.props.boolean("onPremisesSyncEnabled")) {
		return 0, prefix + "Objects synchronized from on-premises Active Directory are not recovered by Microsoft Entra Backup and Recovery."
	}
	switch ch.action {
	case actionRestore:
		obj := ch.cur
		if obj == nil {
			// "Recovery never creates and never hard-deletes objects"
			// ([ED] backup-difference-report-recovery-model.md).
			return 0, prefix + "The object was permanently deleted and is no longer in the recycle bin; recovery does not create objects."
		}
		upn := ""
		if obj.kind == kindUser {
			upn = ch.snap.props.str("userPrincipalName")
			if other := s.t.liveUser(upn); other != nil {
				return 0, prefix + "Another object with the same value for property userPrincipalName already exists."
			}
		}
		s.t.restore(obj, upn)
		s.emit(ev.restored(obj))
		s.revertProps(obj, ch, at)
		return s.relink(ev, ch, prefix)
	case actionUpdate:
		if len(ch.props) > 0 {
			before := ch.cur.props.clone()
			s.revertProps(ch.cur, ch, at)
			var mods []modifiedProperty
			for _, p := range ch.props {
				old, _ := before.raw(p)
				nw, _ := ch.cur.props.raw(p)
				mods = append(mods, modifiedProperty{DisplayName: p, OldValue: rawText(old), NewValue: rawText(nw)})
			}
			s.emit(pendingRecord{ev: ev, activity: updateActivities[ch.kind], kind: ch.kind, operationType: "Update",
				target: target(ch.cur, ch.cur.props.str("userPrincipalName"), mods)})
		}
		return s.relink(ev, ch, prefix)
	case actionSoftDelete:
		if msg, refused := deleteRefusal(ch.cur); refused {
			return 0, prefix + msg
		}
		before := ch.cur.props.clone()
		s.t.softDelete(ch.cur, at)
		s.emit(ev.deleted(ch.cur, before, false))
	}
	return 0, ""
}

func rawText(v json.RawMessage) *string {
	if len(v) == 0 {
		v = json.RawMessage("null")
	}
	s := string(v)
	return &s
}

// revertProps writes the snapshot's values of the changed properties back;
// a property the snapshot did not have is removed.
func (s *Server) revertProps(obj *object, ch *change, at time.Time) {
	for _, p := range ch.props {
		if v, ok := ch.snap.props.raw(p); ok {
			obj.props.setRaw(p, v)
		} else {
			obj.props.del(p)
		}
	}
	if len(ch.props) > 0 && obj.props.has("modifiedDateTime") {
		obj.props.set("modifiedDateTime", at.UTC().Format(time.RFC3339Nano))
	}
}

// relink reverts a group's static members: only static membership is
// recovered ([ED] troubleshooting; reference §1.7). A member that is no
// longer a live object cannot be linked; the change then fails, with the
// other links made.
// Unconfirmed: the audit records of the links ("Add member to group" and
// "Remove member from group", reference §4.2 example) are logged against
// the group, with the member's id as a modified property.
func (s *Server) relink(ev auditEvent, ch *change, prefix string) (int, string) {
	if ch.links() == 0 {
		return 0, ""
	}
	g := ch.cur
	n := 0
	var missing []string
	for _, m := range ch.add {
		if s.t.live[strings.ToLower(m)] == nil {
			missing = append(missing, m)
			continue
		}
		if !g.hasMember(m) {
			g.members = append(g.members, m)
		}
		n++
		s.emit(pendingRecord{ev: ev, activity: "Add member to group", kind: kindGroup, operationType: "Assign",
			target: target(g, "", []modifiedProperty{{DisplayName: "Member.ObjectID", NewValue: jsonText(m)}})})
	}
	for _, m := range ch.remove {
		kept := g.members[:0:0]
		for _, x := range g.members {
			if !strings.EqualFold(x, m) {
				kept = append(kept, x)
			}
		}
		g.members = kept
		n++
		s.emit(pendingRecord{ev: ev, activity: "Remove member from group", kind: kindGroup, operationType: "Unassign",
			target: target(g, "", []modifiedProperty{{DisplayName: "Member.ObjectID", OldValue: jsonText(m)}})})
	}
	if len(missing) > 0 {
		return n, prefix + fmt.Sprintf("The member %s no longer exists; a static membership link cannot be recovered without its member.", strings.Join(missing, ", "))
	}
	return n, ""
}

// newJob creates a job. The caller holds s.mu and has checked that no
// other job runs.
func (s *Server) newJob(c *call, snap *snapshot, f *recoveryFilter, recovery bool) *backupJob {
	j := &backupJob{
		id: uuid.NewString(), recovery: recovery, snap: snap, filter: f,
		start: c.now, end: c.now.Add(s.backup.jobDur),
		ident: c.ident, userAgent: c.header.Get("User-Agent"),
	}
	if s.faults.FailNextBackupJob {
		j.fail = true
		s.faults.FailNextBackupJob = false
	}
	s.backup.jobs = append(s.backup.jobs, j)
	return j
}

// Snapshot is a backup snapshot as Graph lists it
// (microsoft.graph.entraRecoveryServices.snapshot), for tests and
// /_sim/backup.
type Snapshot struct {
	// ID is the base64 of CreatedDateTime in "2006-01-02T15:04:05Z" form.
	ID string `json:"id"`
	// CreatedDateTime is when the snapshot was taken, in whole seconds.
	CreatedDateTime time.Time `json:"createdDateTime"`
	// TotalChangedObjects counts the objects added, removed or changed
	// since the previous snapshot (every object for the first one).
	TotalChangedObjects int `json:"totalChangedObjects"`
}

// BackupJob describes a preview or recovery job for tests and
// /_sim/backup, with its real status (never unknownFutureValue).
type BackupJob struct {
	// ID is the job's GUID.
	ID string `json:"id"`
	// Type is "recoveryPreviewJob" or "recoveryJob".
	Type string `json:"type"`
	// SnapshotID is the snapshot the job targets.
	SnapshotID string `json:"snapshotId"`
	// Status is the recoveryStatus value at the time of the call.
	Status string `json:"status"`
	// Start is jobStartDateTime; End is when the job is due to finish, or
	// finished.
	Start time.Time `json:"jobStartDateTime"`
	End   time.Time `json:"end"`
	// Completed is jobCompletionDateTime, nil until the job is terminal.
	Completed *time.Time `json:"jobCompletionDateTime,omitempty"`
	// The totals, nil until known.
	TotalChangedObjects *int `json:"totalChangedObjectsCalculated,omitempty"`
	TotalChangedLinks   *int `json:"totalChangedLinksCalculated,omitempty"`
	ObjectsModified     *int `json:"totalObjectsModified,omitempty"`
	LinksModified       *int `json:"totalLinksModified,omitempty"`
	FailedChanges       *int `json:"totalFailedChanges,omitempty"`
	// WillFail is true for a job created while
	// FaultConfig.FailNextBackupJob was set.
	WillFail bool `json:"willFail,omitempty"`
}

// BackupState is the backup part of /_sim/state and GET /_sim/backup.
type BackupState struct {
	// Config is the effective configuration (defaults applied, not scaled).
	Config BackupConfig `json:"config"`
	// Snapshots are the retained snapshots, oldest first.
	Snapshots []Snapshot `json:"snapshots"`
	// NextSnapshot is when the next automatic snapshot is due.
	NextSnapshot time.Time `json:"nextSnapshot"`
	// Jobs are the retained jobs, oldest first.
	Jobs []BackupJob `json:"jobs"`
}

func (sn *snapshot) public() Snapshot {
	return Snapshot{ID: sn.id, CreatedDateTime: sn.at, TotalChangedObjects: sn.totalChanged}
}

func (j *backupJob) public(now time.Time) BackupJob {
	out := BackupJob{ID: j.id, Type: "recoveryPreviewJob", SnapshotID: j.snap.id, Status: j.statusAt(now), Start: j.start, End: j.end,
		TotalChangedObjects: j.objectsCalc, TotalChangedLinks: j.linksCalc, ObjectsModified: j.objectsModified,
		LinksModified: j.linksModified, FailedChanges: j.failedCount, WillFail: j.fail}
	if j.recovery {
		out.Type = "recoveryJob"
	}
	if j.status != "" {
		c := j.completed
		out.Completed = &c
		out.End = c
	}
	return out
}

// backupStateLocked reports snapshots and jobs. The caller holds s.mu.
func (s *Server) backupStateLocked(now time.Time) BackupState {
	st := BackupState{Config: s.backup.cfg, NextSnapshot: s.backup.next, Snapshots: []Snapshot{}, Jobs: []BackupJob{}}
	for _, sn := range s.backup.snapshots {
		st.Snapshots = append(st.Snapshots, sn.public())
	}
	for _, j := range s.backup.jobs {
		st.Jobs = append(st.Jobs, j.public(now))
	}
	return st
}

// TakeSnapshot takes a snapshot now, as POST /_sim/backup/snapshot does:
// Entra takes them on its own schedule and offers no way to ask for one
// (reference §1.3), but a test or demo needs one at a chosen moment.
func (s *Server) TakeSnapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.advanceBackup(now)
	return s.takeSnapshot(now).public()
}

// Backups reports the retained snapshots and jobs, after bringing them up
// to the clock's time.
func (s *Server) Backups() BackupState {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.advanceBackup(now)
	return s.backupStateLocked(now)
}

// FinishBackupJobs brings every job that is not yet terminal to its end
// now, so that a test or demo need not wait out JobDuration: the job's
// changes are computed (and a recovery job's applied) at this moment, as
// they would be at its natural end. It returns every retained job.
func (s *Server) FinishBackupJobs() []BackupJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.advanceBackup(now)
	for _, j := range s.backup.jobs {
		if j.status == "" {
			j.end = now
		}
	}
	s.advanceBackup(now)
	return s.backupStateLocked(now).Jobs
}
