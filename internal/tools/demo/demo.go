// Command demo is `make run`: the whole pipeline on one machine, with real
// processes and real HTTP. It starts graphsim (a simulated tenant that
// forwards its audit log as a local Functions host would) and `reinstate
// serve` against it, deletes objects as an administrator, and shows what
// Reinstate restored, what it left alone, and that it ignored the audit
// events of its own restores.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/reinstate/reinstate/pkg/notify"
)

// The scenario, on the sample tenant testdata/graphsim/seed.json (its
// README.md lists every object and identity).
const (
	adminToken     = "admin-token"
	reinstateToken = "reinstate-token"
	reinstateAppID = "4e6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c2e"
	reinstateSPID  = "f2b4d6e8-3a5c-4b7d-9f1a-2c4e6a8c0d32"
)

// object is one thing the demo deletes.
type object struct {
	name, path, id string
	critical       bool
}

var scenario = []object{
	{name: "group sec-prod-payments", path: "groups", id: "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65", critical: true},
	{name: "user Adele Vance", path: "users", id: "a1c3e5f7-2b4d-4c6e-8a0b-1d3f5a7c9e21", critical: true},
	{name: "application Payroll Connector", path: "applications", id: "d0f2b4c6-1e3a-4f5b-9d9e-0a2c4e6a8b10", critical: true},
	{name: "group sec-lab-printers", path: "groups", id: "a7c9e1f3-8b0d-4c2e-8a6b-7d9f1b3d5e87"},
}

// teamOrion is a Microsoft 365 group already in the recycle bin, which the
// administrator then deletes for good: the rule table alerts on every hard
// delete, since nothing can bring it back.
var teamOrion = object{name: "group Team Orion (from the recycle bin, for good)", path: "directory/deletedItems", id: "a9c1e3f5-0b2d-4c4e-8a8b-9d1f3b5d7e09"}

// payrollSP is the application's service principal: deleted with it, and
// restored with it, though it is not listed itself.
var payrollSP = object{name: "service principal Payroll Connector", path: "servicePrincipals", id: "e3a5c7e9-1b2d-4f4a-8c6e-0a2c4e6a8b0d", critical: true}

type config struct {
	bin, seed, rules, runDir string
	timeout                  time.Duration
	// keep leaves graphsim and the handler running after the summary,
	// until interrupted, so that the printed curl commands can be tried.
	keep bool
}

// apiAudience is the local Reinstate API app registration the demo's
// handler accepts tokens for; graphsim's local issuer mints them.
const apiAudience = "api://reinstate-local"

func main() {
	var cfg config
	flag.StringVar(&cfg.bin, "bin", "bin", "folder holding the reinstate and graphsim binaries")
	flag.StringVar(&cfg.seed, "seed", "testdata/graphsim/seed.json", "graphsim seed")
	flag.StringVar(&cfg.rules, "rules", "docs/rules.sample.yaml", "rule table")
	flag.StringVar(&cfg.runDir, "run-dir", ".run", "folder for the demo's state")
	flag.DurationVar(&cfg.timeout, "timeout", 90*time.Second, "give up after this long")
	flag.BoolVar(&cfg.keep, "keep", false, "keep graphsim and the handler running after the summary, until interrupted")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	if !cfg.keep {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
	}
	if err := os.RemoveAll(cfg.runDir); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.runDir, 0o755); err != nil {
		return err
	}
	handlerPort, err := freePort()
	if err != nil {
		return err
	}
	handlerURL := "http://127.0.0.1:" + handlerPort

	fmt.Fprintln(out, "== 1. graphsim: a simulated tenant, forwarding its audit log to the handler as a local Functions host would")
	sim, simURL, err := startGraphsim(ctx, cfg, handlerURL, filepath.Join(cfg.runDir, "graphsim.log"))
	if err != nil {
		return err
	}
	defer stopProcess(sim)
	fmt.Fprintf(out, "   %s\n", simURL)

	fmt.Fprintln(out, "== 2. reinstate serve, against graphsim, with the embedded SQLite store and the sample rule table, enforcing")
	tenant, err := seedTenant(cfg.seed)
	if err != nil {
		return err
	}
	env := append(os.Environ(),
		"FUNCTIONS_CUSTOMHANDLER_PORT="+handlerPort,
		"REINSTATE_STORE=sqlite:"+filepath.Join(cfg.runDir, "reinstate.db"),
		"REINSTATE_GRAPH_URL="+simURL,
		"REINSTATE_GRAPH_AUTH=static",
		"REINSTATE_GRAPH_TOKEN="+reinstateToken,
		"REINSTATE_SELF_IDS="+reinstateAppID+","+reinstateSPID,
		"REINSTATE_RULES="+cfg.rules,
		"REINSTATE_MODE=enforce",
		"REINSTATE_TENANT_ID="+tenant,
		// Notifications wait this long for others to go out with them; a
		// second keeps the demo quick (the default is 30 s).
		"REINSTATE_GROUP_WAIT=1s",
		"REINSTATE_LOG_FORMAT=json",
		// The on-call API accepts tokens of graphsim's local issuer: local
		// mode only (an http authority is refused off loopback).
		"REINSTATE_API_AUDIENCES="+apiAudience,
		"REINSTATE_API_AUTHORITY="+simURL,
		// Move Backup & Recovery cases on every second, not every 30.
		"REINSTATE_BACKUP_POLL=1s",
	)
	handler, err := startProcess(ctx, filepath.Join(cfg.bin, "reinstate"), []string{"serve"}, env, filepath.Join(cfg.runDir, "reinstate.log"))
	if err != nil {
		return err
	}
	defer stopProcess(handler)
	if err := waitReady(ctx, handlerURL+"/"); err != nil {
		return fmt.Errorf("handler never became ready (see %s): %w", filepath.Join(cfg.runDir, "reinstate.log"), err)
	}
	fmt.Fprintf(out, "   %s, rules %s; its rules restore: %s\n", handlerURL, cfg.rules, criticalNames())

	fmt.Fprintln(out, "== 3. an administrator deletes four objects through Graph")
	graph := &client{base: simURL}
	for _, o := range scenario {
		if status, err := graph.do(ctx, http.MethodDelete, adminToken, "/v1.0/"+o.path+"/"+o.id); err != nil || status != http.StatusNoContent {
			return fmt.Errorf("delete %s: status %d, %v", o.name, status, err)
		}
		fmt.Fprintf(out, "   deleted %s\n", o.name)
	}
	if status, err := graph.do(ctx, http.MethodDelete, adminToken, "/v1.0/"+teamOrion.path+"/"+teamOrion.id); err != nil || status != http.StatusNoContent {
		return fmt.Errorf("delete %s: status %d, %v", teamOrion.name, status, err)
	}
	fmt.Fprintf(out, "   deleted %s\n", teamOrion.name)

	fmt.Fprintln(out, "== 4. waiting for the audit events to flow and the restores to land")
	expect := append(append([]object{}, scenario...), payrollSP)
	if err := waitFor(ctx, func() (bool, error) { return settled(ctx, graph, cfg, expect) }); err != nil {
		return fmt.Errorf("the tenant did not settle: %w", err)
	}

	if err := summarize(ctx, out, graph, cfg, expect); err != nil {
		return err
	}
	token, err := onCall(ctx, out, graph, simURL, handlerURL)
	if err != nil {
		return fmt.Errorf("on-call: %w", err)
	}
	if err := massDeletion(ctx, out, graph, handlerURL, token); err != nil {
		return fmt.Errorf("mass deletion: %w", err)
	}
	tryIt(out, token, simURL, handlerURL)
	if cfg.keep {
		fmt.Fprintln(out, "\n   graphsim and the handler keep running (-keep); Ctrl-C stops them")
		<-ctx.Done()
	}
	return nil
}

// criticalNames names the scenario's objects the rule table restores.
func criticalNames() string {
	var names []string
	for _, o := range scenario {
		if o.critical {
			names = append(names, o.name)
		}
	}
	return strings.Join(names, ", ")
}

// seedTenant is the sample tenant's id: Reinstate enforces only for the
// tenant it is told it serves.
func seedTenant(seed string) (string, error) {
	raw, err := os.ReadFile(seed)
	if err != nil {
		return "", err
	}
	var s struct {
		TenantID string `json:"tenantId"`
	}
	if err := json.Unmarshal(raw, &s); err != nil || s.TenantID == "" {
		return "", fmt.Errorf("seed %s: no tenantId (%v)", seed, err)
	}
	return s.TenantID, nil
}

// settled is true once every critical object is live again and Reinstate has
// journaled the audit events of its own restores as event.self.
func settled(ctx context.Context, graph *client, cfg config, expect []object) (bool, error) {
	for _, o := range expect {
		live, err := graph.live(ctx, o)
		if err != nil || live != o.critical {
			return false, err
		}
	}
	entries, err := journal(ctx, cfg)
	if err != nil {
		return false, err
	}
	self := 0
	for _, e := range entries {
		if e.Kind == "event.self" {
			self++
		}
	}
	// One "Restore …" record per restored object, the service principal
	// included, the hard delete's alert, and the restores' messages.
	if self < restoredCount(expect) || !alerted(entries, teamOrion.id) {
		return false, nil
	}
	// Every restore is told once it has an outcome.
	for _, o := range scenario {
		if o.critical && !alerted(entries, o.id) {
			return false, nil
		}
	}
	return true, nil
}

// alerted reports whether the journal holds a notification about id.
func alerted(entries []entry, id string) bool {
	for _, e := range entries {
		if e.Kind == "notify.sent" && e.TargetID == id {
			return true
		}
	}
	return false
}

func restoredCount(expect []object) int {
	n := 0
	for _, o := range expect {
		if o.critical {
			n++
		}
	}
	return n
}

func summarize(ctx context.Context, out io.Writer, graph *client, cfg config, expect []object) error {
	fmt.Fprintln(out, "== 5. summary")
	entries, err := journal(ctx, cfg)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   OBJECT\tRULE\tNOW")
	for _, o := range expect {
		live, err := graph.live(ctx, o)
		if err != nil {
			return err
		}
		state := "in the recycle bin (left alone)"
		if live {
			state = "live (restored by Reinstate)"
		}
		rule := ruleFor(entries, o.id)
		if o == payrollSP {
			rule = "(with its app)"
		}
		fmt.Fprintf(tw, "   %s\t%s\t%s\n", o.name, rule, state)
	}
	tw.Flush()

	counts := map[string]int{}
	fmt.Fprintln(out, "\n   journal, oldest first:")
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		counts[e.Kind]++
		detail := e.Outcome
		if e.Kind == "event.self" {
			detail = "ignored: Reinstate's own restore (loop prevention)"
		}
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%s\t%s\n", e.Kind, dash(e.Activity), dash(e.TargetType+" "+e.TargetName), dash(e.Actor), detail)
	}
	tw.Flush()
	fmt.Fprintln(out, "\n   the console channel said:")
	if err := consoleLines(out, filepath.Join(cfg.runDir, "reinstate.log")); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n   %d audit events received, %d restore intents recorded, %d restores done, %d notifications sent, %d of Reinstate's own events ignored\n",
		counts["event.received"]+counts["event.self"], intents(entries), counts["restore.done"], counts["notify.sent"], counts["event.self"])
	fmt.Fprintf(out, "   logs: %s, %s\n", filepath.Join(cfg.runDir, "reinstate.log"), filepath.Join(cfg.runDir, "graphsim.log"))
	if counts["restore.failed"] > 0 {
		return fmt.Errorf("%d restores failed", counts["restore.failed"])
	}
	return nil
}

// ruleFor is the rule that decided about id, from the journal.
func ruleFor(entries []entry, id string) string {
	for _, e := range entries {
		if (e.Kind == "decision" || e.Kind == "decision.guarded") && e.TargetID == id {
			return e.Rule
		}
	}
	return "no rule matched"
}

func intents(entries []entry) int {
	n := 0
	for _, e := range entries {
		if e.Kind == "decision" && e.Outcome == "intent recorded" {
			n++
		}
	}
	return n
}

// consoleLines shows the console channel's messages from the handler's
// output: the JSON lines that are messages (they have objects and an
// outcome), not logs.
func consoleLines(out io.Writer, logPath string) error {
	raw, err := os.ReadFile(logPath)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		var m notify.Message
		if json.Unmarshal([]byte(line), &m) != nil || m.Kind == "" || m.Objects == nil {
			continue
		}
		fmt.Fprintf(out, "   [%s] %s (rule %s; %s)\n", strings.ToUpper(string(m.Severity)), m.Title(), dash(m.Rule), m.Kind)
	}
	return nil
}

func dash(s string) string {
	if s = strings.TrimSpace(s); s == "" {
		return "-"
	}
	return s
}

// entry is the part of a journal entry the demo shows.
type entry struct {
	Kind       string `json:"kind"`
	TargetID   string `json:"targetId"`
	Rule       string `json:"rule"`
	Activity   string `json:"activity"`
	TargetType string `json:"targetType"`
	TargetName string `json:"targetName"`
	Actor      string `json:"actor"`
	Outcome    string `json:"outcome"`
}

// journal reads the journal through the CLI, as an operator would.
func journal(ctx context.Context, cfg config) ([]entry, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(cfg.bin, "reinstate"), "journal", "--output", "json", "--limit", "500")
	cmd.Env = append(os.Environ(), "REINSTATE_STORE=sqlite:"+filepath.Join(cfg.runDir, "reinstate.db"))
	raw, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("reinstate journal: %w", err)
	}
	var entries []entry
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, sc.Err()
}

// client talks to graphsim's Graph API.
type client struct{ base string }

func (c *client) do(ctx context.Context, method, token, path string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// live reports whether o is live, as the administrator sees it.
func (c *client) live(ctx context.Context, o object) (bool, error) {
	status, err := c.do(ctx, http.MethodGet, adminToken, "/v1.0/"+o.path+"/"+o.id)
	switch {
	case err != nil:
		return false, err
	case status == http.StatusOK:
		return true, nil
	case status == http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("GET %s: status %d", o.name, status)
}

func startGraphsim(ctx context.Context, cfg config, forward, logPath string) (*exec.Cmd, string, error) {
	seed, err := demoSeed(cfg)
	if err != nil {
		return nil, "", err
	}
	// Backup & Recovery at demo speed: a snapshot an hour old, jobs of a
	// few seconds, and app-only job creation allowed (see demoSeed).
	cmd := exec.CommandContext(ctx, filepath.Join(cfg.bin, "graphsim"), "--seed", seed, "--forward", forward, "--forward-interval", "500ms",
		"--backup-app-writes", "--job-duration", "4s", "--first-snapshot-age", "1h")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	// graphsim prints one line with its URL once it listens.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	const prefix = "graphsim listening on "
	if err != nil || !strings.HasPrefix(line, prefix) {
		stopProcess(cmd)
		return nil, "", fmt.Errorf("graphsim did not start (see %s): %q %v", logPath, line, err)
	}
	go io.Copy(io.Discard, stdout)
	return cmd, strings.TrimSpace(strings.TrimPrefix(line, prefix)), nil
}

func startProcess(ctx context.Context, path string, args, env []string, logPath string) (*exec.Cmd, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
	return cmd, cmd.Start()
}

// stopProcess asks for a graceful stop, as the Functions host does on scale-in.
func stopProcess(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func waitReady(ctx context.Context, url string) error {
	return waitFor(ctx, func() (bool, error) {
		resp, err := http.Get(url)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return true, nil
	})
}

// waitFor polls check until it is true, fails, or ctx ends.
func waitFor(ctx context.Context, check func() (bool, error)) error {
	for {
		ok, err := check()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("timed out")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}
