package oncall

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
)

// Listing bounds for GET /deleted.
const (
	DefaultDeletedLimit = 100
	MaxDeletedLimit     = 500
)

// listDeleted is GET /deleted?type=group&since=…&limit=…: what is in the
// recycle bin now, and what Reinstate would do about each item.
func (s *Server) listDeleted(w http.ResponseWriter, r *http.Request, _ apiauth.Caller) {
	q, err := query(r, "type", "since", "limit")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t := audit.TargetType(q.Get("type"))
	if !slices.Contains(recovery.BinTypes, t) {
		s.fail(w, r, badField("type", "is required: one of %s", joinTypes(recovery.BinTypes)))
		return
	}
	since, err := parseSince(q.Get("since"), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	limit, err := parseLimit(q.Get("limit"), DefaultDeletedLimit, MaxDeletedLimit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items, more, err := s.opts.Bin.ListDeleted(r.Context(), t, since, limit)
	if err != nil {
		s.log.ErrorContext(r.Context(), "on-call API: could not list the recycle bin", "type", string(t), "error", err.Error())
		s.problem(w, r, http.StatusBadGateway, "Microsoft Graph could not be read; try again", "")
		return
	}
	list := DeletedList{Items: make([]DeletedView, 0, len(items)), More: more}
	for _, item := range items {
		view := DeletedView{DeletedItem: item, Rules: s.evaluate(item)}
		last, err := s.lastDecision(r.Context(), item.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		view.LastDecision = last
		list.Items = append(list.Items, view)
	}
	writeJSON(w, http.StatusOK, list)
}

// evaluate runs the rule table over a bin item as if it had just been
// deleted, softly, by an initiator the bin does not name. Rules that read
// the initiator do not match such an event: the view says what the item
// alone earns.
func (s *Server) evaluate(item recovery.DeletedItem) RulesView {
	event := &audit.Event{
		ID: "oncall:" + item.ID, TenantID: s.opts.TenantID, Time: item.DeletedAt, Activity: audit.DeleteActivities[item.ObjectType],
		OperationType: "Delete", Result: "success", Deletion: audit.DeletionSoft,
		Initiator: audit.Initiator{Type: audit.InitiatorUnknown},
	}
	if event.Time.IsZero() {
		event.Time = s.now().UTC()
	}
	target := audit.Target{ID: item.ID, Type: item.ObjectType, DisplayName: item.Name}
	if item.ObjectType == audit.TargetUser {
		target.UserPrincipalName = item.Name
	}
	event.Targets = []audit.Target{target}
	var object map[string]any
	_ = json.Unmarshal(item.Object, &object)
	v := s.opts.Rules.Subject(event, s.now()).Evaluate(target, object, rules.ObjectFound)
	view := RulesView{Rule: v.Rule(), Actions: make([]string, 0, len(v.Actions)), Severity: string(v.Severity), Notify: v.Notify}
	for _, a := range v.Actions {
		view.Actions = append(view.Actions, string(a))
	}
	if len(v.Errors) > 0 {
		view.Error = v.Errors[0].Error()
	}
	return view
}

// query is the request's query, refused when it holds a parameter not
// among known: a misspelt filter must not silently widen an answer.
func query(r *http.Request, known ...string) (url.Values, error) {
	q := r.URL.Query()
	for name := range q {
		if !slices.Contains(known, name) {
			return nil, badField(name, "unknown query parameter")
		}
	}
	return q, nil
}

// parseSince reads "since": an RFC 3339 time, or a duration back from now
// ("24h"). Empty means no bound.
func parseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badField("since", "must be an RFC 3339 time or a duration such as 24h")
	}
	return t, nil
}

func parseLimit(v string, def, maxLimit int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, badField("limit", "must be a number from 1 to %d", maxLimit)
	}
	return n, nil
}
