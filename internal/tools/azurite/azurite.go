// Package azurite starts Azurite, the Azure Storage emulator, for tests:
// the Table Storage store and the blob checkpoint store run against a real
// one, not a fake. Azurite comes from the npm registry, pinned in the
// repository's package.json and package-lock.json and installed into its
// node_modules, so a fresh clone needs nothing but Node.js and npm.
package azurite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// EnvConnection names the environment variable that hands a running
// Azurite's connection string to tests, so that `make test` starts one
// Azurite for every package rather than one per test binary.
const EnvConnection = "REINSTATE_TEST_AZURITE"

// account and key are Azurite's well-known development account; the key is
// published in Azurite's documentation and is no secret.
const (
	account = "devstoreaccount1"
	key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// startTimeout is how long Azurite may take to listen. It starts in about a
// second; a slow CI machine gets plenty of margin.
const startTimeout = 60 * time.Second

// Server is a running Azurite with blob, queue and table services on free
// loopback ports, keeping its data in memory.
type Server struct {
	// ConnectionString names all three services with the development
	// account; aztables and azblob both accept it.
	ConnectionString string

	cmd      *exec.Cmd
	dir      string
	log      *bytes.Buffer
	stopOnce sync.Once
	done     chan struct{}
}

// RepoRoot finds the repository's root, the nearest directory at or above
// the working directory that holds package.json and go.mod: tests run in
// their package's directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("azurite: find repository root: %w", err)
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) && fileExists(filepath.Join(dir, "package.json")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("azurite: no directory above the working directory holds go.mod and package.json")
		}
		dir = parent
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// binary is Azurite's launcher inside the repository.
func binary(root string) string { return filepath.Join(root, "node_modules", ".bin", "azurite") }

// Install runs `npm ci` in root when Azurite is not installed there yet, so
// that the project's own files install what its tests need.
func Install(ctx context.Context, root string) error {
	if fileExists(binary(root)) {
		return nil
	}
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("azurite: npm ci in %s: %w\n%s", root, err, out)
	}
	return nil
}

// Start installs Azurite if needed and starts it on free loopback ports,
// waiting until every service listens. Callers must Stop it.
func Start(ctx context.Context, root string) (*Server, error) {
	if err := Install(ctx, root); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, fmt.Errorf("azurite: %w", err)
	}
	dir, err := os.MkdirTemp("", "azurite-")
	if err != nil {
		return nil, fmt.Errorf("azurite: %w", err)
	}
	blob, queue, table := ports[0], ports[1], ports[2]
	s := &Server{dir: dir, log: &bytes.Buffer{}, done: make(chan struct{})}
	// Not CommandContext: the server outlives the context that started it.
	s.cmd = exec.Command(binary(root),
		"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(blob),
		"--queueHost", "127.0.0.1", "--queuePort", strconv.Itoa(queue),
		"--tableHost", "127.0.0.1", "--tablePort", strconv.Itoa(table),
		"--inMemoryPersistence",
		// Accept whatever API version the SDK speaks, and headers Azurite
		// does not know, rather than fail on an SDK newer than the pin.
		"--skipApiVersionCheck", "--loose", "--disableTelemetry")
	// Data stays in memory; anything Azurite writes anyway lands in dir,
	// its working directory, which Stop removes.
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	setProcAttr(s.cmd)
	if err := s.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("azurite: start %s: %w", binary(root), err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	if err := s.waitListening(ctx, blob, queue, table); err != nil {
		s.Stop()
		return nil, fmt.Errorf("azurite: %w\n%s", err, s.log.String())
	}
	s.ConnectionString = fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%[1]s;AccountKey=%[2]s;"+
		"BlobEndpoint=http://127.0.0.1:%[3]d/%[1]s;QueueEndpoint=http://127.0.0.1:%[4]d/%[1]s;TableEndpoint=http://127.0.0.1:%[5]d/%[1]s;",
		account, key, blob, queue, table)
	return s, nil
}

func (s *Server) waitListening(ctx context.Context, ports ...int) error {
	deadline := time.Now().Add(startTimeout)
	for _, port := range ports {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		for {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				_ = conn.Close()
				break
			}
			select {
			case <-s.done:
				return errors.New("exited before listening")
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("not listening on %s after %s", addr, startTimeout)
			}
		}
	}
	return nil
}

// Stop ends Azurite and removes its directory. It is safe to call more than
// once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		stopProcess(s.cmd)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		_ = os.RemoveAll(s.dir)
	})
}

// freePorts asks the kernel for n free loopback ports. They are released
// before Azurite binds them, so another process could take one in between;
// Start then fails rather than talk to the wrong server.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// RunTests is a test package's TestMain body for tests that need Azurite:
// it sets *connection to the Azurite `make test` started (EnvConnection),
// or starts one from the repository's node_modules (running npm ci first
// when it is missing) and stops it afterwards, then runs m. It fails,
// never skips, when Azurite cannot be had: what needs it is tested against
// a real Azurite or not at all. what names the tests in that message, and
// pkg the package path to `go test`.
func RunTests(m interface{ Run() int }, connection *string, what, pkg string) int {
	if *connection = os.Getenv(EnvConnection); *connection != "" {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	root, err := RepoRoot()
	var srv *Server
	if err == nil {
		srv, err = Start(ctx, root)
	}
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %s need Azurite: %v\n"+
			"Run them with `make test`, or install Azurite with `npm ci` at the repository root (Node.js and npm needed) "+
			"and run `go test %s`, or set %s to an Azurite connection string.\n", what, err, pkg, EnvConnection)
		return 1
	}
	defer srv.Stop()
	*connection = srv.ConnectionString
	return m.Run()
}
