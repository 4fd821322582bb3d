package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func reconcileCommand(e *env) *cobra.Command {
	var apply bool
	var output string
	cmd := &cobra.Command{
		Use:   "reconcile [--apply]",
		Short: "Sweep the recycle bins for deletions Reinstate never decided",
		Long: `List the recycle bins (every type Reinstate restores, and the Conditional
Access bin) for deletions within the last day that no journal entry answers:
their audit events were lost or are late. By default it only lists them
(a dry run). With --apply it runs them through the same rules and guards as
if their events had arrived, as the Reconcile function does every 10 minutes;
each deletion is acted on once, however often it is swept. It also says when
no audit event arrived for an hour while deletions went undecided: the event
pipeline itself may be broken.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, closeParts, err := e.openRulesParts(cmd.Context())
			if err != nil {
				return err
			}
			defer closeParts()
			sweeper, err := e.sweeper(p, e.pipeline(p))
			if err != nil {
				return err
			}
			report, err := sweeper.Sweep(cmd.Context(), !apply)
			if output == outputJSON {
				if werr := writeJSONLines(e.stdout, []any{report}); werr != nil {
					return werr
				}
			} else {
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "MISSED\tTYPE\tNAME\tDELETED")
				for _, m := range report.Missed {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.ObjectID, m.ObjectType, dash(m.Name), m.DeletedAt.UTC().Format(time.RFC3339))
				}
				tw.Flush()
				what := "dry run: nothing acted on; --apply runs them through the rules"
				if apply {
					what = fmt.Sprintf("%d decisions, %d restore intents, %d guarded", report.Pipeline.Decisions, report.Pipeline.Intents, report.Pipeline.Guarded)
				}
				fmt.Fprintf(e.stderr, "%d deletions listed, %d left to their events, %d never decided; %s\n", report.Listed, report.Fresh, len(report.Missed), what)
				if report.Gap != "" {
					fmt.Fprintln(e.stderr, "WARNING:", report.Gap)
				}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&apply, "apply", false, "act on what the sweep finds (default: list only)")
	cmd.Flags().StringVarP(&output, "output", "o", outputTable, "table or json")
	return cmd
}
