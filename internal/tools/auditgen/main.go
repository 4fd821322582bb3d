// Command auditgen writes a synthetic Entra audit stream for replay
// benchmarks: NDJSON, one Event Hubs body per line, each holding -per-body
// records made from the records of a template body (by default the sample
// mixed batch: updates, deletions of every kind, a restore, a membership
// change). Each record gets its own id, correlation id, target object id
// and time, so every one is new to the pipeline; every -bad-every'th record
// has targetResources that is not a list, so that the run also keeps dead letters.
//
//	go run ./internal/tools/auditgen -records 100000 -out .run/audit-100k.ndjson
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/google/uuid"
)

func main() {
	var opts options
	flag.IntVar(&opts.records, "records", 100_000, "how many audit records to write")
	flag.IntVar(&opts.perBody, "per-body", 10, "records per Event Hubs body (line)")
	flag.IntVar(&opts.badEvery, "bad-every", 1000, "make every Nth record undecodable (0: none)")
	flag.StringVar(&opts.template, "template", "testdata/audit/eventhubs/mixed-batch.json", "Event Hubs body whose records are the templates")
	flag.Uint64Var(&opts.seed, "seed", 1, "random seed, so that runs are comparable")
	out := flag.String("out", "-", "output file (- for stdout)")
	flag.Parse()
	w := io.Writer(os.Stdout)
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			fail(err)
		}
		defer f.Close()
		w = f
	}
	if err := generate(w, opts); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "auditgen:", err)
	os.Exit(1)
}

type options struct {
	records, perBody, badEvery int
	template                   string
	seed                       uint64
}

// generate writes opts.records records to w.
func generate(w io.Writer, opts options) error {
	if opts.records < 1 || opts.perBody < 1 {
		return fmt.Errorf("-records and -per-body must be at least 1")
	}
	data, err := os.ReadFile(opts.template)
	if err != nil {
		return err
	}
	var body struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.Unmarshal(data, &body); err != nil || len(body.Records) == 0 {
		return fmt.Errorf("%s: not an Event Hubs body with records: %v", opts.template, err)
	}
	rng := rand.New(rand.NewPCG(opts.seed, opts.seed))
	newUUID := func() string {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		u, _ := uuid.FromBytes(b[:])
		u[6] = (u[6] & 0x0f) | 0x40
		u[8] = (u[8] & 0x3f) | 0x80
		return u.String()
	}
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	line := make([]map[string]any, 0, opts.perBody)
	for i := range opts.records {
		rec := clone(body.Records[i%len(body.Records)]).(map[string]any)
		props := rec["properties"].(map[string]any)
		at := start.Add(time.Duration(i) * 50 * time.Millisecond).Format(time.RFC3339Nano)
		correlation := newUUID()
		rec["time"], rec["correlationId"] = at, correlation
		props["id"], props["correlationId"], props["activityDateTime"] = fmt.Sprintf("Directory_%s_GEN_%09d", correlation, i), correlation, at
		if targets, ok := props["targetResources"].([]any); ok && len(targets) > 0 {
			targets[0].(map[string]any)["id"] = newUUID()
		}
		if opts.badEvery > 0 && (i+1)%opts.badEvery == 0 {
			props["targetResources"] = "not a list"
		}
		line = append(line, rec)
		if len(line) == opts.perBody || i == opts.records-1 {
			if err := enc.Encode(map[string]any{"records": line}); err != nil {
				return err
			}
			line = line[:0]
		}
	}
	return bw.Flush()
}

// clone deep-copies decoded JSON, so that each record is edited alone.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = clone(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = clone(x)
		}
		return out
	}
	return v
}
