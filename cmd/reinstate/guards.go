package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/store"
)

// Journal kinds for operators' changes to the guards.
const (
	kindSilenceAdded = store.Kind("silence.added")
	kindSilenceEnded = store.Kind("silence.ended")
	kindBreakerReset = store.Kind("breaker.reset")
)

// operator names who ran the command, for the journal.
func (e *env) operator(by string) string {
	if by != "" {
		return by
	}
	if user := e.getenv("USER"); user != "" {
		return user
	}
	return "cli"
}

func silenceCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "silence",
		Short: "Mute decisions for a while: by rule, initiator or object",
		Long: `Silences are time-bound mutes kept in REINSTATE_STORE, so every instance
honours them at once. A silenced decision is journaled (decision.guarded,
guard silence) and not acted on, not even notified. Every matcher a silence
sets must match. Adding and ending one is journaled with who did it.`,
	}
	var (
		s        store.Silence
		duration time.Duration
		by       string
	)
	add := &cobra.Command{
		Use:   "add --for DURATION --reason TEXT [--rule NAME] [--initiator ID|UPN] [--object ID]",
		Short: "Add a silence",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if duration <= 0 {
				return fmt.Errorf("--for must be a positive duration, such as 2h")
			}
			return e.withStore(cmd.Context(), outputTable, func(st store.Store) error {
				now := time.Now()
				s.StartsAt, s.EndsAt, s.CreatedBy = now, now.Add(duration), e.operator(by)
				saved, err := st.PutSilence(cmd.Context(), s, now)
				if err != nil {
					return fmt.Errorf("add silence: %w", err)
				}
				if err := e.journalOperator(cmd.Context(), st, kindSilenceAdded, saved.CreatedBy, saved.Rule, describeSilence(saved)); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s until %s\n", saved.ID, saved.EndsAt.UTC().Format(time.RFC3339))
				return nil
			})
		},
	}
	add.Flags().DurationVar(&duration, "for", 0, "how long, such as 2h")
	add.Flags().StringVar(&s.Reason, "reason", "", "why (required; shown in every silenced decision)")
	add.Flags().StringVar(&s.Rule, "rule", "", "mute this rule's decisions")
	add.Flags().StringVar(&s.Initiator, "initiator", "", "mute deletions by this object id, appId, service principal id or UPN")
	add.Flags().StringVar(&s.ObjectID, "object", "", "mute decisions about this object id")
	add.Flags().StringVar(&by, "by", "", "who is adding it (default $USER)")

	var all bool
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List active silences (--all: ended ones too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withStore(cmd.Context(), output, func(st store.Store) error {
				q := store.SilenceQuery{Limit: 1000}
				if !all {
					q.ActiveAt = time.Now()
				}
				silences, err := st.Silences(cmd.Context(), q)
				if err != nil {
					return fmt.Errorf("list silences: %w", err)
				}
				if output == outputJSON {
					return writeJSONLines(e.stdout, silences)
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tMATCHES\tUNTIL\tBY\tREASON")
				for _, s := range silences {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, matchers(s), s.EndsAt.UTC().Format(time.RFC3339), dash(s.CreatedBy), s.Reason)
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().BoolVar(&all, "all", false, "include silences that ended")
	list.Flags().StringVarP(&output, "output", "o", outputTable, "table or json")

	end := &cobra.Command{
		Use:   "end ID",
		Short: "End a silence now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withStore(cmd.Context(), outputTable, func(st store.Store) error {
				if err := st.EndSilence(cmd.Context(), args[0], time.Now()); err != nil {
					return fmt.Errorf("end silence %s: %w", args[0], err)
				}
				return e.journalOperator(cmd.Context(), st, kindSilenceEnded, e.operator(by), "", "silence "+args[0])
			})
		},
	}
	end.Flags().StringVar(&by, "by", "", "who is ending it (default $USER)")
	cmd.AddCommand(add, list, end)
	return cmd
}

func breakerCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "breaker",
		Short: "The mass-deletion breaker",
	}
	var by string
	reset := &cobra.Command{
		Use:   "reset RULE|total",
		Short: "Close a tripped breaker now",
		Long: `Close the mass-deletion breaker of one rule, or the total one, now: automatic
restores resume with the next deletion, and what it counted before does not
count again. Deletions it held back are not restored by this; restore them
through the preview it opened, or by hand. Journaled with who did it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withStore(cmd.Context(), outputTable, func(st store.Store) error {
				if err := guard.ResetBreaker(cmd.Context(), st, args[0], time.Now()); err != nil {
					return err
				}
				rule := args[0]
				if rule == "total" {
					rule = ""
				}
				return e.journalOperator(cmd.Context(), st, kindBreakerReset, e.operator(by), rule, "breaker "+args[0]+" reset")
			})
		},
	}
	reset.Flags().StringVar(&by, "by", "", "who is resetting it (default $USER)")
	cmd.AddCommand(reset)
	return cmd
}

func (e *env) journalOperator(ctx context.Context, st store.Store, kind store.Kind, actor, rule, detail string) error {
	if _, err := st.Append(ctx, store.Entry{Kind: kind, Actor: actor, Rule: rule, Outcome: "done", Source: "cli", Detail: detail}); err != nil {
		return fmt.Errorf("journal %s: %w", kind, err)
	}
	return nil
}

func matchers(s store.Silence) string {
	var parts []string
	for _, m := range []struct{ name, value string }{{"rule", s.Rule}, {"initiator", s.Initiator}, {"object", s.ObjectID}} {
		if m.value != "" {
			parts = append(parts, m.name+"="+m.value)
		}
	}
	return strings.Join(parts, " ")
}

func describeSilence(s store.Silence) string {
	return fmt.Sprintf("silence %s: %s until %s: %s", s.ID, matchers(s), s.EndsAt.UTC().Format(time.RFC3339), s.Reason)
}
