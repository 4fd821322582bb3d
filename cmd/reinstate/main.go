// Command reinstate is Reinstate's service and command-line tool: `serve` is
// the Azure Functions custom handler; the other commands read and replay what
// it works on. Every command reads the same environment variables
// (docs/CONFIG.md), so `reinstate journal` shows what `reinstate serve`
// recorded.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/pkg/config"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
	"github.com/reinstate/reinstate/pkg/store/table"
)

// exitError carries a process exit code through cobra without printing twice.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what every command gets: its streams, and the configuration loaded
// and validated once, before the command runs.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	cfg    config.Config
	log    *slog.Logger
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "reinstate",
		Short: "Reinstate recovers deleted Microsoft Entra ID objects, driven by audit events",
		Long: `Reinstate consumes Entra audit events (from Event Hubs, through the Azure
Functions host), decides which deletions matter, restores them or opens a
Backup & Recovery preview, and tells people.

Configuration comes from environment variables; see docs/CONFIG.md.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Annotations["config"] == "none" {
				return nil
			}
			return e.configure(getenv)
		},
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serveCommand(e), decodeCommand(e), journalCommand(e), deadLettersCommand(e), replayCommand(e), rulesCommand(e), planCommand(e), silenceCommand(e), breakerCommand(e), restoreCommand(e), statusCommand(e), deletedCommand(e), reconcileCommand(e), snapshotsCommand(e), jobsCommand(e), previewCommand(e), workerCommand(e), versionCommand(e))

	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit *exitError
	if errors.As(err, &exit) {
		if exit.err != nil && exit.code != 0 {
			fmt.Fprintln(stderr, "reinstate:", exit.err)
		}
		return exit.code
	}
	fmt.Fprintln(stderr, "reinstate:", err)
	return 1
}

// configure loads and validates the configuration from getenv, and the
// logger it sets up.
func (e *env) configure(getenv func(string) string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	e.cfg, e.log = cfg, newLogger(cfg, e.stderr)
	return nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == config.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStore opens the store REINSTATE_STORE names.
func openStore(ctx context.Context, spec config.StoreSpec) (store.Store, error) {
	switch spec.Kind {
	case config.StoreSQLite:
		s, err := sqlite.Open(ctx, spec.Location)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", spec, err)
		}
		return s, nil
	case config.StoreTable:
		var opts []table.Option
		if prefix := os.Getenv(table.EnvTablePrefix); prefix != "" {
			opts = append(opts, table.WithTablePrefix(prefix))
		}
		s, err := table.Open(ctx, spec.Location, opts...)
		if err != nil {
			// spec.String, not the location: a connection string holds
			// the account key.
			return nil, fmt.Errorf("open store %s: %w", spec, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("store kind %q is not supported", spec.Kind)
}
