// Command mkpackage writes the Functions deployment zip (make package).
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
	flag.Parse()
	if err := write(*out, in); err != nil {
		fmt.Fprintln(os.Stderr, "mkpackage:", err)
		os.Exit(1)
	}
}

func write(out string, in funcpkg.Input) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	functions, err := funcpkg.Build(f, in)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(out)
		return err
	}
	fmt.Printf("wrote %s: host.json, %v, %s\n", out, functions, filepath.Base(in.Binary))
	return nil
}
