package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/oncall"
	"github.com/reinstate/reinstate/pkg/store"
)

// guardsFlags choose where the guards commands act: the on-call API
// (--api, or REINSTATE_API_URL set), or the store REINSTATE_STORE names
// (--local, or no REINSTATE_API_URL), which is what local operators and
// the tests use. The commands are annotated to skip config.Load, which a
// laptop that only talks to the API could not pass, and load it
// themselves when they act locally.
type guardsFlags struct {
	api, local bool
	apiFlags
}

func (f *guardsFlags) register(cmd *cobra.Command) {
	p := cmd.PersistentFlags()
	p.BoolVar(&f.api, "api", false, "act through the on-call API ("+envAPIURL+"), as the signed-in caller")
	p.BoolVar(&f.local, "local", false, "act on REINSTATE_STORE directly, even when "+envAPIURL+" is set")
	f.apiFlags.register(p)
}

// guardsClient returns the API client when the command goes through the API,
// and nil after loading the configuration when it acts locally.
// by is the command's --by, which only the local store takes: the API
// records who signed in.
func (e *env) guardsClient(f guardsFlags, by string) (*oncall.Client, error) {
	switch {
	case f.api && f.local:
		return nil, errors.New("--api and --local: choose one")
	case f.api || (!f.local && e.getenv(envAPIURL) != ""):
		if by != "" {
			return nil, errors.New("--by is for the local store: the API records who you signed in as")
		}
		return e.apiClient(f.apiFlags)
	case f.deviceCode:
		return nil, errors.New("--device-code signs in to the on-call API: add --api")
	}
	return nil, e.configure(e.getenv)
}

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
sets must match. Adding and ending one is journaled with who did it.

With --api, or whenever REINSTATE_API_URL is set and --local is not, they go
through the on-call API instead, as the signed-in caller (see reinstate
restore --help for signing in), and need none of the service's
configuration.`,
	}
	var (
		s        store.Silence
		duration time.Duration
		by       string
		where    guardsFlags
	)
	where.register(cmd)
	add := &cobra.Command{
		Use:         "add --for DURATION --reason TEXT [--rule NAME] [--initiator ID|UPN] [--object ID]",
		Short:       "Add a silence",
		Args:        cobra.NoArgs,
		Annotations: noConfig,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if duration <= 0 {
				return fmt.Errorf("--for must be a positive duration, such as 2h")
			}
			c, err := e.guardsClient(where, by)
			if err != nil {
				return err
			}
			if c != nil {
				saved, err := c.AddSilence(cmd.Context(), oncall.SilenceRequest{Rule: s.Rule, Initiator: s.Initiator, ObjectID: s.ObjectID, Reason: s.Reason, Duration: duration.String()})
				if err != nil {
					return apiError("add silence", err)
				}
				fmt.Fprintf(e.stdout, "%s until %s\n", saved.ID, saved.EndsAt.UTC().Format(time.RFC3339))
				return nil
			}
			return e.withStore(cmd.Context(), outputTable, func(st store.Store) error {
				now := time.Now()
				s.StartsAt, s.EndsAt, s.CreatedBy = now, now.Add(duration), e.operator(by)
				saved, err := st.PutSilence(cmd.Context(), s, now)
				if err != nil {
					return fmt.Errorf("add silence: %w", err)
				}
				if err := e.journalOperator(cmd.Context(), st, oncall.KindSilenceAdded, saved.CreatedBy, saved.Rule, guard.DescribeSilence(saved)); err != nil {
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
		Use:         "list",
		Short:       "List active silences (--all: ended ones too)",
		Args:        cobra.NoArgs,
		Annotations: noConfig,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != outputTable && output != outputJSON {
				return fmt.Errorf("--output %q: use table or json", output)
			}
			c, err := e.guardsClient(where, "")
			if err != nil {
				return err
			}
			if c != nil {
				answer, err := c.Silences(cmd.Context(), all)
				if err != nil {
					return apiError("list silences", err)
				}
				return e.writeSilences(output, answer.Silences)
			}
			return e.withStore(cmd.Context(), output, func(st store.Store) error {
				q := store.SilenceQuery{Limit: 1000}
				if !all {
					q.ActiveAt = time.Now()
				}
				silences, err := st.Silences(cmd.Context(), q)
				if err != nil {
					return fmt.Errorf("list silences: %w", err)
				}
				return e.writeSilences(output, silences)
			})
		},
	}
	list.Flags().BoolVar(&all, "all", false, "include silences that ended")
	list.Flags().StringVarP(&output, "output", "o", outputTable, "table or json")

	end := &cobra.Command{
		Use:         "end ID",
		Short:       "End a silence now",
		Args:        cobra.ExactArgs(1),
		Annotations: noConfig,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.guardsClient(where, by)
			if err != nil {
				return err
			}
			if c != nil {
				if err := c.EndSilence(cmd.Context(), args[0]); err != nil {
					return apiError("end silence "+args[0], err)
				}
				return nil
			}
			return e.withStore(cmd.Context(), outputTable, func(st store.Store) error {
				if err := st.EndSilence(cmd.Context(), args[0], time.Now()); err != nil {
					return fmt.Errorf("end silence %s: %w", args[0], err)
				}
				return e.journalOperator(cmd.Context(), st, oncall.KindSilenceEnded, e.operator(by), "", "silence "+args[0])
			})
		},
	}
	end.Flags().StringVar(&by, "by", "", "who is ending it (default $USER)")
	cmd.AddCommand(add, list, end)
	return cmd
}

func (e *env) writeSilences(output string, silences []store.Silence) error {
	if output == outputJSON {
		return writeJSONLines(e.stdout, silences)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMATCHES\tUNTIL\tBY\tREASON")
	for _, s := range silences {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, guard.SilenceMatchers(s), s.EndsAt.UTC().Format(time.RFC3339), dash(s.CreatedBy), s.Reason)
	}
	return tw.Flush()
}

func breakerCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "breaker",
		Short: "The mass-deletion breaker",
	}
	var (
		by, reason string
		where      guardsFlags
	)
	where.register(cmd)
	reset := &cobra.Command{
		Use:   "reset RULE|total",
		Short: "Close a tripped breaker now",
		Long: `Close the mass-deletion breaker of one rule, or the total one, now: automatic
restores resume with the next deletion, and what it counted before does not
count again. Deletions it held back are not restored by this; restore them
through the preview it opened, or by hand. Journaled with who did it.
Through the API (--api) a --reason is required.`,
		Args:        cobra.ExactArgs(1),
		Annotations: noConfig,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.guardsClient(where, by)
			if err != nil {
				return err
			}
			if c != nil {
				if strings.TrimSpace(reason) == "" {
					return errors.New("--reason is required through the API: say why, for the journal")
				}
				if _, err := c.ResetBreaker(cmd.Context(), oncall.BreakerResetRequest{Scope: args[0], Reason: reason}); err != nil {
					return apiError("reset breaker "+args[0], err)
				}
				return nil
			}
			return e.withStore(cmd.Context(), outputTable, func(st store.Store) error {
				if err := guard.ResetBreaker(cmd.Context(), st, args[0], time.Now()); err != nil {
					return err
				}
				rule := args[0]
				if rule == "total" {
					rule = ""
				}
				detail := "breaker " + args[0] + " reset"
				if reason != "" {
					detail += ": " + reason
				}
				return e.journalOperator(cmd.Context(), st, oncall.KindBreakerReset, e.operator(by), rule, detail)
			})
		},
	}
	reset.Flags().StringVar(&by, "by", "", "who is resetting it (default $USER)")
	reset.Flags().StringVar(&reason, "reason", "", "why (required with --api; journaled)")
	cmd.AddCommand(reset)
	return cmd
}

func (e *env) journalOperator(ctx context.Context, st store.Store, kind store.Kind, actor, rule, detail string) error {
	if _, err := st.Append(ctx, store.Entry{Kind: kind, Actor: actor, Rule: rule, Outcome: "done", Source: "cli", Detail: detail}); err != nil {
		return fmt.Errorf("journal %s: %w", kind, err)
	}
	return nil
}
