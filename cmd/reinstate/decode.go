package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/pkg/audit"
)

// Exit codes of `reinstate decode`.
const (
	decodeAllDecoded  = 0
	decodeNothingRead = 1
	decodeSomeSkipped = 2
)

func decodeCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "decode [FILE|-]...",
		Short: "Decode audit records into normalized events (NDJSON on stdout)",
		Long: `Decode Entra audit records and write one normalized event per line, as JSON,
to stdout. With no FILE, or with -, it reads stdin.

Accepted inputs: Event Hubs bodies from diagnostic settings ({"records":[...]}),
single records, Graph /auditLogs/directoryAudits pages ({"value":[...]}), bare
directoryAudit objects, JSON arrays of records, and NDJSON of any of these.

Records that cannot be decoded are named on stderr with their file and record
index, and skipped.

Exit status: 0 when everything decoded; 2 when some records (or files) were
skipped; 1 when nothing could be read.`,
		Annotations: map[string]string{"config": "none"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"-"}
			}
			code := decodeFiles(args, e.stdin, e.stdout, e.stderr)
			if code != decodeAllDecoded {
				return &exitError{code: code}
			}
			return nil
		},
	}
}

func decodeFiles(names []string, stdin io.Reader, stdout, stderr io.Writer) int {
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	return eachEvent(names, stdin, stderr, func(event audit.Event) error { return enc.Encode(event) })
}

// eachEvent decodes every input and calls use for each event, in order.
// Inputs and records that cannot be decoded are named on stderr with their
// file and record, and skipped. It returns decode's exit code; an error from
// use stops it with decodeNothingRead.
func eachEvent(names []string, stdin io.Reader, stderr io.Writer, use func(audit.Event) error) int {
	var readable, skipped int
	for _, name := range names {
		data, err := readInput(name, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			skipped++
			continue
		}
		result, err := audit.Decode(data)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			skipped++
			continue
		}
		readable++
		for _, skip := range result.Skipped {
			fmt.Fprintf(stderr, "%s: %v\n", name, skip)
		}
		skipped += len(result.Skipped)
		for _, event := range result.Events {
			if err := use(event); err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", name, err)
				return decodeNothingRead
			}
		}
	}
	switch {
	case readable == 0:
		return decodeNothingRead
	case skipped > 0:
		return decodeSomeSkipped
	}
	return decodeAllDecoded
}

func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}
