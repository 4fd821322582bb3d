package functions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/backup"
	"github.com/reinstate/reinstate/pkg/customhandler"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/reconcile"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

const testdata = "../testdata"

// handler is the real stack behind a loopback HTTP server: the protocol
// server, these bindings, the pipeline and an SQLite store.
type handler struct {
	url        string
	store      *sqlite.Store
	now        time.Time
	dispatcher *notify.Dispatcher
}

func newHandler(t *testing.T) *handler {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &handler{store: st, now: time.Date(2026, 6, 2, 14, 5, 0, 0, time.UTC)}
	srv := customhandler.NewServer(customhandler.Options{Logger: slogDiscard()})
	// No intents are recorded here (no decider), so the worker never needs
	// its restorer; the restore path is tested against graphsim.
	worker := recovery.NewWorker(st, nil, recovery.WorkerOptions{Now: func() time.Time { return h.now }})
	// Messages to a channel no sender serves: the Notify function's
	// delivery is the dispatcher's, tested in package notify.
	h.dispatcher = notify.NewDispatcher(st, nil, nil, notify.DispatcherOptions{Now: func() time.Time { return h.now }, GroupWait: -1})
	Register(srv, pipeline.New(st, pipeline.Options{Now: func() time.Time { return h.now }, ClaimLease: time.Minute}), worker, h.dispatcher)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	h.url = ts.URL
	return h
}

type reply struct {
	status int
	Logs   []string
}

func (h *handler) post(t *testing.T, function string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/"+function, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(customhandler.InvocationIDHeader, "5f1c9a52-0d3e-4b7e-9a51-6c1d2e3f4a5b")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("reply is not JSON: %v", err)
	}
	return r
}

func (h *handler) journal(t *testing.T) []store.Entry {
	t.Helper()
	entries, err := h.store.Journal(context.Background(), store.JournalQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func hostInvocation(t *testing.T, bodies ...[]byte) []byte {
	t.Helper()
	meta := customhandler.EventHubMetadata{Partition: customhandler.PartitionContext{PartitionID: "0"}}
	for i := range bodies {
		meta.Events = append(meta.Events, customhandler.EventHubEventMeta{SequenceNumber: int64(59 + i), Offset: fmt.Sprint(616008 + i)})
	}
	payload, err := customhandler.EncodeEventHubInvocation("events", bodies, meta)
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

func plainInvocation(t *testing.T, bodies ...[]byte) []byte {
	t.Helper()
	texts := make([]string, len(bodies))
	for i, b := range bodies {
		texts[i] = string(b)
	}
	payload, err := json.Marshal(map[string]any{"Data": map[string]any{"events": texts}, "Metadata": map[string]any{"SequenceNumberArray": []int{59}}})
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

func TestAuditEventsJournalsEachRecordOnceHoweverOftenPosted(t *testing.T) {
	body := read(t, "audit/eventhubs/mixed-batch.json")
	decoded, err := audit.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	n := len(decoded.Events)
	tests := []struct {
		name    string
		payload func(*testing.T, ...[]byte) []byte
	}{
		{"host double encoding", hostInvocation},
		{"plain encoding", plainInvocation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t)
			payload := tt.payload(t, body)
			for i := 1; i <= 3; i++ {
				r := h.post(t, AuditEvents, payload)
				if r.status != http.StatusOK {
					t.Fatalf("post %d: status %d, logs %q", i, r.status, r.Logs)
				}
				wantNew, wantDup := n, 0
				if i > 1 {
					wantNew, wantDup = 0, n
				}
				want := fmt.Sprintf("new=%d duplicates=%d", wantNew, wantDup)
				if len(r.Logs) == 0 || !strings.Contains(r.Logs[0], want) {
					t.Errorf("post %d logs %q, want %q", i, r.Logs, want)
				}
			}
			entries := h.journal(t)
			if len(entries) != n {
				t.Fatalf("journal holds %d entries after three posts, want %d", len(entries), n)
			}
			seen := map[string]bool{}
			for _, e := range entries {
				if e.Kind != store.KindEventReceived || seen[e.EventID] {
					t.Errorf("unexpected or repeated entry %+v", e)
				}
				seen[e.EventID] = true
			}
			for _, event := range decoded.Events {
				if !seen[event.ID] {
					t.Errorf("event %s was not journaled", event.ID)
				}
			}
		})
	}
}

func TestAuditEventsNamesTheEventHubsPositionOfBadInput(t *testing.T) {
	h := newHandler(t)
	notJSON := read(t, "audit/malformed/html-error-page.txt")
	r := h.post(t, AuditEvents, hostInvocation(t, read(t, "audit/eventhubs/user.json"), notJSON))
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: bad input is kept, not retried", r.status)
	}
	letters, err := h.store.DeadLetters(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 1 || !bytes.Equal(letters[0].Raw, notJSON) {
		t.Fatalf("dead letters = %d, want the one non-JSON body, whole", len(letters))
	}
	want := "AuditEvents invocation 5f1c9a52-0d3e-4b7e-9a51-6c1d2e3f4a5b event 1 (partition 0 sequence 60 offset 616009"
	if !strings.HasPrefix(letters[0].Source, want) {
		t.Errorf("dead letter source = %q, want it to start %q", letters[0].Source, want)
	}
}

func TestAuditEventsKeepsAnUnusableEnvelopeValue(t *testing.T) {
	h := newHandler(t)
	r := h.post(t, AuditEvents, []byte(`{"Data":{"events":{"not":"a list"}},"Metadata":{}}`))
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200 (retrying cannot fix the payload)", r.status)
	}
	letters, err := h.store.DeadLetters(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 1 || string(letters[0].Raw) != `{"not":"a list"}` {
		t.Fatalf("dead letters = %+v, want Data.events kept whole", letters)
	}
}

func TestAuditEventsAsksTheHostToRetryHeldRecords(t *testing.T) {
	h := newHandler(t)
	body := read(t, "audit/eventhubs/user.json")
	decoded, err := audit.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Claim(context.Background(), pipeline.DedupKey(decoded.Events[0].ID), h.now, h.now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if r := h.post(t, AuditEvents, hostInvocation(t, body)); r.status != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 so that the host retries under the function's retry policy", r.status)
	}
}

func TestMaintenanceExpiresOldRecords(t *testing.T) {
	h := newHandler(t)
	body := read(t, "audit/eventhubs/user.json")
	decoded, err := audit.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if r := h.post(t, AuditEvents, hostInvocation(t, body)); r.status != http.StatusOK {
		t.Fatal(r)
	}
	h.now = h.now.Add(store.MinDedupRetention + time.Hour)
	r := h.post(t, Maintenance, read(t, "customhandler/timer-host.json"))
	want := fmt.Sprintf("expired %d processed-record ids", len(decoded.Events))
	if r.status != http.StatusOK || len(r.Logs) == 0 || !strings.HasPrefix(r.Logs[0], want) {
		t.Fatalf("Maintenance reply %d %q, want %q", r.status, r.Logs, want)
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestNotifyDrainsTheOutbox: the Notify timer delivers what is due and
// says what became of it; here a message to a channel without a sender is
// kept as a dead letter.
func TestNotifyDrainsTheOutbox(t *testing.T) {
	h := newHandler(t)
	m := notify.Message{Kind: notify.KindDeletionDetected, Objects: []notify.Object{{ID: "g1"}}, Total: 1}
	if _, err := h.dispatcher.Announce(context.Background(), m, []string{"nowhere"}); err != nil {
		t.Fatal(err)
	}
	r := h.post(t, Notify, read(t, "customhandler/timer-host.json"))
	want := "notifications: 0 sent, 0 to retry, 1 dead letters, 0 failed"
	if r.status != http.StatusOK || len(r.Logs) != 1 || r.Logs[0] != want {
		t.Fatalf("Notify reply %d %q, want %q", r.status, r.Logs, want)
	}
	letters, err := h.store.DeadLetters(context.Background(), 10)
	if err != nil || len(letters) != 1 || letters[0].Source != "notify nowhere" {
		t.Errorf("dead letters %+v, %v", letters, err)
	}
}

// Every function folder the host loads must have a handler in this build,
// and the OnCall function's bindings and route must be the ones its adapter
// reads: a mismatch would answer every invocation with 404 or lose the
// request.
func TestEveryFunctionFolderIsBound(t *testing.T) {
	h := newHandler(t)
	folders, err := filepath.Glob("*/function.json")
	if err != nil || len(folders) == 0 {
		t.Fatalf("function folders: %v %v", folders, err)
	}
	srv := customhandler.NewServer(customhandler.Options{Logger: slogDiscard()})
	Register(srv, pipeline.New(h.store, pipeline.Options{}), recovery.NewWorker(h.store, nil, recovery.WorkerOptions{}), h.dispatcher)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	RegisterOnCall(srv, api)
	RegisterRecoveryJobs(srv, idleCases{})
	RegisterReconcile(srv, idleCases{})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	for _, path := range folders {
		name := filepath.Dir(path)
		resp, err := http.Post(ts.URL+"/"+name, "application/json", strings.NewReader(`{"Data":{},"Metadata":{}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			t.Errorf("function folder %s has no handler in this build", name)
		}
	}

	var def struct {
		Bindings []struct {
			Type, Direction, Name, AuthLevel, Route string
		} `json:"bindings"`
	}
	if err := json.Unmarshal(read(t, "../functions/OnCall/function.json"), &def); err != nil {
		t.Fatal(err)
	}
	if len(def.Bindings) != 2 {
		t.Fatalf("OnCall bindings: %+v", def.Bindings)
	}
	in, out := def.Bindings[0], def.Bindings[1]
	if in.Type != "httpTrigger" || in.Name != onCallTrigger || in.AuthLevel != "function" || "/api/"+strings.TrimSuffix(in.Route, "{*path}") != onCallPrefix {
		t.Errorf("OnCall trigger %+v does not match the adapter (binding %q, prefix %q)", in, onCallTrigger, onCallPrefix)
	}
	if out.Type != "http" || out.Name != onCallOutput {
		t.Errorf("OnCall output %+v, want http %q", out, onCallOutput)
	}
	// A forwarded request reaches the API at its own path.
	resp, err := http.Get(ts.URL + onCallPrefix + "health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot {
		t.Errorf("forwarded request answered %d, not by the API", resp.StatusCode)
	}
}

// idleCases has no case to move on: the binding test needs a handler, not
// Backup & Recovery (tested in package backup against graphsim).
type idleCases struct{}

func (idleCases) Tick(context.Context) (backup.TickReport, error) { return backup.TickReport{}, nil }

func (idleCases) Sweep(context.Context, bool) (reconcile.Report, error) {
	return reconcile.Report{}, nil
}
