package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/functions"
	"github.com/reinstate/reinstate/pkg/config"
	"github.com/reinstate/reinstate/pkg/customhandler"
	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/notify"
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
	st, err := openStore(ctx, e.cfg.Store)
	if err != nil {
		ln.Close()
		return err
	}
	defer st.Close()
	self := guard.NewSelf(e.cfg.SelfIDs...)
	worker, executor, err := e.newWorker(ctx, st, self, table.Mode)
	if err != nil {
		ln.Close()
		return err
	}
	if table.Mode == rules.ModeEnforce && len(e.cfg.SelfIDs) == 0 && e.cfg.Graph.Auth != config.GraphAuthAzure {
		e.log.Warn("REINSTATE_SELF_IDS is empty: Reinstate cannot recognise its own restores in the audit log")
	}
	srv := e.newServer(st, worker, executor, self, table)
	e.log.Info("reinstate serving", "address", ln.Addr().String(), "store", e.cfg.Store.String(), "graph", e.cfg.Graph.String(),
		"rules", table.File, "rule_count", len(table.Rules), "mode", string(table.Mode), "mode_from", table.ModeSource,
		"tenant", e.cfg.TenantID, "version", version())

	// The worker outlives ctx (the SIGTERM) until the server has drained,
	// so that intents recorded by the last invocations can still start.
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		_ = worker.Run(workerCtx, workerPoll)
	}()
	err = srv.Serve(ctx, ln)
	stopWorker()
	<-workerDone
	return err
}

// workerPoll is how often the worker looks for due intents (retries whose
// back-off ended) when nothing wakes it.
const workerPoll = 5 * time.Second

// newServer wires the pipeline over st into a custom-handler server: the
// rule table and guards decide, the executor reads the recycle bin for
// rules that need it, and the console channel writes to stdout.
func (e *env) newServer(st store.Store, worker *recovery.Worker, executor *recovery.Executor, self *guard.Self, table *rules.Table) *customhandler.Server {
	guards := guard.New(st, guard.Config{TenantID: e.cfg.TenantID, Self: self, Rules: table.Guards})
	p := pipeline.New(st, pipeline.Options{
		Logger:         e.log,
		Now:            time.Now,
		ClaimLease:     e.cfg.ClaimLease,
		DedupRetention: e.cfg.DedupRetention,
		Decider:        decide.New(table, guards, time.Now),
		Bin:            executor,
		Notifiers:      notifiers(table, e.stdout),
		Self:           self,
		Wake:           worker.Notify,
	})
	srv := customhandler.NewServer(customhandler.Options{Logger: e.log, ShutdownGrace: e.cfg.ShutdownGrace})
	functions.Register(srv, p, worker)
	return srv
}

// notifiers are the channels this build can send to: console ones.
func notifiers(table *rules.Table, stdout io.Writer) map[string]pipeline.Notifier {
	out := map[string]pipeline.Notifier{}
	console := notify.NewConsole(stdout)
	for name, ch := range table.Channels {
		if ch.Type == "console" {
			out[name] = console
		}
	}
	return out
}
