// Command graphsim serves a simulated Microsoft Graph tenant on loopback, for
// Reinstate's tests and for `make run`. See package
// github.com/reinstate/reinstate/pkg/graphsim.
//
// Once it listens it prints exactly one line to stdout,
//
//	graphsim listening on http://127.0.0.1:PORT
//
// so that a script can read the port; everything else goes to stderr through
// log/slog. SIGINT or SIGTERM stops it gracefully.
//
// Unless --issuer=false, the same listener also serves a simulated Entra ID
// token issuer for the seed's tenant (package
// github.com/reinstate/reinstate/pkg/idpsim): its OpenID Connect metadata and
// keys under /{tenantId}/, so that Reinstate's on-call API can validate
// tokens in local mode with the listener's URL as its authority, and
// POST /_sim/token, which mints test tokens for local mode with whatever
// roles the body asks for. Both exist only for local use: graphsim listens on
// loopback only, and its tokens are worthless anywhere else. Graph itself then
// also accepts access tokens that issuer signs for Microsoft Graph (audience
// https://graph.microsoft.com), as the on-behalf-of flow yields them.
//
// Microsoft Entra Backup and Recovery (/directory/recovery) takes a snapshot
// at start and every --snapshot-every of simulated time; preview and
// recovery jobs take --job-duration. Both are divided by --time-scale.
// --backup-app-writes lets apps create and cancel jobs, which the docs say
// only delegated callers can.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/idpsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "graphsim:", err)
		os.Exit(2)
	}
}

// config is the parsed command line.
type config struct {
	listen          string
	seed            string
	timeScale       float64
	forward         string
	forwardInterval time.Duration
	latency         time.Duration
	errorRate       float64
	resetRate       float64
	stormFor        time.Duration
	faultSeed       int64
	issuer          bool
	snapshotEvery   time.Duration
	firstSnapAge    time.Duration
	jobDuration     time.Duration
	backupAppWrites bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("graphsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:0", "loopback `address` to listen on (port 0 picks a free port)")
	fs.StringVar(&c.seed, "seed", "testdata/graphsim/seed.json", "seed `file` with the tenant's objects and identities")
	fs.Float64Var(&c.timeScale, "time-scale", 1, "divide every throttling window by `N` (the quota stays; the rate grows N times)")
	fs.StringVar(&c.forward, "forward", "", "custom handler base `URL` to deliver audit records to, as a local Functions host (POST URL/AuditEvents)")
	fs.DurationVar(&c.forwardInterval, "forward-interval", 2*time.Second, "how often to deliver pending audit records")
	fs.DurationVar(&c.latency, "latency", 0, "latency added to every Graph request")
	fs.Float64Var(&c.errorRate, "error-rate", 0, "fraction of Graph requests answered 500/502/503/504")
	fs.Float64Var(&c.resetRate, "reset-rate", 0, "fraction of Graph connections reset without an answer")
	fs.DurationVar(&c.stormFor, "storm-for", 0, "answer every Graph request 429 (with Retry-After) for this long after start")
	fs.Int64Var(&c.faultSeed, "fault-seed", 1, "seed of the random source that decides faults")
	fs.DurationVar(&c.snapshotEvery, "snapshot-every", 24*time.Hour, "Entra Backup and Recovery: take a snapshot every `D` of simulated time (divided by --time-scale); one is taken at start")
	fs.DurationVar(&c.firstSnapAge, "first-snapshot-age", 0, "date the snapshot taken at start this far in the past (not scaled), so that a demo has a snapshot from before its deletions")
	fs.DurationVar(&c.jobDuration, "job-duration", 8*time.Minute, "Entra Backup and Recovery: how long a preview or recovery job takes, in four equal phases (divided by --time-scale)")
	fs.BoolVar(&c.backupAppWrites, "backup-app-writes", false, "let apps with EntraBackup.ReadWrite.Preview/.Recovery application permissions create and cancel backup jobs (the docs say delegated only; in case Microsoft opens it up)")
	fs.BoolVar(&c.issuer, "issuer", true, "also serve a simulated Entra ID token issuer for the seed's tenant (/{tenantId}/v2.0/.well-known/openid-configuration, /{tenantId}/discovery/v2.0/keys) and POST /_sim/token, which mints test tokens for local mode")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: graphsim [flags]\n\nServes a simulated Microsoft Graph tenant on loopback, including Microsoft Entra Backup and Recovery under /directory/recovery. Control endpoints: /_sim/state, /_sim/faults, /_sim/audits, /_sim/backup (POST /_sim/backup/snapshot takes a snapshot now, POST /_sim/backup/finish-jobs ends running jobs now), /_sim/objects/... (change the tenant outside Graph), and with --issuer /_sim/token (test tokens for local mode).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if c.snapshotEvery <= 0 || c.jobDuration <= 0 || c.firstSnapAge < 0 {
		return c, fmt.Errorf("--snapshot-every and --job-duration must be positive, --first-snapshot-age not negative")
	}
	return c, nil
}

// checkLoopback refuses any listen address that is not on loopback: the
// simulator accepts fixed tokens and has an unauthenticated control plane.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: %v", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		if host == "" {
			host = "all interfaces"
		}
		return fmt.Errorf("--listen %q: refusing to listen on %s; graphsim listens on loopback only (127.0.0.1, ::1 or localhost)", addr, host)
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := checkLoopback(cfg.listen); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	seed, err := graphsim.LoadSeed(cfg.seed)
	if err != nil {
		return err
	}
	// The issuer shares the listener: local mode configures one URL as both
	// Graph and the sign-in authority. Its paths (/{tenantId}/...,
	// /_sim/token) are none of Graph's, so Graph's routing is unchanged; and
	// Graph accepts the Graph tokens it signs.
	var issuer *idpsim.Issuer
	var tokenIssuer graphsim.TokenIssuer
	if cfg.issuer {
		if issuer, err = idpsim.New(seed.TenantID); err != nil {
			return err
		}
		tokenIssuer = issuer
	}
	srv, err := graphsim.New(seed, graphsim.Options{
		Logger:    logger,
		TimeScale: cfg.timeScale,
		FaultSeed: cfg.faultSeed,
		Faults: graphsim.FaultConfig{
			Latency:             graphsim.Duration(cfg.latency),
			ErrorRate:           cfg.errorRate,
			ConnectionResetRate: cfg.resetRate,
			StormFor:            graphsim.Duration(cfg.stormFor),
		},
		Forward: graphsim.ForwardConfig{URL: cfg.forward, Interval: cfg.forwardInterval},
		Backup: graphsim.BackupConfig{
			SnapshotEvery:    cfg.snapshotEvery,
			FirstSnapshotAge: cfg.firstSnapAge,
			JobDuration:      cfg.jobDuration,
			AllowAppWrites:   cfg.backupAppWrites,
		},
		Issuer: tokenIssuer,
	})
	if err != nil {
		return err
	}
	var handler http.Handler = srv
	if issuer != nil {
		handler = issuer.Mount(srv)
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		_ = ln.Close()
		return fmt.Errorf("--listen %q resolved to %s, which is not loopback", cfg.listen, ln.Addr())
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	bg, cancelBG := context.WithCancel(ctx)
	defer cancelBG()
	go func() { _ = srv.Run(bg) }()

	fmt.Fprintf(stdout, "graphsim listening on http://%s\n", ln.Addr())
	logger.Info("graphsim ready", "seed", cfg.seed, "tenant", seed.TenantID, "timeScale", cfg.timeScale, "forward", cfg.forward)
	if issuer != nil {
		base := "http://" + ln.Addr().String()
		logger.Info("graphsim: simulated token issuer for local mode", "authority", base, "issuer", issuer.Issuer(base), "tokens", "POST "+base+idpsim.TokenPath)
	}

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("graphsim stopping")
	cancelBG()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if cfg.forward != "" {
		// One last delivery, so that a demo's final records are not lost.
		if err := srv.Flush(shutdownCtx); err != nil {
			logger.Warn("graphsim: final audit delivery failed", "err", err)
		}
	}
	return nil
}
