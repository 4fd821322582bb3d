package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/functions"
	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/backup"
	"github.com/reinstate/reinstate/pkg/config"
	"github.com/reinstate/reinstate/pkg/customhandler"
	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/oncall"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/reconcile"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
)

func serveCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the Azure Functions custom handler",
		Long: `Run the custom handler that the Azure Functions host starts (host.json names
this command). It listens on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT, answers
the host's readiness probe on GET /, and handles POST /{FunctionName} for the
functions under functions/. On SIGTERM it stops accepting work and lets
in-flight invocations finish, for up to REINSTATE_SHUTDOWN_GRACE.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			ln, err := net.Listen("tcp", e.cfg.ListenAddress)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", e.cfg.ListenAddress, err)
			}
			return e.serve(ctx, ln)
		},
	}
}

// serve runs the handler on ln until ctx ends, then drains in-flight work.
// Beside it runs the worker that carries out restore intents.
func (e *env) serve(ctx context.Context, ln net.Listener) error {
	table, err := config.LoadRules(e.cfg, e.getenv)
	if err != nil {
		ln.Close()
		return err
	}
	return e.serveTable(ctx, ln, table)
}

// openParts opens what acting needs, over table: the channels, the store,
// the dispatcher, the worker and its executor, the guards and the Backup &
// Recovery orchestrator. close releases them.
func (e *env) openParts(ctx context.Context, table *rules.Table) (p parts, close func(), err error) {
	senders, closeSenders, err := notify.NewSenders(table.Channels, nil, e.stdout)
	if err != nil {
		return parts{}, nil, fmt.Errorf("rule table %s: channels: %w", table.File, err)
	}
	st, err := openStore(ctx, e.cfg.Store)
	if err != nil {
		closeSenders.Close()
		return parts{}, nil, err
	}
	close = func() { st.Close(); closeSenders.Close() }
	p = parts{st: st, table: table, self: guard.NewSelf(e.cfg.SelfIDs...)}
	p.dispatcher = notify.NewDispatcher(st, table.Channels, senders, notify.DispatcherOptions{Logger: e.log, GroupWait: e.cfg.GroupWait})
	if p.worker, p.executor, err = e.newWorker(ctx, st, p.self, table.Mode, e.tellOutcome(p.dispatcher)); err != nil {
		close()
		return parts{}, nil, err
	}
	p.guards = guard.New(st, guard.Config{TenantID: e.cfg.TenantID, Self: p.self, Rules: table.Guards})
	if p.cases, err = e.newOrchestrator(st, p.executor, p.dispatcher); err != nil {
		close()
		return parts{}, nil, err
	}
	return p, close, nil
}

// openRulesParts loads the rule table and opens the parts over it, for the
// commands that act as the service does.
func (e *env) openRulesParts(ctx context.Context) (parts, func(), error) {
	table, err := config.LoadRules(e.cfg, e.getenv)
	if err != nil {
		return parts{}, nil, err
	}
	return e.openParts(ctx, table)
}

// serveTable is serve with the rule table already loaded.
func (e *env) serveTable(ctx context.Context, ln net.Listener, table *rules.Table) error {
	p, closeParts, err := e.openParts(ctx, table)
	if err != nil {
		ln.Close()
		return err
	}
	defer closeParts()
	if table.Mode == rules.ModeEnforce && len(e.cfg.SelfIDs) == 0 && e.cfg.Graph.Auth != config.GraphAuthAzure {
		e.log.Warn("REINSTATE_SELF_IDS is empty: Reinstate cannot recognise its own restores in the audit log")
	}
	srv, sweeper, err := e.newServer(p)
	if err != nil {
		ln.Close()
		return err
	}
	api, closeAPI, err := e.newOnCallAPI(p)
	if err != nil {
		ln.Close()
		return err
	}
	defer closeAPI()
	functions.RegisterOnCall(srv, api)
	e.log.Info("reinstate serving", "address", ln.Addr().String(), "store", e.cfg.Store.String(), "graph", e.cfg.Graph.String(),
		"rules", table.File, "rule_count", len(table.Rules), "mode", string(table.Mode), "mode_from", table.ModeSource,
		"tenant", e.cfg.TenantID, "channels", len(table.Channels), "version", version())

	// The workers outlive ctx (the SIGTERM) until the server has drained,
	// so that intents recorded by the last invocations can still start,
	// and then send what is due once more.
	stopWorkers := e.runWorkers(ctx, p, sweeper)
	err = srv.Serve(ctx, ln)
	stopWorkers()
	return err
}

// runWorkers starts what runs beside the handler or the worker, in process:
// the restore worker, the notifications, the Backup & Recovery cases and
// the reconciliation sweep. They outlive ctx until stop, which ends them
// and waits for them.
func (e *env) runWorkers(ctx context.Context, p parts, sweeper *reconcile.Sweeper) (stop func()) {
	workerCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	workers.Go(func() { _ = p.worker.Run(workerCtx, workerPoll) })
	workers.Go(func() { e.runNotifications(workerCtx, p.dispatcher) })
	workers.Go(func() {
		e.every(workerCtx, e.cfg.BackupPoll, "Backup & Recovery cases", func(ctx context.Context) error { _, err := p.cases.Tick(ctx); return err })
	})
	workers.Go(func() {
		e.every(workerCtx, sweepPoll, "reconciliation", func(ctx context.Context) error { _, err := sweeper.Sweep(ctx, false); return err })
	})
	return func() { cancel(); workers.Wait() }
}

// workerPoll is how often the worker looks for due intents (retries whose
// back-off ended) when nothing wakes it.
const workerPoll = 5 * time.Second

// notifyPoll is how often `serve` sends due notifications; in Azure the
// Notify timer function does it every minute as well.
const notifyPoll = time.Second

// sweepPoll is how often `serve` sweeps the recycle bins, as the Reconcile
// timer function does in Azure.
const sweepPoll = 10 * time.Minute

// runNotifications drains the notification outbox every notifyPoll until
// ctx ends.
func (e *env) runNotifications(ctx context.Context, d *notify.Dispatcher) {
	e.every(ctx, notifyPoll, "notifications", func(ctx context.Context) error { _, err := d.Drain(ctx); return err })
}

// every runs f now and then every period until ctx ends, logging failures
// of what.
func (e *env) every(ctx context.Context, period time.Duration, what string, f func(context.Context) error) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		if err := f(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn(what+" not moved on", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// tellOutcome records the message a restore's final outcome calls for.
func (e *env) tellOutcome(d *notify.Dispatcher) func(context.Context, recovery.Plan, recovery.Outcome) {
	return func(ctx context.Context, plan recovery.Plan, out recovery.Outcome) {
		if plan.Tell == nil || len(plan.Tell.Channels) == 0 {
			return
		}
		if _, err := d.Announce(ctx, notify.FromOutcome(plan, out), plan.Tell.Channels); err != nil {
			e.log.Error("could not record the notification of a restore's outcome", "object", out.ObjectID, "error", err.Error())
		}
	}
}

// parts are what the functions and the commands that act share: one
// store, one executor, the rule table and its guards, the dispatcher and
// the Backup & Recovery orchestrator.
type parts struct {
	st         store.Store
	worker     *recovery.Worker
	executor   *recovery.Executor
	dispatcher *notify.Dispatcher
	self       *guard.Self
	guards     *guard.Guards
	table      *rules.Table
	cases      *backup.Orchestrator
}

// pipeline is the pipeline over the parts: the rule table and guards
// decide, the executor reads the recycle bin for rules that need it, the
// dispatcher records what to tell, the orchestrator takes previews.
func (e *env) pipeline(p parts) *pipeline.Pipeline {
	return e.pipelineOver(p, p.st, e.log)
}

// pipelineOver is the pipeline over the parts with its claims and journal
// in state (a replay's rehearsal wraps the store), logging to log.
func (e *env) pipelineOver(p parts, state pipeline.State, log *slog.Logger) *pipeline.Pipeline {
	return pipeline.New(state, pipeline.Options{
		Logger:         log,
		Now:            time.Now,
		ClaimLease:     e.cfg.ClaimLease,
		DedupRetention: e.cfg.DedupRetention,
		Decider:        decide.New(p.table, p.guards, time.Now),
		Bin:            p.executor,
		Announcer:      p.dispatcher,
		Self:           p.self,
		Wake:           p.worker.Notify,
		Previews:       p.cases,
		BreakerPreview: p.table.Guards.Breaker.Preview,
	})
}

// sweeper is the reconciliation sweep over the parts; a silent event stream
// is told on every channel.
func (e *env) sweeper(p parts, pl *pipeline.Pipeline) (*reconcile.Sweeper, error) {
	return reconcile.New(reconcile.Options{Bin: p.executor, Journal: p.st, Ingest: pl, Announcer: p.dispatcher,
		GapChannels: slices.Sorted(maps.Keys(p.table.Channels)), TenantID: e.cfg.TenantID, Logger: e.log})
}

// newServer binds every function to the parts on a custom-handler server.
func (e *env) newServer(p parts) (*customhandler.Server, *reconcile.Sweeper, error) {
	pl := e.pipeline(p)
	sweeper, err := e.sweeper(p, pl)
	if err != nil {
		return nil, nil, err
	}
	srv := customhandler.NewServer(customhandler.Options{Logger: e.log, ShutdownGrace: e.cfg.ShutdownGrace})
	functions.Register(srv, pl, p.worker, p.dispatcher)
	functions.RegisterRecoveryJobs(srv, p.cases)
	functions.RegisterReconcile(srv, sweeper)
	return srv, sweeper, nil
}

// newOnCallAPI is the on-call API over the same store, executor, guards and
// rule table as the pipeline. Without REINSTATE_API_AUDIENCES it is shut:
// every authenticated route answers 503.
func (e *env) newOnCallAPI(p parts) (*oncall.Server, func(), error) {
	var auth oncall.Authenticator = shutAPI{}
	closeAuth := func() {}
	if e.cfg.API.Enabled() {
		v, err := apiauth.New(apiauth.Config{TenantID: e.cfg.TenantID, Audiences: e.cfg.API.Audiences, Authority: e.cfg.API.Authority, Logger: e.log})
		if err != nil {
			return nil, nil, fmt.Errorf("on-call API: %w", err)
		}
		auth, closeAuth = v, v.Close
	} else {
		e.log.Info("on-call API shut: set " + config.EnvAPIAudiences + " to open it")
	}
	api, err := oncall.New(oncall.Options{Auth: auth, Store: p.st, Bin: p.executor, Guards: p.guards, Rules: p.table, Previews: p.cases,
		TenantID: e.cfg.TenantID, Wake: p.worker.Notify, Logger: e.log, Version: version()})
	if err != nil {
		closeAuth()
		return nil, nil, err
	}
	return api, closeAuth, nil
}

// shutAPI authenticates no one: the API answers 503 until it is configured.
type shutAPI struct{}

func (shutAPI) Authenticate(context.Context, *http.Request) (apiauth.Caller, error) {
	return apiauth.Caller{}, fmt.Errorf("%w: %s is not set", apiauth.ErrUnavailable, config.EnvAPIAudiences)
}
