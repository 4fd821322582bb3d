package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reinstate/reinstate/functions"
	"github.com/reinstate/reinstate/pkg/customhandler"
	"github.com/reinstate/reinstate/pkg/replay"
)

// readBodies collects the bodies replay.Files yields, so that --url
// delivers exactly what an in-process replay of the same files ingests.
func readBodies(ctx context.Context, files []string, stdin io.Reader) ([][]byte, error) {
	src, err := replay.NewFiles(files, stdin)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer src.Close()
	var bodies [][]byte
	for {
		batch, err := src.Next(ctx, replay.DefaultBatch)
		for _, body := range batch {
			bodies = append(bodies, body.Data)
		}
		switch {
		case errors.Is(err, io.EOF):
			return bodies, nil
		case err != nil:
			return nil, err
		}
	}
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
