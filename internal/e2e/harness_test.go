package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reinstate/reinstate/internal/tools/azurite"
	"github.com/reinstate/reinstate/pkg/customhandler"
	"github.com/reinstate/reinstate/pkg/graphsim/simtest"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/reconcile"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/table"
)

// The sample tenant testdata/graphsim/seed.json (its README.md lists every
// object and identity).
const (
	seedPath       = "../../testdata/graphsim/seed.json"
	adminToken     = "admin-token"
	reinstateToken = "reinstate-token"
	reinstateAppID = "4e6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c2e"
	reinstateSPID  = "f2b4d6e8-3a5c-4b7d-9f1a-2c4e6a8c0d32"
	// paymentsID is sec-prod-payments, the critical group the rules below
	// restore.
	paymentsID = "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65"
)

// notifyFileEnv names the file channel's path in the rule table, expanded
// from each process's environment, so that every process writes its own
// file and a message sent by any of them is counted.
const notifyFileEnv = "E2E_NOTIFY_FILE"

// rulesYAML restores sec-prod-* groups and tells the file channel. Its
// condition reads the recycle-bin copy (object), so that deciding calls
// Graph while the record is claimed: what lets a test hold a process
// inside its claim with graphsim's latency.
const rulesYAML = `version: 1
defaults:
  mode: enforce
channels:
  audit: {type: file, path: "${` + notifyFileEnv + `}"}
rules:
  - name: critical-groups
    when: 'event.deletion == "soft" && event.result == "success" && target.type == "group" && target.displayName.startsWith("sec-prod-") && object != null'
    actions: [restore]
    notify: [audit]
    severity: critical
`

var (
	// connection is the Azurite Table endpoint every process shares: the
	// one `make test` started (azurite.EnvConnection) or one TestMain
	// starts for this binary.
	connection string
	// reinstateBin is `reinstate`, built once for every test.
	reinstateBin string
)

// TestMain builds the reinstate binary and starts Azurite, as the Table
// store's own tests do, unless one is named already. It fails rather than
// skips when it cannot.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		// Every test skips: build nothing, start nothing.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "reinstate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	reinstateBin = filepath.Join(dir, "reinstate")
	if out, err := exec.Command("go", "build", "-o", reinstateBin, "../../cmd/reinstate").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: build reinstate: %v\n%s", err, out)
		return 1
	}
	return azurite.RunTests(m, &connection, "the contention tests", "./internal/e2e/")
}

// cluster is one test's world: graphsim in-process, tables of its own in
// the shared Azurite, a rule table, and the `reinstate serve` processes
// started on them.
type cluster struct {
	t        *testing.T
	tn       *simtest.Tenant
	dir      string
	prefix   string
	rules    string
	tenantID string
	// st is the test's own handle on the processes' tables, to read the
	// journal they share.
	st    *table.Store
	procs []*proc
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts reinstate processes and Azurite; skipped in -short mode")
	}
	c := &cluster{t: t, tn: simtest.Start(t, seedPath), dir: t.TempDir()}
	var b [6]byte
	_, _ = rand.Read(b[:])
	c.prefix = "e" + hex.EncodeToString(b[:])
	c.rules = filepath.Join(c.dir, "rules.yaml")
	if err := os.WriteFile(c.rules, []byte(rulesYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	var seed struct {
		TenantID string `json:"tenantId"`
	}
	if err := json.Unmarshal(raw, &seed); err != nil || seed.TenantID == "" {
		t.Fatalf("seed %s: no tenantId (%v)", seedPath, err)
	}
	c.tenantID = seed.TenantID
	if c.st, err = table.Open(t.Context(), connection, table.WithTablePrefix(c.prefix)); err != nil {
		t.Fatalf("open the shared tables: %v", err)
	}
	t.Cleanup(func() {
		// Stop every process still running, then show their logs if the
		// test failed.
		for _, p := range c.procs {
			p.stop()
		}
		if t.Failed() {
			for _, p := range c.procs {
				raw, _ := os.ReadFile(p.log)
				t.Logf("--- log of %s (%s):\n%s", p.name, p.log, tail(string(raw), 60))
			}
		}
	})
	return c
}

// proc is one `reinstate serve`, as one Function app instance.
type proc struct {
	name, url, log, notifyFile string
	cmd                        *exec.Cmd
	done                       chan struct{}
}

// start starts `reinstate serve` named name on a free loopback port,
// sharing the cluster's tables and graphsim, with env added, and waits
// until it answers the host's readiness probe.
func (c *cluster) start(name string, env ...string) *proc {
	t := c.t
	t.Helper()
	port := freePort(t)
	p := &proc{name: name, url: "http://127.0.0.1:" + port, log: filepath.Join(c.dir, name+".log"),
		notifyFile: filepath.Join(c.dir, name+".notify.jsonl"), done: make(chan struct{})}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	p.cmd = exec.Command(reinstateBin, "serve")
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.Env = append(cleanEnv(),
		"FUNCTIONS_CUSTOMHANDLER_PORT="+port,
		"REINSTATE_STORE=table:"+connection,
		table.EnvTablePrefix+"="+c.prefix,
		"REINSTATE_GRAPH_URL="+c.tn.URL,
		"REINSTATE_GRAPH_AUTH=static",
		"REINSTATE_GRAPH_TOKEN="+reinstateToken,
		"REINSTATE_SELF_IDS="+reinstateAppID+","+reinstateSPID,
		"REINSTATE_RULES="+c.rules,
		"REINSTATE_MODE=enforce",
		"REINSTATE_TENANT_ID="+c.tenantID,
		"REINSTATE_GROUP_WAIT=1s",
		"REINSTATE_LOG_FORMAT=json",
		notifyFileEnv+"="+p.notifyFile,
	)
	p.cmd.Env = append(p.cmd.Env, env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	c.procs = append(c.procs, p)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ok := poll(ctx, 50*time.Millisecond, func() bool {
		select {
		case <-p.done:
			return true
		default:
		}
		resp, err := http.Get(p.url + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	select {
	case <-p.done:
		raw, _ := os.ReadFile(p.log)
		t.Fatalf("%s exited at start-up: %v\n%s", name, p.cmd.ProcessState, raw)
	default:
	}
	if !ok {
		t.Fatalf("%s never became ready", name)
	}
	// Every instance sweeps the recycle bins once at start-up. Wait for
	// it, so that no sweep's reads of the bin run into what a test does
	// next (a test that counts bin reads, or slows Graph down).
	if !poll(ctx, 50*time.Millisecond, func() bool { return c.sweeps() >= len(c.procs) }) {
		t.Fatalf("%s never journaled its start-up reconciliation sweep", name)
	}
	return p
}

// sweeps counts the reconciliation sweeps in the shared journal.
func (c *cluster) sweeps() int {
	c.t.Helper()
	entries, err := c.st.Journal(c.t.Context(), store.JournalQuery{Limit: 1000})
	if err != nil {
		c.t.Fatalf("read the shared journal: %v", err)
	}
	n := 0
	for _, e := range entries {
		if e.Kind == reconcile.KindSwept {
			n++
		}
	}
	return n
}

// cleanEnv is the test's environment without Reinstate's and the Functions
// host's settings, so that nothing from the developer's shell leaks into
// the processes.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "REINSTATE_") || strings.HasPrefix(kv, "FUNCTIONS_") || strings.HasPrefix(kv, notifyFileEnv+"=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// stop asks for a graceful stop, as the Functions host does on scale-in,
// and kills the process if it has not stopped within 10 seconds.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends the process at once, as a crashed or evicted instance ends:
// no drain, no lease released.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.done
}

// post delivers an AuditEvents invocation, as the Functions host does, and
// returns the status (0 when the connection failed).
func (p *proc) post(ctx context.Context, payload []byte) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/AuditEvents", bytes.NewReader(payload))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = bufio.NewReader(resp.Body).WriteTo(&bytes.Buffer{})
	return resp.StatusCode
}

// deletionBatch deletes the critical group as the administrator and
// returns its audit records as one Event Hubs invocation of the
// AuditEvents function, as the host would deliver them.
func (c *cluster) deletionBatch() []byte {
	c.t.Helper()
	page := c.tn.DeleteAs(c.t, adminToken, "groups", paymentsID)
	payload, err := customhandler.EncodeEventHubInvocation("events", [][]byte{page}, customhandler.EventHubMetadata{
		Partition: customhandler.PartitionContext{FullyQualifiedNamespace: "e2e.servicebus.windows.net", EventHubName: "entra-audit", ConsumerGroup: "$Default", PartitionID: "0"},
		Events:    []customhandler.EventHubEventMeta{{Offset: "4096", SequenceNumber: 1, EnqueuedTime: time.Now()}},
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return payload
}

// restores counts graphsim's audit records of restores of object id (a
// "Restore group" record is logged for each restore Graph carries out),
// and how many of them Reinstate's identity initiated. A $batch is one
// POST whatever it holds, and Reinstate's reads of the bin and read-backs
// go in $batch as well, so counting write requests would not count
// restores.
func (c *cluster) restores(id string) (all, byReinstate int) {
	for _, r := range c.tn.Sim.AuditRecords() {
		var rec struct {
			OperationType string `json:"operationType"`
			InitiatedBy   struct {
				App *struct {
					AppID string `json:"appId"`
				} `json:"app"`
			} `json:"initiatedBy"`
			Targets []struct {
				ID string `json:"id"`
			} `json:"targetResources"`
		}
		if json.Unmarshal(r, &rec) != nil || rec.OperationType != "Restore" {
			continue
		}
		for _, tr := range rec.Targets {
			if strings.EqualFold(tr.ID, id) {
				all++
				if rec.InitiatedBy.App != nil && strings.EqualFold(rec.InitiatedBy.App.AppID, reinstateAppID) {
					byReinstate++
				}
				break
			}
		}
	}
	return all, byReinstate
}

// messages reads every process's file channel and returns the messages
// about object id.
func (c *cluster) messages(id string) []notify.Message {
	c.t.Helper()
	var out []notify.Message
	for _, p := range c.procs {
		raw, err := os.ReadFile(p.notifyFile)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			c.t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			if line == "" {
				continue
			}
			var m notify.Message
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				c.t.Fatalf("%s: a line that is not a message: %v: %q", p.notifyFile, err, line)
			}
			for _, o := range m.Objects {
				if strings.EqualFold(o.ID, id) {
					out = append(out, m)
					break
				}
			}
		}
	}
	return out
}

// journal counts the shared journal's entries about id by kind.
func (c *cluster) journal(id string) map[store.Kind]int {
	c.t.Helper()
	entries, err := c.st.Journal(c.t.Context(), store.JournalQuery{TargetID: id, Limit: 1000})
	if err != nil {
		c.t.Fatalf("read the shared journal: %v", err)
	}
	counts := map[store.Kind]int{}
	for _, e := range entries {
		counts[e.Kind]++
	}
	return counts
}

// poll calls check every period until it is true or ctx ends, and reports
// whether it became true.
func poll(ctx context.Context, period time.Duration, check func() bool) bool {
	for {
		if check() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(period):
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}
