package oncall

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/store"
)

// maxListedSilences bounds GET /silences.
const maxListedSilences = 500

// listSilences is GET /silences[?all=true]: active ones, or all kept.
func (s *Server) listSilences(w http.ResponseWriter, r *http.Request, _ apiauth.Caller) {
	params, err := query(r, "all")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := store.SilenceQuery{Limit: maxListedSilences}
	switch params.Get("all") {
	case "", "false":
		q.ActiveAt = s.now()
	case "true":
	default:
		s.fail(w, r, badField("all", "must be true or false"))
		return
	}
	silences, err := s.opts.Store.Silences(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if silences == nil {
		silences = []store.Silence{}
	}
	writeJSON(w, http.StatusOK, SilenceList{Silences: silences})
}

// createSilence is POST /silences. A silence must end, within MaxSilence.
func (s *Server) createSilence(w http.ResponseWriter, r *http.Request, caller apiauth.Caller) {
	var body SilenceRequest
	if err := decodeStrict(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.now()
	silence, err := s.parseSilence(body, now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	silence.CreatedBy = caller.Actor()
	requested := store.Entry{Kind: KindSilenceRequested, Actor: caller.Actor(), Rule: silence.Rule, TargetID: silence.ObjectID,
		Source: "api " + caller.ObjectID, Detail: guard.DescribeSilence(silence)}
	if !s.journal1(w, r, requested) {
		return
	}
	saved, err := s.opts.Store.PutSilence(r.Context(), silence, now)
	if errors.Is(err, store.ErrInvalid) {
		requested.Kind, requested.Outcome = KindRefused, "refused: "+err.Error()
		s.journal1(w, r, requested)
		s.problem(w, r, http.StatusUnprocessableEntity, "the store refused the silence", "")
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	added := requested
	added.Kind, added.Outcome, added.Detail = KindSilenceAdded, "done", guard.DescribeSilence(saved)
	if !s.journal1(w, r, added) {
		return
	}
	writeJSON(w, http.StatusCreated, saved)
}

func (s *Server) parseSilence(body SilenceRequest, now time.Time) (store.Silence, error) {
	sil := store.Silence{Rule: strings.TrimSpace(body.Rule), Initiator: strings.TrimSpace(body.Initiator), ObjectID: strings.ToLower(body.ObjectID), StartsAt: now}
	if sil.Rule == "" && sil.Initiator == "" && sil.ObjectID == "" {
		return sil, badField("rule", "a silence must match something: set rule, initiator or objectId")
	}
	if sil.ObjectID != "" && !audit.ValidObjectID(sil.ObjectID) {
		return sil, badField("objectId", "must be an object id (a GUID)")
	}
	if sil.Rule != "" && !s.hasRule(sil.Rule) {
		return sil, badField("rule", "no rule named %q in %s", sil.Rule, s.opts.Rules.File)
	}
	if len(sil.Initiator) > 256 || strings.ContainsFunc(sil.Initiator, isSpaceOrControl) {
		return sil, badField("initiator", "must be an object id, appId or user principal name")
	}
	reason, err := validReason(body.Reason)
	if err != nil {
		return sil, err
	}
	sil.Reason = reason
	switch {
	case body.EndsAt != nil && body.Duration != "":
		return sil, badField("duration", "give endsAt or duration, not both")
	case body.EndsAt != nil:
		sil.EndsAt = *body.EndsAt
	case body.Duration != "":
		d, err := time.ParseDuration(body.Duration)
		if err != nil {
			return sil, badField("duration", "must be a duration such as 2h")
		}
		sil.EndsAt = now.Add(d)
	default:
		return sil, badField("endsAt", "a silence must end: give endsAt or duration (at most %s)", MaxSilence)
	}
	switch {
	case !sil.EndsAt.After(now):
		return sil, badField("endsAt", "must be in the future")
	case sil.EndsAt.Sub(now) > MaxSilence:
		return sil, badField("endsAt", "a silence may last at most %s; change the rule instead", MaxSilence)
	}
	return sil, nil
}

func (s *Server) hasRule(name string) bool {
	for _, r := range s.opts.Rules.Rules {
		if r.Name == name {
			return true
		}
	}
	return false
}

func isSpaceOrControl(c rune) bool { return c <= ' ' || c == 0x7f }

// endSilence is DELETE /silences/{id}.
func (s *Server) endSilence(w http.ResponseWriter, r *http.Request, caller apiauth.Caller) {
	id := r.PathValue("id")
	if !validID(id) {
		s.problem(w, r, http.StatusNotFound, "", "")
		return
	}
	entry := store.Entry{Kind: KindSilenceRequested, Actor: caller.Actor(), Source: "api " + caller.ObjectID, Detail: "end silence " + id}
	if !s.journal1(w, r, entry) {
		return
	}
	err := s.opts.Store.EndSilence(r.Context(), id, s.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		entry.Kind, entry.Outcome = KindRefused, "not found"
		s.journal1(w, r, entry)
		s.problem(w, r, http.StatusNotFound, "", "")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	entry.Kind, entry.Outcome, entry.Detail = KindSilenceEnded, "done", "silence "+id
	if !s.journal1(w, r, entry) {
		return
	}
	writeJSON(w, http.StatusOK, Done{Status: "ended", Detail: "silence " + id})
}

// resetBreaker is POST /breaker/reset.
func (s *Server) resetBreaker(w http.ResponseWriter, r *http.Request, caller apiauth.Caller) {
	var body BreakerResetRequest
	if err := decodeStrict(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if body.Scope != "total" && !s.hasRule(body.Scope) {
		s.fail(w, r, badField("scope", "must be \"total\" or the name of a rule"))
		return
	}
	reason, err := validReason(body.Reason)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rule := body.Scope
	if rule == "total" {
		rule = ""
	}
	entry := store.Entry{Kind: KindBreakerRequested, Actor: caller.Actor(), Rule: rule, Source: "api " + caller.ObjectID,
		Detail: fmt.Sprintf("breaker %s: %s", body.Scope, reason)}
	if !s.journal1(w, r, entry) {
		return
	}
	if err := guard.ResetBreaker(r.Context(), s.opts.Store, body.Scope, s.now()); err != nil {
		s.fail(w, r, err)
		return
	}
	entry.Kind, entry.Outcome = KindBreakerReset, "done"
	if !s.journal1(w, r, entry) {
		return
	}
	writeJSON(w, http.StatusOK, Done{Status: "reset", Detail: "breaker " + body.Scope})
}

// journal1 appends entry; on failure it answers 500 and returns false.
func (s *Server) journal1(w http.ResponseWriter, r *http.Request, entry store.Entry) bool {
	if _, err := s.opts.Store.Append(r.Context(), entry); err != nil {
		s.fail(w, r, fmt.Errorf("journal %s: %w", entry.Kind, err))
		return false
	}
	return true
}

// journal is GET /journal?since=…&objectId=…&limit=….
func (s *Server) journal(w http.ResponseWriter, r *http.Request, _ apiauth.Caller) {
	q, err := query(r, "since", "objectId", "limit")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	since, err := parseSince(q.Get("since"), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	limit, err := parseLimit(q.Get("limit"), store.DefaultJournalLimit, 1000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	objectID := q.Get("objectId")
	if objectID != "" && !audit.ValidObjectID(objectID) {
		s.fail(w, r, badField("objectId", "must be an object id (a GUID)"))
		return
	}
	entries, err := s.opts.Store.Journal(r.Context(), store.JournalQuery{Since: since, TargetID: strings.ToLower(objectID), Limit: limit})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if entries == nil {
		entries = []store.Entry{}
	}
	writeJSON(w, http.StatusOK, JournalList{Entries: entries})
}
