// Package functions binds each Azure Functions function to the pipeline. The
// folders beside this file hold each function's function.json, the source of
// truth for its bindings; the folder name is the function name the host
// POSTs to. This package only adapts the host's envelope: it holds no logic.
package functions

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/reinstate/reinstate/pkg/backup"
	"github.com/reinstate/reinstate/pkg/customhandler"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/reconcile"
	"github.com/reinstate/reinstate/pkg/recovery"
)

// Function names: the folder names under functions/.
const (
	AuditEvents  = "AuditEvents"
	Maintenance  = "Maintenance"
	Recover      = "Recover"
	Notify       = "Notify"
	OnCall       = "OnCall"
	RecoveryJobs = "RecoveryJobs"
	Reconcile    = "Reconcile"
)

// OnCall's bindings and route, as OnCall/function.json names them. The
// host's default route prefix is "api".
const (
	onCallTrigger = "req"
	onCallOutput  = "res"
	onCallPrefix  = "/api/recovery/"
)

// auditEventsBinding is the trigger's binding name in AuditEvents/function.json.
const auditEventsBinding = "events"

// Pipeline is what the functions call.
type Pipeline interface {
	Ingest(ctx context.Context, batch pipeline.Batch) (pipeline.Report, error)
	DeadLetterInvocation(ctx context.Context, source string, raw []byte, reason error) error
	Maintain(ctx context.Context) (pipeline.MaintenanceReport, error)
}

// Recoverer carries out due restore intents.
type Recoverer interface {
	Drain(ctx context.Context) (recovery.DrainReport, error)
}

// Notifier delivers due notifications.
type Notifier interface {
	Drain(ctx context.Context) (notify.DrainReport, error)
}

// Register binds every function to p, r and n on srv.
func Register(srv *customhandler.Server, p Pipeline, r Recoverer, n Notifier) {
	srv.Handle(Notify, customhandler.HandlerFunc(func(ctx context.Context, req *customhandler.Request) (*customhandler.Response, error) {
		// Messages wait in the store for their group to fill; this timer
		// sends them, since an invocation must not sleep for a group.
		report, err := n.Drain(ctx)
		if err != nil {
			return nil, customhandler.Transient(err)
		}
		return &customhandler.Response{Logs: []string{fmt.Sprintf("notifications: %d sent, %d to retry, %d dead letters, %d failed", report.Sent, report.Retried, report.DeadLettered, report.Failed)}}, nil
	}))
	srv.Handle(Recover, customhandler.HandlerFunc(func(ctx context.Context, req *customhandler.Request) (*customhandler.Response, error) {
		// A timer backstop: on Flex Consumption an instance may be frozen or
		// gone between invocations, so in-process workers alone cannot be
		// trusted to drain the outbox.
		report, err := r.Drain(ctx)
		if err != nil {
			return nil, customhandler.Transient(err)
		}
		return &customhandler.Response{Logs: []string{fmt.Sprintf("restore intents: %d done, %d to retry, %d failed", report.Done, report.Retried, report.Failed)}}, nil
	}))
	srv.Handle(AuditEvents, customhandler.HandlerFunc(func(ctx context.Context, req *customhandler.Request) (*customhandler.Response, error) {
		return auditEvents(ctx, p, req)
	}))
	srv.Handle(Maintenance, customhandler.HandlerFunc(func(ctx context.Context, req *customhandler.Request) (*customhandler.Response, error) {
		return maintenance(ctx, p, req)
	}))
}

// Cases moves Backup & Recovery cases on; *backup.Orchestrator is one.
type Cases interface {
	Tick(ctx context.Context) (backup.TickReport, error)
}

// RegisterRecoveryJobs binds the RecoveryJobs timer to c: jobs take an hour
// or more, so a timer, not an invocation, follows them.
func RegisterRecoveryJobs(srv *customhandler.Server, c Cases) {
	srv.Handle(RecoveryJobs, customhandler.HandlerFunc(func(ctx context.Context, req *customhandler.Request) (*customhandler.Response, error) {
		report, err := c.Tick(ctx)
		if err != nil {
			return nil, customhandler.Transient(err)
		}
		return &customhandler.Response{Logs: []string{fmt.Sprintf("Backup & Recovery cases: %d open, %d moved on, busy %v", report.Open, report.Changed, report.Busy)}}, nil
	}))
}

// Sweeper runs the reconciliation sweep; *reconcile.Sweeper is one.
type Sweeper interface {
	Sweep(ctx context.Context, dryRun bool) (reconcile.Report, error)
}

// RegisterReconcile binds the Reconcile timer to s: the net under lost or
// late audit events.
func RegisterReconcile(srv *customhandler.Server, s Sweeper) {
	srv.Handle(Reconcile, customhandler.HandlerFunc(func(ctx context.Context, req *customhandler.Request) (*customhandler.Response, error) {
		report, err := s.Sweep(ctx, false)
		if err != nil {
			return nil, customhandler.Transient(err)
		}
		line := fmt.Sprintf("reconciliation: %d deletions listed, %d never decided, %d restore intents", report.Listed, len(report.Missed), report.Pipeline.Intents)
		if report.Gap != "" {
			line += "; " + report.Gap
		}
		return &customhandler.Response{Logs: []string{line}}, nil
	}))
}

// RegisterOnCall binds the OnCall HTTP function to api, the on-call API
// (package oncall), whichever way the host hands requests over: forwarded
// to their own path, or in the invocation envelope.
func RegisterOnCall(srv *customhandler.Server, api http.Handler) {
	srv.HandleHTTP(OnCall, onCallPrefix, onCallTrigger, onCallOutput, api)
}

func auditEvents(ctx context.Context, p Pipeline, req *customhandler.Request) (*customhandler.Response, error) {
	source := AuditEvents + " invocation " + req.InvocationID
	retry, hasRetry := req.RetryContext()
	if hasRetry && retry.RetryCount > 0 {
		source += fmt.Sprintf(" retry %d/%d", retry.RetryCount, retry.MaxRetryCount)
	}
	bodies, err := req.Strings(auditEventsBinding)
	if err != nil {
		if dlErr := p.DeadLetterInvocation(ctx, source, req.Data[auditEventsBinding], err); dlErr != nil {
			return nil, customhandler.Transient(dlErr)
		}
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	meta := req.EventHubMetadata()
	// Without a retry context the host has no retry policy and will not
	// deliver the batch again; -1 means it retries for ever.
	last := !hasRetry || (retry.MaxRetryCount >= 0 && retry.RetryCount >= retry.MaxRetryCount)
	batch := pipeline.Batch{Source: source, Bodies: make([]pipeline.Body, len(bodies)), LastAttempt: last}
	for i, body := range bodies {
		batch.Bodies[i] = pipeline.Body{Data: []byte(body), Source: meta.Describe(i)}
	}
	report, err := p.Ingest(ctx, batch)
	if errors.Is(err, pipeline.ErrRetryLater) {
		return nil, customhandler.Transient(err)
	}
	if err != nil {
		return nil, err
	}
	return &customhandler.Response{Logs: []string{report.String()}}, nil
}

// maintenanceBinding is the trigger's binding name in Maintenance/function.json.
const maintenanceBinding = "timer"

func maintenance(ctx context.Context, p Pipeline, req *customhandler.Request) (*customhandler.Response, error) {
	report, err := p.Maintain(ctx)
	if err != nil {
		return nil, customhandler.Transient(err)
	}
	logs := []string{fmt.Sprintf("expired %d processed-record ids and %d finished intents", report.ExpiredClaims, report.ExpiredIntents)}
	// The timer payload is informational here; an unreadable one must not
	// stop maintenance (azure-functions-host#7391).
	if timer, err := req.TimerInfo(maintenanceBinding); err == nil && timer.IsPastDue {
		logs = append(logs, "run was past due; last run "+timer.Last.Format(time.RFC3339))
	}
	return &customhandler.Response{Logs: logs}, nil
}
