package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/pkg/store"
)

// Output formats of the listing commands.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// withStore checks the --output flag, then runs read over the configured
// store: what every listing command does before it prints.
func (e *env) withStore(ctx context.Context, output string, read func(store.Store) error) error {
	if output != outputTable && output != outputJSON {
		return fmt.Errorf("--output %q: use table or json", output)
	}
	st, err := openStore(ctx, e.cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	return read(st)
}

func journalCommand(e *env) *cobra.Command {
	var (
		limit   int
		output  string
		eventID string
		since   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "journal",
		Short: "Show recent journal entries: every event, decision and action, newest first",
		Long: `Show the journal that REINSTATE_STORE holds: one entry for each audit event
received, each decision and action, and each dead letter, newest first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withStore(cmd.Context(), output, func(st store.Store) error {
				query := store.JournalQuery{Limit: limit, EventID: eventID}
				if since > 0 {
					query.Since = time.Now().Add(-since)
				}
				entries, err := st.Journal(cmd.Context(), query)
				if err != nil {
					return fmt.Errorf("read journal: %w", err)
				}
				if output == outputJSON {
					return writeJSONLines(e.stdout, entries)
				}
				return writeJournalTable(e.stdout, entries)
			})
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 50, "how many entries at most")
	cmd.Flags().StringVarP(&output, "output", "o", outputTable, "table or json (one entry per line)")
	cmd.Flags().StringVar(&eventID, "event", "", "only entries about this audit record id")
	cmd.Flags().DurationVar(&since, "since", 0, "only entries newer than this, such as 24h")
	return cmd
}

func writeJSONLines[T any](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	for _, item := range items {
		if err := enc.Encode(item); err != nil {
			return err
		}
	}
	return nil
}

func writeJournalTable(w io.Writer, entries []store.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tACTIVITY\tTARGET\tACTOR\tOUTCOME\tDETAIL")
	for _, entry := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			entry.Time.UTC().Format(time.RFC3339), entry.Kind, dash(entry.Activity),
			dash(joinTarget(entry)), dash(entry.Actor), dash(entry.Outcome), dash(clip(entry.Detail, detailWidth)))
	}
	return tw.Flush()
}

func joinTarget(entry store.Entry) string {
	var parts []string
	for _, part := range []string{entry.TargetType, entry.TargetName, entry.TargetID} {
		if part != "" {
			parts = append(parts, part)
		}
	}
	return strings.Join(parts, " ")
}

// detailWidth keeps the table readable: a restore's detail holds the object
// before and after as JSON, which --output json shows whole.
const detailWidth = 100

// clip shortens s to at most n runes, marking the cut.
func clip(s string, n int) string {
	runes := []rune(s)
	if len(runes) <= n {
		return s
	}
	return string(runes[:n-1]) + "…"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func deadLettersCommand(e *env) *cobra.Command {
	var (
		limit  int
		output string
		raw    string
	)
	cmd := &cobra.Command{
		Use:   "deadletters",
		Short: "Show input that could not be processed, newest first",
		Long: `Show the dead letters that REINSTATE_STORE holds: event bodies that were not
JSON, and audit records that could not be decoded, each with where it came
from and why. With --output json each line carries the raw bytes (base64).

--raw ID writes one dead letter's bytes exactly as received, to replay them
once the cause is fixed:

  reinstate deadletters --raw ID | reinstate replay -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withStore(cmd.Context(), output, func(st store.Store) error {
				if raw != "" {
					limit = max(limit, rawSearchLimit)
				}
				letters, err := st.DeadLetters(cmd.Context(), limit)
				if err != nil {
					return fmt.Errorf("read dead letters: %w", err)
				}
				if raw != "" {
					for _, l := range letters {
						if l.ID == raw {
							_, err := e.stdout.Write(l.Raw)
							return err
						}
					}
					return fmt.Errorf("no dead letter %s among the newest %d", raw, limit)
				}
				if output == outputJSON {
					return writeJSONLines(e.stdout, letters)
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tID\tSOURCE\tLOCATION\tBYTES\tREASON")
				for _, l := range letters {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", l.Time.UTC().Format(time.RFC3339), l.ID, l.Source, dash(l.Location), len(l.Raw), l.Reason)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 50, "how many dead letters at most")
	cmd.Flags().StringVarP(&output, "output", "o", outputTable, "table or json (one dead letter per line)")
	cmd.Flags().StringVar(&raw, "raw", "", "write this dead letter's raw bytes to stdout")
	return cmd
}

// rawSearchLimit is how far back --raw looks for a dead letter.
const rawSearchLimit = 10_000
