// Command mkpackage writes the Functions deployment zip (make package):
// host.json, the function folders, the handler binary and, beside it, the
// rule table as rules.yaml. A rule table that `reinstate serve` would refuse
// fails the build, each problem as file:line:column.
//
//	go run ./internal/tools/mkpackage -out dist/reinstate.zip -binary dist/reinstate -rules docs/rules.sample.yaml
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/reinstate/reinstate/internal/funcpkg"
)

func main() {
	var in funcpkg.Input
	out := flag.String("out", "dist/reinstate.zip", "zip to write")
	flag.StringVar(&in.HostJSON, "host", "host.json", "host.json to package")
	flag.StringVar(&in.FunctionsDir, "functions", "functions", "folder of function folders")
	flag.StringVar(&in.Binary, "binary", "dist/reinstate", "linux/amd64 handler binary")
	flag.StringVar(&in.Rules, "rules", "", "rule table to ship as "+funcpkg.RulesFile+" beside the binary (required)")
	flag.Parse()
	if err := write(*out, in); err != nil {
		fmt.Fprintln(os.Stderr, "mkpackage:", err)
		os.Exit(1)
	}
}

// write builds the package into out, and removes out when it cannot.
func write(out string, in funcpkg.Input) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	pkg, err := funcpkg.Build(f, in)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(out)
		return err
	}
	t := pkg.Table
	fmt.Printf("wrote %s: host.json, %v, %s, %s\n", out, pkg.Functions, pkg.Binary, pkg.Rules)
	fmt.Printf("  %s from %s: %d rules, mode %s (from %s); in Azure the app setting REINSTATE_MODE wins\n", pkg.Rules, in.Rules, len(t.Rules), t.Mode, t.ModeSource)
	return nil
}
