package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/functions"
	"github.com/reinstate/reinstate/pkg/customhandler"
	"github.com/reinstate/reinstate/pkg/pipeline"
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
func (e *env) serve(ctx context.Context, ln net.Listener) error {
	st, err := openStore(ctx, e.cfg.Store)
	if err != nil {
		ln.Close()
		return err
	}
	defer st.Close()
	srv := e.newServer(st)
	e.log.Info("reinstate serving", "address", ln.Addr().String(), "store", e.cfg.Store.String(), "version", version())
	// In-flight invocations outlive ctx (the SIGTERM); the server drains them.
	return srv.Serve(ctx, ln)
}

// newServer wires the pipeline over st into a custom-handler server.
func (e *env) newServer(st store.Store) *customhandler.Server {
	p := pipeline.New(st, pipeline.Options{
		Logger:         e.log,
		Now:            time.Now,
		ClaimLease:     e.cfg.ClaimLease,
		DedupRetention: e.cfg.DedupRetention,
	})
	srv := customhandler.NewServer(customhandler.Options{Logger: e.log, ShutdownGrace: e.cfg.ShutdownGrace})
	functions.Register(srv, p)
	return srv
}
