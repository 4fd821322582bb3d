package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"

	"github.com/reinstate/reinstate/pkg/audit"
)

// BenchmarkGoPathAgainstCEL evaluates one table of 50 rules, every one of
// which reaches its last comparison and none matches, two ways: as
// Evaluate does (the conditions compiled to Go), and through CEL's
// interpreter alone, as it would without the Go path. The ratio is what
// the Go path buys.
func BenchmarkGoPathAgainstCEL(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("version: 1\nrules:\n")
	for i := range 50 {
		fmt.Fprintf(&sb, "  - name: r%d\n    when: 'event.deletion == \"soft\" && target.type == \"group\" && (target.displayName.startsWith(\"sec-%d-\") || target.id in [\"%08d-0000-4000-8000-000000000001\", \"%08d-0000-4000-8000-000000000002\"])'\n    actions: [restore]\n", i, i, i, i)
	}
	table, err := Parse("bench.yaml", []byte(sb.String()), func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	target := audit.Target{ID: "6d1c4a2e-0000-4000-8000-000000000009", Type: audit.TargetGroup, DisplayName: "sec-none-payments"}
	event := &audit.Event{ID: "e", Deletion: audit.DeletionSoft, Result: "success", Targets: []audit.Target{target}}
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			if v := table.Subject(event, now).Evaluate(target, nil, ObjectNotRead); len(v.Matched) != 0 {
				b.Fatal("matched")
			}
		}
	})
	b.Run("cel", func(b *testing.B) {
		for b.Loop() {
			act := activation{adapter: table.adapter, event: event, target: &target, object: types.NullValue, now: types.Timestamp{Time: now}}
			for _, r := range table.Rules {
				if out, _, err := r.program.Eval(&act); err != nil || out == types.True {
					b.Fatal("matched or failed", err)
				}
			}
		}
	})
}
