package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/functions"
	"github.com/reinstate/reinstate/pkg/config"
	"github.com/reinstate/reinstate/pkg/customhandler"
)

func replayCommand(e *env) *cobra.Command {
	var (
		target string
		batch  int
		repeat int
	)
	cmd := &cobra.Command{
		Use:   "replay FILE...",
		Short: "Replay audit event bodies through the handler, as the Functions host would",
		Long: `Replay Event Hubs event bodies through the custom handler, in the envelope
the Azure Functions host sends: POST /AuditEvents with Data.events and the
Metadata arrays encoded as JSON text inside JSON strings.

Each FILE is one event body (- reads one from stdin); in a .ndjson or .jsonl
file each line is one.
Bodies go in invocations of up to --batch. --repeat delivers the whole stream
again, as Event Hubs may after a rebalance or crash: records already
processed are recognised as duplicates.

Without --url, replay starts the handler in this process on a loopback port,
with the configured store. With --url it posts to a running handler, such
as one started by 'reinstate serve' or by the Functions host.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if batch < 1 || repeat < 1 {
				return errors.New("--batch and --repeat must be at least 1")
			}
			bodies, err := readBodies(files, e.stdin)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if target != "" {
				return e.replay(ctx, target, bodies, batch, repeat)
			}
			return e.replayInProcess(ctx, bodies, batch, repeat)
		},
	}
	cmd.Flags().StringVar(&target, "url", "", "base URL of a running handler, such as http://127.0.0.1:8080")
	cmd.Flags().IntVar(&batch, "batch", 16, "event bodies per invocation (host.json maxEventBatchSize)")
	cmd.Flags().IntVar(&repeat, "repeat", 1, "how many times to deliver the whole stream")
	return cmd
}

// readBodies reads each file as one event body, or each line of an NDJSON
// file; "-" is stdin, read as one body.
func readBodies(files []string, stdin io.Reader) ([][]byte, error) {
	var bodies [][]byte
	for _, name := range files {
		data, err := readInput(name, stdin)
		if err != nil {
			return nil, err
		}
		switch strings.ToLower(filepath.Ext(name)) {
		case ".ndjson", ".jsonl":
			scanner := bufio.NewScanner(bytes.NewReader(data))
			scanner.Buffer(nil, 16<<20)
			for scanner.Scan() {
				if line := bytes.TrimSpace(scanner.Bytes()); len(line) > 0 {
					bodies = append(bodies, bytes.Clone(line))
				}
			}
			if err := scanner.Err(); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		default:
			bodies = append(bodies, data)
		}
	}
	return bodies, nil
}

// replayInProcess serves the handler on a loopback port for the replay's
// duration, so that the bodies cross real HTTP in the host's envelope.
func (e *env) replayInProcess(ctx context.Context, bodies [][]byte, batch, repeat int) error {
	// A bad rule table stops the replay before anything is sent.
	table, err := config.LoadRules(e.cfg, e.getenv)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen on loopback: %w", err)
	}
	serveCtx, stopServing := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- e.serveTable(serveCtx, ln, table) }()
	replayErr := e.replay(ctx, "http://"+ln.Addr().String(), bodies, batch, repeat)
	stopServing()
	return errors.Join(replayErr, <-served)
}

func (e *env) replay(ctx context.Context, baseURL string, bodies [][]byte, batch, repeat int) error {
	client := &http.Client{Timeout: 11 * time.Minute}
	url := strings.TrimSuffix(baseURL, "/") + "/" + functions.AuditEvents
	var failed int
	invocation := 0
	sequence := int64(0)
	for round := 1; round <= repeat; round++ {
		for start := 0; start < len(bodies); start += batch {
			chunk := bodies[start:min(start+batch, len(bodies))]
			invocation++
			meta := customhandler.EventHubMetadata{Partition: customhandler.PartitionContext{EventHubName: "replay", ConsumerGroup: "replay", PartitionID: "0"}}
			for range chunk {
				meta.Events = append(meta.Events, customhandler.EventHubEventMeta{SequenceNumber: sequence, Offset: fmt.Sprint(sequence), EnqueuedTime: time.Now().UTC()})
				sequence++
			}
			payload, err := customhandler.EncodeEventHubInvocation("events", chunk, meta)
			if err != nil {
				return fmt.Errorf("encode invocation %d: %w", invocation, err)
			}
			status, logs, err := post(ctx, client, url, payload)
			if err != nil {
				return fmt.Errorf("invocation %d: %w", invocation, err)
			}
			if status/100 != 2 {
				failed++
			}
			fmt.Fprintf(e.stdout, "delivery %d, invocation %d: %d bodies -> HTTP %d %s\n", round, invocation, len(chunk), status, strings.Join(logs, "; "))
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d invocations failed; the host would retry them", failed, invocation)
	}
	return nil
}

// post sends one invocation and returns the status and the handler's Logs.
func post(ctx context.Context, client *http.Client, url string, payload []byte) (int, []string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Azure-Functions-InvocationId", uuid.NewString())
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var reply customhandler.Response
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read reply: %w", err)
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("reply is not the custom-handler JSON shape: %w", err)
	}
	return resp.StatusCode, reply.Logs, nil
}
