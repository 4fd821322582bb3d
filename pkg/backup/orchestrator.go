package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
)

// Jobs is what cases need of Graph's Backup & Recovery API; *Client is the
// real one, acting as Reinstate or, through an on-behalf-of credential, as
// the person who starts or approves.
type Jobs interface {
	Snapshots(ctx context.Context) ([]Snapshot, error)
	CreatePreview(ctx context.Context, snapshotID string, f *Filter) (Job, error)
	CreateRecovery(ctx context.Context, snapshotID string, f *Filter) (Job, error)
	Job(ctx context.Context, job Job) (Job, error)
	Changes(ctx context.Context, job Job, each func(Change) bool) error
	FailedChanges(ctx context.Context, job Job, each func(Change) bool) error
}

// Announcer records a message for channels, delivered later;
// *notify.Dispatcher is one.
type Announcer interface {
	Announce(ctx context.Context, m notify.Message, channels []string) (int, error)
}

// LiveChecker reads an object back after a recovery; *recovery.Executor is
// one.
type LiveChecker interface {
	IsLive(ctx context.Context, t audit.TargetType, id string) (bool, error)
}

// Journal kinds cases write.
const (
	KindRequested        store.Kind = "backup.requested"
	KindPreviewStarted   store.Kind = "backup.preview.started"
	KindPreviewRefused   store.Kind = "backup.preview.needs-start"
	KindPreviewReady     store.Kind = "backup.preview.ready"
	KindRecoveryApproved store.Kind = "backup.recovery.approved"
	KindRecovered        store.Kind = "backup.recovered"
	KindCaseFailed       store.Kind = "backup.failed"
	KindCaseExpired      store.Kind = "backup.expired"
)

// LockName is the store lock held by whoever changes cases and creates
// jobs: the tenant runs one Backup & Recovery job at a time (reference
// §1.4), and this is how Reinstate's instances take turns.
const LockName = "backup:tenant"

// Options configure an Orchestrator.
type Options struct {
	Store caseStore
	// Jobs acts as Reinstate's own identity.
	Jobs Jobs
	// AsCaller returns Jobs acting as the person whose access token it is
	// given (on-behalf-of); nil refuses Start and Approve.
	AsCaller  func(ctx context.Context, token string) (Jobs, error)
	Announcer Announcer
	Live      LiveChecker
	// TenantID names the tenant in messages.
	TenantID string
	// Owner names this instance in the lock, for people.
	Owner  string
	Now    func() time.Time
	Logger *slog.Logger
	// Lease is how long the lock is held per turn (default one minute).
	Lease time.Duration
	// VerifySample is how many recovered objects are read back (default 10).
	VerifySample int
}

// Orchestrator carries cases from request to outcome. It is safe for
// concurrent use, and any number of instances may run it over one store.
type Orchestrator struct {
	o Options
}

// New returns an Orchestrator.
func New(o Options) (*Orchestrator, error) {
	if o.Store == nil || o.Jobs == nil {
		return nil, errors.New("backup: Store and Jobs are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.VerifySample <= 0 {
		o.VerifySample = 10
	}
	if o.Owner == "" {
		o.Owner = "reinstate"
	}
	return &Orchestrator{o: o}, nil
}

// ErrBusy means another instance holds the lock now; try again shortly.
var ErrBusy = errors.New("backup: another instance is changing cases; try again")

// withLock runs f holding the tenant lock, renewed while f runs.
func (or *Orchestrator) withLock(ctx context.Context, f func(ctx context.Context) error) error {
	now := or.o.Now()
	lock, ok, err := or.o.Store.AcquireLock(ctx, LockName, or.o.Owner, now, now.Add(or.o.Lease))
	if err != nil {
		return fmt.Errorf("take the Backup & Recovery lock: %w", err)
	}
	if !ok {
		return fmt.Errorf("%w (held by %s until %s)", ErrBusy, lock.Owner, lock.Until.Format(time.RFC3339))
	}
	renewCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(or.o.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-t.C:
				now := or.o.Now()
				if err := or.o.Store.RenewLock(renewCtx, LockName, lock.Token, now, now.Add(or.o.Lease)); err != nil && renewCtx.Err() == nil {
					or.o.Logger.WarnContext(ctx, "could not renew the Backup & Recovery lock", "error", err.Error())
				}
			}
		}
	}()
	err = f(ctx)
	stop()
	<-done
	if rerr := or.o.Store.ReleaseLock(context.WithoutCancel(ctx), LockName, lock.Token); rerr != nil {
		or.o.Logger.WarnContext(ctx, "could not release the Backup & Recovery lock; it frees itself when its lease ends", "error", rerr.Error())
	}
	return err
}

// Request records req: merged into a case still waiting to start, so that
// requests that arrive while a job runs go out as one preview, or as a new
// case. It reports the case and whether req was new to it.
func (or *Orchestrator) Request(ctx context.Context, req Request) (Case, bool, error) {
	if req.Key == "" || len(req.Objects) == 0 {
		return Case{}, false, errors.New("backup: a request needs a key and objects")
	}
	for attempt := 0; ; attempt++ {
		c, merged, err := or.request(ctx, req)
		if !errors.Is(err, store.ErrConflict) || attempt == 5 {
			return c, merged, err
		}
	}
}

func (or *Orchestrator) request(ctx context.Context, req Request) (Case, bool, error) {
	cases, err := or.cases(ctx)
	if err != nil {
		return Case{}, false, err
	}
	now := or.o.Now()
	// An object an open case names already (a redelivered event, a held
	// restore of an object the trip named) asks for nothing more.
	var fresh []Object
	var covering *Case
	for _, o := range req.Objects {
		named := false
		for i := range cases {
			if cases[i].State.Open() && cases[i].names(o) {
				named, covering = true, &cases[i]
				break
			}
		}
		if !named {
			fresh = append(fresh, o)
		}
	}
	if len(fresh) == 0 {
		return *covering, false, nil
	}
	req.Objects = fresh
	var target *Case
	for i := range cases {
		if cases[i].State == CaseRequested {
			target = &cases[i]
			break
		}
	}
	if target == nil {
		target = &Case{ID: store.NewID(now), State: CaseRequested}
	}
	target.merge(req)
	if err := saveCase(ctx, or.o.Store, target, now); err != nil {
		return Case{}, false, err
	}
	or.journal(ctx, target, KindRequested, "", fmt.Sprintf("%d objects requested (%s); the case now names %d", len(req.Objects), req.Reason, target.Objects()))
	return *target, true, nil
}

// cases reads every case, open or not, oldest first.
func (or *Orchestrator) cases(ctx context.Context) ([]Case, error) {
	recs, err := or.o.Store.Records(ctx, CaseKind, maxCases)
	if err != nil {
		return nil, fmt.Errorf("read cases: %w", err)
	}
	out := make([]Case, 0, len(recs))
	for _, rec := range recs {
		c, err := loadCase(rec)
		if err != nil {
			or.o.Logger.ErrorContext(ctx, "unreadable case record; left alone", "id", rec.ID, "error", err.Error())
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// Cases lists the cases, oldest first.
func (or *Orchestrator) Cases(ctx context.Context) ([]Case, error) { return or.cases(ctx) }

// Case returns one case, or an error wrapping store.ErrNotFound.
func (or *Orchestrator) Case(ctx context.Context, id string) (Case, error) {
	rec, err := or.o.Store.GetRecord(ctx, CaseKind, id)
	if err != nil {
		return Case{}, err
	}
	return loadCase(rec)
}

// TickReport counts what a tick did.
type TickReport struct {
	Open    int `json:"open"`
	Changed int `json:"changed"`
	// Busy is true when another instance held the lock: nothing was done.
	Busy bool `json:"busy"`
}

// Tick moves every open case on by what Graph says now: it polls running
// jobs, summarizes a finished preview and tells who approves it, checks a
// finished recovery, expires what waited too long, and starts the next
// requested preview when the tenant has no job running. The RecoveryJobs
// timer function calls it every minute.
func (or *Orchestrator) Tick(ctx context.Context) (TickReport, error) {
	var report TickReport
	err := or.withLock(ctx, func(ctx context.Context) error {
		cases, err := or.cases(ctx)
		if err != nil {
			return err
		}
		var errs []error
		busy := false
		for i := range cases {
			c := &cases[i]
			if !c.State.Open() {
				continue
			}
			report.Open++
			before := c.State
			if err := or.advance(ctx, c); err != nil {
				errs = append(errs, fmt.Errorf("case %s: %w", c.ID, err))
			}
			if c.State != before {
				report.Changed++
			}
			busy = busy || c.State.holdsSlot()
		}
		// The next preview starts only once the tenant's job slot is free.
		for i := range cases {
			c := &cases[i]
			if busy || c.State != CaseRequested {
				continue
			}
			if err := or.startPreview(ctx, c, or.o.Jobs, ""); err != nil {
				errs = append(errs, fmt.Errorf("case %s: %w", c.ID, err))
			}
			if c.State != CaseRequested {
				report.Changed++
			}
			busy = c.State.holdsSlot()
		}
		return errors.Join(errs...)
	})
	if errors.Is(err, ErrBusy) {
		report.Busy = true
		return report, nil
	}
	return report, err
}

// advance polls the job of a running case and acts on a finished one.
func (or *Orchestrator) advance(ctx context.Context, c *Case) error {
	now := or.o.Now()
	switch c.State {
	case CasePreviewing:
		job, err := or.o.Jobs.Job(ctx, *c.Preview)
		if err != nil {
			return fmt.Errorf("poll preview job %s: %w", c.Preview.ID, err)
		}
		c.Preview = slimJob(job)
		switch {
		case !job.Status.Terminal():
			return saveCase(ctx, or.o.Store, c, now)
		case job.Status == StatusSuccessful:
			return or.previewReady(ctx, c)
		}
		return or.fail(ctx, c, fmt.Sprintf("the preview job ended %s", job.Status))
	case CaseRecovering:
		job, err := or.o.Jobs.Job(ctx, *c.Recovery)
		if err != nil {
			return fmt.Errorf("poll recovery job %s: %w", c.Recovery.ID, err)
		}
		c.Recovery = slimJob(job)
		if !job.Status.Terminal() {
			return saveCase(ctx, or.o.Store, c, now)
		}
		return or.recoveryDone(ctx, c)
	case CaseReady, CaseNeedsStart:
		if now.Sub(c.UpdatedAt) > JobRetention {
			c.State, c.Detail = CaseExpired, fmt.Sprintf("nobody acted within %s", JobRetention)
			if err := saveCase(ctx, or.o.Store, c, now); err != nil {
				return err
			}
			or.journal(ctx, c, KindCaseExpired, "", c.Detail)
		}
	}
	return nil
}

// startPreview creates the case's preview job as jobs' identity; actor
// names the person when it is not Reinstate. A documented refusal of
// Reinstate's own identity moves the case to needs-start and tells who can
// start it; 409 (a job Reinstate does not know of runs in the tenant)
// leaves it requested for the next tick.
func (or *Orchestrator) startPreview(ctx context.Context, c *Case, jobs Jobs, actor string) error {
	now := or.o.Now()
	if c.Snapshot == nil {
		snaps, err := jobs.Snapshots(ctx)
		if err != nil {
			return fmt.Errorf("list snapshots: %w", err)
		}
		snap, ok := LatestBefore(snaps, c.Since)
		if !ok {
			return or.fail(ctx, c, fmt.Sprintf("no snapshot was taken before %s: Microsoft keeps five daily snapshots (reference §1.3), so there is nothing to recover from", c.Since.UTC().Format(time.RFC3339)))
		}
		c.Snapshot = &snap
	}
	job, err := jobs.CreatePreview(ctx, c.Snapshot.ID, c.Filter())
	switch {
	case errors.Is(err, ErrForbidden) && actor == "":
		c.State = CaseNeedsStart
		c.Detail = "Microsoft Graph refused Reinstate's own identity (creating Backup & Recovery jobs is documented as delegated-only); a person with the Recovery.Approve role starts it: POST /api/recovery/previews/" + c.ID + "/start"
		if err := saveCase(ctx, or.o.Store, c, now); err != nil {
			return err
		}
		or.journal(ctx, c, KindPreviewRefused, "", c.Detail)
		or.tell(ctx, c, notify.StatusWaitingApproval, c.Detail)
		return nil
	case errors.Is(err, ErrJobRunning):
		c.Detail = "another Backup & Recovery job runs in the tenant; waiting for it"
		return saveCase(ctx, or.o.Store, c, now)
	case err != nil:
		return fmt.Errorf("create the preview job: %w", err)
	}
	c.State, c.Preview, c.Detail = CasePreviewing, slimJob(job), ""
	if actor != "" {
		c.StartedBy = actor
	}
	if err := saveCase(ctx, or.o.Store, c, now); err != nil {
		return err
	}
	or.journal(ctx, c, KindPreviewStarted, actor, fmt.Sprintf("preview job %s of snapshot %s (%s), scope %s", job.ID, c.Snapshot.ID, c.Snapshot.CreatedAt.UTC().Format(time.RFC3339), scopeText(c)))
	return nil
}

// previewReady summarizes the finished preview's changes and tells who
// approves the recovery.
func (or *Orchestrator) previewReady(ctx context.Context, c *Case) error {
	z := Summarizer{FirstN: MaxFirstChanges}
	if err := or.o.Jobs.Changes(ctx, *c.Preview, z.Add); err != nil {
		return fmt.Errorf("read the preview's changes: %w", err)
	}
	summary := z.Summary()
	for i := range summary.First {
		summary.First[i] = slim(summary.First[i])
	}
	c.Summary = &summary
	c.State = CaseReady
	c.Detail = fmt.Sprintf("%d changes would be made; approve: POST /api/recovery/previews/%s/approve", summary.Total, c.ID)
	if err := saveCase(ctx, or.o.Store, c, or.o.Now()); err != nil {
		return err
	}
	or.journal(ctx, c, KindPreviewReady, "", summaryText(summary))
	or.tell(ctx, c, notify.StatusWaitingApproval, summaryText(summary)+"; "+c.Detail)
	return nil
}

// recoveryDone reads what the recovery could not change, reads a sample
// of the recovered objects back, and tells the outcome.
func (or *Orchestrator) recoveryDone(ctx context.Context, c *Case) error {
	c.Failed = nil
	failed := 0
	if err := or.o.Jobs.FailedChanges(ctx, *c.Recovery, func(ch Change) bool {
		failed++
		if len(c.Failed) < MaxFailedShown {
			c.Failed = append(c.Failed, slim(ch))
		}
		return true
	}); err != nil {
		return fmt.Errorf("read the recovery's failed changes: %w", err)
	}
	c.Verified, c.NotLive = 0, nil
	if or.o.Live != nil {
		or.verify(ctx, c)
	}
	status := notify.StatusRestored
	c.State = CaseRecovered
	c.Detail = fmt.Sprintf("recovery job %s ended %s; %d changes failed; %d of the objects read back live", c.Recovery.ID, c.Recovery.Status, failed, c.Verified)
	if len(c.NotLive) > 0 {
		c.Detail += fmt.Sprintf(", %d not live (%s)", len(c.NotLive), strings.Join(c.NotLive, ", "))
	}
	if c.Recovery.Status != StatusSuccessful {
		c.State, status = CaseFailed, notify.StatusFailed
	}
	if err := saveCase(ctx, or.o.Store, c, or.o.Now()); err != nil {
		return err
	}
	kind := KindRecovered
	if c.State == CaseFailed {
		kind = KindCaseFailed
	}
	or.journal(ctx, c, kind, c.ApprovedBy, c.Detail)
	or.tell(ctx, c, status, c.Detail)
	return nil
}

// verify reads back up to VerifySample of the objects the case restores.
func (or *Orchestrator) verify(ctx context.Context, c *Case) {
	checked := 0
	for _, rt := range c.scopeTypes() {
		t, ok := targetType(rt)
		if !ok {
			continue
		}
		for _, id := range c.Scope[rt] {
			if checked == or.o.VerifySample {
				return
			}
			checked++
			live, err := or.o.Live.IsLive(ctx, t, id)
			switch {
			case err != nil:
				c.NotLive = append(c.NotLive, id+" (unreadable: "+err.Error()+")")
			case live:
				c.Verified++
			default:
				c.NotLive = append(c.NotLive, id)
			}
		}
	}
}

func targetType(resourceType string) (audit.TargetType, bool) {
	for t, rt := range resourceTypes {
		if rt == resourceType {
			return t, true
		}
	}
	return "", false
}

// fail ends the case with reason and tells.
func (or *Orchestrator) fail(ctx context.Context, c *Case, reason string) error {
	c.State, c.Detail = CaseFailed, reason
	if err := saveCase(ctx, or.o.Store, c, or.o.Now()); err != nil {
		return err
	}
	or.journal(ctx, c, KindCaseFailed, "", reason)
	or.tell(ctx, c, notify.StatusFailed, reason)
	return nil
}

// ErrNotAllowed means a case cannot be started or approved in its state.
var ErrNotAllowed = errCaseState

// ErrNoApprover means nobody can act on-behalf-of a person: Reinstate's API
// app (REINSTATE_API_CLIENT_ID) is not configured.
var ErrNoApprover = errors.New("backup: acting on-behalf-of a person is not configured")

// Start creates a case's preview at a person's request: the on-call answer
// to a case that needs a start, or a way to start a requested one at once.
// Like every job creation it is tried as Reinstate first, then as the
// person (see asCaller).
func (or *Orchestrator) Start(ctx context.Context, id, token, actor string) (Case, error) {
	return or.asCaller(ctx, id, token, actor, func(ctx context.Context, c *Case, jobs Jobs) error {
		if c.State != CaseNeedsStart && c.State != CaseRequested {
			return fmt.Errorf("%w: case %s is %s", ErrNotAllowed, c.ID, c.State)
		}
		if err := or.startPreview(ctx, c, jobs, actor); err != nil {
			return err
		}
		switch c.State {
		case CasePreviewing:
			return nil
		case CaseFailed:
			// No snapshot is old enough: the case ended; nothing will run.
			return fmt.Errorf("%w: the case failed: %s", ErrNotAllowed, c.Detail)
		}
		return fmt.Errorf("%w: %s", ErrJobRunning, c.Detail)
	})
}

// Approve creates the recovery job of a ready case, with the preview's
// snapshot and scope, at the approver's request (see asCaller).
func (or *Orchestrator) Approve(ctx context.Context, id, token, actor string) (Case, error) {
	return or.asCaller(ctx, id, token, actor, func(ctx context.Context, c *Case, jobs Jobs) error {
		if c.State != CaseReady {
			return fmt.Errorf("%w: case %s is %s", ErrNotAllowed, c.ID, c.State)
		}
		job, err := jobs.CreateRecovery(ctx, c.Snapshot.ID, c.Filter())
		if err != nil {
			return fmt.Errorf("create the recovery job: %w", err)
		}
		c.State, c.Recovery, c.ApprovedBy, c.Detail = CaseRecovering, slimJob(job), actor, ""
		if err := saveCase(ctx, or.o.Store, c, or.o.Now()); err != nil {
			return err
		}
		or.journal(ctx, c, KindRecoveryApproved, actor, fmt.Sprintf("recovery job %s of snapshot %s, scope %s", job.ID, c.Snapshot.ID, scopeText(c)))
		return nil
	})
}

// asCaller loads case id under the lock and runs f with Reinstate's own
// identity; when Graph refuses that identity (creating jobs is documented
// as delegated-only, reference §1.8), it runs f again, on the case as
// stored, as the person whose token it is given (on-behalf-of). The person
// is the actor either way: the approval is theirs, whichever identity
// Graph lets create the job.
func (or *Orchestrator) asCaller(ctx context.Context, id, token, actor string, f func(context.Context, *Case, Jobs) error) (Case, error) {
	var out Case
	err := or.withLock(ctx, func(ctx context.Context) error {
		c, err := or.Case(ctx, id)
		if err != nil {
			return err
		}
		err = f(ctx, &c, or.o.Jobs)
		if errors.Is(err, ErrForbidden) {
			if or.o.AsCaller == nil {
				return fmt.Errorf("%w (Graph refused Reinstate's own identity: %w)", ErrNoApprover, err)
			}
			if c, err = or.Case(ctx, id); err != nil {
				return err
			}
			jobs, jerr := or.o.AsCaller(ctx, token)
			if jerr != nil {
				return fmt.Errorf("act on behalf of %s: %w", actor, jerr)
			}
			err = f(ctx, &c, jobs)
		}
		if err != nil {
			return err
		}
		out = c
		return nil
	})
	return out, err
}

func (or *Orchestrator) journal(ctx context.Context, c *Case, kind store.Kind, actor, detail string) {
	entry := store.Entry{Kind: kind, Actor: firstNonEmpty(actor, c.Initiator), Rule: c.Rule, Action: "preview", Outcome: string(c.State),
		Source: "backup case " + c.ID, Detail: detail, Time: or.o.Now()}
	if _, err := or.o.Store.Append(ctx, entry); err != nil {
		or.o.Logger.ErrorContext(ctx, "could not journal a Backup & Recovery case", logCase(c), "kind", string(kind), "error", err.Error())
	}
}

// tell records the message about c for its channels.
func (or *Orchestrator) tell(ctx context.Context, c *Case, status notify.Status, detail string) {
	if or.o.Announcer == nil || len(c.Notify) == 0 {
		return
	}
	m := notify.Message{
		Kind: notify.KindPreviewReady, Severity: rules.Severity(firstNonEmpty(c.Severity, "warning")), Time: c.Since, TenantID: or.o.TenantID,
		Rule: c.Rule, Activity: "Backup & Recovery", Initiator: audit.Initiator{Type: audit.InitiatorUnknown, UserPrincipalName: c.Initiator},
		Action: string(rules.ActionPreview), Outcome: notify.Outcome{Status: status, Detail: detail, Verified: c.State == CaseRecovered && len(c.NotLive) == 0 && c.Verified > 0},
	}
	if status == notify.StatusRestored {
		m.Kind = notify.KindObjectRestored
	} else if status == notify.StatusFailed {
		m.Kind = notify.KindRestoreFailed
	}
	for _, rt := range c.scopeTypes() {
		t, _ := targetType(rt)
		for _, id := range c.Scope[rt] {
			m.Total++
			if len(m.Objects) < notify.MaxObjects {
				m.Objects = append(m.Objects, notify.Object{ID: id, Type: t})
			}
		}
	}
	if _, err := or.o.Announcer.Announce(ctx, m, c.Notify); err != nil {
		or.o.Logger.ErrorContext(ctx, "could not record the message of a Backup & Recovery case", logCase(c), "error", err.Error())
	}
}

func scopeText(c *Case) string {
	var parts []string
	for _, rt := range c.scopeTypes() {
		parts = append(parts, fmt.Sprintf("%d %s", len(c.Scope[rt]), rt))
	}
	return strings.Join(parts, ", ")
}

func summaryText(s Summary) string {
	var parts []string
	for _, t := range slices.Sorted(maps.Keys(s.ByTypeAction)) {
		for _, a := range slices.Sorted(maps.Keys(s.ByTypeAction[t])) {
			parts = append(parts, fmt.Sprintf("%s %s: %d", t, a, s.ByTypeAction[t][a]))
		}
	}
	text := fmt.Sprintf("%d changes (%s)", s.Total, strings.Join(parts, ", "))
	if s.LinksRemoved > 0 {
		text += fmt.Sprintf("; %d membership links to restore", s.LinksRemoved)
	}
	return text
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
