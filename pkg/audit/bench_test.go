package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
)

// benchRecords is the number of records in the benchmark body.
const benchRecords = 100

// eventHubsBody100 builds an Event Hubs body of benchRecords compact records,
// cycling through the records of the Event Hubs fixtures (a mix of deletes,
// restores, updates and Conditional Access policies) and giving each copy its
// own id, so the body looks like one delivery from a busy tenant.
func eventHubsBody100(tb testing.TB) []byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureDir, "eventhubs", "*.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no fixtures: %v", err)
	}
	var templates [][]byte
	for _, f := range files {
		var body struct{ Records []json.RawMessage }
		if err := json.Unmarshal(readFixture(tb, filepath.Join("eventhubs", filepath.Base(f))), &body); err != nil {
			tb.Fatal(err)
		}
		for _, r := range body.Records {
			var buf bytes.Buffer
			if err := json.Compact(&buf, r); err != nil {
				tb.Fatal(err)
			}
			templates = append(templates, buf.Bytes())
		}
	}
	var out bytes.Buffer
	out.WriteString(`{"records":[`)
	for i := range benchRecords {
		tpl := templates[i%len(templates)]
		ev, err := Normalize(tpl)
		if err != nil {
			tb.Fatal(err)
		}
		// Same length and shape, distinct id.
		id := ev.ID[:len(ev.ID)-3] + fmt.Sprintf("%03d", i)
		rec := bytes.Replace(tpl, []byte(`"`+ev.ID+`"`), []byte(`"`+id+`"`), 1)
		if i > 0 {
			out.WriteByte(',')
		}
		out.Write(rec)
	}
	out.WriteString("]}")
	if bytes.Contains(out.Bytes(), []byte("\n")) {
		tb.Fatal("benchmark body is not compact")
	}
	return out.Bytes()
}

// benchmarkBody runs fn over body b.N times and reports throughput in
// records and allocations per record, next to the usual per-op figures.
func benchmarkBody(b *testing.B, body []byte, fn func([]byte)) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.GC()
	b.ResetTimer()
	runtime.ReadMemStats(&before)
	for i := 0; i < b.N; i++ {
		fn(body)
	}
	runtime.ReadMemStats(&after)
	b.StopTimer()
	records := float64(b.N) * benchRecords
	b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/records, "allocs/record")
}

func BenchmarkDecodeEventHubsBody(b *testing.B) {
	body := eventHubsBody100(b)
	res, err := Decode(body)
	if err != nil || len(res.Events) != benchRecords || len(res.Skipped) != 0 {
		b.Fatalf("benchmark body: err %v, %d events, skips %v", err, len(res.Events), res.Skipped)
	}
	seen := map[string]bool{}
	for _, ev := range res.Events {
		seen[ev.ID] = true
	}
	if len(seen) != benchRecords {
		b.Fatalf("benchmark body has %d distinct ids, want %d", len(seen), benchRecords)
	}
	benchmarkBody(b, body, func(data []byte) {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkJSONValidEventHubsBody is the floor: one validating pass of
// encoding/json over the same bytes, which Decode cannot beat.
func BenchmarkJSONValidEventHubsBody(b *testing.B) {
	body := eventHubsBody100(b)
	benchmarkBody(b, body, func(data []byte) {
		if !json.Valid(data) {
			b.Fatal("invalid")
		}
	})
}
