// Package funcpkg builds the zip package the Azure Functions host runs: at
// the zip root host.json, one folder per function holding its function.json,
// and the custom-handler binary that host.json names, with its exec bit;
// beside the binary, the rule table as rules.yaml, where `reinstate serve`
// reads it when REINSTATE_RULES is unset (config.DefaultRulesPath).
// The layout follows the custom-handlers documentation
// (https://learn.microsoft.com/azure/azure-functions/functions-custom-handlers#application-structure;
// ../shared/reference/functions-custom-handler-and-audit-logs.md §A4).
package funcpkg

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/rules"
)

// RulesFile is the name of the rule table in the package, beside the
// binary: the name config.DefaultRulesPath looks for.
const RulesFile = "rules.yaml"

// HostConfig is the part of host.json the package depends on.
type HostConfig struct {
	CustomHandler struct {
		Description struct {
			DefaultExecutablePath string `json:"defaultExecutablePath"`
		} `json:"description"`
	} `json:"customHandler"`
}

// FunctionConfig is the part of a function.json the package checks.
type FunctionConfig struct {
	Bindings []struct {
		Type      string `json:"type"`
		Direction string `json:"direction"`
		Name      string `json:"name"`
	} `json:"bindings"`
}

// Input names what goes into the package.
type Input struct {
	// HostJSON is the path of host.json.
	HostJSON string
	// FunctionsDir holds one folder per function, each with function.json.
	FunctionsDir string
	// Binary is the linux/amd64 custom-handler executable.
	Binary string
	// Rules is the rule table to ship as RulesFile beside the binary.
	// Without one, the deployed `reinstate serve` refuses to start.
	Rules string
}

// Package is what Build wrote.
type Package struct {
	// Functions are the function folders, sorted.
	Functions []string
	// Binary and Rules are the entry names of the executable and of the
	// rule table, in the same folder.
	Binary, Rules string
	// Table is the rule table as it loaded, with placeholders for its
	// ${NAME} references (CheckRules).
	Table *rules.Table
}

// zipTime is the modification time of every entry, so that the same inputs
// give the same bytes.
var zipTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Build validates the inputs and writes the package to w. It fails, before
// writing anything, when host.json names no executable, when a function
// folder has no valid function.json (the host would refuse such a package
// at start), or when the rule table is missing or would stop `reinstate
// serve` from starting (CheckRules).
func Build(w io.Writer, in Input) (*Package, error) {
	hostBytes, err := os.ReadFile(in.HostJSON)
	if err != nil {
		return nil, err
	}
	var host HostConfig
	if err := json.Unmarshal(hostBytes, &host); err != nil {
		return nil, fmt.Errorf("%s: %w", in.HostJSON, err)
	}
	exe := host.CustomHandler.Description.DefaultExecutablePath
	if !filepath.IsLocal(exe) || path.Clean(exe) != exe {
		return nil, fmt.Errorf("%s: customHandler.description.defaultExecutablePath must be a clean path inside the package, got %q", in.HostJSON, exe)
	}
	functions, err := functionNames(in.FunctionsDir)
	if err != nil {
		return nil, err
	}
	if in.Rules == "" {
		return nil, fmt.Errorf("no rule table: name one to ship as %s beside the binary (make package: RULES_PACKAGE); without it reinstate serve refuses to start", RulesFile)
	}
	rulesBytes, err := os.ReadFile(in.Rules)
	if err != nil {
		return nil, fmt.Errorf("rule table: %w", err)
	}
	table, err := CheckRules(in.Rules, rulesBytes)
	if err != nil {
		return nil, err
	}
	rulesEntry := path.Join(path.Dir(exe), RulesFile)
	if rulesEntry == exe {
		return nil, fmt.Errorf("%s: defaultExecutablePath %q is the rule table's name", in.HostJSON, exe)
	}
	binary, err := os.ReadFile(in.Binary)
	if err != nil {
		return nil, err
	}

	zw := zip.NewWriter(w)
	if err := addFile(zw, "host.json", hostBytes, 0o644); err != nil {
		return nil, err
	}
	for _, name := range functions {
		data, err := os.ReadFile(filepath.Join(in.FunctionsDir, name, "function.json"))
		if err != nil {
			return nil, err
		}
		if err := addFile(zw, name+"/function.json", data, 0o644); err != nil {
			return nil, err
		}
	}
	if err := addFile(zw, exe, binary, 0o755); err != nil {
		return nil, err
	}
	if err := addFile(zw, rulesEntry, rulesBytes, 0o644); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &Package{Functions: functions, Binary: exe, Rules: rulesEntry, Table: table}, nil
}

// CheckRules loads a rule table as `reinstate rules check` and `reinstate
// serve` load it: parsed, ${NAME} expanded, every CEL condition compiled
// and type-checked, channel references resolved. A problem is reported as
// name:line:column. Two things differ, because the package is built away
// from the app's settings:
//
//   - every ${NAME} stands for a placeholder https URL, a value every
//     setting that takes a URL, a secret or a key accepts: secrets are not
//     needed to build a package, and in Azure they are Key Vault references.
//     The channels' own checks of those values (URL schemes, a webhook
//     secret's format) need the real ones, so serve makes them at start.
//   - REINSTATE_MODE reads as unset, so Table.Mode is the file's own: in
//     Azure the app setting REINSTATE_MODE, which the template always sets,
//     wins over it.
func CheckRules(name string, data []byte) (*rules.Table, error) {
	table, err := rules.Parse(name, data, placeholder)
	if err != nil {
		return nil, fmt.Errorf("rule table %s would stop reinstate serve from starting (reinstate rules check %s shows the same problems):\n%w", name, name, err)
	}
	return table, nil
}

// placeholder stands in for the app's settings while checking a table.
func placeholder(name string) string {
	if name == rules.EnvMode {
		return ""
	}
	return "https://placeholder.invalid/" + strings.ToLower(name)
}

// functionNames lists the function folders, checking each function.json.
func functionNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, entry := range entries {
		if !entry.IsDir() {
			continue
		}
		file := filepath.Join(dir, entry.Name(), "function.json")
		data, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a Go source folder, not a function
		}
		if err != nil {
			return nil, err
		}
		var fn FunctionConfig
		if err := json.Unmarshal(data, &fn); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(fn.Bindings) == 0 {
			return nil, fmt.Errorf("%s: no bindings", file)
		}
		names = append(names, entry.Name())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no function folders with a function.json", dir)
	}
	sort.Strings(names)
	return names, nil
}

func addFile(zw *zip.Writer, name string, data []byte, mode fs.FileMode) error {
	header := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: zipTime}
	// SetMode records Unix permission bits in the external attributes, which
	// is where Linux unzip (and the Functions host's extraction) reads the
	// exec bit from.
	header.SetMode(mode)
	f, err := zw.CreateHeader(header)
	if err != nil {
		return fmt.Errorf("zip %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("zip %s: %w", name, err)
	}
	return nil
}
