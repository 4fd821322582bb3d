package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/config"
	"github.com/reinstate/reinstate/pkg/decide"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

func rulesCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Work with rule files",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Load, expand, compile and type-check a rule file",
		Long: `Load a rule file exactly as 'reinstate serve' would: ${NAME} expanded from the
environment, every CEL condition compiled and type-checked, every channel
reference resolved. Problems are printed one a line as FILE:LINE:COLUMN:
FIELD: MESSAGE, and the exit status is 1. A good file prints a summary.`,
		Args:        cobra.ExactArgs(1),
		Annotations: map[string]string{"config": "none"},
		RunE: func(_ *cobra.Command, args []string) error {
			table, err := rules.Load(args[0], e.getenv)
			if err != nil {
				fmt.Fprintln(e.stderr, err)
				return &exitError{code: 1}
			}
			// The channels' own settings (URLs, secrets), checked as serve
			// checks them; nothing is contacted.
			if _, _, err := notify.NewSenders(table.Channels, nil, io.Discard); err != nil {
				fmt.Fprintf(e.stderr, "%s: channels:\n%v\n", table.File, err)
				return &exitError{code: 1}
			}
			describeTable(e.stdout, table)
			return nil
		},
	})
	return cmd
}

// describeTable is what `rules check` says of a good file.
func describeTable(w io.Writer, t *rules.Table) {
	fmt.Fprintf(w, "%s: ok: %d rules, mode %s (from %s)\n", t.File, len(t.Rules), t.Mode, t.ModeSource)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  RULE\tACTIONS\tNOTIFY\tSEVERITY\tCONTINUE\tREADS OBJECT")
	for _, r := range t.Rules {
		actions := make([]string, len(r.Actions))
		for i, a := range r.Actions {
			actions[i] = string(a)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%t\t%t\n", r.Name, strings.Join(actions, ","), dash(strings.Join(r.Notify, ",")), r.Severity, r.Continue, r.UsesObject())
	}
	tw.Flush()
	g := t.Guards
	fmt.Fprintf(w, "  guards: %d exempt initiators; cooldown %s; breaker over %d per rule or %d in total within %s, quiet %s\n",
		len(g.ExemptInitiators), g.Cooldown.Window, g.Breaker.PerRule, g.Breaker.Total, g.Breaker.Window, g.Breaker.QuietPeriod)
}

func planCommand(e *env) *cobra.Command {
	var rulesPath, graphURL, output string
	cmd := &cobra.Command{
		Use:   "plan --rules FILE [--graph URL] [EVENTS...]",
		Short: "What would the rule table do with these audit records? (offline what-if)",
		Long: `Decode an audit export (any format 'reinstate decode' accepts; - or nothing
reads stdin) and print one decision per event and target: the rule that
matched, the actions after the guards, the guard that changed the decision,
and why. Nothing is written to any tenant.

The guards run as the service runs them, over a private in-memory state and
on each event's own time, so cooldowns and the mass-deletion breaker trip as
they would have. Records are deduplicated by id, as the service does.
REINSTATE_SELF_IDS and REINSTATE_TENANT_ID apply.

Without --graph, 'object' is null in every condition. With --graph, the
recycle-bin copy is read from that Graph (graphsim, or a real tenant, with
REINSTATE_GRAPH_AUTH): read-only calls.

Output: NDJSON (default), or --output table. Exit status as 'decode': 0, 2
when some records were skipped (named on stderr), 1 when nothing was read.`,
		// Configuration is loaded in RunE, with --graph standing in for
		// REINSTATE_GRAPH_URL: REINSTATE_GRAPH_AUTH=static or none is only
		// valid with a loopback URL, which --graph may be.
		Annotations: map[string]string{"config": "none"},
		RunE: func(cmd *cobra.Command, args []string) error {
			getenv := e.getenv
			if graphURL != "" {
				getenv = func(name string) string {
					if name == config.EnvGraphURL {
						return graphURL
					}
					return e.getenv(name)
				}
			}
			if err := e.configure(getenv); err != nil {
				return err
			}
			if rulesPath == "" {
				rulesPath = e.cfg.RulesPath
			}
			if output != "json" && output != "table" {
				return fmt.Errorf("--output %q is not json or table", output)
			}
			if len(args) == 0 {
				args = []string{"-"}
			}
			return e.plan(cmd.Context(), rulesPath, graphURL, output, args)
		},
	}
	cmd.Flags().StringVar(&rulesPath, "rules", "", "rule file (default: REINSTATE_RULES, else rules.yaml beside the binary)")
	cmd.Flags().StringVar(&graphURL, "graph", "", "read recycle-bin copies from this Graph root, such as graphsim's URL")
	cmd.Flags().StringVar(&output, "output", "json", "json (NDJSON) or table")
	return cmd
}

func (e *env) plan(ctx context.Context, rulesPath, graphURL, output string, inputs []string) error {
	table, err := rules.Load(rulesPath, e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return &exitError{code: 1}
	}
	var bin decide.Bin
	if graphURL != "" {
		// e.cfg.Graph.URL is graphURL, validated as REINSTATE_GRAPH_URL.
		executor, _, err := e.newExecutor()
		if err != nil {
			return err
		}
		bin = executor
	}
	// Guard state lives in memory: a what-if must not touch the service's.
	state, err := sqlite.Open(ctx, sqlite.Memory)
	if err != nil {
		return fmt.Errorf("plan state: %w", err)
	}
	defer state.Close()
	var clock time.Time
	now := func() time.Time { return clock }
	guards := guard.New(state, guard.Config{TenantID: e.cfg.TenantID, Self: guard.NewSelf(e.cfg.SelfIDs...), Rules: table.Guards, Now: now})
	engine := decide.New(table, guards, now)
	objects := decide.NewObjects(bin)

	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	write, flush := planWriter(out, output)
	seen := map[string]bool{}
	summary := planSummary{byRule: map[string]int{}, byGuard: map[string]int{}}
	code := eachEvent(inputs, e.stdin, e.stderr, func(event audit.Event) error {
		if seen[event.ID] {
			summary.duplicates++
			return nil
		}
		seen[event.ID] = true
		summary.events++
		clock = event.Time
		if clock.IsZero() {
			clock = time.Now()
		}
		decisions, err := engine.Decide(ctx, &event, objects)
		if err != nil {
			return err
		}
		for _, d := range decisions {
			summary.add(d)
			if err := write(d); err != nil {
				return err
			}
		}
		return nil
	})
	if err := flush(); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	summary.print(e.stderr, table, objects.Reads)
	if code != decodeAllDecoded {
		return &exitError{code: code}
	}
	return nil
}

// planWriter writes decisions as NDJSON, or as a table flushed at the end
// (by the returned flush), so that its columns line up across all rows.
func planWriter(w *bufio.Writer, output string) (write func(decide.Decision) error, flush func() error) {
	if output == "json" {
		enc := json.NewEncoder(w)
		return func(d decide.Decision) error { return enc.Encode(d) }, func() error { return nil }
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tACTIVITY\tOBJECT\tRULE\tACTIONS\tGUARD\tREASON")
	return func(d decide.Decision) error {
		object := strings.TrimSpace(string(d.ObjectType) + " " + dash(d.ObjectName) + " " + d.ObjectID)
		_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.EventID, d.Activity, object, dash(d.RuleName()),
			dash(strings.Join(d.Actions, ",")), dash(d.GuardName()), d.Reason)
		return err
	}, tw.Flush
}

// planSummary counts decisions for the closing lines on stderr.
type planSummary struct {
	events, duplicates, decisions, deferred int
	byRule, byGuard                         map[string]int
}

func (s *planSummary) add(d decide.Decision) {
	s.decisions++
	if d.Deferred {
		s.deferred++
	}
	s.byRule[dash(d.RuleName())]++
	if g := d.GuardName(); g != "" {
		s.byGuard[g]++
	}
}

func (s *planSummary) print(w io.Writer, t *rules.Table, reads int) {
	fmt.Fprintf(w, "plan: %d events (%d duplicates skipped), %d decisions, %d deferred, %d recycle-bin reads; table mode %s\n",
		s.events, s.duplicates, s.decisions, s.deferred, reads, t.Mode)
	fmt.Fprintf(w, "  by rule: %s\n", counts(s.byRule))
	fmt.Fprintf(w, "  changed by guards: %s\n", counts(s.byGuard))
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return dash(strings.Join(parts, " "))
}
