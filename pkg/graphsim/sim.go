package graphsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
)

// State is a snapshot of the simulated tenant, served by GET /_sim/state.
type State struct {
	TenantID string `json:"tenantId"`
	// Now is the simulated time (Options.Clock).
	Now time.Time `json:"now"`
	// Live holds the live objects by seed collection key.
	Live map[string][]json.RawMessage `json:"live"`
	// DeletedItems holds both recycle bins; each object carries @odata.type.
	DeletedItems struct {
		Directory         []json.RawMessage `json:"directory"`
		ConditionalAccess []json.RawMessage `json:"conditionalAccess"`
	} `json:"deletedItems"`
	// AuditRecords counts the directoryAudit records written so far.
	AuditRecords int `json:"auditRecords"`
	// Throttle, Faults, Requests and Forward report the limiter, the fault
	// injector, request counts and audit forwarding (nil when off).
	Throttle ThrottleState `json:"throttle"`
	Faults   FaultConfig   `json:"faults"`
	Requests RequestStats  `json:"requests"`
	Forward  *ForwardState `json:"forward,omitempty"`
	// Members holds each group's static members (live or deleted groups),
	// by group id; Graph shows them only as a relationship.
	Members map[string][]string `json:"members"`
	// Backup holds Entra Backup and Recovery's snapshots and jobs.
	Backup BackupState `json:"backup"`
}

// State returns a snapshot of the tenant, the audit log size, throttling
// counters, faults and request counts.
func (s *Server) State() State {
	fwd := s.forwardState() // takes s.mu itself; must not be nested in it
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.advanceBackup(now)
	st := State{TenantID: s.t.id, Now: now, Live: map[string][]json.RawMessage{}, AuditRecords: len(s.audits),
		Throttle: s.throttle.state(now), Faults: s.faultState(), Forward: fwd,
		Members: map[string][]string{}, Backup: s.backupStateLocked(now)}
	for _, m := range []map[string]*object{s.t.live, s.t.dirBin} {
		for _, g := range m {
			if g.kind == kindGroup && len(g.members) > 0 {
				st.Members[g.id] = append([]string{}, g.members...)
			}
		}
	}
	st.Requests = RequestStats{Total: s.stats.Total, Graph: s.stats.Graph, Resets: s.stats.Resets, ByStatus: map[string]int{}, Faults: map[string]int{}}
	for k, v := range s.stats.ByStatus {
		st.Requests.ByStatus[k] = v
	}
	for k, v := range s.stats.Faults {
		st.Requests.Faults[k] = v
	}
	for k := range numKinds {
		list := []json.RawMessage{}
		for _, o := range sorted(s.t.live, k, false) {
			list = append(list, mustJSON(o.props))
		}
		st.Live[k.info().seedKey] = list
	}
	typed := func(o *object) json.RawMessage {
		return mustJSON(o.props.withFirst("@odata.type", o.kind.info().odataTypeOf(o)))
	}
	st.DeletedItems.Directory = []json.RawMessage{}
	for _, o := range sorted(s.t.dirBin, 0, true) {
		st.DeletedItems.Directory = append(st.DeletedItems.Directory, typed(o))
	}
	st.DeletedItems.ConditionalAccess = []json.RawMessage{}
	for _, o := range sorted(s.t.caBin, 0, true) {
		st.DeletedItems.ConditionalAccess = append(st.DeletedItems.ConditionalAccess, typed(o))
	}
	return st
}

// SetFaults replaces the fault configuration, as POST /_sim/faults does.
func (s *Server) SetFaults(f FaultConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applyFaults(f, s.now())
}

// serveSim answers the control plane. It needs no token: it is the test
// harness's, and the command listens on loopback only.
//
//	GET  /_sim/state                 tenant snapshot (State)
//	GET  /_sim/audits                every audit record, Graph shape, oldest first
//	GET  /_sim/faults                current FaultConfig
//	POST /_sim/faults                replace the FaultConfig (JSON body)
//	GET  /_sim/permissions           the permission table
//	POST /_sim/flush                 deliver pending audit records now
//	POST /_sim/external-delete/{id}  delete an object as a source outside Graph would
//	GET  /_sim/backup                Entra Backup and Recovery: snapshots and jobs (BackupState)
//	POST /_sim/backup/snapshot       take a snapshot now; answers it (Snapshot)
//	POST /_sim/backup/finish-jobs    bring every running job to its end now; answers the jobs
//	...  /_sim/objects/...           change the tenant outside Graph (see serveObjects)
func (s *Server) serveSim(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/_sim/"), "/")
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	bad := func(status int, format string, args ...any) {
		reply(status, map[string]string{"error": fmt.Sprintf(format, args...)})
	}
	method := func(m string) bool {
		if r.Method != m {
			w.Header().Set("Allow", m)
			bad(405, "use %s", m)
			return false
		}
		return true
	}
	switch {
	case path == "state":
		if method(http.MethodGet) {
			reply(200, s.State())
		}
	case path == "audits":
		if method(http.MethodGet) {
			recs := s.AuditRecords()
			reply(200, map[string]any{"count": len(recs), "value": recs})
		}
	case path == "permissions":
		if method(http.MethodGet) {
			reply(200, PermissionTable())
		}
	case path == "faults":
		switch r.Method {
		case http.MethodGet:
			s.mu.Lock()
			f := s.faultState()
			s.mu.Unlock()
			reply(200, f)
		case http.MethodPost:
			var f FaultConfig
			if err := decodeJSONStrict(readAllLimited(r), &f); err != nil {
				bad(400, "faults: %v", err)
				return
			}
			if err := s.SetFaults(f); err != nil {
				bad(400, "faults: %v", err)
				return
			}
			s.mu.Lock()
			f = s.faultState()
			s.mu.Unlock()
			reply(200, f)
		default:
			w.Header().Set("Allow", "GET, POST")
			bad(405, "use GET or POST")
		}
	case path == "flush":
		if method(http.MethodPost) {
			if err := s.Flush(r.Context()); err != nil {
				bad(502, "%v", err)
				return
			}
			reply(200, s.forwardState())
		}
	case path == "backup":
		if method(http.MethodGet) {
			reply(200, s.Backups())
		}
	case path == "backup/snapshot":
		if method(http.MethodPost) {
			reply(200, s.TakeSnapshot())
		}
	case path == "backup/finish-jobs":
		if method(http.MethodPost) {
			reply(200, map[string]any{"jobs": s.FinishBackupJobs()})
		}
	case strings.HasPrefix(path, "objects/"):
		segs, err := splitPath(strings.TrimPrefix(r.URL.EscapedPath(), "/_sim/objects/"))
		if err != nil {
			bad(400, "%v", err)
			return
		}
		s.serveObjects(w, r, segs, reply)
	case strings.HasPrefix(path, "external-delete/"):
		if method(http.MethodPost) {
			status, v := s.externalDelete(strings.TrimPrefix(path, "external-delete/"))
			reply(status, v)
		}
	default:
		bad(404, "unknown control endpoint /_sim/%s", path)
	}
}

func readAllLimited(r *http.Request) []byte {
	if r.Body == nil {
		return nil
	}
	b := make([]byte, 0, 512)
	buf := make([]byte, 4096)
	for len(b) < 1<<20 {
		n, err := r.Body.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return b
}

// Out-of-band initiators. Unconfirmed: the exact identities Entra logs for
// directory synchronization (an account named Sync_<server>_<hex>) and for
// Exchange Online (its first-party app id is well known).
var (
	syncInitiator = initiatedBy{User: &userIdentity{ID: "5c1ae0a3-7a1f-4e5b-9c2d-000000000001", UserPrincipalName: "Sync_GRAPHSIM_1a2b3c4d5e6f@contoso.onmicrosoft.com", IPAddress: "127.0.0.1"}}
	exoInitiator  = initiatedBy{App: &appIdentity{AppID: "00000002-0000-0ff1-ce00-000000000000", DisplayName: "Office 365 Exchange Online", ServicePrincipalID: "5c1ae0a3-7a1f-4e5b-9c2d-000000000002", ServicePrincipalName: "Office 365 Exchange Online"}}
)

// externalDelete deletes an object the way a source outside Graph does,
// for the objects Graph itself refuses to delete (see deleteRefusal):
//   - synchronized from on-premises AD (onPremisesSyncEnabled): as directory
//     synchronization exports a deletion. A synced user goes to the recycle
//     bin ("on-premises-synced deletions appear as soft deletes", reference
//     Part B, 2024 deletion blog); a synced group is gone at once (reference
//     §2.2: synced groups are excluded from group soft delete).
//   - a mail-enabled security group or distribution group: as Exchange
//     Online deletes it, permanently (reference §2.2).
//
// The audit record is a plain "Delete user"/"Delete group" by the synthetic
// sync account or Exchange Online.
func (s *Server) externalDelete(id string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	obj := s.t.live[strings.ToLower(id)]
	if obj == nil {
		return 404, map[string]string{"error": fmt.Sprintf("no live object with id %q", id)}
	}
	synced := obj.props.boolean("onPremisesSyncEnabled")
	mailGroup := obj.kind == kindGroup && !isUnified(obj) && obj.props.boolean("mailEnabled")
	if !synced && !mailGroup {
		return 400, map[string]string{"error": "this object is deleted through Graph (DELETE); external-delete is for synced objects and mail-enabled or distribution groups"}
	}
	if obj.kind != kindUser && obj.kind != kindGroup {
		return 400, map[string]string{"error": "external-delete simulates users and groups only"}
	}
	ev := auditEvent{at: s.now(), corr: uuid.NewString(), initiator: exoInitiator}
	if synced {
		ev.initiator = syncInitiator
	}
	before := obj.props.clone()
	if obj.kind == kindUser {
		s.t.softDelete(obj, ev.at)
		s.emit(ev.deleted(obj, before, false))
		return 200, map[string]any{"id": obj.id, "deleted": "soft"}
	}
	delete(s.t.live, strings.ToLower(obj.id))
	s.t.dropLinks(obj.id)
	s.emit(ev.deleted(obj, before, true))
	return 200, map[string]any{"id": obj.id, "deleted": "hard"}
}
