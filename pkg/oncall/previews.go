package oncall

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/backup"
	"github.com/reinstate/reinstate/pkg/store"
)

// Previews is what the API needs of Backup & Recovery cases;
// *backup.Orchestrator is the real one. Start and Approve act in Graph as
// the person whose token they are given, because Microsoft offers job
// creation to delegated callers only.
type Previews interface {
	Cases(ctx context.Context) ([]backup.Case, error)
	Case(ctx context.Context, id string) (backup.Case, error)
	Start(ctx context.Context, id, token, actor string) (backup.Case, error)
	Approve(ctx context.Context, id, token, actor string) (backup.Case, error)
}

// Journal kinds of the preview routes, written before and after the call
// into Graph like every other write; a refusal is KindRefused.
const (
	KindPreviewStartRequested    store.Kind = "oncall.preview.start.requested"
	KindPreviewStarted           store.Kind = "oncall.preview.started"
	KindRecoveryApproveRequested store.Kind = "oncall.recovery.approve.requested"
	KindRecoveryApproved         store.Kind = "oncall.recovery.approved"
)

// busyRetryAfter is the Retry-After, in seconds, of a 503 answered while
// another instance holds the Backup & Recovery lock: it holds it for one
// tick or one request, seconds at most.
const busyRetryAfter = "5"

// caseStates are the states a case can be in, for ?state=: a misspelt
// filter must be refused, not answer an empty list that looks like "no
// cases".
var caseStates = []backup.CaseState{
	backup.CaseRequested, backup.CaseNeedsStart, backup.CasePreviewing, backup.CaseReady,
	backup.CaseRecovering, backup.CaseRecovered, backup.CaseFailed, backup.CaseExpired,
}

// previewsReady answers 503 when no Previews is configured (a deployment
// without Backup & Recovery) and reports whether the handler may go on.
func (s *Server) previewsReady(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.Previews != nil {
		return true
	}
	s.log.WarnContext(r.Context(), "on-call API: Backup & Recovery previews are not configured", "method", r.Method, "path", r.URL.Path)
	s.problem(w, r, http.StatusServiceUnavailable, "", "")
	return false
}

// listPreviews is GET /previews[?state=…]: the cases, newest first.
func (s *Server) listPreviews(w http.ResponseWriter, r *http.Request, _ apiauth.Caller) {
	if !s.previewsReady(w, r) {
		return
	}
	q, err := query(r, "state")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	state := backup.CaseState(q.Get("state"))
	if q.Has("state") && !slices.Contains(caseStates, state) {
		names := make([]string, len(caseStates))
		for i, st := range caseStates {
			names[i] = string(st)
		}
		s.fail(w, r, badField("state", "must be one of %s", strings.Join(names, ", ")))
		return
	}
	cases, err := s.opts.Previews.Cases(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list := PreviewList{Previews: make([]backup.Case, 0, len(cases))}
	for _, c := range cases {
		if state == "" || c.State == state {
			list.Previews = append(list.Previews, c)
		}
	}
	// Sorted here rather than trusting the orchestrator's order: the newest
	// case is the one on-call is paged about.
	slices.SortStableFunc(list.Previews, func(a, b backup.Case) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
	})
	writeJSON(w, http.StatusOK, list)
}

// getPreview is GET /previews/{id}.
func (s *Server) getPreview(w http.ResponseWriter, r *http.Request, _ apiauth.Caller) {
	if !s.previewsReady(w, r) {
		return
	}
	id := r.PathValue("id")
	if !validID(id) {
		s.problem(w, r, http.StatusNotFound, "", "")
		return
	}
	c, err := s.opts.Previews.Case(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.problem(w, r, http.StatusNotFound, "", "")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// previewAction is one of the two writes on a case: what it is called in
// the journal and the log, and the Previews call that does it.
type previewAction struct {
	requested, done store.Kind
	// verb names the write in logs; allowed says, for a 409, which states
	// it accepts.
	verb, allowed string
	call          func(p Previews, ctx context.Context, id, token, actor string) (backup.Case, error)
}

var (
	startAction = previewAction{
		requested: KindPreviewStartRequested, done: KindPreviewStarted,
		verb: "start the preview", allowed: "only a requested or needs-start case can be started",
		call: Previews.Start,
	}
	approveAction = previewAction{
		requested: KindRecoveryApproveRequested, done: KindRecoveryApproved,
		verb: "approve the recovery", allowed: "only a ready case can be approved",
		call: Previews.Approve,
	}
)

// startPreview is POST /previews/{id}/start.
func (s *Server) startPreview(w http.ResponseWriter, r *http.Request, caller apiauth.Caller) {
	s.actOnPreview(w, r, caller, startAction)
}

// approveRecovery is POST /previews/{id}/approve.
func (s *Server) approveRecovery(w http.ResponseWriter, r *http.Request, caller apiauth.Caller) {
	s.actOnPreview(w, r, caller, approveAction)
}

// actOnPreview checks the request, journals it, has Previews act in Graph
// as the caller (on-behalf-of their token, which goes nowhere else),
// journals the outcome and answers 202 with the case.
func (s *Server) actOnPreview(w http.ResponseWriter, r *http.Request, caller apiauth.Caller, a previewAction) {
	if !s.previewsReady(w, r) {
		return
	}
	id := r.PathValue("id")
	if !validID(id) {
		s.problem(w, r, http.StatusNotFound, "", "")
		return
	}
	var body PreviewActionRequest
	if err := decodeStrict(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	reason, err := validReason(body.Reason)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if caller.App {
		// Jobs are created as a signed-in person (delegated-only, reference
		// §1.8): an app's token can never be exchanged for one, so asking
		// Graph would only fail.
		s.problem(w, r, http.StatusForbidden, "Backup & Recovery jobs are created as a signed-in person; an app-only token cannot start or approve them", "")
		return
	}
	// Once journaled as asked for, the write is carried to an outcome and
	// journaled again even if the caller hangs up: a job Graph created must
	// not go unrecorded.
	ctx := context.WithoutCancel(r.Context())
	entry := store.Entry{Kind: a.requested, Actor: caller.Actor(), Action: "preview", Source: "api " + caller.ObjectID,
		Detail: "case " + id + ": " + reason}
	if !s.journal1(w, r, entry) {
		return
	}
	refuse := func(status int, detail string) {
		entry.Kind, entry.Outcome = KindRefused, http.StatusText(status)
		entry.Detail = joinNonEmpty("; ", "case "+id+": "+reason, detail)
		if _, err := s.opts.Store.Append(ctx, entry); err != nil {
			s.fail(w, r, fmt.Errorf("journal the refusal: %w", err))
			return
		}
		s.problem(w, r, status, detail, "")
	}

	c, err := a.call(s.opts.Previews, ctx, id, caller.Token(), caller.Actor())
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		refuse(http.StatusNotFound, "")
		return
	case errors.Is(err, backup.ErrNotAllowed):
		refuse(http.StatusConflict, s.caseStateDetail(ctx, id, a.allowed))
		return
	case errors.Is(err, backup.ErrBusy):
		w.Header().Set("Retry-After", busyRetryAfter)
		refuse(http.StatusServiceUnavailable, "")
		return
	case errors.Is(err, backup.ErrNoApprover):
		s.log.ErrorContext(ctx, "on-call API: starting and approving previews needs REINSTATE_API_CLIENT_ID", "case", id)
		refuse(http.StatusServiceUnavailable, "")
		return
	case errors.Is(err, backup.ErrJobRunning):
		refuse(http.StatusConflict, "another Backup & Recovery job runs in the tenant")
		return
	case errors.Is(err, backup.ErrForbidden):
		// Graph's refusal of the caller, not Reinstate's authorization: the
		// caller passed that, and needs to know what Graph wants instead.
		refuse(http.StatusForbidden, "Microsoft Graph refused the caller: acting in Backup & Recovery needs the Entra Backup Administrator role and consent to EntraBackup.ReadWrite.Preview (and .Recovery to approve) for Reinstate's API")
		return
	default:
		s.log.ErrorContext(ctx, "on-call API: could not "+a.verb, "case", id, "caller", caller, "error", err.Error())
		refuse(http.StatusBadGateway, "Microsoft Graph could not be reached or refused the request; try again")
		return
	}
	entry.Kind, entry.Outcome = a.done, string(c.State)
	if !s.journal1(w, r.WithContext(ctx), entry) {
		return
	}
	w.Header().Set("Location", BasePath+"/previews/"+c.ID)
	writeJSON(w, http.StatusAccepted, c)
}

// caseStateDetail says which state case id is in, for a 409: the state is
// what the caller needs to know, and the refused call does not return it.
func (s *Server) caseStateDetail(ctx context.Context, id, allowed string) string {
	c, err := s.opts.Previews.Case(ctx, id)
	if err != nil {
		s.log.WarnContext(ctx, "on-call API: could not read a case's state", "case", id, "error", err.Error())
		return "the case's state does not allow this: " + allowed
	}
	return fmt.Sprintf("the case is %s: %s", c.State, allowed)
}
