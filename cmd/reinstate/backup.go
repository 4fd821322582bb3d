package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/backup"
)

// backupClient is the Backup & Recovery client over Reinstate's own Graph
// identity, without the orchestrator around it: what the commands that only
// read Graph need.
func (e *env) backupClient() (*backup.Client, error) {
	graph, _, err := newGraphClient(e.cfg.Graph)
	if err != nil {
		return nil, err
	}
	return backup.NewClient(graph, backup.Version(e.cfg.API.BackupVersion))
}

// backupError adds what a refusal of Reinstate's identity usually means.
func backupError(what string, err error) error {
	if errors.Is(err, backup.ErrForbidden) {
		return fmt.Errorf("%s: %w (reading Backup & Recovery needs EntraBackup.Read.All and the Entra Backup Reader role for Reinstate's identity)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// checkOutput refuses an --output other than table or json.
func checkOutput(output string) error {
	if output != outputTable && output != outputJSON {
		return fmt.Errorf("--output %q: use table or json", output)
	}
	return nil
}

// when formats t for tables: RFC 3339 UTC, or a dash when unset.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func snapshotsCommand(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "snapshots [-o table|json]",
		Short: "List the tenant's Backup & Recovery snapshots, newest first",
		Long: `List the Microsoft Entra Backup & Recovery snapshots of the tenant, newest
first, read through Reinstate's own Graph identity (REINSTATE_GRAPH_*; it
needs EntraBackup.Read.All) on REINSTATE_BACKUP_API_VERSION. Microsoft takes
one a day and keeps five; a preview recovers from the latest one taken
before the first deletion it answers.

The table has ID, CREATED and CHANGED OBJECTS. With --output json each line
is one snapshot:

  {"id":"MjAyNS0wNi0xMFQxMTowMDowMFo=","createdDateTime":"2025-06-10T11:00:00Z","totalChangedObjects":0}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			client, err := e.backupClient()
			if err != nil {
				return err
			}
			snaps, err := client.Snapshots(cmd.Context())
			if err != nil {
				return backupError("list snapshots", err)
			}
			if output == outputJSON {
				return writeJSONLines(e.stdout, snaps)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tCHANGED OBJECTS")
			for _, s := range snaps {
				fmt.Fprintf(tw, "%s\t%s\t%d\n", s.ID, when(s.CreatedAt), s.TotalChangedObjects)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outputTable, "table or json (one snapshot per line)")
	return cmd
}

// jobsLine and casesLine are the two lines `jobs --output json` writes.
type jobsLine struct {
	Jobs []backup.Job `json:"jobs"`
	// Error says why Graph's jobs could not be listed; the cases are still
	// written, and the command exits 1.
	Error string `json:"error,omitempty"`
}

type casesLine struct {
	Cases []backup.Case `json:"cases"`
}

func jobsCommand(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "jobs [-o table|json]",
		Short: "List Graph's Backup & Recovery jobs and Reinstate's recovery cases",
		Long: `List, in two sections:

  - Graph's Backup & Recovery jobs in the tenant (preview and recovery jobs,
    whoever created them; Microsoft keeps them seven days), newest start
    first: ID, KIND, STATUS, TARGET STATE (the snapshot's time), STARTED,
    COMPLETED. Read through Reinstate's own Graph identity.
  - Reinstate's cases from REINSTATE_STORE (what the rules, the breaker and
    reinstate preview asked for), newest first: ID, CREATED, STATE, OBJECTS,
    PREVIEW JOB, RECOVERY JOB, STARTED BY, APPROVED BY, DETAIL. A case's
    preview and recovery job ids are the ids in the first section.

With --output json it writes two lines, the jobs and then the cases:

  {"jobs":[{"id":"…","kind":"preview","status":"running","targetStateAt":"…","startedAt":"…"}]}
  {"cases":[{"id":"…","state":"needs-start","reason":"…","since":"…","scope":{"group":["…"]},…}]}

Each job is as Graph's job resource, each case as the store holds it. When
Graph's jobs cannot be read, the first line is {"jobs":null,"error":"…"},
the cases are still written and the exit status is 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			p, closeParts, err := e.openRulesParts(cmd.Context())
			if err != nil {
				return err
			}
			defer closeParts()
			cases, err := p.cases.Cases(cmd.Context())
			if err != nil {
				return err
			}
			slices.SortStableFunc(cases, func(a, b backup.Case) int { return b.CreatedAt.Compare(a.CreatedAt) })
			var jobs []backup.Job
			client, jobsErr := e.backupClient()
			if jobsErr == nil {
				jobs, jobsErr = client.Jobs(cmd.Context())
			}
			if jobsErr != nil {
				jobsErr = backupError("list Graph's Backup & Recovery jobs", jobsErr)
			}
			if output == outputJSON {
				first := jobsLine{Jobs: jobs}
				if jobsErr != nil {
					first.Error = jobsErr.Error()
				} else if first.Jobs == nil {
					first.Jobs = []backup.Job{}
				}
				if cases == nil {
					cases = []backup.Case{}
				}
				if err := writeJSONLines(e.stdout, []any{first, casesLine{Cases: cases}}); err != nil {
					return err
				}
				return jobsErr
			}
			if err := writeJobsTable(e.stdout, jobs, jobsErr, cases); err != nil {
				return err
			}
			return jobsErr
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outputTable, "table or json (two lines: jobs, then cases)")
	return cmd
}

// writeJobsTable writes Graph's jobs and Reinstate's cases as two sections.
func writeJobsTable(w io.Writer, jobs []backup.Job, jobsErr error, cases []backup.Case) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GRAPH JOBS")
	switch {
	case jobsErr != nil:
		fmt.Fprintln(tw, "(could not be listed; see below)")
	case len(jobs) == 0:
		fmt.Fprintln(tw, "(none)")
	default:
		fmt.Fprintln(tw, "ID\tKIND\tSTATUS\tTARGET STATE\tSTARTED\tCOMPLETED")
		for _, j := range jobs {
			completed := "-"
			if j.CompletedAt != nil {
				completed = when(*j.CompletedAt)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, dash(string(j.Kind)), dash(string(j.Status)), when(j.TargetStateAt), when(j.StartedAt), completed)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// A fresh writer: the sections' columns need not line up.
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nREINSTATE CASES")
	if len(cases) == 0 {
		fmt.Fprintln(tw, "(none)")
		return tw.Flush()
	}
	fmt.Fprintln(tw, "ID\tCREATED\tSTATE\tOBJECTS\tPREVIEW JOB\tRECOVERY JOB\tSTARTED BY\tAPPROVED BY\tDETAIL")
	for _, c := range cases {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", c.ID, when(c.CreatedAt), c.State, c.Objects(),
			jobID(c.Preview), jobID(c.Recovery), dash(c.StartedBy), dash(c.ApprovedBy), dash(clip(c.Detail, detailWidth)))
	}
	return tw.Flush()
}

func jobID(j *backup.Job) string {
	if j == nil {
		return "-"
	}
	return dash(j.ID)
}

// previewTypes are the object types a preview can name: those Backup &
// Recovery has a resource type for (administrative units and devices have
// none).
var previewTypes = []audit.TargetType{
	audit.TargetUser, audit.TargetGroup, audit.TargetApplication,
	audit.TargetServicePrincipal, audit.TargetConditionalAccessPolicy, audit.TargetNamedLocation,
}

func previewTypeNames() string {
	names := make([]string, len(previewTypes))
	for i, t := range previewTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// previewFlags are what `reinstate preview` is given.
type previewFlags struct {
	types, ids []string
	reason     string
	since      string
	now        bool
	output     string
}

// request checks f and turns it into the request, with since
// measured back from now. Every error names the flag at fault.
func (f previewFlags) request(now time.Time) (backup.Request, error) {
	if strings.TrimSpace(f.reason) == "" {
		return backup.Request{}, errors.New("--reason is required: say why, for the journal and the people who approve")
	}
	if err := checkOutput(f.output); err != nil {
		return backup.Request{}, err
	}
	var types []audit.TargetType
	for _, name := range f.types {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		i := slices.IndexFunc(previewTypes, func(t audit.TargetType) bool { return strings.EqualFold(string(t), name) })
		if i < 0 {
			return backup.Request{}, fmt.Errorf("--types %q: Backup & Recovery cannot preview that type; use %s", name, previewTypeNames())
		}
		if !slices.Contains(types, previewTypes[i]) {
			types = append(types, previewTypes[i])
		}
	}
	if len(types) == 0 {
		return backup.Request{}, fmt.Errorf("--types is required: the objects' type, one of %s", previewTypeNames())
	}
	var ids []string
	for _, id := range f.ids {
		if id = strings.TrimSpace(id); id == "" {
			continue
		}
		if !audit.ValidObjectID(id) {
			return backup.Request{}, fmt.Errorf("--ids %q is not an object id (a GUID)", id)
		}
		if id = strings.ToLower(id); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	switch {
	case len(ids) == 0:
		return backup.Request{}, errors.New("--ids is required: previews of whole types (--types alone) are not supported by the CLI yet, since cases are scoped by object id; list the deleted objects' ids")
	case len(types) > 1:
		return backup.Request{}, fmt.Errorf("--types names %d types with --ids: give the one type the ids are of, and run preview once per type", len(types))
	case len(ids) > backup.MaxScopeIDs:
		return backup.Request{}, fmt.Errorf("--ids names %d objects; a case names at most %d", len(ids), backup.MaxScopeIDs)
	}
	since, err := parseSince(f.since, now)
	if err != nil {
		return backup.Request{}, err
	}
	req := backup.Request{Key: "cli:" + uuid.NewString(), Since: since}
	for _, id := range ids {
		req.Objects = append(req.Objects, backup.Object{ID: id, Type: types[0]})
	}
	return req, nil
}

// parseSince reads --since: a duration back from now (24h, or whole days
// such as 7d), or an RFC 3339 time, not in the future.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok && err != nil {
		var n int
		if _, serr := fmt.Sscanf(days, "%d", &n); serr == nil && fmt.Sprint(n) == days {
			d, err = time.Duration(n)*24*time.Hour, nil
		}
	}
	if err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("--since %q: give a positive duration back from now, such as 24h", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: use a duration back from now (24h, 7d) or an RFC 3339 time (2025-06-10T09:00:00Z)", s)
	}
	if t.After(now) {
		return time.Time{}, fmt.Errorf("--since %s is in the future", t.UTC().Format(time.RFC3339))
	}
	return t, nil
}

func previewCommand(e *env) *cobra.Command {
	var f previewFlags
	cmd := &cobra.Command{
		Use:   "preview --types TYPE --ids ID[,ID...] --reason TEXT [--since 24h] [--now]",
		Short: "Ask Backup & Recovery for a preview of recovering deleted objects",
		Long: `Ask for a Microsoft Entra Backup & Recovery preview of the given deleted
objects, as the pipeline does when a rule says preview: the request is
recorded in REINSTATE_STORE as a case (merged into a case still waiting to
start, if there is one; an object an open case names already asks for
nothing more), journaled, and started by the next tick of the cases (serve
every 30 seconds, the RecoveryJobs function every minute), or at once with
--now. The preview is of the latest snapshot taken before --since, which
should be before the first deletion.

--types is the objects' type, one of: ` + previewTypeNames() + `.
--ids are their object ids (GUIDs), all of that type. Previews of whole
types (--types without --ids) are not supported by the CLI yet.

When Microsoft Graph refuses Reinstate's own identity (creating jobs is
documented as delegated-only), the case moves to needs-start, and a person
with the Recovery.Approve role starts it through the on-call API; the
case's detail says how. Follow cases with reinstate jobs.

It prints the case's id, state, objects and detail; with --output json, the
case as one line, as reinstate jobs --output json writes it. Exit status 0
when the case is recorded (and, with --now, the tick ran), 1 otherwise.`,
		Args:        cobra.NoArgs,
		Annotations: noConfig,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			req, err := f.request(time.Now())
			if err != nil {
				return err
			}
			if err := e.configure(e.getenv); err != nil {
				return err
			}
			req.Reason = fmt.Sprintf("reinstate preview: %s (by %s)", strings.TrimSpace(f.reason), e.operator(""))
			p, closeParts, err := e.openRulesParts(ctx)
			if err != nil {
				return err
			}
			defer closeParts()
			c, fresh, err := p.cases.Request(ctx, req)
			if err != nil {
				return fmt.Errorf("request the preview: %w", err)
			}
			if !fresh {
				fmt.Fprintf(e.stderr, "case %s (%s) names every object already: nothing new was requested\n", c.ID, c.State)
			}
			var tickErr error
			if f.now {
				tickErr = e.tickFor(ctx, p.cases, &c)
			} else if c.State == backup.CaseRequested {
				fmt.Fprintln(e.stderr, "the next tick of the cases starts it (serve: every 30s; the RecoveryJobs function: every minute); --now starts it at once")
			}
			if err := writeCase(e.stdout, f.output, c); err != nil {
				return err
			}
			return tickErr
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.types, "types", nil, "the objects' type: "+previewTypeNames()+" (required)")
	fl.StringSliceVar(&f.ids, "ids", nil, "the deleted objects' ids (GUIDs), comma-separated (required)")
	fl.StringVar(&f.reason, "reason", "", "why (required; journaled with who you are, $USER)")
	fl.StringVar(&f.since, "since", "24h", "when the first object was deleted: a duration back from now or an RFC 3339 time; the preview uses the latest snapshot taken before it")
	fl.BoolVar(&f.now, "now", false, "move the cases on once now, so that the preview starts at once")
	fl.StringVarP(&f.output, "output", "o", outputTable, "table or json (the case as one line)")
	return cmd
}

// tickFor moves the cases on once and reads c again.
func (e *env) tickFor(ctx context.Context, cases *backup.Orchestrator, c *backup.Case) error {
	report, err := cases.Tick(ctx)
	if report.Busy {
		fmt.Fprintln(e.stderr, "another instance is moving the cases on now; it will start the preview")
	}
	if again, rerr := cases.Case(ctx, c.ID); rerr == nil {
		*c = again
	} else if err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("the preview is requested (case %s, %s), but moving the cases on failed: %w", c.ID, c.State, err)
	}
	return nil
}

// writeCase prints one case: a few lines for people, or its JSON.
func writeCase(w io.Writer, output string, c backup.Case) error {
	if output == outputJSON {
		return writeJSONLines(w, []backup.Case{c})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "case\t%s\n", c.ID)
	fmt.Fprintf(tw, "state\t%s\n", c.State)
	var scope []string
	for _, rt := range slices.Sorted(maps.Keys(c.Scope)) {
		scope = append(scope, fmt.Sprintf("%d %s", len(c.Scope[rt]), rt))
	}
	fmt.Fprintf(tw, "objects\t%d (%s)\n", c.Objects(), dash(strings.Join(scope, ", ")))
	fmt.Fprintf(tw, "since\t%s\n", when(c.Since))
	if c.Snapshot != nil {
		fmt.Fprintf(tw, "snapshot\t%s (%s)\n", c.Snapshot.ID, when(c.Snapshot.CreatedAt))
	}
	if c.Preview != nil {
		fmt.Fprintf(tw, "preview job\t%s (%s)\n", c.Preview.ID, dash(string(c.Preview.Status)))
	}
	fmt.Fprintf(tw, "reason\t%s\n", c.Reason)
	if c.Detail != "" {
		fmt.Fprintf(tw, "detail\t%s\n", c.Detail)
	}
	return tw.Flush()
}
