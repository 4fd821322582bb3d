package oncall

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"unicode"

	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/store"
)

// Journal kinds the API writes. Every write is journaled when asked for
// (".requested") and when answered (the outcome), with the caller as Actor.
const (
	KindRestoreRequested store.Kind = "oncall.restore.requested"
	KindRestoreQueued    store.Kind = "oncall.restore.queued"
	KindRestoreRefused   store.Kind = "oncall.restore.refused"
	KindSilenceRequested store.Kind = "oncall.silence.requested"
	KindSilenceAdded     store.Kind = "silence.added"
	KindSilenceEnded     store.Kind = "silence.ended"
	KindBreakerRequested store.Kind = "oncall.breaker.requested"
	KindBreakerReset     store.Kind = "breaker.reset"
	KindRefused          store.Kind = "oncall.refused"
)

// IdempotencyKeyHeader makes POST /restores idempotent (IETF
// draft-ietf-httpapi-idempotency-key-header).
const IdempotencyKeyHeader = "Idempotency-Key"

// intentKey is the intent key of a restore asked for with an idempotency
// key: the caller's, so that two callers' keys never collide, hashed, so
// that any printable key fits the store's key limits.
func intentKey(caller apiauth.Caller, idempotencyKey string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(caller.ObjectID) + "\n" + idempotencyKey))
	return "restore:oncall:" + hex.EncodeToString(sum[:16])
}

// validIdempotencyKey: 1 to 255 visible ASCII characters.
func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for _, c := range k {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// restoreRequest is a validated RestoreRequest.
type restoreRequest struct {
	objectID   string
	objectType audit.TargetType // empty: the bin says
	reason     string
	options    recovery.Options
}

func parseRestore(r *http.Request) (restoreRequest, error) {
	var body RestoreRequest
	if err := decodeStrict(r, &body); err != nil {
		return restoreRequest{}, err
	}
	req := restoreRequest{objectID: strings.ToLower(body.ObjectID)}
	if !audit.ValidObjectID(body.ObjectID) {
		return req, badField("objectId", "must be an object id (a GUID)")
	}
	if body.ObjectType != "" {
		t := audit.TargetType(body.ObjectType)
		if !slices.Contains(recovery.BinTypes, t) {
			return req, badField("objectType", "must be one of %s", joinTypes(recovery.BinTypes))
		}
		req.objectType = t
	}
	reason, err := validReason(body.Reason)
	if err != nil {
		return req, err
	}
	req.reason = reason
	if o := body.Options; o != nil {
		req.options.AutoReconcileProxyConflict = o.AutoReconcileProxyConflict
		if o.NewUserPrincipalName != "" {
			if req.objectType != "" && req.objectType != audit.TargetUser {
				return req, badField("options.newUserPrincipalName", "applies to users only")
			}
			if _, err := mail.ParseAddress(o.NewUserPrincipalName); err != nil || strings.ContainsAny(o.NewUserPrincipalName, " <>\"") || len(o.NewUserPrincipalName) > 113 {
				return req, badField("options.newUserPrincipalName", "must be a user principal name, such as alice@contoso.com")
			}
			req.options.NewUserPrincipalName = o.NewUserPrincipalName
		}
		switch o.CAPolicyStateAfterRestore {
		case "", "asDeleted":
		case recovery.CAStateReportOnly:
			if req.objectType != "" && req.objectType != audit.TargetConditionalAccessPolicy {
				return req, badField("options.caPolicyStateAfterRestore", "applies to Conditional Access policies only")
			}
			req.options.CAPolicyStateAfterRestore = recovery.CAStateReportOnly
		default:
			return req, badField("options.caPolicyStateAfterRestore", "must be reportOnly or asDeleted")
		}
	}
	return req, nil
}

func validReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return "", badField("reason", "is required: say why, for the journal and the people told")
	case len(reason) > MaxReason:
		return "", badField("reason", "longer than %d bytes", MaxReason)
	case strings.ContainsFunc(reason, unicode.IsControl):
		return "", badField("reason", "must be one line of text")
	}
	return reason, nil
}

func joinTypes(types []audit.TargetType) string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// createRestore is POST /restores: check, journal, verify against Graph,
// apply the guards, record the intent, journal, answer 202.
func (s *Server) createRestore(w http.ResponseWriter, r *http.Request, caller apiauth.Caller) {
	ctx := r.Context()
	req, err := parseRestore(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	key := ""
	if raw, ok := r.Header[http.CanonicalHeaderKey(IdempotencyKeyHeader)]; ok {
		if len(raw) != 1 || !validIdempotencyKey(raw[0]) {
			s.fail(w, r, badField(IdempotencyKeyHeader, "must be 1 to 255 visible ASCII characters"))
			return
		}
		key = intentKey(caller, raw[0])
		// A repeat answers what the first request got, without another
		// look at Graph: the request was judged once.
		if existing, err := s.opts.Store.IntentByKey(ctx, key); err == nil {
			s.answerRepeat(w, r, existing, req)
			return
		} else if !errors.Is(err, store.ErrNotFound) {
			s.fail(w, r, err)
			return
		}
	}

	source := "api " + caller.ObjectID
	entry := store.Entry{Kind: KindRestoreRequested, TargetID: req.objectID, TargetType: string(req.objectType), Actor: caller.Actor(),
		Action: recovery.IntentKind, Source: source, Detail: req.reason}
	if _, err := s.opts.Store.Append(ctx, entry); err != nil {
		s.fail(w, r, fmt.Errorf("journal the request: %w", err))
		return
	}
	refuse := func(status int, detail, field string) {
		entry.Kind, entry.Outcome, entry.Detail = KindRestoreRefused, http.StatusText(status), detail
		if _, err := s.opts.Store.Append(ctx, entry); err != nil {
			s.fail(w, r, fmt.Errorf("journal the refusal: %w", err))
			return
		}
		s.problem(w, r, status, detail, field)
	}

	// Graph, not the caller, says what the object is and that it is in
	// the bin.
	item, err := s.opts.Bin.FindDeleted(ctx, req.objectID)
	switch {
	case errors.Is(err, recovery.ErrNotInBin):
		refuse(http.StatusNotFound, "the object is not in the recycle bin: it may be live, hard-deleted, purged after 30 days, or of a type Reinstate does not restore", "objectId")
		return
	case err != nil:
		s.log.ErrorContext(ctx, "on-call API: could not read the recycle bin", "object", req.objectID, "error", err.Error())
		refuse(http.StatusBadGateway, "Microsoft Graph could not be read; try again", "")
		return
	case req.objectType != "" && item.ObjectType != req.objectType:
		refuse(http.StatusUnprocessableEntity, fmt.Sprintf("the recycle bin holds this object as a %s, not a %s", item.ObjectType, req.objectType), "objectType")
		return
	}
	entry.TargetType, entry.TargetName = string(item.ObjectType), item.Name
	if err := optionsFit(req.options, item.ObjectType); err != nil {
		refuse(http.StatusUnprocessableEntity, err.(*fieldError).msg, err.(*fieldError).field)
		return
	}

	prior, err := s.priorDecision(ctx, req.objectID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	check, err := s.opts.Guards.OnCall(ctx, req.objectID, prior, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if check.Refused != "" {
		refuse(http.StatusConflict, "guard "+check.Refused+": "+check.Reason, "")
		return
	}

	plan := recovery.Plan{
		Request: recovery.Request{ObjectID: req.objectID, ObjectType: item.ObjectType, Options: req.options},
		Name:    item.Name,
		Reason:  "on-call: " + req.reason,
		Actor:   caller.Actor(),
	}
	if v := s.evaluate(item); len(v.Notify) > 0 {
		plan.Tell = &recovery.Tell{Channels: v.Notify, Severity: v.Severity, Rule: v.Rule, Activity: "on-call restore",
			Initiator: callerInitiator(caller),
			Time:      s.now().UTC(), TenantID: s.opts.TenantID}
	}
	payload, err := json.Marshal(onCallPlan{Plan: plan, Overridden: check.Overridden})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if key == "" {
		key = "restore:oncall:" + store.NewID(s.now())
	}
	intent, created, err := s.opts.Store.Enqueue(ctx, store.Intent{Key: key, Kind: recovery.IntentKind, Payload: payload}, s.now())
	if err != nil {
		s.fail(w, r, fmt.Errorf("record the restore intent: %w", err))
		return
	}
	if !created {
		// Another request with the same key won the race.
		s.answerRepeat(w, r, intent, req)
		return
	}
	if err := s.opts.Guards.StartCooldown(ctx, req.objectID, "oncall:"+intent.ID, s.now()); err != nil {
		s.log.WarnContext(ctx, "on-call API: could not start the cooldown", "object", req.objectID, "error", err.Error())
	}
	entry.Kind, entry.Outcome = KindRestoreQueued, "intent "+intent.ID
	entry.Detail = joinNonEmpty("; ", req.reason, overrideNote(check.Overridden))
	if _, err := s.opts.Store.Append(ctx, entry); err != nil {
		s.fail(w, r, fmt.Errorf("journal the restore intent: %w", err))
		return
	}
	if s.opts.Wake != nil {
		s.opts.Wake()
	}
	status := s.status(ctx, intent)
	w.Header().Set("Location", status.StatusURL)
	writeJSON(w, http.StatusAccepted, status)
}

// onCallPlan is a restore plan with what on-call's request overrode; the
// worker reads it as a recovery.Plan and ignores the rest.
type onCallPlan struct {
	recovery.Plan
	Overridden []string `json:"overridden,omitempty"`
}

// callerInitiator is the caller as the initiator of the restore, for the
// message that tells of it.
func callerInitiator(caller apiauth.Caller) audit.Initiator {
	if caller.App {
		return audit.Initiator{Type: audit.InitiatorApp, ServicePrincipalID: caller.ObjectID, AppID: caller.AppID}
	}
	return audit.Initiator{Type: audit.InitiatorUser, ID: caller.ObjectID, UserPrincipalName: caller.Name}
}

func overrideNote(overridden []string) string {
	if len(overridden) == 0 {
		return ""
	}
	return "overrides " + strings.Join(overridden, "; ")
}

// optionsFit refuses options that do not apply to the object's type as
// the bin gave it (the request may not have said).
func optionsFit(o recovery.Options, t audit.TargetType) error {
	switch {
	case o.NewUserPrincipalName != "" && t != audit.TargetUser:
		return &fieldError{status: http.StatusUnprocessableEntity, field: "options.newUserPrincipalName", msg: "applies to users only; the object is a " + string(t)}
	case o.CAPolicyStateAfterRestore != "" && t != audit.TargetConditionalAccessPolicy:
		return &fieldError{status: http.StatusUnprocessableEntity, field: "options.caPolicyStateAfterRestore", msg: "applies to Conditional Access policies only; the object is a " + string(t)}
	}
	return nil
}

// answerRepeat answers a request whose idempotency key was used before:
// the first answer again when the request is the same, 422 when it is not
// (draft-ietf-httpapi-idempotency-key-header §2.7).
func (s *Server) answerRepeat(w http.ResponseWriter, r *http.Request, intent store.Intent, req restoreRequest) {
	var plan onCallPlan
	if err := json.Unmarshal(intent.Payload, &plan); err != nil || intent.Kind != recovery.IntentKind {
		s.fail(w, r, fmt.Errorf("intent %s behind an idempotency key is not a restore plan", intent.ID))
		return
	}
	same := plan.Request.ObjectID == req.objectID && plan.Reason == "on-call: "+req.reason &&
		(req.objectType == "" || req.objectType == plan.Request.ObjectType) && plan.Request.Options == req.options
	if !same {
		s.problem(w, r, http.StatusUnprocessableEntity, "this Idempotency-Key was used for a different request", IdempotencyKeyHeader)
		return
	}
	status := s.status(r.Context(), intent)
	w.Header().Set("Location", status.StatusURL)
	writeJSON(w, http.StatusAccepted, status)
}

// priorDecision is what the journal knows of the latest decision about
// objectID, or nil.
func (s *Server) priorDecision(ctx context.Context, objectID string) (*guard.Prior, error) {
	entry, err := s.lastDecision(ctx, objectID)
	if err != nil || entry == nil {
		return nil, err
	}
	prior := &guard.Prior{Rule: entry.Rule, Initiator: entry.Actor, Reason: entry.Detail}
	if entry.Kind == pipeline.KindGuard {
		prior.Guard, _, _ = strings.Cut(entry.Outcome, ":")
	}
	return prior, nil
}

// decisionLookback is how many journal entries about an object are read to
// find its latest decision; restores, notifications and requests come
// between.
const decisionLookback = 200

func (s *Server) lastDecision(ctx context.Context, objectID string) (*store.Entry, error) {
	entries, err := s.opts.Store.Journal(ctx, store.JournalQuery{TargetID: objectID, Limit: decisionLookback})
	if err != nil {
		return nil, fmt.Errorf("read the journal of %s: %w", objectID, err)
	}
	for i := range entries {
		if entries[i].Kind == pipeline.KindDecision || entries[i].Kind == pipeline.KindGuard {
			return &entries[i], nil
		}
	}
	return nil, nil
}

// restoreStatus is GET /restores/{id}.
func (s *Server) restoreStatus(w http.ResponseWriter, r *http.Request, _ apiauth.Caller) {
	id := r.PathValue("id")
	if !validID(id) {
		s.problem(w, r, http.StatusNotFound, "", "")
		return
	}
	intent, err := s.opts.Store.Intent(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.problem(w, r, http.StatusNotFound, "", "")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	case intent.Kind != recovery.IntentKind:
		s.problem(w, r, http.StatusNotFound, "", "")
		return
	}
	writeJSON(w, http.StatusOK, s.status(r.Context(), intent))
}

// validID accepts store ids: short, and made of letters, digits and
// dashes only.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	return !strings.ContainsFunc(id, func(c rune) bool {
		return (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '-' && c != '_'
	})
}

// status is a restore intent as the API shows it, with the executor's
// outcome from the worker's journal entry once there is one.
func (s *Server) status(ctx context.Context, intent store.Intent) RestoreStatus {
	var plan onCallPlan
	_ = json.Unmarshal(intent.Payload, &plan)
	st := RestoreStatus{
		ID: intent.ID, ObjectID: plan.Request.ObjectID, ObjectType: string(plan.Request.ObjectType), Name: plan.Name,
		Reason: plan.Reason, Actor: plan.Actor, EventID: plan.EventID, Attempts: intent.Attempts,
		CreatedAt: intent.CreatedAt, UpdatedAt: intent.UpdatedAt, LastError: intent.LastError,
		Overridden: plan.Overridden, StatusURL: BasePath + "/restores/" + intent.ID,
	}
	switch intent.State {
	case store.IntentPending:
		st.State = "queued"
		if intent.Attempts > 0 {
			st.State = "retrying"
		}
	case store.IntentLeased:
		st.State = "running"
	default:
		st.State = string(intent.State)
		if out := s.outcome(ctx, intent, plan.Request.ObjectID); out != nil {
			st.Outcome, st.Verified, st.State = out, out.Verified, string(out.Status)
		}
	}
	return st
}

// outcome finds the worker's final journal entry for intent and decodes
// the executor's outcome it carries.
func (s *Server) outcome(ctx context.Context, intent store.Intent, objectID string) *recovery.Outcome {
	entries, err := s.opts.Store.Journal(ctx, store.JournalQuery{TargetID: objectID, Since: intent.CreatedAt, Limit: decisionLookback})
	if err != nil {
		s.log.WarnContext(ctx, "on-call API: could not read a restore's outcome", "intent", intent.ID, "error", err.Error())
		return nil
	}
	for _, e := range entries {
		if e.Source != "intent "+intent.ID || (e.Kind != recovery.KindRestoreDone && e.Kind != recovery.KindRestoreFailed) {
			continue
		}
		var out recovery.Outcome
		if json.Unmarshal([]byte(e.Detail), &out) == nil && out.Status != "" {
			return &out
		}
		return &recovery.Outcome{ObjectID: objectID, Status: recovery.StatusFailed, Detail: e.Detail}
	}
	return nil
}

func joinNonEmpty(sep string, parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}
