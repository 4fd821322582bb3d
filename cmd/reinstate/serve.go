package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/functions"
	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/config"
	"github.com/reinstate/reinstate/pkg/customhandler"
	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/oncall"
	"github.com/reinstate/reinstate/pkg/pipeline"
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

// serveTable is serve with the rule table already loaded.
func (e *env) serveTable(ctx context.Context, ln net.Listener, table *rules.Table) error {
	senders, closeSenders, err := notify.NewSenders(table.Channels, nil, e.stdout)
	if err != nil {
		ln.Close()
		return fmt.Errorf("rule table %s: channels: %w", table.File, err)
	}
	defer closeSenders.Close()
	st, err := openStore(ctx, e.cfg.Store)
	if err != nil {
		ln.Close()
		return err
	}
	defer st.Close()
	dispatcher := notify.NewDispatcher(st, table.Channels, senders, notify.DispatcherOptions{Logger: e.log, GroupWait: e.cfg.GroupWait})
	self := guard.NewSelf(e.cfg.SelfIDs...)
	worker, executor, err := e.newWorker(ctx, st, self, table.Mode, e.tellOutcome(dispatcher))
	if err != nil {
		ln.Close()
		return err
	}
	if table.Mode == rules.ModeEnforce && len(e.cfg.SelfIDs) == 0 && e.cfg.Graph.Auth != config.GraphAuthAzure {
		e.log.Warn("REINSTATE_SELF_IDS is empty: Reinstate cannot recognise its own restores in the audit log")
	}
	guards := guard.New(st, guard.Config{TenantID: e.cfg.TenantID, Self: self, Rules: table.Guards})
	srv := e.newServer(st, worker, executor, dispatcher, self, guards, table)
	api, closeAPI, err := e.newOnCallAPI(st, executor, guards, table, worker.Notify)
	if err != nil {
		ln.Close()
		return err
	}
	defer closeAPI()
	functions.RegisterOnCall(srv, api)
	e.log.Info("reinstate serving", "address", ln.Addr().String(), "store", e.cfg.Store.String(), "graph", e.cfg.Graph.String(),
		"rules", table.File, "rule_count", len(table.Rules), "mode", string(table.Mode), "mode_from", table.ModeSource,
		"tenant", e.cfg.TenantID, "channels", len(senders), "version", version())

	// The workers outlive ctx (the SIGTERM) until the server has drained,
	// so that intents recorded by the last invocations can still start,
	// and then send what is due once more.
	workerCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	workers.Go(func() { _ = worker.Run(workerCtx, workerPoll) })
	workers.Go(func() { e.runNotifications(workerCtx, dispatcher) })
	err = srv.Serve(ctx, ln)
	stopWorkers()
	workers.Wait()
	return err
}

// workerPoll is how often the worker looks for due intents (retries whose
// back-off ended) when nothing wakes it.
const workerPoll = 5 * time.Second

// notifyPoll is how often `serve` sends due notifications; in Azure the
// Notify timer function does it every minute as well.
const notifyPoll = time.Second

// runNotifications drains the notification outbox every notifyPoll until
// ctx ends.
func (e *env) runNotifications(ctx context.Context, d *notify.Dispatcher) {
	tick := time.NewTicker(notifyPoll)
	defer tick.Stop()
	for {
		if _, err := d.Drain(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("notifications not drained", "error", err.Error())
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

// newServer wires the pipeline over st into a custom-handler server: the
// rule table and guards decide, the executor reads the recycle bin for
// rules that need it, and the dispatcher records what to tell.
func (e *env) newServer(st store.Store, worker *recovery.Worker, executor *recovery.Executor, dispatcher *notify.Dispatcher, self *guard.Self, guards *guard.Guards, table *rules.Table) *customhandler.Server {
	p := pipeline.New(st, pipeline.Options{
		Logger:         e.log,
		Now:            time.Now,
		ClaimLease:     e.cfg.ClaimLease,
		DedupRetention: e.cfg.DedupRetention,
		Decider:        decide.New(table, guards, time.Now),
		Bin:            executor,
		Announcer:      dispatcher,
		Self:           self,
		Wake:           worker.Notify,
	})
	srv := customhandler.NewServer(customhandler.Options{Logger: e.log, ShutdownGrace: e.cfg.ShutdownGrace})
	functions.Register(srv, p, worker, dispatcher)
	return srv
}

// newOnCallAPI is the on-call API over the same store, executor, guards and
// rule table as the pipeline. Without REINSTATE_API_AUDIENCES it is shut:
// every authenticated route answers 503.
func (e *env) newOnCallAPI(st store.Store, executor *recovery.Executor, guards *guard.Guards, table *rules.Table, wake func()) (*oncall.Server, func(), error) {
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
	api, err := oncall.New(oncall.Options{Auth: auth, Store: st, Bin: executor, Guards: guards, Rules: table,
		TenantID: e.cfg.TenantID, Wake: wake, Logger: e.log, Version: version()})
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
