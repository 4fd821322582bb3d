package main

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/reinstate/reinstate/pkg/audit"
)

// TestGenerateWritesDistinctDecodableRecords: every record decodes as a
// distinct event, except every bad-every'th, which the decoder skips.
func TestGenerateWritesDistinctDecodableRecords(t *testing.T) {
	var out bytes.Buffer
	opts := options{records: 95, perBody: 10, badEvery: 10, template: "../../../testdata/audit/eventhubs/mixed-batch.json", seed: 7}
	if err := generate(&out, opts); err != nil {
		t.Fatal(err)
	}
	lines, events, skipped := 0, 0, 0
	ids := map[string]bool{}
	scanner := bufio.NewScanner(&out)
	scanner.Buffer(nil, 1<<20)
	for scanner.Scan() {
		lines++
		result, err := audit.Decode(scanner.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", lines, err)
		}
		events += len(result.Events)
		skipped += len(result.Skipped)
		for _, e := range result.Events {
			ids[e.ID] = true
		}
	}
	if lines != 10 || events != 86 || skipped != 9 || len(ids) != events {
		t.Errorf("%d lines, %d events (%d distinct ids), %d skipped; want 10 lines, 86 distinct events, 9 skipped", lines, events, len(ids), skipped)
	}
}
