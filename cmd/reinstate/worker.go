package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/pkg/config"
	"github.com/reinstate/reinstate/pkg/eventhubs"
)

func workerCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Consume audit events straight from Event Hubs, outside Azure Functions",
		Long: `Run Reinstate as a standalone worker, in Container Apps, AKS or a VM: it reads
Entra audit events from the event hub REINSTATE_EVENTHUB_NAMESPACE and
REINSTATE_EVENTHUB_NAME name, in REINSTATE_EVENTHUB_CONSUMER_GROUP, sharing the
partitions with the other replicas through the checkpoint container
REINSTATE_CHECKPOINT_URL, and feeds them to the same pipeline as the
AuditEvents function. A partition is checkpointed only once a batch's
intents are durable in REINSTATE_STORE. Beside it run the restore worker,
the notifications, Backup & Recovery cases and the reconciliation sweep, as
in serve. On SIGTERM it finishes and checkpoints the batches in hand, then
gives its partitions up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.worker(cmd.Context())
		},
	}
}

// checkWorkerConfig refuses a worker without an event hub to read or a
// container to checkpoint in.
func checkWorkerConfig(cfg config.EventHubConfig) error {
	if missing := cfg.Missing(); len(missing) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("worker: %s not set: the worker needs the event hub to read (%s, %s) "+
			"and the blob container that holds its checkpoints (%s); see docs/CONFIG.md",
			strings.Join(missing, ", "), config.EnvEventHubNamespace, config.EnvEventHubName, config.EnvCheckpointURL)}
	}
	return nil
}

func (e *env) worker(ctx context.Context) error {
	eh := e.cfg.EventHub
	if err := checkWorkerConfig(eh); err != nil {
		return err
	}
	cred, err := azureCredential()
	if err != nil {
		return fmt.Errorf("worker: credential: %w", err)
	}
	cc, err := eventhubs.ContainerClient(eh.Checkpoints.ContainerURL, cred, eh.Checkpoints.ConnectionString, eh.Checkpoints.Container)
	if err != nil {
		return fmt.Errorf("worker: checkpoint container %s: %w", eh.Checkpoints, err)
	}
	checkpoints, err := eventhubs.OpenCheckpointStore(ctx, cc)
	if err != nil {
		return fmt.Errorf("worker: checkpoint container %s: %w", eh.Checkpoints, err)
	}
	consumerClient, err := azeventhubs.NewConsumerClient(eh.Namespace, eh.Name, eh.ConsumerGroup, cred, nil)
	if err != nil {
		return fmt.Errorf("worker: event hub %s/%s: %w", eh.Namespace, eh.Name, err)
	}
	defer consumerClient.Close(context.WithoutCancel(ctx))
	// Without a checkpoint a partition is read from its start, as the
	// AuditEvents trigger does by default (initialOffsetOptions fromStart):
	// dedup makes what was already processed elsewhere a duplicate.
	processor, err := azeventhubs.NewProcessor(consumerClient, checkpoints, &azeventhubs.ProcessorOptions{
		StartPositions: azeventhubs.StartPositions{Default: azeventhubs.StartPosition{Earliest: to.Ptr(true)}},
	})
	if err != nil {
		return fmt.Errorf("worker: event hubs processor: %w", err)
	}

	return e.consume(ctx, func(ctx context.Context, c *eventhubs.Consumer) error {
		return eventhubs.RunProcessor(ctx, processor, c)
	})
}

// consume runs what the worker runs once its event hub is reachable: the
// parts, the pipeline and the in-process workers, and the consumer, which
// run feeds with partitions until ctx ends. The real worker's run is
// eventhubs.RunProcessor over its Processor; tests pass a MemoryReplica's,
// since no Event Hubs namespace or emulator is at hand. It returns run's
// error, once the batches in hand are checkpointed and the workers are
// stopped.
func (e *env) consume(ctx context.Context, run func(context.Context, *eventhubs.Consumer) error) error {
	eh := e.cfg.EventHub
	p, closeParts, err := e.openRulesParts(ctx)
	if err != nil {
		return err
	}
	defer closeParts()
	pl := e.pipeline(p)
	sweeper, err := e.sweeper(p, pl)
	if err != nil {
		return err
	}
	e.log.Info("reinstate worker consuming", "namespace", eh.Namespace, "event_hub", eh.Name, "consumer_group", eh.ConsumerGroup,
		"checkpoints", eh.Checkpoints.String(), "store", e.cfg.Store.String(), "graph", e.cfg.Graph.String(),
		"rules", p.table.File, "rule_count", len(p.table.Rules), "mode", string(p.table.Mode), "version", version())

	// As in serve, the workers outlive ctx (the SIGTERM) until the batches
	// in hand are ingested, so that their intents can still start.
	stopWorkers := e.runWorkers(ctx, p, sweeper)
	consumer := eventhubs.New(pl, eventhubs.Options{Logger: e.log, StopTimeout: e.cfg.ShutdownGrace})
	err = run(ctx, consumer)
	stopWorkers()
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	e.log.Info("reinstate worker stopped")
	return nil
}
