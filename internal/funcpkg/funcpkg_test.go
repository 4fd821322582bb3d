package funcpkg

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reinstate/reinstate/pkg/config"
	"github.com/reinstate/reinstate/pkg/rules"
)

// repoRoot is where the real host.json and functions/ live.
const repoRoot = "../.."

// sampleRules is the table `make package` ships unless told otherwise
// (the Makefile's RULES_PACKAGE; infra/infra_test.go checks the two agree).
var sampleRules = filepath.Join(repoRoot, "docs", "rules.sample.yaml")

func buildRepoPackage(t *testing.T) (*zip.Reader, *Package) {
	t.Helper()
	binary := filepath.Join(t.TempDir(), "reinstate")
	if err := os.WriteFile(binary, []byte("\x7fELF not really"), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	pkg, err := Build(&buf, Input{HostJSON: filepath.Join(repoRoot, "host.json"), FunctionsDir: filepath.Join(repoRoot, "functions"), Binary: binary, Rules: sampleRules})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatalf("read zip: %v", err)
	}
	return zr, pkg
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
	zr, _ := buildRepoPackage(t)
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
		"rules.yaml":                 0o644,
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
	exe := host.CustomHandler.Description.DefaultExecutablePath
	if modes[exe] == 0 {
		t.Errorf("defaultExecutablePath %q is not in the zip", exe)
	}
	// The rule table is beside the binary, under the name serve looks for
	// when REINSTATE_RULES is unset, byte for byte the table given.
	if base := filepath.Base(config.DefaultRulesPath()); base != RulesFile {
		t.Fatalf("config.DefaultRulesPath() looks for %s, the package ships %s", base, RulesFile)
	}
	if want := path.Join(path.Dir(exe), RulesFile); modes[want] == 0 {
		t.Errorf("zip lacks %s beside %s", want, exe)
	} else if got, sample := readEntry(t, zr, want), mustRead(t, sampleRules); !bytes.Equal(got, sample) {
		t.Errorf("%s in the zip differs from %s", want, sampleRules)
	}
	for _, key := range []string{"maxEventBatchSize", "batchCheckpointFrequency", "prefetchCount"} {
		if _, ok := host.Extensions.EventHubs[key]; !ok {
			t.Errorf("host.json extensions.eventHubs lacks %s", key)
		}
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The sample table, which a package carries unless told otherwise, loads
// as serve loads it and starts in observe mode: a first deployment
// decides and notifies, and writes nothing to the tenant.
func TestSampleTableShipsInObserveMode(t *testing.T) {
	_, pkg := buildRepoPackage(t)
	if pkg.Rules != RulesFile {
		t.Errorf("rule table entry %q, want %q at the zip root beside %s", pkg.Rules, RulesFile, pkg.Binary)
	}
	if pkg.Table.Mode != rules.ModeObserve || pkg.Table.ModeSource != "file" {
		t.Errorf("%s: mode %s (from %s), want observe from the file", sampleRules, pkg.Table.Mode, pkg.Table.ModeSource)
	}
	if len(pkg.Table.Rules) == 0 {
		t.Errorf("%s: no rules", sampleRules)
	}
	// REINSTATE_MODE in the environment of whoever builds does not leak
	// into the check: the deployed app's own setting decides.
	t.Setenv("REINSTATE_MODE", "not-a-mode")
	if _, pkg := buildRepoPackage(t); pkg.Table.Mode != rules.ModeObserve {
		t.Errorf("with REINSTATE_MODE set where the package is built: mode %s", pkg.Table.Mode)
	}
}

// A table with ${NAME} secrets packages without them; the rule table goes
// beside the binary wherever host.json puts it.
func TestRulesGoBesideTheBinaryWithPlaceholdersForSecrets(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "host.json", `{"customHandler":{"description":{"defaultExecutablePath":"bin/handler"}}}`)
	write(t, dir, "functions/F/function.json", goodFunction)
	write(t, dir, "handler", "x")
	table := "version: 1\nchannels:\n  secops: {type: webhook, url: \"${SECOPS_WEBHOOK_URL}\", secret: \"${SECOPS_WEBHOOK_SECRET}\"}\n" +
		"rules:\n  - name: users\n    when: target.type == 'User'\n    actions: [restore]\n    notify: [secops]\n"
	write(t, dir, "my-rules.yaml", table)
	var buf bytes.Buffer
	pkg, err := Build(&buf, Input{HostJSON: filepath.Join(dir, "host.json"), FunctionsDir: filepath.Join(dir, "functions"), Binary: filepath.Join(dir, "handler"), Rules: filepath.Join(dir, "my-rules.yaml")})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if pkg.Rules != "bin/rules.yaml" {
		t.Errorf("rule table at %q, want bin/rules.yaml beside bin/handler", pkg.Rules)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(readEntry(t, zr, "bin/rules.yaml")); got != table {
		t.Errorf("bin/rules.yaml = %q, want the table unexpanded", got)
	}
}

func TestAuditEventsBindingMatchesTheProtocolWeDecode(t *testing.T) {
	zr, _ := buildRepoPackage(t)
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

func write(t *testing.T, dir, name, content string) string {
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

const (
	goodFunction = `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer"}]}`
	goodHost     = `{"customHandler":{"description":{"defaultExecutablePath":"x"}}}`
	goodRules    = "version: 1\nrules:\n  - name: users\n    when: target.type == 'User'\n    actions: [restore]\n"
)

// Build refuses, and writes nothing, when the host would refuse the
// package or serve would refuse its rule table; a table's problems are
// named by file and line.
func TestBuildRefusesPackagesTheHostWouldReject(t *testing.T) {
	good := map[string]string{"F/function.json": goodFunction}
	tests := []struct {
		name      string
		host      string
		functions map[string]string
		rules     *string // nil: a good table; "": none given
		wantErr   []string
	}{
		{"no executable", `{"customHandler":{"description":{}}}`, good, nil, []string{"defaultExecutablePath"}},
		{"escaping executable", `{"customHandler":{"description":{"defaultExecutablePath":"../x"}}}`, good, nil, []string{"defaultExecutablePath"}},
		{"executable named like the table", `{"customHandler":{"description":{"defaultExecutablePath":"rules.yaml"}}}`, good, nil, []string{"rule table's name"}},
		{"broken function.json", goodHost, map[string]string{"F/function.json": `{"bindings":`}, nil, []string{"F/function.json"}},
		{"no bindings", goodHost, map[string]string{"F/function.json": `{"bindings":[]}`}, nil, []string{"no bindings"}},
		{"no functions", goodHost, map[string]string{"notes.txt": "x"}, nil, []string{"no function folders"}},
		{"no rule table", goodHost, good, ptr(""), []string{"no rule table", "RULES_PACKAGE"}},
		{"CEL that does not compile", goodHost, good, ptr("version: 1\nrules:\n  - name: x\n    when: 'event.activity =='\n    actions: [restore]\n"), []string{"rules.yaml:4:", "rules[0].when"}},
		{"unknown channel", goodHost, good, ptr("version: 1\nrules:\n  - name: x\n    when: 'true'\n    actions: [notify]\n    notify: [pager]\n"), []string{"rules.yaml:6:", `channel "pager" is not declared`}},
		{"not YAML", goodHost, good, ptr("version: [1\n"), []string{"rules.yaml:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in := Input{HostJSON: write(t, dir, "host.json", tt.host), FunctionsDir: filepath.Join(dir, "functions"), Binary: write(t, dir, "bin", "x"), Rules: write(t, dir, "rules.yaml", goodRules)}
			if tt.rules != nil {
				in.Rules = ""
				if *tt.rules != "" {
					in.Rules = write(t, dir, "rules.yaml", *tt.rules)
				}
			}
			for name, content := range tt.functions {
				write(t, in.FunctionsDir, name, content)
			}
			var out bytes.Buffer
			_, err := Build(&out, in)
			if err == nil {
				t.Fatalf("Build succeeded, want an error mentioning %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Build error = %v, want one mentioning %q", err, want)
				}
			}
			if out.Len() != 0 {
				t.Errorf("Build wrote %d bytes before refusing", out.Len())
			}
		})
	}
	// And the same inputs with a good table build.
	dir := t.TempDir()
	write(t, dir, "functions/F/function.json", goodFunction)
	in := Input{HostJSON: write(t, dir, "host.json", goodHost), FunctionsDir: filepath.Join(dir, "functions"), Binary: write(t, dir, "bin", "x"), Rules: write(t, dir, "rules.yaml", goodRules)}
	if _, err := Build(io.Discard, in); err != nil {
		t.Errorf("a good package: %v", err)
	}
}

func ptr(s string) *string { return &s }
