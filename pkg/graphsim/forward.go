package graphsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/reinstate/reinstate/pkg/customhandler"
)

// ForwardConfig makes the server deliver its audit records the way they
// reach Reinstate in production: Entra diagnostic settings write them to
// Event Hubs as {"records":[...]} bodies (reference Part B §B5), and the
// Functions host invokes the custom handler's function with a batch of
// those bodies (reference Part A §A2).
type ForwardConfig struct {
	// URL is the custom handler's base URL, such as http://127.0.0.1:7071.
	// Empty disables forwarding.
	URL string
	// Function is the function name the host posts to (default
	// "AuditEvents": POST URL/AuditEvents).
	Function string
	// Interval is how often pending records are delivered (default 2s).
	// Entra batches into roughly 5-minute intervals (reference §B7); a demo
	// wants it faster.
	Interval time.Duration
	// Binding is the trigger's binding name in function.json (default
	// "events").
	Binding string
	// RecordsPerEvent bounds the records in one Event Hubs body (default
	// 50; Entra splits large volumes into several messages, reference §B7).
	RecordsPerEvent int
	// MaxEventsPerInvocation bounds one invocation's batch (default 100,
	// the Event Hubs extension's maxEventBatchSize default since 6.0.0,
	// reference §A3).
	MaxEventsPerInvocation int
}

// forwarder holds the Event Hubs events not yet acknowledged. Events keep
// their sequence numbers across retries, as Event Hubs redelivers the same
// events after a failed invocation.
type forwarder struct {
	cfg      ForwardConfig
	client   *http.Client
	target   string
	tenantID string

	mu         sync.Mutex // serializes deliveries
	pending    []hubEvent
	nextSeq    int64
	delivered  int
	attempts   int
	failures   int
	lastStatus string
}

type hubEvent struct {
	body []byte
	meta customhandler.EventHubEventMeta
	n    int // records in the body
}

func newForwarder(cfg ForwardConfig, client *http.Client, tenantID string) (*forwarder, error) {
	if cfg.URL == "" {
		return nil, nil
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("graphsim: forward URL %q is not an absolute http(s) URL", cfg.URL)
	}
	if cfg.Function == "" {
		cfg.Function = "AuditEvents"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.Binding == "" {
		cfg.Binding = "events"
	}
	if cfg.RecordsPerEvent <= 0 {
		cfg.RecordsPerEvent = 50
	}
	if cfg.MaxEventsPerInvocation <= 0 {
		cfg.MaxEventsPerInvocation = 100
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &forwarder{cfg: cfg, client: client, target: strings.TrimRight(cfg.URL, "/") + "/" + cfg.Function, tenantID: tenantID}, nil
}

// ehRecord is one diagnostic-settings record around a directoryAudit
// (reference §B5; resource-logs-schema common fields; DataDog sample).
type ehRecord struct {
	Time             string       `json:"time"`
	ResourceID       string       `json:"resourceId"`
	OperationName    string       `json:"operationName"`
	OperationVersion string       `json:"operationVersion"`
	Category         string       `json:"category"`
	TenantID         string       `json:"tenantId"`
	ResultSignature  string       `json:"resultSignature"`
	DurationMs       int          `json:"durationMs"`
	CallerIPAddress  string       `json:"callerIpAddress"`
	CorrelationID    string       `json:"correlationId"`
	Level            int          `json:"Level"`
	Properties       ehProperties `json:"properties"`
}

// ehProperties is the directoryAudit plus the fields newer records add;
// its activityDateTime uses "+00:00" where Graph writes "Z" (reference §B5).
type ehProperties struct {
	TenantID          string `json:"tenantId"`
	ResultType        string `json:"resultType"`
	ResultDescription string `json:"resultDescription"`
	OperationName     string `json:"operationName"`
	Identity          string `json:"identity"`
	TenantGeo         string `json:"tenantGeo"`
	directoryAudit
	ActivityDateTime string  `json:"activityDateTime"`
	UserAgent        *string `json:"userAgent"`
}

func envelope(e *auditEntry, tenantID string) ehRecord {
	r := e.record
	ip := "127.0.0.1"
	return ehRecord{
		Time:             e.at.UTC().Format("2006-01-02T15:04:05.0000000Z"),
		ResourceID:       "/tenants/" + tenantID + "/providers/Microsoft.aadiam",
		OperationName:    r.ActivityDisplayName,
		OperationVersion: "1.0",
		Category:         "AuditLogs",
		TenantID:         tenantID,
		ResultSignature:  "None",
		CallerIPAddress:  ip,
		CorrelationID:    r.CorrelationID,
		Level:            4,
		Properties: ehProperties{
			TenantID:       tenantID,
			OperationName:  r.ActivityDisplayName,
			TenantGeo:      "NA",
			directoryAudit: r,
			// Unconfirmed: the +00:00 form is what the samples show.
			ActivityDateTime: e.at.UTC().Format("2006-01-02T15:04:05.0000000") + "+00:00",
		},
	}
}

// Flush delivers pending audit records to the forward URL now, as one
// invocation per up to MaxEventsPerInvocation events, and returns the first
// failure. Undelivered events stay pending with their sequence numbers, to be
// retried by the next Flush (as the host's retry policy and Event Hubs
// redelivery would). Without forwarding it does nothing.
func (s *Server) Flush(ctx context.Context) error {
	f := s.fwd
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()

	s.mu.Lock()
	queue := s.fwdQueue
	s.fwdQueue = nil
	now := s.now()
	s.mu.Unlock()
	for i := 0; i < len(queue); i += f.cfg.RecordsPerEvent {
		chunk := queue[i:min(i+f.cfg.RecordsPerEvent, len(queue))]
		recs := make([]ehRecord, len(chunk))
		for j, e := range chunk {
			recs[j] = envelope(e, f.tenantID)
		}
		body, err := json.Marshal(map[string]any{"records": recs})
		if err != nil {
			return fmt.Errorf("graphsim: encode Event Hubs body: %w", err)
		}
		seq := f.nextSeq
		f.nextSeq++
		f.pending = append(f.pending, hubEvent{body: body, n: len(chunk), meta: customhandler.EventHubEventMeta{
			Offset:         strconv.FormatInt(seq*4096, 10),
			SequenceNumber: seq,
			EnqueuedTime:   now,
		}})
	}

	for len(f.pending) > 0 {
		batch := f.pending[:min(len(f.pending), f.cfg.MaxEventsPerInvocation)]
		if err := f.deliver(ctx, batch); err != nil {
			f.failures++
			return err
		}
		for _, ev := range batch {
			f.delivered += ev.n
		}
		f.pending = f.pending[len(batch):]
	}
	return nil
}

func (f *forwarder) deliver(ctx context.Context, batch []hubEvent) error {
	f.attempts++
	bodies := make([][]byte, len(batch))
	meta := customhandler.EventHubMetadata{
		Partition: customhandler.PartitionContext{
			FullyQualifiedNamespace: "graphsim.servicebus.windows.net",
			EventHubName:            "entra-audit",
			ConsumerGroup:           "$Default",
			PartitionID:             "0",
		},
	}
	for i, ev := range batch {
		bodies[i] = ev.body
		meta.Events = append(meta.Events, ev.meta)
	}
	payload, err := customhandler.EncodeEventHubInvocation(f.cfg.Binding, bodies, meta)
	if err != nil {
		return fmt.Errorf("graphsim: encode invocation: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.target, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(customhandler.InvocationIDHeader, uuid.NewString())
	// The host's headers (reference §A2).
	req.Header.Set("X-Azure-Functions-HostVersion", "4.1037.0")
	req.Header.Set("User-Agent", "Azure-Functions-Host/4.1037.0 graphsim")
	resp, err := f.client.Do(req)
	if err != nil {
		f.lastStatus = err.Error()
		return fmt.Errorf("graphsim: forward to %s: %w", f.target, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	f.lastStatus = resp.Status
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("graphsim: forward to %s: %s", f.target, resp.Status)
	}
	return nil
}

// ForwardState is the forwarding part of /_sim/state.
type ForwardState struct {
	// Target is the URL invocations are posted to.
	Target string `json:"target"`
	// PendingRecords are records stored but not yet acknowledged.
	PendingRecords int `json:"pendingRecords"`
	// PendingEvents are Event Hubs bodies formed but not acknowledged.
	PendingEvents int `json:"pendingEvents"`
	// DeliveredRecords counts records acknowledged with a 2xx.
	DeliveredRecords int `json:"deliveredRecords"`
	// Attempts and Failures count invocations and failed ones.
	Attempts int `json:"attempts"`
	Failures int `json:"failures"`
	// LastStatus is the last HTTP status or connection error.
	LastStatus string `json:"lastStatus,omitempty"`
}

func (s *Server) forwardState() *ForwardState {
	f := s.fwd
	if f == nil {
		return nil
	}
	s.mu.Lock()
	queued := len(s.fwdQueue)
	s.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	st := &ForwardState{Target: f.target, PendingEvents: len(f.pending), PendingRecords: queued, DeliveredRecords: f.delivered, Attempts: f.attempts, Failures: f.failures, LastStatus: f.lastStatus}
	for _, ev := range f.pending {
		st.PendingRecords += ev.n
	}
	return st
}
