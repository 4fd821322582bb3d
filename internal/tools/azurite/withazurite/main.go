// Command withazurite runs a command with one Azurite started for it, and
// stops Azurite afterwards whatever the command's outcome: `make test` runs
// `go test ./...` under it, so that every package's tests share one
// Azurite, named by REINSTATE_TEST_AZURITE, instead of starting their own.
//
//	go run ./internal/tools/azurite/withazurite -- go test ./...
//
// It exits with the command's status, and stops Azurite on SIGINT and
// SIGTERM too.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/reinstate/reinstate/internal/tools/azurite"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: withazurite -- COMMAND [ARG...]")
		return 2
	}
	root, err := azurite.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "withazurite:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	started := time.Now()
	srv, err := azurite.Start(ctx, root)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "withazurite:", err)
		return 1
	}
	defer srv.Stop()
	fmt.Fprintf(os.Stderr, "== Azurite started in %s; %s is set for the tests\n",
		time.Since(started).Round(time.Millisecond), azurite.EnvConnection)

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), azurite.EnvConnection+"="+srv.ConnectionString)
	// The command shares the terminal's process group, so a Ctrl-C reaches
	// it directly; this process only waits for it to end, then stops
	// Azurite, which sits in a group of its own.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "withazurite:", err)
		return 1
	}
	go func() {
		for sig := range signals {
			_ = cmd.Process.Signal(sig)
		}
	}()
	err = cmd.Wait()
	if exit, ok := errors.AsType[*exec.ExitError](err); ok {
		if code := exit.ExitCode(); code > 0 {
			return code
		}
		return 1
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "withazurite:", err)
		return 1
	}
	return 0
}
