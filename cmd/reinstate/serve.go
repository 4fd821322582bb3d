package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/functions"
	"github.com/reinstate/reinstate/pkg/config"
	"github.com/reinstate/reinstate/pkg/customhandler"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/recovery"
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
	st, err := openStore(ctx, e.cfg.Store)
	if err != nil {
		ln.Close()
		return err
	}
	defer st.Close()
	self := pipeline.NewSelf(e.cfg.SelfIDs...)
	worker, err := e.newWorker(ctx, st, self)
	if err != nil {
		ln.Close()
		return err
	}
	if len(e.cfg.RestoreObjectIDs) > 0 && len(e.cfg.SelfIDs) == 0 && e.cfg.Graph.Auth != config.GraphAuthAzure {
		e.log.Warn("REINSTATE_SELF_IDS is empty: Reinstate cannot recognise its own restores in the audit log")
	}
	srv := e.newServer(st, worker, self)
	e.log.Info("reinstate serving", "address", ln.Addr().String(), "store", e.cfg.Store.String(), "graph", e.cfg.Graph.String(),
		"restore_objects", len(e.cfg.RestoreObjectIDs), "version", version())

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

// newServer wires the pipeline over st into a custom-handler server.
func (e *env) newServer(st store.Store, worker *recovery.Worker, self *pipeline.Self) *customhandler.Server {
	p := pipeline.New(st, pipeline.Options{
		Logger:         e.log,
		Now:            time.Now,
		ClaimLease:     e.cfg.ClaimLease,
		DedupRetention: e.cfg.DedupRetention,
		Decider:        e.decider(),
		Self:           self,
		Wake:           worker.Notify,
	})
	srv := customhandler.NewServer(customhandler.Options{Logger: e.log, ShutdownGrace: e.cfg.ShutdownGrace})
	functions.Register(srv, p, worker)
	return srv
}
