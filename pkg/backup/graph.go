package backup

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	nethttplibrary "github.com/microsoft/kiota-http-go"

	"github.com/reinstate/reinstate/pkg/graphapi"
)

// Version is the Graph version the recovery API is called on. The API has
// v1.0 reference pages (ms.date 06/05/2026) while the Entra docs still call
// it preview and Microsoft's own sample scripts use beta: whether v1.0 is
// live in a given tenant is an open question (reference §1.1), so the
// version is the caller's choice.
type Version string

// The two Graph versions that document /directory/recovery (reference §1.1).
const (
	// VersionBeta calls https://graph.microsoft.com/beta. Functions and
	// actions are bound by their bare names (getChanges, cancel).
	VersionBeta Version = "beta"
	// VersionV1 calls https://graph.microsoft.com/v1.0, where functions and
	// actions are namespace-qualified:
	// microsoft.graph.entraRecoveryServices.getChanges (reference §1.2;
	// [MGD] api-reference/v1.0/resources/entrarecoveryservices-backup-recovery-overview.md).
	VersionV1 Version = "v1.0"
)

// recoveryNamespace qualifies the recovery types, and on v1.0 the bound functions
// and actions (reference §1.1, §1.2).
const recoveryNamespace = "microsoft.graph.entraRecoveryServices"

// preferUnknownEnums asks Graph for evolvable-enum members past unknownFutureValue:
// the job statuses calculating and loadingData (reference §1.4) and the
// resource types oAuth2PermissionGrant and appRoleAssignment (§1.5). Every
// request carries it, since both can appear in requests and answers alike.
const preferUnknownEnums = "include-unknown-enum-members"

// Page sizes and bounds. Every recovery collection pages 100 by default and
// 999 at most (reference §1.2).
const (
	maxPageTop = 999
	// maxListPages bounds snapshot and job listings: five daily snapshots
	// and seven days of jobs fit in one page (§1.3), so a Graph still
	// answering nextLinks after this many is misbehaving.
	maxListPages = 100
	// maxChangePages bounds a change listing: about five million changes.
	// Recoveries of 500k changes are documented (§1.4).
	maxChangePages = 5000
)

// Client calls Microsoft Entra Backup and Recovery through a graphapi
// client's adapter. It is safe for concurrent use.
type Client struct {
	graph   *graphapi.Client
	version Version
	// base is the configured Graph root (scheme, host, optional path
	// prefix); every URL the client follows must be under it.
	base *url.URL
}

// NewClient returns a Client calling graph on version. graph's adapter
// supplies authentication and middleware; its SDK retries are off
// (graphapi.New), so a 429 or 5xx comes back to the caller as a *RetryError.
func NewClient(graph *graphapi.Client, version Version) (*Client, error) {
	if graph == nil || graph.Adapter == nil {
		return nil, errors.New("backup: no Graph client")
	}
	if version != VersionBeta && version != VersionV1 {
		return nil, fmt.Errorf("backup: Graph version %q is not %q or %q", version, VersionBeta, VersionV1)
	}
	root, err := url.Parse(strings.TrimSuffix(graph.URL(string(version), ""), "/"+string(version)+"/"))
	if err != nil || root.Host == "" {
		return nil, fmt.Errorf("backup: Graph base URL: %v", err)
	}
	return &Client{graph: graph, version: version, base: root}, nil
}

// Version is the Graph version the client calls.
func (c *Client) Version() Version { return c.version }

// ---------------------------------------------------------------------------
// Errors

// Errors callers branch on. A Graph refusal is an *Error that matches one of
// them with errors.Is; local validation failures wrap ErrInvalid.
var (
	// ErrJobRunning: Graph answered 409 because a preview or recovery job is
	// already running; only one job runs per tenant at a time (reference
	// §1.4, §1.9: "A recovery job is currently in progress").
	ErrJobRunning = errors.New("another backup job is running in the tenant")
	// ErrForbidden: Graph answered 403. Creating preview and recovery jobs
	// is documented as "Not supported" for application permissions
	// (reference §1.8), and a missing Backup Administrator / Reader role
	// gives the same status (§1.9); the caller can fall back to acting on
	// behalf of a signed-in administrator.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: Graph answered 404: an unknown snapshot ("isn't a valid
	// timestamp for recovery") or job (reference §1.9). Snapshots are kept
	// five days and jobs seven days after completion (§1.3).
	ErrNotFound = errors.New("not found")
	// ErrNotReady: changes were asked of a job that has not succeeded.
	// Graph answers 400 to getChanges before success (reference §1.4,
	// §1.9); the client refuses locally when the Job it is given already
	// says so.
	ErrNotReady = errors.New("the job has not completed successfully")
	// ErrInvalid: the request is malformed: refused locally (a bad filter,
	// job id or snapshot id) or by Graph with a 400 other than ErrNotReady.
	ErrInvalid = errors.New("invalid request")
	// ErrLocation: Graph accepted a job (202) but its Location header was
	// missing, malformed or off the Graph host, so the job cannot be
	// followed from the answer. The job exists: find it with Jobs.
	ErrLocation = errors.New("job accepted without a usable Location")
)

// Error is Graph refusing a Backup and Recovery call for a reason that
// retrying will not fix. errors.Is matches its Kind; errors.As reaches the
// *graphapi.Error behind it.
type Error struct {
	// Op says what was attempted, such as "create preview job on snapshot X".
	Op string
	// Status is the HTTP status Graph answered.
	Status int
	// Kind is ErrJobRunning, ErrForbidden, ErrNotFound, ErrNotReady or
	// ErrInvalid, or nil for other statuses (401, 405, ...).
	Kind error
	// Err is Graph's answer.
	Err *graphapi.Error
}

// Error names the operation, the status and Graph's code and message. It
// never includes a token: graphapi.Error carries no request headers.
func (e *Error) Error() string { return "backup: " + e.Op + ": " + e.Err.Error() }

// Is matches the error's Kind.
func (e *Error) Is(target error) bool { return e.Kind != nil && target == e.Kind }

// Unwrap returns Graph's answer.
func (e *Error) Unwrap() error { return e.Err }

// RetryError means the call may succeed later: Graph throttled it (429,
// with the standard Graph limits, reference §1.7), failed (5xx), or did not
// answer. Nothing is known to have happened; for a job creation the caller
// should look at Jobs before creating again, since the POST may have been
// accepted before the answer was lost.
type RetryError struct {
	// Op says what was attempted.
	Op string
	// After is Graph's Retry-After, to be honoured; HasAfter is false when
	// Graph sent none and the caller picks a backoff (reference §3.4).
	After    time.Duration
	HasAfter bool
	// Err is the failure.
	Err *graphapi.Error
}

// Error says what failed and when to try again.
func (e *RetryError) Error() string {
	if e.HasAfter {
		return fmt.Sprintf("backup: %s: retry after %s: %v", e.Op, e.After, e.Err)
	}
	return fmt.Sprintf("backup: %s: retry later: %v", e.Op, e.Err)
}

// Unwrap returns the failure.
func (e *RetryError) Unwrap() error { return e.Err }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("backup: %w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// classify turns an adapter error into *Error or *RetryError. on400 is the
// kind a 400 means for this call.
func classifyGraphError(ctx context.Context, op string, err error, on400 error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("backup: %s: %w: %w", op, ctx.Err(), err)
	}
	ge := graphapi.AsError(err)
	if ge.Retryable() {
		return &RetryError{Op: op, After: ge.RetryAfter, HasAfter: ge.HasRetryAfter, Err: ge}
	}
	e := &Error{Op: op, Status: ge.Status, Err: ge}
	switch ge.Status {
	case http.StatusConflict:
		e.Kind = ErrJobRunning
	case http.StatusForbidden:
		e.Kind = ErrForbidden
	case http.StatusNotFound:
		e.Kind = ErrNotFound
	case http.StatusBadRequest:
		e.Kind = on400
	}
	return e
}

// ---------------------------------------------------------------------------
// Requests

// segmentsURL is the absolute URL of path segments under the client's
// version, each segment escaped, with a raw query.
func (c *Client) segmentsURL(rawQuery string, segs ...string) *url.URL {
	escaped := make([]string, len(segs))
	for i, s := range segs {
		escaped[i] = url.PathEscape(s)
	}
	u, _ := url.Parse(c.graph.URL(string(c.version), strings.Join(escaped, "/"))) // validated base, escaped segments
	u.RawQuery = rawQuery
	return u
}

// function is a bound function or action segment: bare on beta,
// namespace-qualified on v1.0 (reference §1.2).
func (c *Client) function(name string) string {
	if c.version == VersionV1 {
		return recoveryNamespace + "." + name
	}
	return name
}

func newGraphRequest(method abstractions.HttpMethod, u *url.URL) *abstractions.RequestInformation {
	ri := abstractions.NewRequestInformation()
	ri.Method = method
	ri.SetUri(*u)
	ri.Headers.TryAdd("Accept", "application/json")
	ri.Headers.TryAdd("Prefer", preferUnknownEnums)
	return ri
}

// send performs ri through the adapter and returns the raw answer (nil for
// an empty one).
func (c *Client) send(ctx context.Context, ri *abstractions.RequestInformation, op string, on400 error) ([]byte, error) {
	result, err := c.graph.Adapter.SendPrimitive(ctx, ri, "[]byte", graphapi.ErrorMappings)
	if err != nil {
		return nil, classifyGraphError(ctx, op, err, on400)
	}
	body, _ := result.([]byte)
	return body, nil
}

// onGraph checks that u may be sent the client's token: same scheme and
// host as the configured Graph, under one of its version roots. Links and
// Location headers come from the answer and are checked before they are
// followed, as recovery.Executor does for @odata.nextLink.
func (c *Client) onGraph(u *url.URL) error {
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) || u.User != nil {
		return fmt.Errorf("%s is not on the configured Graph %s://%s", withoutQuery(u), c.base.Scheme, c.base.Host)
	}
	for _, v := range []Version{VersionBeta, VersionV1} {
		if strings.HasPrefix(u.EscapedPath(), c.base.EscapedPath()+"/"+string(v)+"/") {
			return nil
		}
	}
	return fmt.Errorf("%s is not under %s/beta or %s/v1.0", withoutQuery(u), c.base, c.base)
}

// redact is u without its query, for messages: a skiptoken is opaque and
// long, and nothing else in it is useful.
func withoutQuery(u *url.URL) string {
	v := *u
	v.RawQuery, v.User = "", nil
	return v.String()
}

// pages GETs first and then each @odata.nextLink, at most maxPages, handing
// every item of "value" to each until it returns false.
func (c *Client) pages(ctx context.Context, first *url.URL, op string, on400 error, maxPages int, each func(json.RawMessage) (bool, error)) error {
	next := first
	for range maxPages {
		body, err := c.send(ctx, newGraphRequest(abstractions.GET, next), op, on400)
		if err != nil {
			return err
		}
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("backup: %s: decode page: %w", op, err)
		}
		for _, item := range page.Value {
			more, err := each(item)
			if err != nil {
				return fmt.Errorf("backup: %s: %w", op, err)
			}
			if !more {
				return nil
			}
		}
		if page.NextLink == "" {
			return nil
		}
		u, err := next.Parse(page.NextLink)
		if err != nil {
			return fmt.Errorf("backup: %s: unreadable @odata.nextLink: %w", op, err)
		}
		if err := c.onGraph(u); err != nil {
			// Never send the token off the configured Graph.
			return fmt.Errorf("backup: %s: refusing @odata.nextLink: %w", op, err)
		}
		next = u
	}
	return fmt.Errorf("backup: %s: still paging after %d pages", op, maxPages)
}

// ---------------------------------------------------------------------------
// Snapshots

// Snapshot is one daily backup of the tenant (microsoft.graph.
// entraRecoveryServices.snapshot, reference §1.3). One is taken per day and
// kept five days; they cannot be created or deleted.
type Snapshot struct {
	// ID is the base64 of the snapshot's timestamp, such as
	// MjAyNC0wOC0yNlQwMjozMDowMFo= for 2024-08-26T02:30:00Z (§1.3). It is
	// opaque here: always taken from Graph, never computed.
	ID string `json:"id"`
	// CreatedAt is createdDateTime: the state the snapshot holds.
	CreatedAt time.Time `json:"createdDateTime"`
	// TotalChangedObjects is totalChangedObjects (0 when null).
	TotalChangedObjects int `json:"totalChangedObjects"`
}

// UnmarshalJSON reads Graph's snapshot shape (§1.3), tolerating nulls.
func (s *Snapshot) UnmarshalJSON(b []byte) error {
	var w struct {
		ID                  string    `json:"id"`
		CreatedDateTime     graphTime `json:"createdDateTime"`
		TotalChangedObjects *int      `json:"totalChangedObjects"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = Snapshot{ID: w.ID, CreatedAt: w.CreatedDateTime.t, TotalChangedObjects: intOrZero(w.TotalChangedObjects)}
	return nil
}

// Snapshots lists every snapshot, newest first: GET
// /directory/recovery/snapshots with $orderby=createdDateTime desc, all
// pages, and sorted again here so that the order does not depend on the
// server (reference §1.2: $select, $top, $orderby supported; 100/999).
func (c *Client) Snapshots(ctx context.Context) ([]Snapshot, error) {
	u := c.segmentsURL(fmt.Sprintf("$top=%d&$orderby=createdDateTime%%20desc", maxPageTop), "directory", "recovery", "snapshots")
	var out []Snapshot
	err := c.pages(ctx, u, "list snapshots", ErrInvalid, maxListPages, func(item json.RawMessage) (bool, error) {
		var s Snapshot
		if err := json.Unmarshal(item, &s); err != nil {
			return false, fmt.Errorf("decode snapshot: %w", err)
		}
		if s.ID == "" {
			return false, errors.New("a snapshot has no id")
		}
		out = append(out, s)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	sortSnapshots(out)
	return out, nil
}

func sortSnapshots(snaps []Snapshot) {
	slices.SortStableFunc(snaps, func(a, b Snapshot) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(a.ID, b.ID))
	})
}

// LatestBefore is the latest snapshot taken at or before t: the one to
// recover from when damage began at t. snaps need not be sorted. ok is
// false when every snapshot is later than t (or there are none), which
// means the last good state is older than the five days kept (§1.3).
func LatestBefore(snaps []Snapshot, t time.Time) (Snapshot, bool) {
	var best Snapshot
	found := false
	for _, s := range snaps {
		if s.CreatedAt.After(t) {
			continue
		}
		if !found || s.CreatedAt.After(best.CreatedAt) || (s.CreatedAt.Equal(best.CreatedAt) && s.ID < best.ID) {
			best, found = s, true
		}
	}
	return best, found
}

// ---------------------------------------------------------------------------
// Filters

// recoveryResourceTypes is the resourceTypeName enum, without its unknownFutureValue
// sentinel ([MGD] enums-entrarecoveryservices.md; reference §1.5). It has
// no administrativeUnit. oAuth2PermissionGrant and appRoleAssignment come
// after unknownFutureValue, hence the Prefer header on every request.
var recoveryResourceTypes = []string{
	"user", "group", "conditionalAccessPolicy", "namedLocationPolicy",
	"authenticationMethodPolicy", "authorizationPolicy", "authenticationStrengthPolicy",
	"application", "servicePrincipal", "oAuth2PermissionGrant", "appRoleAssignment",
}

// canonicalType maps a type name, in any case, to its enum spelling.
var canonicalType = func() map[string]string {
	m := make(map[string]string, len(recoveryResourceTypes))
	for _, t := range recoveryResourceTypes {
		m[strings.ToLower(t)] = t
	}
	return m
}()

// Filter scopes a preview or recovery job. A nil *Filter means every
// supported entity (the request body is optional, reference §1.5); a
// non-nil Filter must name something, so that an empty value cannot widen
// a recovery to the whole tenant by accident.
//
// Exactly one of the fields may be set:
//   - EntityTypes sends a recoveryJobEntityNamesFilter: every object of
//     those types.
//   - ByType sends a recoveryJobEntityNameAndIdsFilter: the given object
//     ids (GUIDs), per type.
//
// Type names are the resourceTypeName enum (§1.5), matched in any case and
// sent in the enum's spelling. Service principals, OAuth2 grants and app
// role assignments are recovered together through the service principal
// ([ED] scope-supported-objects-limitations.md).
type Filter struct {
	EntityTypes []string
	ByType      map[string][]string
}

// Filter type discriminators (reference §1.5).
const (
	namesFilterType = "#" + recoveryNamespace + ".recoveryJobEntityNamesFilter"
	idsFilterType   = "#" + recoveryNamespace + ".recoveryJobEntityNameAndIdsFilter"
)

type namesFilter struct {
	Type        string   `json:"@odata.type"`
	EntityTypes []string `json:"entityTypes"`
}

type idsFilter struct {
	Type         string            `json:"@odata.type"`
	FilterValues []entityTypeAndID `json:"filterValues"`
}

type entityTypeAndID struct {
	EntityType string   `json:"entityType"`
	EntityIDs  []string `json:"entityIds"`
}

// Validate reports what is wrong with f, wrapping ErrInvalid: no field or
// both set, a type outside the enum, a type named twice (Graph answers 400
// to a repeated type in filterValues, reference §1.5), a type without ids,
// an id that is not a GUID or is repeated.
func (f Filter) Validate() error {
	_, err := f.criteria()
	return err
}

// MarshalJSON is the filteringCriteria object, deterministic: types sorted,
// ids lower-cased and sorted.
func (f Filter) MarshalJSON() ([]byte, error) {
	v, err := f.criteria()
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func (f Filter) criteria() (any, error) {
	switch {
	case len(f.EntityTypes) > 0 && len(f.ByType) > 0:
		return nil, invalidf("filter: set EntityTypes or ByType, not both (a job has one filteringCriteria)")
	case len(f.EntityTypes) > 0:
		types := make([]string, 0, len(f.EntityTypes))
		for _, name := range f.EntityTypes {
			t, err := entityType(name)
			if err != nil {
				return nil, err
			}
			if slices.Contains(types, t) {
				return nil, invalidf("filter: entity type %q named twice", t)
			}
			types = append(types, t)
		}
		slices.Sort(types)
		return namesFilter{Type: namesFilterType, EntityTypes: types}, nil
	case len(f.ByType) > 0:
		values := make([]entityTypeAndID, 0, len(f.ByType))
		for _, name := range slices.Sorted(maps.Keys(f.ByType)) {
			t, err := entityType(name)
			if err != nil {
				return nil, err
			}
			if slices.ContainsFunc(values, func(v entityTypeAndID) bool { return v.EntityType == t }) {
				return nil, invalidf("filter: entity type %q named twice (Graph answers 400)", t)
			}
			ids := f.ByType[name]
			if len(ids) == 0 {
				return nil, invalidf("filter: entity type %q has no ids", t)
			}
			norm := make([]string, 0, len(ids))
			for _, id := range ids {
				if !looksLikeGUID(id) {
					return nil, invalidf("filter: %s id %q is not a GUID", t, id)
				}
				id = strings.ToLower(id)
				if slices.Contains(norm, id) {
					return nil, invalidf("filter: %s id %s named twice", t, id)
				}
				norm = append(norm, id)
			}
			slices.Sort(norm)
			values = append(values, entityTypeAndID{EntityType: t, EntityIDs: norm})
		}
		slices.SortFunc(values, func(a, b entityTypeAndID) int { return strings.Compare(a.EntityType, b.EntityType) })
		return idsFilter{Type: idsFilterType, FilterValues: values}, nil
	}
	return nil, invalidf("filter: empty; pass a nil *Filter to recover every supported entity")
}

func entityType(name string) (string, error) {
	if t, ok := canonicalType[strings.ToLower(strings.TrimSpace(name))]; ok {
		return t, nil
	}
	if strings.EqualFold(name, "administrativeUnit") {
		return "", invalidf("filter: administrative units are not in Backup and Recovery's resourceTypeName enum")
	}
	return "", invalidf("filter: %q is not a resourceTypeName (one of %s)", name, strings.Join(recoveryResourceTypes, ", "))
}

// requestBody is the create POST's body: none for a nil filter.
func requestBody(f *Filter) ([]byte, error) {
	if f == nil {
		return nil, nil
	}
	criteria, err := f.criteria()
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"filteringCriteria": criteria})
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func looksLikeGUID(s string) bool { return guidPattern.MatchString(s) }

// ---------------------------------------------------------------------------
// Jobs

// JobKind tells preview jobs from recovery jobs.
type JobKind string

// Job kinds (reference §1.1: recoveryJobBase's subtypes).
const (
	// KindPreview is a recoveryPreviewJob: the admin center's difference
	// report, which computes the changes a recovery would make.
	KindPreview JobKind = "preview"
	// KindRecovery is a recoveryJob, which makes them.
	KindRecovery JobKind = "recovery"
)

// collection is the snapshot's navigation property holding jobs of k.
func (k JobKind) collection() string {
	if k == KindRecovery {
		return "recoveryJobs"
	}
	return "recoveryPreviewJobs"
}

// kindOf reads a job's kind from its @odata.type (reference §1.2: the jobs
// list tells them apart only by it).
func kindOf(odataType string) JobKind {
	switch odataType[strings.LastIndex(odataType, ".")+1:] {
	case "recoveryPreviewJob":
		return KindPreview
	case "recoveryJob":
		return KindRecovery
	}
	return ""
}

// JobStatus is a job's recoveryStatus ([MGD] enums-entrarecoveryservices.md;
// reference §1.4).
type JobStatus string

// The recoveryStatus enum.
const (
	// StatusInitialized: accepted, not started.
	StatusInitialized JobStatus = "initialized"
	// StatusRunning: computing the changes (preview) or making them
	// (recovery).
	StatusRunning JobStatus = "running"
	// StatusSuccessful: done; a preview's changes can be read now, and a
	// recovery job may still list failed changes.
	StatusSuccessful JobStatus = "successful"
	// StatusFailed: ended without completing.
	StatusFailed JobStatus = "failed"
	// StatusAbandoned: cancelled (Cancel).
	StatusAbandoned JobStatus = "abandoned"
	// StatusUnknownFutureValue is what Graph sends for calculating and
	// loadingData to a client that did not ask for them with Prefer:
	// include-unknown-enum-members. It is not terminal.
	StatusUnknownFutureValue JobStatus = "unknownFutureValue"
	// StatusCalculating and StatusLoadingData come only with the Prefer
	// header, which this client always sends.
	StatusCalculating JobStatus = "calculating"
	StatusLoadingData JobStatus = "loadingData"
)

// Terminal reports whether the job has ended: successful, failed or
// abandoned (cancel sets abandoned). Everything else, unknownFutureValue
// and values this package does not know included, means keep polling
// (reference §1.4). Note that "succeeded", which Microsoft's sample scripts
// poll for, is not in the enum and is not terminal here.
func (s JobStatus) Terminal() bool {
	switch s {
	case StatusSuccessful, StatusFailed, StatusAbandoned:
		return true
	}
	return false
}

// Job is a preview or recovery job (recoveryJobBase and its subtypes,
// reference §1.4). Its json tags are Reinstate's own, for storing it.
type Job struct {
	ID string `json:"id"`
	// SnapshotID is the snapshot the job was created on. Graph's job
	// resource does not carry it: it comes from the creating request or
	// the Location. Jobs listed by Jobs do not have it.
	SnapshotID string    `json:"snapshotId,omitempty"`
	Kind       JobKind   `json:"kind"`
	Status     JobStatus `json:"status,omitempty"`
	// TargetStateAt is targetStateDateTime: the snapshot's time.
	TargetStateAt time.Time `json:"targetStateAt,omitzero"`
	// StartedAt is jobStartDateTime.
	StartedAt time.Time `json:"startedAt,omitzero"`
	// CompletedAt is jobCompletionDateTime, nil while the job runs.
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	// Filter is filteringCriteria as Graph (or the creating request) had
	// it; nil for every entity.
	Filter json.RawMessage `json:"filter,omitempty"`
	// TotalChangedObjects and TotalChangedLinks are
	// totalChangedObjectsCalculated and totalChangedLinksCalculated, nil
	// until calculated.
	TotalChangedObjects *int `json:"totalChangedObjects,omitempty"`
	TotalChangedLinks   *int `json:"totalChangedLinks,omitempty"`
	// TotalObjectsModified, TotalLinksModified and TotalFailedChanges are
	// set on recovery jobs only ([MGD] entrarecoveryservices-recoveryjob.md).
	TotalObjectsModified *int `json:"totalObjectsModified,omitempty"`
	TotalLinksModified   *int `json:"totalLinksModified,omitempty"`
	TotalFailedChanges   *int `json:"totalFailedChanges,omitempty"`
	// URL is the job's absolute URL: the creating answer's Location, or
	// the URL it was last read from.
	URL string `json:"url,omitempty"`
}

// wireJob is recoveryJobBase as Graph sends it (reference §1.4).
type wireJob struct {
	Type                          string          `json:"@odata.type"`
	ID                            string          `json:"id"`
	Status                        JobStatus       `json:"status"`
	TargetStateDateTime           graphTime       `json:"targetStateDateTime"`
	JobStartDateTime              graphTime       `json:"jobStartDateTime"`
	JobCompletionDateTime         graphTime       `json:"jobCompletionDateTime"`
	FilteringCriteria             json.RawMessage `json:"filteringCriteria"`
	TotalChangedObjectsCalculated *int            `json:"totalChangedObjectsCalculated"`
	TotalChangedLinksCalculated   *int            `json:"totalChangedLinksCalculated"`
	TotalObjectsModified          *int            `json:"totalObjectsModified"`
	TotalLinksModified            *int            `json:"totalLinksModified"`
	TotalFailedChanges            *int            `json:"totalFailedChanges"`
}

func decodeJob(raw []byte) (Job, error) {
	var w wireJob
	if err := json.Unmarshal(raw, &w); err != nil {
		return Job{}, fmt.Errorf("decode job: %w", err)
	}
	if w.ID == "" {
		return Job{}, errors.New("decode job: no id")
	}
	j := Job{
		ID: w.ID, Kind: kindOf(w.Type), Status: w.Status,
		TargetStateAt: w.TargetStateDateTime.t, StartedAt: w.JobStartDateTime.t,
		TotalChangedObjects: w.TotalChangedObjectsCalculated, TotalChangedLinks: w.TotalChangedLinksCalculated,
		TotalObjectsModified: w.TotalObjectsModified, TotalLinksModified: w.TotalLinksModified, TotalFailedChanges: w.TotalFailedChanges,
	}
	if w.JobCompletionDateTime.set {
		at := w.JobCompletionDateTime.t
		j.CompletedAt = &at
	}
	if f := bytes.TrimSpace(w.FilteringCriteria); len(f) > 0 && !bytes.Equal(f, []byte("null")) {
		j.Filter = json.RawMessage(slices.Clone(f))
	}
	return j, nil
}

// CreatePreview starts a preview job on the snapshot: POST
// /directory/recovery/snapshots/{id}/recoveryPreviewJobs, answered 202 with
// a Location naming the job and no body (reference §1.2, §1.4; [MGD]
// entrarecoveryservices-snapshot-post-recoverypreviewjobs.md). The returned
// Job has ID, SnapshotID, Kind, Filter and URL; poll Job for the rest.
//
// Application permissions are documented as not supported for creation
// (§1.8): an app-only caller gets ErrForbidden. ErrJobRunning means another
// job holds the tenant (§1.9); ErrNotFound an unknown or expired snapshot.
func (c *Client) CreatePreview(ctx context.Context, snapshotID string, f *Filter) (Job, error) {
	return c.create(ctx, KindPreview, snapshotID, f)
}

// CreateRecovery starts a recovery job on the snapshot: POST
// /directory/recovery/snapshots/{id}/recoveryJobs, 202 + Location (reference
// §1.2; [MGD] entrarecoveryservices-snapshot-post-recoveryjobs.md). It
// writes to the tenant: objects added since the snapshot are soft-deleted,
// updated ones reverted, deleted ones restored (§1.6). Run a preview with
// the same filter first. Errors as for CreatePreview.
func (c *Client) CreateRecovery(ctx context.Context, snapshotID string, f *Filter) (Job, error) {
	return c.create(ctx, KindRecovery, snapshotID, f)
}

func (c *Client) create(ctx context.Context, kind JobKind, snapshotID string, f *Filter) (Job, error) {
	if strings.TrimSpace(snapshotID) == "" {
		return Job{}, invalidf("create %s job: no snapshot id", kind)
	}
	body, err := requestBody(f)
	if err != nil {
		return Job{}, err
	}
	op := fmt.Sprintf("create %s job on snapshot %s", kind, snapshotID)
	u := c.segmentsURL("", "directory", "recovery", "snapshots", snapshotID, kind.collection())
	ri := newGraphRequest(abstractions.POST, u)
	if body != nil {
		ri.SetStreamContentAndContentType(body, "application/json")
	}
	// The job's id is only in the 202's Location header (§1.4), which the
	// adapter shows through the headers-inspection option (§6.2).
	headers := nethttplibrary.NewHeadersInspectionOptions()
	headers.InspectResponseHeaders = true
	ri.AddRequestOptions([]abstractions.RequestOption{headers})
	if _, err := c.send(ctx, ri, op, ErrInvalid); err != nil {
		return Job{}, err
	}
	job := Job{SnapshotID: snapshotID, Kind: kind}
	if f != nil {
		job.Filter, _ = json.Marshal(f) // validated by requestBody
	}
	location := headers.GetResponseHeaders().Get("Location")
	if len(location) == 0 || location[0] == "" {
		return job, fmt.Errorf("backup: %s: %w: the 202 has no Location header", op, ErrLocation)
	}
	loc, err := c.parseJobURL(u, location[0])
	if err != nil {
		return job, fmt.Errorf("backup: %s: %w: %v", op, ErrLocation, err)
	}
	if (loc.kind != "" && loc.kind != kind) || (loc.snapshotID != "" && loc.snapshotID != snapshotID) {
		return job, fmt.Errorf("backup: %s: %w: %s names another job collection", op, ErrLocation, withoutQuery(loc.url))
	}
	job.ID, job.URL = loc.id, loc.url.String()
	return job, nil
}

// jobURL is what a job URL names.
type jobURL struct {
	url        *url.URL
	snapshotID string  // "" for /directory/recovery/jobs/{id}
	kind       JobKind // "" for /directory/recovery/jobs/{id}
	id         string
}

// keySegment splits an OData key segment written with parentheses, such as
// recoveryJobs('id'), into the name and the key.
var keySegment = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9.]*)\('?([^'()]*)'?\)$`)

// parseJobURL reads a job URL from a Location header (relative ones
// resolved against the request): .../snapshots/{sid}/recoveryPreviewJobs/{id},
// .../snapshots/{sid}/recoveryJobs/{id} or .../jobs/{id} (the cancel
// action's Location, §1.2), in path or parenthesised key syntax. The URL
// must be on the configured Graph and the id a GUID (§1.4).
func (c *Client) parseJobURL(request *url.URL, raw string) (jobURL, error) {
	u, err := request.Parse(strings.TrimSpace(raw))
	if err != nil {
		return jobURL{}, fmt.Errorf("unreadable job URL: %v", err)
	}
	if err := c.onGraph(u); err != nil {
		return jobURL{}, err
	}
	u.RawQuery, u.Fragment = "", ""
	escaped := strings.TrimPrefix(u.EscapedPath(), c.base.EscapedPath()+"/")
	var segs []string
	for i, s := range strings.Split(escaped, "/") {
		if i == 0 {
			continue // the version, checked by onGraph
		}
		s, err := url.PathUnescape(s)
		if err != nil {
			return jobURL{}, fmt.Errorf("unreadable job URL %s", withoutQuery(u))
		}
		if m := keySegment.FindStringSubmatch(s); m != nil {
			segs = append(segs, m[1], m[2])
			continue
		}
		segs = append(segs, s)
	}
	out := jobURL{url: u}
	switch {
	case len(segs) == 6 && segs[0] == "directory" && segs[1] == "recovery" && segs[2] == "snapshots" && segs[4] == "recoveryPreviewJobs":
		out.snapshotID, out.kind, out.id = segs[3], KindPreview, segs[5]
	case len(segs) == 6 && segs[0] == "directory" && segs[1] == "recovery" && segs[2] == "snapshots" && segs[4] == "recoveryJobs":
		out.snapshotID, out.kind, out.id = segs[3], KindRecovery, segs[5]
	case len(segs) == 4 && segs[0] == "directory" && segs[1] == "recovery" && segs[2] == "jobs":
		out.id = segs[3]
	default:
		return jobURL{}, fmt.Errorf("%s is not a recovery job URL", withoutQuery(u))
	}
	if !looksLikeGUID(out.id) {
		return jobURL{}, fmt.Errorf("job id %q in %s is not a GUID", out.id, withoutQuery(u))
	}
	if out.kind != "" && out.snapshotID == "" {
		return jobURL{}, fmt.Errorf("%s has an empty snapshot id", withoutQuery(u))
	}
	return out, nil
}

// Job reads job's current state: GET its URL, or, without one, the URL
// built from its kind, snapshot and id, or /directory/recovery/jobs/{id}
// when those are unknown (reference §1.2, §1.4). The request asks for the
// statuses calculating and loadingData with Prefer:
// include-unknown-enum-members (§1.4). Kind, SnapshotID and URL are kept
// from job where Graph's answer does not say.
func (c *Client) Job(ctx context.Context, job Job) (Job, error) {
	u, err := c.jobLocation(job)
	if err != nil {
		return job, err
	}
	body, err := c.send(ctx, newGraphRequest(abstractions.GET, u.url), "get job "+u.id, ErrInvalid)
	if err != nil {
		return job, err
	}
	got, err := decodeJob(body)
	if err != nil {
		return job, fmt.Errorf("backup: get job %s: %w", u.id, err)
	}
	got.Kind = cmp.Or(got.Kind, u.kind, job.Kind)
	got.SnapshotID = cmp.Or(u.snapshotID, job.SnapshotID)
	got.URL = u.url.String()
	if got.Filter == nil {
		got.Filter = job.Filter
	}
	return got, nil
}

// jobLocation is where job is read.
func (c *Client) jobLocation(job Job) (jobURL, error) {
	if job.URL != "" {
		u, err := url.Parse(job.URL)
		if err != nil {
			return jobURL{}, invalidf("job URL: %v", err)
		}
		loc, err := c.parseJobURL(u, job.URL)
		if err != nil {
			return jobURL{}, invalidf("job URL: %v", err)
		}
		if job.ID != "" && !strings.EqualFold(job.ID, loc.id) {
			return jobURL{}, invalidf("job %s has the URL of job %s", job.ID, loc.id)
		}
		return loc, nil
	}
	if !looksLikeGUID(job.ID) {
		return jobURL{}, invalidf("job id %q is not a GUID", job.ID)
	}
	if job.SnapshotID != "" && (job.Kind == KindPreview || job.Kind == KindRecovery) {
		return jobURL{url: c.segmentsURL("", "directory", "recovery", "snapshots", job.SnapshotID, job.Kind.collection(), job.ID),
			snapshotID: job.SnapshotID, kind: job.Kind, id: job.ID}, nil
	}
	return jobURL{url: c.segmentsURL("", "directory", "recovery", "jobs", job.ID), id: job.ID}, nil
}

// Jobs lists the tenant's preview and recovery jobs (GET
// /directory/recovery/jobs, all pages; reference §1.2), newest start first.
// Their kinds come from @odata.type. Graph's answer does not name their
// snapshots, so SnapshotID is empty and Changes and FailedChanges cannot be
// called on them as they are; URL is /directory/recovery/jobs/{id}.
func (c *Client) Jobs(ctx context.Context) ([]Job, error) {
	u := c.segmentsURL(fmt.Sprintf("$top=%d", maxPageTop), "directory", "recovery", "jobs")
	var out []Job
	err := c.pages(ctx, u, "list jobs", ErrInvalid, maxListPages, func(item json.RawMessage) (bool, error) {
		j, err := decodeJob(item)
		if err != nil {
			return false, err
		}
		if looksLikeGUID(j.ID) {
			j.URL = c.segmentsURL("", "directory", "recovery", "jobs", j.ID).String()
		}
		out = append(out, j)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b Job) int { return b.StartedAt.Compare(a.StartedAt) })
	return out, nil
}

// Changes pages through a successful preview job's changes, handing each to
// each until it returns false: GET .../recoveryPreviewJobs/{id}/getChanges
// (v1.0: .../microsoft.graph.entraRecoveryServices.getChanges) with
// $top=999, following @odata.nextLink on the Graph host only (reference
// §1.2, §1.6). Changes are streamed, never all held.
//
// Call it only once Job reports StatusSuccessful: Graph answers 400 before
// (§1.4, §1.9), which comes back as ErrNotReady, and a job already known
// not to have succeeded is refused without a request.
func (c *Client) Changes(ctx context.Context, job Job, each func(Change) bool) error {
	if job.Kind != "" && job.Kind != KindPreview {
		return invalidf("getChanges is a preview job's function; job %s is a %s job", job.ID, job.Kind)
	}
	if job.Status != "" && job.Status != StatusSuccessful {
		return fmt.Errorf("backup: changes of job %s: %w (status %s)", job.ID, ErrNotReady, job.Status)
	}
	return c.changes(ctx, KindPreview, job, "getChanges", each)
}

// FailedChanges pages through the changes a recovery job could not apply,
// each with its FailureMessage: GET .../recoveryJobs/{id}/getFailedChanges
// (v1.0: namespace-qualified), $top=999 (reference §1.2, §1.6; [MGD]
// entrarecoveryservices-recoveryjob-getfailedchanges.md). That page says it
// may be called only on a completed job with totalFailedChanges above 0, so
// a job known to be running gives ErrNotReady and one known to have no
// failures yields nothing, both without a request.
func (c *Client) FailedChanges(ctx context.Context, job Job, each func(Change) bool) error {
	if job.Kind != "" && job.Kind != KindRecovery {
		return invalidf("getFailedChanges is a recovery job's function; job %s is a %s job", job.ID, job.Kind)
	}
	if job.Status != "" && !job.Status.Terminal() {
		return fmt.Errorf("backup: failed changes of job %s: %w (status %s)", job.ID, ErrNotReady, job.Status)
	}
	if job.TotalFailedChanges != nil && *job.TotalFailedChanges == 0 {
		return nil
	}
	return c.changes(ctx, KindRecovery, job, "getFailedChanges", each)
}

func (c *Client) changes(ctx context.Context, kind JobKind, job Job, fn string, each func(Change) bool) error {
	if !looksLikeGUID(job.ID) {
		return invalidf("%s: job id %q is not a GUID", fn, job.ID)
	}
	if job.SnapshotID == "" {
		return invalidf("%s: job %s has no snapshot id (jobs from Jobs do not; keep the Job CreatePreview or CreateRecovery returned)", fn, job.ID)
	}
	u := c.segmentsURL(fmt.Sprintf("$top=%d", maxPageTop), "directory", "recovery", "snapshots", job.SnapshotID, kind.collection(), job.ID, c.function(fn))
	return c.pages(ctx, u, fn+" of job "+job.ID, ErrNotReady, maxChangePages, func(item json.RawMessage) (bool, error) {
		var ch Change
		if err := json.Unmarshal(item, &ch); err != nil {
			return false, fmt.Errorf("decode change: %w", err)
		}
		return each(ch), nil
	})
}

// Cancel asks Graph to stop a job that has not ended: POST
// /directory/recovery/jobs/{id}/cancel (v1.0:
// .../microsoft.graph.entraRecoveryServices.cancel), no body, 202
// (reference §1.2; [MGD] entrarecoveryservices-recoveryjobbase-cancel.md).
// Cancellation is best-effort: the job may go on showing running for a
// while before it reads abandoned (§1.9), so poll Job.
func (c *Client) Cancel(ctx context.Context, jobID string) error {
	if !looksLikeGUID(jobID) {
		return invalidf("cancel: job id %q is not a GUID", jobID)
	}
	u := c.segmentsURL("", "directory", "recovery", "jobs", jobID, c.function("cancel"))
	_, err := c.send(ctx, newGraphRequest(abstractions.POST, u), "cancel job "+jobID, ErrInvalid)
	return err
}

// ---------------------------------------------------------------------------
// Changes

// Change is one recoveryChangeObjectBase: an object the recovery would
// change (getChanges) or failed to (getFailedChanges). The type is open
// (reference §1.6), so Raw keeps the whole object.
type Change struct {
	// ID is the object's id: "id", or "objectId" where "id" is missing, as
	// in the getFailedChanges page's second example (§1.6).
	ID          string
	DisplayName string
	// EntityType is entityTypeName, a resourceTypeName (§1.5).
	EntityType string
	// Action is recoveryAction: update, softDelete, restore or
	// unknownFutureValue (§1.6).
	Action string
	// FailureMessage is set by getFailedChanges only.
	FailureMessage string
	// DeltaFromCurrent is what the recovery would write over the current
	// state, typed as the entity; CurrentState is the object now.
	DeltaFromCurrent json.RawMessage
	CurrentState     json.RawMessage
	// MembersDelta and OwnersDelta are a group's "members@delta" and
	// "owners@delta" ([MGD] getChanges example), read from
	// deltaFromCurrent or, failing that, the change itself. Only member
	// links are recovered; owners are not (§1.7).
	MembersDelta []LinkDelta
	OwnersDelta  []LinkDelta
	// Raw is the change as Graph sent it.
	Raw json.RawMessage
}

// LinkDelta is one entry of members@delta or owners@delta.
type LinkDelta struct {
	// Type is the linked object's @odata.type without "#microsoft.graph."
	// ("user" in the docs' example); empty when not sent.
	Type string
	ID   string
	// Removed is true when the entry carries "@removed": deltaFromCurrent
	// describes the snapshot's state relative to now, so the recovery would
	// remove this link, which was added since the snapshot. An entry
	// without it is a link removed since the snapshot, which the recovery
	// would add back. (Inferred from the getChanges examples, where
	// "@removed" in deltaFromCurrent marks an object the recovery
	// soft-deletes; Microsoft does not spell it out.)
	Removed bool
}

// UnmarshalJSON reads a recoveryChangeObjectBase (reference §1.6).
func (ch *Change) UnmarshalJSON(b []byte) error {
	var w struct {
		ID               string          `json:"id"`
		ObjectID         string          `json:"objectId"`
		DisplayName      string          `json:"displayName"`
		EntityTypeName   string          `json:"entityTypeName"`
		RecoveryAction   string          `json:"recoveryAction"`
		FailureMessage   string          `json:"failureMessage"`
		DeltaFromCurrent json.RawMessage `json:"deltaFromCurrent"`
		CurrentState     json.RawMessage `json:"currentState"`
		Members          []wireLink      `json:"members@delta"`
		Owners           []wireLink      `json:"owners@delta"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var delta struct {
		Members []wireLink `json:"members@delta"`
		Owners  []wireLink `json:"owners@delta"`
	}
	if isJSONObject(w.DeltaFromCurrent) {
		if err := json.Unmarshal(w.DeltaFromCurrent, &delta); err != nil {
			return fmt.Errorf("deltaFromCurrent: %w", err)
		}
	}
	*ch = Change{
		ID: cmp.Or(w.ID, w.ObjectID), DisplayName: w.DisplayName, EntityType: w.EntityTypeName,
		Action: w.RecoveryAction, FailureMessage: w.FailureMessage,
		DeltaFromCurrent: nonNullJSON(w.DeltaFromCurrent), CurrentState: nonNullJSON(w.CurrentState),
		MembersDelta: linkDeltas(delta.Members, w.Members),
		OwnersDelta:  linkDeltas(delta.Owners, w.Owners),
		Raw:          slices.Clone(json.RawMessage(b)),
	}
	return nil
}

// MarshalJSON writes the change in Graph's shape, so that a stored Change
// reads back the same: Raw when the change came from Graph, otherwise an
// object built from the fields.
func (ch Change) MarshalJSON() ([]byte, error) {
	if len(ch.Raw) > 0 {
		return ch.Raw, nil
	}
	type link struct {
		Type    string    `json:"@odata.type,omitempty"`
		ID      string    `json:"id"`
		Removed *struct{} `json:"@removed,omitempty"`
	}
	toWire := func(l []LinkDelta) []link {
		out := make([]link, len(l))
		for i, d := range l {
			out[i] = link{Type: d.Type, ID: d.ID}
			if d.Removed {
				out[i].Removed = &struct{}{}
			}
		}
		return out
	}
	delta := ch.DeltaFromCurrent
	if len(ch.MembersDelta) > 0 || len(ch.OwnersDelta) > 0 {
		fields := map[string]json.RawMessage{}
		if isJSONObject(delta) {
			if err := json.Unmarshal(delta, &fields); err != nil {
				return nil, fmt.Errorf("deltaFromCurrent: %w", err)
			}
		}
		for key, l := range map[string][]LinkDelta{"members@delta": ch.MembersDelta, "owners@delta": ch.OwnersDelta} {
			if len(l) > 0 {
				fields[key], _ = json.Marshal(toWire(l))
			}
		}
		delta, _ = json.Marshal(fields)
	}
	return json.Marshal(struct {
		ID               string          `json:"id,omitempty"`
		DisplayName      string          `json:"displayName,omitempty"`
		EntityTypeName   string          `json:"entityTypeName,omitempty"`
		RecoveryAction   string          `json:"recoveryAction,omitempty"`
		FailureMessage   string          `json:"failureMessage,omitempty"`
		DeltaFromCurrent json.RawMessage `json:"deltaFromCurrent,omitempty"`
		CurrentState     json.RawMessage `json:"currentState,omitempty"`
	}{ch.ID, ch.DisplayName, ch.EntityType, ch.Action, ch.FailureMessage, delta, ch.CurrentState})
}

type wireLink struct {
	Type    string          `json:"@odata.type"`
	ID      string          `json:"id"`
	Removed json.RawMessage `json:"@removed"`
}

// links converts the first non-empty of the lists.
func linkDeltas(lists ...[]wireLink) []LinkDelta {
	for _, l := range lists {
		if len(l) == 0 {
			continue
		}
		out := make([]LinkDelta, len(l))
		for i, w := range l {
			t := strings.TrimPrefix(w.Type, "#")
			t = strings.TrimPrefix(t, "microsoft.graph.")
			out[i] = LinkDelta{Type: t, ID: w.ID, Removed: len(nonNullJSON(w.Removed)) > 0}
		}
		return out
	}
	return nil
}

func isJSONObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// nonNull is raw, or nil when it is absent or JSON null.
func nonNullJSON(raw json.RawMessage) json.RawMessage {
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	return slices.Clone(raw)
}

// ---------------------------------------------------------------------------
// Summary

// Summary is what a notification shows of a preview's changes.
type Summary struct {
	// Total counts the changes.
	Total int `json:"total"`
	// ByTypeAction counts them by entity type, then recovery action.
	ByTypeAction map[string]map[string]int `json:"byTypeAction"`
	// First are the first changes seen, at most the summarizer's FirstN.
	First []Change `json:"first,omitempty"`
	// LinksRemoved counts member links removed since the snapshot, which
	// the recovery would add back (members@delta entries without
	// "@removed"); LinksAdded counts member links added since, which it
	// would remove. Owner links are not counted: recovery does not restore
	// them (reference §1.7).
	LinksRemoved int `json:"linksRemoved"`
	LinksAdded   int `json:"linksAdded"`
}

// Summarizer builds a Summary one change at a time, holding only the
// counts and the first FirstN changes. Its Add is a ready callback for
// Client.Changes:
//
//	s := backup.Summarizer{FirstN: 5}
//	err := client.Changes(ctx, job, s.Add)
//	summary := s.Summary()
type Summarizer struct {
	// FirstN is how many changes Summary.First keeps.
	FirstN int
	s      Summary
}

// Add counts ch and reports true, so that paging goes on.
func (z *Summarizer) Add(ch Change) bool {
	z.s.Total++
	if z.s.ByTypeAction == nil {
		z.s.ByTypeAction = map[string]map[string]int{}
	}
	byAction := z.s.ByTypeAction[ch.EntityType]
	if byAction == nil {
		byAction = map[string]int{}
		z.s.ByTypeAction[ch.EntityType] = byAction
	}
	byAction[ch.Action]++
	if len(z.s.First) < z.FirstN {
		z.s.First = append(z.s.First, ch)
	}
	for _, l := range ch.MembersDelta {
		if l.Removed {
			z.s.LinksAdded++
		} else {
			z.s.LinksRemoved++
		}
	}
	return true
}

// Summary is the summary so far. ByTypeAction is never nil.
func (z *Summarizer) Summary() Summary {
	s := z.s
	if s.ByTypeAction == nil {
		s.ByTypeAction = map[string]map[string]int{}
	}
	return s
}

// Summarize summarizes a stream of changes, keeping the first firstN.
func Summarize(changes iter.Seq[Change], firstN int) Summary {
	z := Summarizer{FirstN: firstN}
	for ch := range changes {
		z.Add(ch)
	}
	return z.Summary()
}

// ---------------------------------------------------------------------------
// Helpers

// graphTime is a DateTimeOffset that may be null or absent. Graph writes
// RFC 3339 with up to seven fractional digits; a value without a zone is
// read as UTC.
type graphTime struct {
	t   time.Time
	set bool
}

func (g *graphTime) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*g = graphTime{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == "" {
		*g = graphTime{}
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			*g = graphTime{t: t.UTC(), set: true}
			return nil
		}
	}
	return fmt.Errorf("%q is not a date-time", s)
}

func intOrZero(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
