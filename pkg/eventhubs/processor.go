package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2/checkpoints"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// NewProcessorPartitions adapts an azeventhubs Processor: its
// NextPartitionClient hands out the partitions its load balancing claims.
// The Processor's Run must be running (see RunProcessor).
func NewProcessorPartitions(p *azeventhubs.Processor) Partitions { return processorPartitions{p} }

type processorPartitions struct{ p *azeventhubs.Processor }

func (a processorPartitions) NextPartitionClient(ctx context.Context) PartitionClient {
	c := a.p.NextPartitionClient(ctx)
	if c == nil {
		return nil
	}
	return processorClient{c}
}

type processorClient struct {
	c *azeventhubs.ProcessorPartitionClient
}

func (a processorClient) PartitionID() string { return a.c.PartitionID() }

func (a processorClient) ReceiveEvents(ctx context.Context, count int) ([]Event, error) {
	received, err := a.c.ReceiveEvents(ctx, count, nil)
	events := make([]Event, len(received))
	for i, r := range received {
		events[i] = Event{Body: r.Body, SequenceNumber: r.SequenceNumber, Offset: r.Offset}
		if r.EnqueuedTime != nil {
			events[i].EnqueuedTime = *r.EnqueuedTime
		}
	}
	return events, err
}

// UpdateCheckpoint records last's sequence number and offset, all that
// ProcessorPartitionClient.UpdateCheckpoint reads of an event.
func (a processorClient) UpdateCheckpoint(ctx context.Context, last Event) error {
	return a.c.UpdateCheckpoint(ctx, &azeventhubs.ReceivedEventData{SequenceNumber: last.SequenceNumber, Offset: last.Offset}, nil)
}

func (a processorClient) Close(ctx context.Context) error { return a.c.Close(ctx) }

// RunProcessor runs p's load balancing and c over the partitions it
// claims until ctx ends. The Processor outlives ctx until c has finished
// and checkpointed the batches in hand: stopping it first would close
// their links. It then relinquishes this replica's partitions, so that
// another replica takes them over at once. An error of the Processor's
// own (the checkpoint store or the namespace failing) stops c and is
// returned: a Processor cannot be restarted, so the caller exits and its
// supervisor starts a new one.
func RunProcessor(ctx context.Context, p *azeventhubs.Processor, c *Consumer) error {
	consumeCtx, stopConsuming := context.WithCancelCause(ctx)
	defer stopConsuming(nil)
	processorCtx, stopProcessor := context.WithCancel(context.WithoutCancel(ctx))
	defer stopProcessor()
	failed := make(chan error, 1)
	go func() {
		err := p.Run(processorCtx)
		if err != nil {
			err = fmt.Errorf("event hubs processor: %w", err)
			stopConsuming(err)
		}
		failed <- err
	}()
	c.Run(consumeCtx, NewProcessorPartitions(p))
	stopProcessor()
	return <-failed
}

// OpenCheckpointStore opens the blob checkpoint store in container (see
// ContainerClient), creating the container if it is missing.
func OpenCheckpointStore(ctx context.Context, cc *container.Client) (*checkpoints.BlobStore, error) {
	if _, err := cc.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		// The identity may read and write blobs without being allowed to
		// create containers; the store's first call says if it cannot.
		var respErr *azcore.ResponseError
		if !errors.As(err, &respErr) || respErr.StatusCode != 403 {
			return nil, fmt.Errorf("checkpoint container: %w", err)
		}
	}
	return checkpoints.NewBlobStore(cc, nil)
}

// azuriteDevelopmentStorage is Azurite's default blob endpoint for UseDevelopmentStorage=true.
const azuriteDevelopmentStorage = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
	"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
	"BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"

// ContainerClient opens the checkpoint container: containerURL with cred
// (the managed identity), or else connectionString and name (Azurite;
// UseDevelopmentStorage=true means Azurite's default blob endpoint).
func ContainerClient(containerURL string, cred azcore.TokenCredential, connectionString, name string) (*container.Client, error) {
	if containerURL != "" {
		return container.NewClient(containerURL, cred, nil)
	}
	if strings.EqualFold(strings.ReplaceAll(strings.TrimSuffix(connectionString, ";"), " ", ""), "UseDevelopmentStorage=true") {
		connectionString = azuriteDevelopmentStorage
	}
	return container.NewClientFromConnectionString(connectionString, name, nil)
}
