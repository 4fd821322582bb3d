package funcpkg

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is where the real host.json and functions/ live.
const repoRoot = "../.."

func buildRepoPackage(t *testing.T) *zip.Reader {
	t.Helper()
	binary := filepath.Join(t.TempDir(), "reinstate")
	if err := os.WriteFile(binary, []byte("\x7fELF not really"), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := Build(&buf, Input{HostJSON: filepath.Join(repoRoot, "host.json"), FunctionsDir: filepath.Join(repoRoot, "functions"), Binary: binary}); err != nil {
		t.Fatalf("Build: %v", err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatalf("read zip: %v", err)
	}
	return zr
}

func readEntry(t *testing.T, zr *zip.Reader, name string) []byte {
	t.Helper()
	f, err := zr.Open(name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestPackageLayoutIsWhatTheHostLoads(t *testing.T) {
	zr := buildRepoPackage(t)
	modes := map[string]os.FileMode{}
	for _, f := range zr.File {
		modes[f.Name] = f.Mode()
	}
	want := map[string]os.FileMode{
		"host.json":                  0o644,
		"AuditEvents/function.json":  0o644,
		"Maintenance/function.json":  0o644,
		"Recover/function.json":      0o644,
		"Notify/function.json":       0o644,
		"OnCall/function.json":       0o644,
		"RecoveryJobs/function.json": 0o644,
		"Reconcile/function.json":    0o644,
		"reinstate":                  0o755,
	}
	if len(modes) != len(want) {
		t.Errorf("zip holds %v, want exactly %v", modes, want)
	}
	for name, mode := range want {
		got, ok := modes[name]
		if !ok {
			t.Errorf("zip lacks %s", name)
			continue
		}
		if got.Perm() != mode {
			t.Errorf("%s mode = %v, want %v", name, got.Perm(), mode)
		}
	}

	var host struct {
		Version         string `json:"version"`
		ExtensionBundle struct {
			ID      string `json:"id"`
			Version string `json:"version"`
		} `json:"extensionBundle"`
		HostConfig
		Extensions struct {
			EventHubs map[string]any `json:"eventHubs"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(readEntry(t, zr, "host.json"), &host); err != nil {
		t.Fatal(err)
	}
	if host.Version != "2.0" {
		t.Errorf("host.json version = %q, want 2.0", host.Version)
	}
	if host.ExtensionBundle.ID != "Microsoft.Azure.Functions.ExtensionBundle" || host.ExtensionBundle.Version != "[4.*, 5.0.0)" {
		t.Errorf("extension bundle = %+v", host.ExtensionBundle)
	}
	if exe := host.CustomHandler.Description.DefaultExecutablePath; modes[exe] == 0 {
		t.Errorf("defaultExecutablePath %q is not in the zip", exe)
	}
	for _, key := range []string{"maxEventBatchSize", "batchCheckpointFrequency", "prefetchCount"} {
		if _, ok := host.Extensions.EventHubs[key]; !ok {
			t.Errorf("host.json extensions.eventHubs lacks %s", key)
		}
	}
}

func TestAuditEventsBindingMatchesTheProtocolWeDecode(t *testing.T) {
	zr := buildRepoPackage(t)
	var fn struct {
		Bindings []map[string]any `json:"bindings"`
		Retry    map[string]any   `json:"retry"`
	}
	if err := json.Unmarshal(readEntry(t, zr, "AuditEvents/function.json"), &fn); err != nil {
		t.Fatal(err)
	}
	if len(fn.Bindings) != 1 {
		t.Fatalf("bindings = %v, want one eventHubTrigger", fn.Bindings)
	}
	b := fn.Bindings[0]
	for key, want := range map[string]string{"type": "eventHubTrigger", "direction": "in", "name": "events", "cardinality": "many", "dataType": "string"} {
		if b[key] != want {
			t.Errorf("binding %s = %v, want %q", key, b[key], want)
		}
	}
	// App-setting references keep names out of the package; the connection
	// is a prefix for identity-based settings (<prefix>__fullyQualifiedNamespace).
	for _, key := range []string{"eventHubName", "consumerGroup"} {
		if s, _ := b[key].(string); !strings.HasPrefix(s, "%") || !strings.HasSuffix(s, "%") {
			t.Errorf("binding %s = %v, want an %%APP_SETTING%% reference", key, b[key])
		}
	}
	if s, _ := b["connection"].(string); s == "" || strings.Contains(s, "=") {
		t.Errorf("connection = %v, want an app-setting prefix, not a connection string", b["connection"])
	}
	if fn.Retry["strategy"] != "exponentialBackoff" {
		t.Errorf("retry = %v, want exponentialBackoff", fn.Retry)
	}
	for _, key := range []string{"maxRetryCount", "minimumInterval", "maximumInterval"} {
		if _, ok := fn.Retry[key]; !ok {
			t.Errorf("retry lacks %s", key)
		}
	}
}

func TestBuildRefusesPackagesTheHostWouldReject(t *testing.T) {
	write := func(t *testing.T, dir, name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodFunction := `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer"}]}`
	tests := []struct {
		name      string
		host      string
		functions map[string]string
		wantErr   string
	}{
		{"no executable", `{"customHandler":{"description":{}}}`, map[string]string{"F/function.json": goodFunction}, "defaultExecutablePath"},
		{"escaping executable", `{"customHandler":{"description":{"defaultExecutablePath":"../x"}}}`, map[string]string{"F/function.json": goodFunction}, "defaultExecutablePath"},
		{"broken function.json", `{"customHandler":{"description":{"defaultExecutablePath":"x"}}}`, map[string]string{"F/function.json": `{"bindings":`}, "F/function.json"},
		{"no bindings", `{"customHandler":{"description":{"defaultExecutablePath":"x"}}}`, map[string]string{"F/function.json": `{"bindings":[]}`}, "no bindings"},
		{"no functions", `{"customHandler":{"description":{"defaultExecutablePath":"x"}}}`, map[string]string{"notes.txt": "x"}, "no function folders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in := Input{HostJSON: write(t, dir, "host.json", tt.host), FunctionsDir: filepath.Join(dir, "functions"), Binary: write(t, dir, "bin", "x")}
			for name, content := range tt.functions {
				write(t, in.FunctionsDir, name, content)
			}
			_, err := Build(io.Discard, in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Build error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}
