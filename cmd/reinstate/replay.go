package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/pkg/config"
	"github.com/reinstate/reinstate/pkg/eventhubs"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/replay"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
)

func replayCommand(e *env) *cobra.Command {
	var f replayFlags
	cmd := &cobra.Command{
		Use:   "replay [--from-file] FILE... | --from-graph --since T | --from-eventhub --since T",
		Short: "Run audit history through the pipeline: backfill, or catch up after an outage",
		Long: `Run audit events through the same pipeline as the AuditEvents function, from:

  FILE... (or --from-file FILE)   event bodies: in a .ndjson or .jsonl file each
                                  line is one, streamed; any other file is one
                                  (whatever 'reinstate decode' accepts); - is stdin
  --from-graph --since T          Microsoft Graph's /auditLogs/directoryAudits,
                                  oldest first, paced under its limit of 5
                                  requests per 10 s (needs AuditLog.Read.All and
                                  Directory.Read.All)
  --from-eventhub --since T       the event hub's retained events
                                  (REINSTATE_EVENTHUB_NAMESPACE and _NAME), read
                                  without checkpoints; give it a consumer group
                                  of its own (--consumer-group)

T is a duration back from now (24h, 7d) or an RFC 3339 time; --until ends
the Graph window (default now).

Observe mode by default: the rules decide and the journal says what would
have been done ("observe: would restore"), and nothing is written to the
tenant. Such a rehearsal keeps its claims apart from the service's: records
the service already processed are duplicates to it, and whatever it saw
stays free for --enforce, or the service, to act on.

--enforce acts (REINSTATE_MODE=enforce, which needs REINSTATE_TENANT_ID):
this process carries out the restores as the service would, and waits for
them (--drain). Every record is claimed by its audit id, as the service
claims it, so a replay never repeats an action already taken, by itself or
by the service.

Records that cannot be decoded are kept as dead letters ('reinstate
deadletters'), named by file and line or by page. Progress goes to stderr: a
bar on a terminal, a line every --progress-every otherwise. The summary,
with the time taken and the peak memory, goes to stdout.

--url delivers file bodies to a running handler instead ('reinstate serve',
or the Functions host), in the envelope the host sends; that handler decides
in its own mode. --repeat delivers the files again, as Event Hubs may.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.files = append(f.files, args...)
			return e.runReplay(cmd.Context(), f)
		},
	}
	cmd.Flags().StringArrayVar(&f.files, "from-file", nil, "event body file (repeatable; positional FILE arguments are the same)")
	cmd.Flags().BoolVar(&f.fromGraph, "from-graph", false, "read Graph's directory audit log from --since to --until")
	cmd.Flags().BoolVar(&f.fromEventHub, "from-eventhub", false, "read the event hub's retained events enqueued since --since")
	cmd.Flags().StringVar(&f.since, "since", "", "start of the window: a duration back from now (24h, 7d) or an RFC 3339 time")
	cmd.Flags().StringVar(&f.until, "until", "", "end of the window for --from-graph, RFC 3339 (default now)")
	cmd.Flags().StringVar(&f.consumerGroup, "consumer-group", "", "consumer group for --from-eventhub (default REINSTATE_EVENTHUB_CONSUMER_GROUP)")
	cmd.Flags().BoolVar(&f.enforce, "enforce", false, "act: restore what the rules say to restore (default: observe)")
	cmd.Flags().DurationVar(&f.drain, "drain", 10*time.Minute, "with --enforce, how long to wait for the restores the replay asked for")
	cmd.Flags().DurationVar(&f.progressEvery, "progress-every", 5*time.Second, "how often to write a progress line when stderr is not a terminal")
	cmd.Flags().StringVar(&f.url, "url", "", "deliver file bodies to the running handler at this base URL, such as http://127.0.0.1:8080")
	cmd.Flags().IntVar(&f.batch, "batch", 16, "event bodies per batch (host.json maxEventBatchSize)")
	cmd.Flags().IntVar(&f.repeat, "repeat", 1, "with files, how many times to replay the whole stream")
	return cmd
}

// replayFlags are replay's choices.
type replayFlags struct {
	files                   []string
	fromGraph, fromEventHub bool
	since, until            string
	consumerGroup           string
	enforce                 bool
	drain, progressEvery    time.Duration
	url                     string
	batch, repeat           int
}

// check refuses combinations that could not do what they say.
func (f replayFlags) check() error {
	sources := 0
	for _, on := range []bool{len(f.files) > 0, f.fromGraph, f.fromEventHub} {
		if on {
			sources++
		}
	}
	switch {
	case sources != 1:
		return errors.New("replay: name one source: FILE... (or --from-file), --from-graph or --from-eventhub")
	case f.batch < 1 || f.repeat < 1:
		return errors.New("replay: --batch and --repeat must be at least 1")
	case (f.fromGraph || f.fromEventHub) && f.since == "":
		return errors.New("replay: --from-graph and --from-eventhub need --since, such as --since 24h")
	case len(f.files) > 0 && (f.since != "" || f.until != ""):
		return errors.New("replay: --since and --until choose a window of Graph or the event hub; files are replayed whole")
	case f.until != "" && !f.fromGraph:
		return errors.New("replay: --until applies to --from-graph only")
	case f.consumerGroup != "" && !f.fromEventHub:
		return errors.New("replay: --consumer-group applies to --from-eventhub only")
	case f.repeat > 1 && len(f.files) == 0:
		return errors.New("replay: --repeat applies to files only")
	case f.url != "" && len(f.files) == 0:
		return errors.New("replay: --url delivers files only")
	case f.url != "" && f.enforce:
		return errors.New("replay: with --url the running handler decides in its own mode; --enforce cannot apply")
	}
	return nil
}

func (e *env) runReplay(ctx context.Context, f replayFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	if f.url != "" {
		bodies, err := readBodies(ctx, f.files, e.stdin)
		if err != nil {
			return err
		}
		return e.replay(ctx, f.url, bodies, f.batch, f.repeat)
	}
	mode := rules.ModeObserve
	if f.enforce {
		mode = rules.ModeEnforce
	}
	// The mode is replay's to choose, whatever the file or the service says.
	getenv := func(name string) string {
		if name == rules.EnvMode {
			return string(mode)
		}
		return e.getenv(name)
	}
	table, err := config.LoadRules(e.cfg, getenv)
	if err != nil {
		return err
	}
	p, closeParts, err := e.openParts(ctx, table)
	if err != nil {
		return err
	}
	defer closeParts()
	for range f.repeat {
		src, unit, name, err := e.replaySource(ctx, f)
		if err != nil {
			return err
		}
		if err := e.replayThrough(ctx, p, src, unit, name, f); err != nil {
			return err
		}
	}
	return nil
}

// replaySource opens the source f names, with its unit of progress and the
// name its batches carry into the journal.
func (e *env) replaySource(ctx context.Context, f replayFlags) (replay.Source, replay.Unit, string, error) {
	now := time.Now().UTC()
	switch {
	case f.fromGraph:
		since, err := parseSince(f.since, now)
		if err != nil {
			return nil, 0, "", err
		}
		until := now
		if f.until != "" {
			if until, err = time.Parse(time.RFC3339, f.until); err != nil {
				return nil, 0, "", fmt.Errorf("--until %q is not an RFC 3339 time such as 2026-12-03T09:00:00Z", f.until)
			}
		}
		graph, _, err := newGraphClient(e.cfg.Graph)
		if err != nil {
			return nil, 0, "", err
		}
		src, err := replay.NewGraph(graph, replay.GraphOptions{Since: since, Until: until, Logger: e.log})
		if err != nil {
			return nil, 0, "", err
		}
		return src, replay.Seconds, "replay --from-graph", nil
	case f.fromEventHub:
		since, err := parseSince(f.since, now)
		if err != nil {
			return nil, 0, "", err
		}
		eh := e.cfg.EventHub
		if eh.Namespace == "" || eh.Name == "" {
			return nil, 0, "", fmt.Errorf("replay --from-eventhub: set %s and %s", config.EnvEventHubNamespace, config.EnvEventHubName)
		}
		group := eh.ConsumerGroup
		if f.consumerGroup != "" {
			group = f.consumerGroup
		}
		cred, err := azureCredential()
		if err != nil {
			return nil, 0, "", fmt.Errorf("replay --from-eventhub: credential: %w", err)
		}
		client, err := azeventhubs.NewConsumerClient(eh.Namespace, eh.Name, group, cred, nil)
		if err != nil {
			return nil, 0, "", fmt.Errorf("replay --from-eventhub: event hub %s/%s: %w", eh.Namespace, eh.Name, err)
		}
		context.AfterFunc(ctx, func() { client.Close(context.Background()) })
		history := eventhubs.NewHistory(eventhubs.NewConsumerHistory(client), since, eventhubs.HistoryOptions{HubName: eh.Name, Logger: e.log})
		return history, replay.Events, "replay --from-eventhub", nil
	}
	src, err := replay.NewFiles(f.files, e.stdin)
	if err != nil {
		return nil, 0, "", fmt.Errorf("replay: %w", err)
	}
	return src, replay.Bytes, "replay", nil
}

// replayThrough runs src through the pipeline over p, with the restore
// worker and the notifications running beside it as in serve; in enforce
// mode it then waits for the restores it asked for.
func (e *env) replayThrough(ctx context.Context, p parts, src replay.Source, unit replay.Unit, name string, f replayFlags) error {
	// The pipeline's line per batch suits the service, not a replay of
	// thousands, where it would bury the progress; warnings (a dead
	// letter, say) still show.
	quiet := slog.New(atLeast{Handler: e.log.Handler(), min: max(e.cfg.LogLevel, slog.LevelWarn)})
	var state pipeline.State = p.st
	if p.table.Mode == rules.ModeObserve {
		state = replay.Rehearse(p.st, p.st)
	}
	pl := e.pipelineOver(p, state, quiet)

	workerCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	workers.Go(func() { _ = p.worker.Run(workerCtx, workerPoll) })
	workers.Go(func() { e.runNotifications(workerCtx, p.dispatcher) })
	defer func() { stopWorkers(); workers.Wait() }()

	progress := replay.NewProgress(e.stderr, unit, f.progressEvery)
	status, err := replay.Run(ctx, src, pl, replay.Options{Name: name, Batch: f.batch, OnBatch: progress.Update, Logger: quiet})
	progress.Finish(status)
	if closer, ok := src.(io.Closer); ok {
		closer.Close()
	}
	drained := true
	if err == nil && p.table.Mode == rules.ModeEnforce && status.Report.Intents > 0 {
		drained = drainRestores(ctx, p.st, f.drain)
	}
	e.replaySummary(status, p.table.Mode, src)
	switch {
	case err != nil:
		return err
	case !drained:
		return fmt.Errorf("replay: restores still pending after --drain %s; the service's worker carries them out ('reinstate journal' shows them)", f.drain)
	case status.Unfinished > 0:
		return fmt.Errorf("replay: %d records were still being processed by another instance; replay again to make sure of them", status.Unfinished)
	}
	return nil
}

// drainRestores waits until no restore intent is pending or leased.
func drainRestores(ctx context.Context, st store.Store, limit time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		open := 0
		for _, state := range []store.IntentState{store.IntentPending, store.IntentLeased} {
			list, err := st.Intents(ctx, store.IntentQuery{Kind: recovery.IntentKind, State: state, Limit: 1})
			if err != nil {
				return false
			}
			open += len(list)
		}
		if open == 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// replaySummary writes what the replay did, for the operator, and the
// time and memory it took, for docs/PERFORMANCE.md.
func (e *env) replaySummary(s replay.Status, mode rules.Mode, src replay.Source) {
	r := s.Report
	w := e.stdout
	if mode == rules.ModeObserve {
		fmt.Fprintln(w, "replay in observe mode: nothing was written to the tenant; --enforce acts")
	} else {
		fmt.Fprintln(w, "replay in enforce mode")
	}
	fmt.Fprintf(w, "  records      %d in %d bodies: %d new, %d already processed, %d caused by Reinstate\n", r.Records, r.Bodies, r.New, r.Duplicates, r.Self)
	fmt.Fprintf(w, "  decisions    %d (%d changed by a guard): %d would act, %d restores asked for\n", r.Decisions, r.Guarded, r.Observed, r.Intents)
	fmt.Fprintf(w, "  messages     %d recorded for the channels\n", r.Announced)
	if r.Skipped+r.DeadBodies > 0 {
		fmt.Fprintf(w, "  dead letters %d records and %d bodies could not be decoded (%d were kept before): see 'reinstate deadletters'\n", r.Skipped, r.DeadBodies, r.AlreadyKept)
	}
	if r.Deferred > 0 || s.Unfinished > 0 {
		fmt.Fprintf(w, "  unfinished   %d deferred (the recycle bin could not be read), %d held by another instance\n", r.Deferred, s.Unfinished)
	}
	if h, ok := src.(interface{ Stalled() []string }); ok && len(h.Stalled()) > 0 {
		fmt.Fprintf(w, "  stalled      partitions %s gave nothing before their end (events past retention?)\n", strings.Join(h.Stalled(), ", "))
	}
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(r.Records) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "  took         %s (%.0f records/s)", s.Elapsed.Round(time.Millisecond), rate)
	if peak, ok := peakRSS(); ok {
		fmt.Fprintf(w, ", peak memory %.1f MB", float64(peak)/(1<<20))
	}
	fmt.Fprintln(w)
}

// atLeast passes on log records at min or above.
type atLeast struct {
	slog.Handler
	min slog.Level
}

func (h atLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h atLeast) WithAttrs(attrs []slog.Attr) slog.Handler {
	return atLeast{Handler: h.Handler.WithAttrs(attrs), min: h.min}
}

func (h atLeast) WithGroup(name string) slog.Handler {
	return atLeast{Handler: h.Handler.WithGroup(name), min: h.min}
}
