package rules_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reinstate/reinstate/pkg/rules"
)

// FuzzParse: whatever the file holds, Parse returns a table or an *Error
// whose every problem names the file, and never panics; a position, when
// given, is inside the file. Seeds: every rule file under testdata/rules
// and the sample.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../../testdata/rules/*/*.yaml")
	seeds = append(seeds, "../../docs/rules.sample.yaml")
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	getenv := func(name string) string {
		if name == "SET" {
			return "value"
		}
		return ""
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		table, err := rules.Parse("fuzz.yaml", data, getenv)
		if err == nil {
			if table == nil || len(table.Rules) == 0 {
				t.Fatalf("no error, but table %v", table)
			}
			return
		}
		perr, ok := err.(*rules.Error)
		if !ok || len(perr.Problems) == 0 || table != nil {
			t.Fatalf("error %T %v with table %v", err, err, table)
		}
		// YAML breaks lines at \r\n, \r and \n alike.
		lines := strings.Count(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") + strings.Count(strings.ReplaceAll(string(data), "\r\n", ""), "\r") + 1
		for _, p := range perr.Problems {
			if p.File != "fuzz.yaml" || p.Line < 0 || p.Line > lines+1 || p.Column < 0 {
				t.Fatalf("problem %+v outside a %d-line file", p, lines)
			}
		}
	})
}
