// Package recovery restores deleted Entra ID objects through Microsoft Graph
// (msgraph-sdk-go). It never trusts what an audit event claims: before it
// writes, it reads the object live and in the recycle bin, and after it
// writes, it reads the object back.
package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/directory"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/graphapi"
)

// Status is how a restore ended.
type Status string

// Restore outcomes. Only RetryError (returned as an error) is not final.
const (
	// StatusRestored: restored from the bin and read back live.
	StatusRestored Status = "restored"
	// StatusAlreadyLive: the object was live already; nothing was written.
	// Restores are idempotent because of it.
	StatusAlreadyLive Status = "already-live"
	// StatusNotFound: neither live nor in the bin (hard-deleted, purged
	// after 30 days, or never existed). Final.
	StatusNotFound Status = "not-found"
	// StatusConflict: the restore collides with a live object (a taken
	// userPrincipalName, clashing proxyAddresses). A person must choose.
	StatusConflict Status = "conflict"
	// StatusFailed: Graph refused for a reason retrying cannot fix, such as
	// a missing permission. Final.
	StatusFailed Status = "failed"
)

// Request names what to restore.
type Request struct {
	ObjectID   string           `json:"objectId"`
	ObjectType audit.TargetType `json:"objectType"`
	Options    Options          `json:"options,omitempty"`
}

// Options change how a restore is done; rules and on-call set them.
type Options struct {
	// AutoReconcileProxyConflict retries a user restore that clashes on
	// proxyAddresses, letting Entra drop the clashing addresses. The first
	// try goes without it, so that addresses are dropped only when they
	// clash, and the outcome's Actions name the ones that were.
	AutoReconcileProxyConflict bool `json:"autoReconcileProxyConflict,omitempty"`
	// NewUserPrincipalName restores a user under another UPN; on-call's
	// answer to a UPN conflict.
	NewUserPrincipalName string `json:"newUserPrincipalName,omitempty"`
	// CAPolicyStateAfterRestore "reportOnly" moves a restored Conditional
	// Access policy that was enabled to report-only, so that it does not
	// enforce again before someone has looked at it.
	CAPolicyStateAfterRestore string `json:"caPolicyStateAfterRestore,omitempty"`
	// SkipServicePrincipal leaves an application's service principal in the
	// bin. By default it is restored too, since restoring an application
	// never restores it (reference graph-recovery-apis.md §2.1).
	SkipServicePrincipal bool `json:"skipServicePrincipal,omitempty"`
}

// CAStateReportOnly is the option value that moves a policy to report-only.
const CAStateReportOnly = "reportOnly"

// Outcome records what a restore found and did, for the journal.
type Outcome struct {
	ObjectID   string           `json:"objectId"`
	ObjectType audit.TargetType `json:"objectType"`
	Status     Status           `json:"status"`
	// Verified is true when the object was read back live after the write.
	Verified bool   `json:"verified"`
	Detail   string `json:"detail,omitempty"`
	// Actions lists what was done beyond the plain restore.
	Actions []string `json:"actions,omitempty"`
	// Before is the object as the bin held it; After as read back live.
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	// Related are restores this one caused: an application's service principal.
	Related []Outcome `json:"related,omitempty"`
}

// kind is what differs between object types.
type kind struct {
	odataType string
	// live builds the GET of the live object.
	live func(x *Executor, ctx context.Context, id string) (*abstractions.RequestInformation, error)
	// caBin is the beta path of the Conditional Access bin; empty for the
	// directory bin.
	caBin string
	// permission names the least-privileged application permission, for
	// messages (Learn directory-deleteditems-restore; reference §2.4).
	permission string
}

var kinds = map[audit.TargetType]kind{
	audit.TargetUser: {"#microsoft.graph.user", func(x *Executor, ctx context.Context, id string) (*abstractions.RequestInformation, error) {
		return x.graph.V1.Users().ByUserId(id).ToGetRequestInformation(ctx, nil)
	}, "", "User.DeleteRestore.All"},
	audit.TargetGroup: {"#microsoft.graph.group", func(x *Executor, ctx context.Context, id string) (*abstractions.RequestInformation, error) {
		return x.graph.V1.Groups().ByGroupId(id).ToGetRequestInformation(ctx, nil)
	}, "", "Group.ReadWrite.All"},
	audit.TargetApplication: {"#microsoft.graph.application", func(x *Executor, ctx context.Context, id string) (*abstractions.RequestInformation, error) {
		return x.graph.V1.Applications().ByApplicationId(id).ToGetRequestInformation(ctx, nil)
	}, "", "Application.ReadWrite.OwnedBy (owned apps) or Application.ReadWrite.All"},
	audit.TargetServicePrincipal: {"#microsoft.graph.servicePrincipal", func(x *Executor, ctx context.Context, id string) (*abstractions.RequestInformation, error) {
		return x.graph.V1.ServicePrincipals().ByServicePrincipalId(id).ToGetRequestInformation(ctx, nil)
	}, "", "Application.ReadWrite.OwnedBy (owned apps) or Application.ReadWrite.All"},
	audit.TargetAdministrativeUnit: {"#microsoft.graph.administrativeUnit", func(x *Executor, ctx context.Context, id string) (*abstractions.RequestInformation, error) {
		return x.graph.V1.Directory().AdministrativeUnits().ByAdministrativeUnitId(id).ToGetRequestInformation(ctx, nil)
	}, "", "AdministrativeUnit.ReadWrite.All"},
	// The Conditional Access bin is beta-only and the SDK has no builder for
	// it (reference §2.3, §6.2).
	audit.TargetConditionalAccessPolicy: {"#microsoft.graph.conditionalAccessPolicy", func(x *Executor, ctx context.Context, id string) (*abstractions.RequestInformation, error) {
		return x.graph.V1.Identity().ConditionalAccess().Policies().ByConditionalAccessPolicyId(id).ToGetRequestInformation(ctx, nil)
	}, "identity/conditionalAccess/deletedItems/policies", "Policy.Read.All and Policy.ReadWrite.ConditionalAccess"},
	audit.TargetNamedLocation: {"", func(x *Executor, ctx context.Context, id string) (*abstractions.RequestInformation, error) {
		return x.graph.V1.Identity().ConditionalAccess().NamedLocations().ByNamedLocationId(id).ToGetRequestInformation(ctx, nil)
	}, "identity/conditionalAccess/deletedItems/namedLocations", "Policy.Read.All and Policy.ReadWrite.ConditionalAccess"},
}

// Restorable reports whether the executor knows how to restore objects of t.
func Restorable(t audit.TargetType) bool {
	_, ok := kinds[t]
	return ok
}

// Executor restores objects. It is safe for concurrent use.
type Executor struct {
	graph *graphapi.Client
	// pacer spaces directory writes; caPacer every Conditional Access
	// request, reads included, since that limit counts them all.
	pacer   *Pacer
	caPacer *Pacer
	log     *slog.Logger
	// verifyDelays are the waits before each read-back after a write:
	// directory reads are eventually consistent, so a fresh restore may
	// take a moment to show.
	verifyDelays []time.Duration
	// followUpDelays are the waits before each try of a write that follows
	// a restore (moving a policy to report-only). A later attempt of the
	// whole restore would find the object live and skip it, so it is
	// retried here or not at all.
	followUpDelays []time.Duration
}

// ExecutorOptions tune an Executor.
type ExecutorOptions struct {
	// Logger receives the executor's logs; nil discards them.
	Logger *slog.Logger
	// Pacer spaces directory writes; default: the documented directory
	// write quota. Give every Executor of one app the same Pacer: the quota
	// is the app's.
	Pacer *Pacer
	// CAPacer spaces Conditional Access requests; default: the documented 1
	// request per second per tenant. That limit is the tenant's, for all
	// apps, so a 429 can still come when others use it.
	CAPacer *Pacer
	// VerifyDelays override the read-back waits (tests use zeros).
	VerifyDelays []time.Duration
	// FollowUpDelays override the waits between tries of a follow-up write
	// (tests use zeros); one try per delay, and empty means the default.
	FollowUpDelays []time.Duration
}

// NewExecutor returns an Executor over graph.
func NewExecutor(graph *graphapi.Client, opts ExecutorOptions) *Executor {
	x := &Executor{graph: graph, pacer: opts.Pacer, caPacer: opts.CAPacer, log: opts.Logger,
		verifyDelays: opts.VerifyDelays, followUpDelays: opts.FollowUpDelays}
	if x.pacer == nil {
		x.pacer = NewPacer(DefaultWriteQuota, DefaultWriteWindow)
	}
	if x.caPacer == nil {
		x.caPacer = NewPacer(DefaultCAQuota, DefaultCAWindow)
	}
	if x.log == nil {
		x.log = slog.New(slog.DiscardHandler)
	}
	if x.verifyDelays == nil {
		x.verifyDelays = []time.Duration{0, 500 * time.Millisecond, time.Second, 2 * time.Second}
	}
	// Unlike verification, the follow-up cannot be skipped: an empty list
	// would leave a policy asked for as report-only enforcing.
	if len(x.followUpDelays) == 0 {
		x.followUpDelays = []time.Duration{0, time.Second, 4 * time.Second}
	}
	return x
}

// Restore brings req's object back. A final outcome comes with a nil error;
// a *RetryError means nothing final happened and the caller should try again.
func (x *Executor) Restore(ctx context.Context, req Request) (Outcome, error) {
	k, ok := kinds[req.ObjectType]
	if !ok {
		return Outcome{ObjectID: req.ObjectID, ObjectType: req.ObjectType, Status: StatusFailed,
			Detail: fmt.Sprintf("objects of type %q cannot be restored", req.ObjectType)}, nil
	}
	out, err := x.restore(ctx, k, req)
	if err != nil {
		return out, err
	}
	if req.ObjectType == audit.TargetApplication && !req.Options.SkipServicePrincipal &&
		(out.Status == StatusRestored || out.Status == StatusAlreadyLive) {
		related, err := x.pairServicePrincipal(ctx, out)
		if err != nil {
			return out, err
		}
		if related != nil {
			out.Related = append(out.Related, *related)
		}
	}
	return out, nil
}

func (x *Executor) restore(ctx context.Context, k kind, req Request) (Outcome, error) {
	out := Outcome{ObjectID: req.ObjectID, ObjectType: req.ObjectType}
	if !audit.ValidObjectID(req.ObjectID) {
		out.Status, out.Detail = StatusFailed, "object id is not a directory object id"
		return out, nil
	}
	live, err := x.readLive(ctx, k, req.ObjectID)
	switch {
	case err == nil:
		out.Status, out.Verified, out.After = StatusAlreadyLive, true, live
		if req.ObjectType == audit.TargetConditionalAccessPolicy && req.Options.CAPolicyStateAfterRestore == CAStateReportOnly && policyState(live) == "enabled" {
			// An earlier attempt may have restored it and lost the answer,
			// but someone may as well have enabled it on purpose: a live
			// policy is not changed, but on-call must hear that it enforces.
			out.Detail = "the policy is live and ENABLED although report-only was asked for: restored by someone else, or by an earlier attempt whose answer was lost; left as it is"
		}
		return out, nil
	case !isNotFound(err):
		return x.failure(out, k, "read the live object", err)
	}

	before, err := x.readBin(ctx, k, req.ObjectID)
	if isNotFound(err) {
		out.Status, out.Detail = StatusNotFound, "not live and not in the recycle bin: hard-deleted, purged, or never there"
		return out, nil
	}
	if err != nil {
		return x.failure(out, k, "read the recycle bin", err)
	}
	out.Before = before
	if got := odataType(before); k.odataType != "" && got != "" && !strings.EqualFold(got, k.odataType) {
		out.Status, out.Detail = StatusFailed, fmt.Sprintf("the recycle bin holds %s under this id, not %s", got, k.odataType)
		return out, nil
	}

	body, err := restoreBody(req, false)
	if err != nil {
		return out, err
	}
	_, err = x.write(ctx, x.restoreRequest(ctx, k, req.ObjectID), body)
	return x.settle(ctx, k, req, out, err)
}

// settle finishes a restore from the answer to its first POST: it retries a
// proxyAddresses clash when asked to, classifies a refusal, and verifies a
// success. RestoreMany shares it for every answer but a plain success, so
// that both paths decide alike.
func (x *Executor) settle(ctx context.Context, k kind, req Request, out Outcome, err error) (Outcome, error) {
	reconciled := false
	if ge := asGraphError(err); ge != nil && ge.Status == http.StatusBadRequest && hasTarget(ge, "proxyAddresses") && req.ObjectType == audit.TargetUser {
		if !req.Options.AutoReconcileProxyConflict {
			out.Status, out.Detail = StatusConflict, "proxyAddresses clash with a live object; restore with autoReconcileProxyConflict to drop the clashing addresses"
			return out, nil
		}
		body, berr := restoreBody(req, true)
		if berr != nil {
			return out, berr
		}
		reconciled = true
		_, err = x.write(ctx, x.restoreRequest(ctx, k, req.ObjectID), body)
	}
	if ge := asGraphError(err); ge != nil {
		switch {
		case ge.Status == http.StatusBadRequest && hasTarget(ge, "userPrincipalName"):
			out.Status, out.Detail = StatusConflict, "userPrincipalName is taken by a live object; on-call can restore with newUserPrincipalName"
			return out, nil
		case ge.Status == http.StatusNotFound:
			// Gone between the read and the write: restored by someone else,
			// or purged. The live read decides.
			if live, lerr := x.readLive(ctx, k, req.ObjectID); lerr == nil {
				out.Status, out.Verified, out.After = StatusAlreadyLive, true, live
				return out, nil
			}
			out.Status, out.Detail = StatusNotFound, "left the recycle bin before it could be restored"
			return out, nil
		}
		return x.failure(out, k, "restore", err)
	}

	// From here on the restore has happened: whatever follows, the outcome
	// is final, since trying again would find the object live.
	out.Status = StatusRestored
	x.verify(ctx, k, &out)
	x.afterRestored(ctx, req, &out, reconciled)
	return out, nil
}

// afterRestored adds what follows a verified (or unverifiable) restore: the
// reconciliation note and the report-only move.
func (x *Executor) afterRestored(ctx context.Context, req Request, out *Outcome, reconciled bool) {
	if reconciled {
		out.Actions = append(out.Actions, "retried with autoReconcileProxyConflict after a proxyAddresses conflict; "+droppedAddresses(*out))
	}
	if req.ObjectType == audit.TargetConditionalAccessPolicy && req.Options.CAPolicyStateAfterRestore == CAStateReportOnly {
		x.reportOnly(ctx, out)
	}
}

// droppedAddresses says which proxyAddresses Entra removed to reconcile a
// conflict, from the bin copy and the read-back.
func droppedAddresses(out Outcome) string {
	if len(out.After) == 0 {
		return "the addresses Entra dropped are unknown: the user could not be read back"
	}
	var before, after struct {
		ProxyAddresses []string `json:"proxyAddresses"`
	}
	_ = json.Unmarshal(out.Before, &before)
	_ = json.Unmarshal(out.After, &after)
	var dropped []string
	for _, a := range before.ProxyAddresses {
		if !slices.ContainsFunc(after.ProxyAddresses, func(b string) bool { return strings.EqualFold(a, b) }) {
			dropped = append(dropped, a)
		}
	}
	if len(dropped) == 0 {
		return "no proxyAddresses were dropped"
	}
	return "dropped proxyAddresses: " + strings.Join(dropped, ", ")
}

// failure turns a Graph error into a final outcome or a RetryError. send
// has already paused the pacer a 429 concerned.
func (x *Executor) failure(out Outcome, k kind, step string, err error) (Outcome, error) {
	ge := asGraphError(err)
	if ge.Retryable() {
		return out, &RetryError{After: ge.RetryAfter, Err: fmt.Errorf("%s %s %s: %w", step, out.ObjectType, out.ObjectID, ge)}
	}
	out.Status = StatusFailed
	out.Detail = fmt.Sprintf("%s: %s", step, ge.Error())
	if ge.Status == http.StatusForbidden || ge.Status == http.StatusUnauthorized {
		out.Detail += "; Reinstate's identity needs " + k.permission
	}
	return out, nil
}

// backoffFor is how long every writer pauses after a 429: Retry-After when
// Graph gives one, else a pause long enough for a one-second window (the
// Conditional Access limit, which sends no Retry-After) to pass.
func backoffFor(ge *graphError) time.Duration {
	if ge.HasRetryAfter && ge.RetryAfter > 0 {
		return ge.RetryAfter
	}
	return 2 * time.Second
}

// verify reads the object back until it shows, or the delays run out.
func (x *Executor) verify(ctx context.Context, k kind, out *Outcome) {
	for _, delay := range x.verifyDelays {
		if !sleep(ctx, delay) {
			break
		}
		live, err := x.readLive(ctx, k, out.ObjectID)
		if err == nil {
			out.Verified, out.After = true, live
			return
		}
	}
	out.Detail = "restore accepted, but the object was not yet readable live"
}

// reportOnly moves a restored, enabled policy to report-only. The policy is
// live by now, so a RetryError would be wrong twice over: the restore is
// done, and the next attempt would find the policy live and leave it
// enforcing. It therefore retries here, and failing that says in Detail
// that the policy is enforcing.
func (x *Executor) reportOnly(ctx context.Context, out *Outcome) {
	if policyState(firstNonEmpty(out.After, out.Before)) != "enabled" {
		return
	}
	var ge *graphError
	moved := false
	for _, delay := range x.followUpDelays {
		if !sleep(ctx, delay) {
			ge = &graphError{Err: ctx.Err()}
			break
		}
		// enabledForReportingButNotEnforced is report-only (Learn
		// conditionalaccesspolicy resource, property state).
		_, err := x.write(ctx, x.v1Request(abstractions.PATCH, "identity/conditionalAccess/policies/"+url.PathEscape(out.ObjectID)),
			[]byte(`{"state":"enabledForReportingButNotEnforced"}`))
		if ge = asGraphError(err); ge == nil {
			moved = true
			break
		}
		if !ge.Retryable() {
			break
		}
	}
	if !moved {
		out.Detail = joinDetail(out.Detail, "restored ENABLED: moving it to report-only failed: "+ge.Error())
		return
	}
	out.Actions = append(out.Actions, "moved to report-only (state enabledForReportingButNotEnforced) after restore; it was enabled")
	if live, err := x.readLive(ctx, kinds[audit.TargetConditionalAccessPolicy], out.ObjectID); err == nil {
		out.After = live
	}
}

// policyState is a Conditional Access policy's state property.
func policyState(raw json.RawMessage) string {
	var policy struct {
		State string `json:"state"`
	}
	_ = json.Unmarshal(raw, &policy)
	return policy.State
}

// sleep waits d, or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// pairServicePrincipal restores the service principal of a restored
// application, found by appId, or reports that it is already live or gone.
func (x *Executor) pairServicePrincipal(ctx context.Context, app Outcome) (*Outcome, error) {
	var fields struct {
		AppID string `json:"appId"`
	}
	_ = json.Unmarshal(firstNonEmpty(app.After, app.Before), &fields)
	if !audit.ValidObjectID(fields.AppID) {
		return nil, nil
	}
	filter := "appId eq '" + fields.AppID + "'"
	deleted, err := x.listIDs(ctx, func() (*abstractions.RequestInformation, error) {
		return x.graph.V1.Directory().DeletedItems().GraphServicePrincipal().ToGetRequestInformation(ctx,
			&directory.DeletedItemsGraphServicePrincipalRequestBuilderGetRequestConfiguration{
				QueryParameters: &directory.DeletedItemsGraphServicePrincipalRequestBuilderGetQueryParameters{Filter: &filter},
			})
	})
	if err != nil {
		ge := asGraphError(err)
		if ge.Retryable() {
			return nil, &RetryError{After: ge.RetryAfter, Err: fmt.Errorf("find the service principal of app %s: %w", fields.AppID, ge)}
		}
		return &Outcome{ObjectType: audit.TargetServicePrincipal, Status: StatusFailed, Detail: "find the service principal by appId: " + ge.Error()}, nil
	}
	if len(deleted) > 0 {
		sp, err := x.Restore(ctx, Request{ObjectID: deleted[0], ObjectType: audit.TargetServicePrincipal})
		return &sp, err
	}
	live, err := x.listIDs(ctx, func() (*abstractions.RequestInformation, error) {
		return x.graph.V1.ServicePrincipals().ToGetRequestInformation(ctx,
			&serviceprincipals.ServicePrincipalsRequestBuilderGetRequestConfiguration{
				QueryParameters: &serviceprincipals.ServicePrincipalsRequestBuilderGetQueryParameters{Filter: &filter},
			})
	})
	switch {
	case err != nil:
		ge := asGraphError(err)
		if ge.Retryable() {
			return nil, &RetryError{After: ge.RetryAfter, Err: fmt.Errorf("find the live service principal of app %s: %w", fields.AppID, ge)}
		}
		return &Outcome{ObjectType: audit.TargetServicePrincipal, Status: StatusFailed, Detail: "find the live service principal by appId: " + ge.Error()}, nil
	case len(live) > 0:
		return &Outcome{ObjectID: live[0], ObjectType: audit.TargetServicePrincipal, Status: StatusAlreadyLive, Verified: true}, nil
	}
	return &Outcome{ObjectType: audit.TargetServicePrincipal, Status: StatusNotFound,
		Detail: "the application has no service principal live or in the recycle bin (appId " + fields.AppID + ")"}, nil
}

// readLive GETs the live object; a 404 means it is not live.
func (x *Executor) readLive(ctx context.Context, k kind, id string) (json.RawMessage, error) {
	ri, err := k.live(x, ctx, id)
	if err != nil {
		return nil, err
	}
	return x.send(ctx, ri)
}

// readBin GETs the object from its recycle bin.
func (x *Executor) readBin(ctx context.Context, k kind, id string) (json.RawMessage, error) {
	if k.caBin != "" {
		return x.send(ctx, x.betaRequest(abstractions.GET, k.caBin+"/"+url.PathEscape(id)))
	}
	ri, err := x.graph.V1.Directory().DeletedItems().ByDirectoryObjectId(id).ToGetRequestInformation(ctx, nil)
	if err != nil {
		return nil, err
	}
	return x.send(ctx, ri)
}

// restoreRequest is POST …/restore on the object's bin. The SDK builds the
// directory URL but has no body parameter (reference §6.3), so write sets
// the body on the request information.
func (x *Executor) restoreRequest(ctx context.Context, k kind, id string) *abstractions.RequestInformation {
	if k.caBin != "" {
		return x.betaRequest(abstractions.POST, k.caBin+"/"+url.PathEscape(id)+"/restore")
	}
	ri, err := x.graph.V1.Directory().DeletedItems().ByDirectoryObjectId(id).Restore().ToPostRequestInformation(ctx, nil)
	if err != nil {
		// Building a request from a fixed template with a validated id does
		// not fail; if it ever does, fall back to the documented path.
		return x.v1Request(abstractions.POST, "directory/deletedItems/"+url.PathEscape(id)+"/restore")
	}
	return ri
}

// restoreBody is the documented optional body, users only (Learn
// directory-deleteditems-restore, ms.date 06/23/2025). reconcile sends
// autoReconcileProxyConflict, which the caller does only after a clash.
func restoreBody(req Request, reconcile bool) ([]byte, error) {
	if req.ObjectType != audit.TargetUser {
		return nil, nil
	}
	body := map[string]any{}
	if reconcile {
		body["autoReconcileProxyConflict"] = true
	}
	if req.Options.NewUserPrincipalName != "" {
		body["newUserPrincipalName"] = req.Options.NewUserPrincipalName
	}
	if len(body) == 0 {
		return nil, nil
	}
	return json.Marshal(body)
}

// write sends a write, paced by the directory write quota unless it is a
// Conditional Access one, which send paces by that limit instead.
func (x *Executor) write(ctx context.Context, ri *abstractions.RequestInformation, body []byte) (json.RawMessage, error) {
	if !isConditionalAccess(ri) {
		if err := x.pacer.Wait(ctx); err != nil {
			return nil, &graphError{Err: err}
		}
	}
	if body != nil {
		ri.SetStreamContentAndContentType(body, "application/json")
	}
	return x.send(ctx, ri)
}

// send performs a request through the SDK's adapter (its middleware and
// authentication) and returns the raw JSON answer. Every Conditional Access
// request waits for the CA pacer, and a 429 pauses the pacer of the limit
// it came from, so that other restores stop too rather than each earning
// its own 429.
func (x *Executor) send(ctx context.Context, ri *abstractions.RequestInformation) (json.RawMessage, error) {
	pacer := x.pacer
	if isConditionalAccess(ri) {
		pacer = x.caPacer
		if err := pacer.Wait(ctx); err != nil {
			return nil, &graphError{Err: err}
		}
	}
	ri.Headers.TryAdd("Accept", "application/json")
	result, err := x.graph.Adapter.SendPrimitive(ctx, ri, "[]byte", graphapi.ErrorMappings)
	if err != nil {
		ge := asGraphError(err)
		if ge.Status == http.StatusTooManyRequests {
			pacer.PauseFor(backoffFor(ge))
		}
		return nil, ge
	}
	body, _ := result.([]byte)
	return body, nil
}

// isConditionalAccess reports whether ri goes to a Conditional Access path,
// live or in the beta bin: those count against the Conditional Access
// limit, not the directory's.
func isConditionalAccess(ri *abstractions.RequestInformation) bool {
	u, err := ri.GetUri()
	return err == nil && strings.Contains(strings.ToLower(u.Path), "/identity/conditionalaccess/")
}

// listIDs pages through a collection request and returns the ids.
func (x *Executor) listIDs(ctx context.Context, first func() (*abstractions.RequestInformation, error)) ([]string, error) {
	ri, err := first()
	if err != nil {
		return nil, err
	}
	var ids []string
	_, err = x.pages(ctx, ri, maxListPages, func(item json.RawMessage) bool {
		var v struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(item, &v)
		ids = append(ids, v.ID)
		return true
	})
	return ids, err
}

// maxListPages bounds any listing, so that a Graph answering nextLinks
// forever cannot keep a worker busy.
const maxListPages = 50

// errTooManyPages ends a listing that is still going after its page bound.
var errTooManyPages = errors.New("list: more pages than the bound")

// pages GETs ri and the pages its @odata.nextLink names, at most maxPages,
// handing each item to each until each returns false. more reports whether
// a next page was left unread because each stopped. A listing longer than
// maxPages gives errTooManyPages.
func (x *Executor) pages(ctx context.Context, ri *abstractions.RequestInformation, maxPages int, each func(json.RawMessage) bool) (more bool, err error) {
	for range maxPages {
		body, err := x.send(ctx, ri)
		if err != nil {
			return false, err
		}
		var list struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			return false, fmt.Errorf("decode list: %w", err)
		}
		for _, item := range list.Value {
			if !each(item) {
				return list.NextLink != "", nil
			}
		}
		if list.NextLink == "" {
			return false, nil
		}
		next, err := url.Parse(list.NextLink)
		if err != nil || next.Host != x.graph.Host() {
			// Never follow a link off the configured Graph host with our token.
			return false, fmt.Errorf("refusing @odata.nextLink %q outside %s", list.NextLink, x.graph.Host())
		}
		ri = abstractions.NewRequestInformation()
		ri.Method = abstractions.GET
		ri.SetUri(*next)
	}
	return false, errTooManyPages
}

func (x *Executor) betaRequest(method abstractions.HttpMethod, path string) *abstractions.RequestInformation {
	return x.absoluteRequest(method, x.graph.URL("beta", path))
}

func (x *Executor) v1Request(method abstractions.HttpMethod, path string) *abstractions.RequestInformation {
	return x.absoluteRequest(method, x.graph.URL("v1.0", path))
}

func (x *Executor) absoluteRequest(method abstractions.HttpMethod, raw string) *abstractions.RequestInformation {
	ri := abstractions.NewRequestInformation()
	ri.Method = method
	u, _ := url.Parse(raw) // built from a validated base and escaped segments
	ri.SetUri(*u)
	return ri
}

func isNotFound(err error) bool {
	ge := asGraphError(err)
	return ge != nil && ge.Status == http.StatusNotFound
}

func odataType(raw json.RawMessage) string {
	var v struct {
		Type string `json:"@odata.type"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.Type
}

func firstNonEmpty(values ...json.RawMessage) json.RawMessage {
	for _, v := range values {
		if len(v) > 0 {
			return v
		}
	}
	return nil
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// ErrNotInBin means the recycle bin does not hold the object: it was
// restored, purged, hard-deleted, or is of a type without a bin.
var ErrNotInBin = errors.New("recovery: not in the recycle bin")

// ReadDeleted returns the recycle bin's copy of an object, as Graph's JSON:
// what the rule table sees as `object`. It reads only, through the same
// pacing as restores (a Conditional Access read counts against that
// tenant-wide limit). A 404, an id that is not a GUID, a type without a bin
// and a bin copy of another type all give ErrNotInBin; any other error means
// the bin could not be read now.
func (x *Executor) ReadDeleted(ctx context.Context, objectType audit.TargetType, id string) (json.RawMessage, error) {
	k, ok := kinds[objectType]
	if !ok || !audit.ValidObjectID(id) {
		return nil, ErrNotInBin
	}
	raw, err := x.readBin(ctx, k, id)
	switch {
	case isNotFound(err):
		return nil, ErrNotInBin
	case err != nil:
		return nil, fmt.Errorf("read %s %s from the recycle bin: %w", objectType, id, err)
	case k.odataType != "" && odataType(raw) != "" && odataType(raw) != k.odataType:
		return nil, ErrNotInBin
	}
	return raw, nil
}
