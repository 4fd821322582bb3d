package recovery

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"

	"github.com/reinstate/reinstate/pkg/audit"
)

// MaxBatchRequests is JSON batching's limit on requests in one $batch
// (Learn graph/json-batching; reference graph-recovery-apis.md §3).
const MaxBatchRequests = 20

// maxParallelBatches bounds the chunks of one RestoreMany in flight at once:
// the write Pacer, not this, sets the write rate, but reads and latency
// overlap better with a few batches going.
const maxParallelBatches = 4

// Result is one item's answer from RestoreMany, as Restore would give it.
type Result struct {
	Outcome Outcome
	// Err is a *RetryError exactly when Restore would return one (and, as
	// with Restore, another error only when ctx ended or a bug struck).
	Err error
}

// RestoreMany restores reqs as Restore would restore each, but sends the
// directory ones through JSON batching, 20 to a $batch, so that a mass
// restore costs a few round trips per 20 objects instead of four each.
// Every item of a batch is judged on its own: a 429, 5xx, conflict or
// not-found answers only that item, and the others go on. Conditional
// Access objects take the single-object path (their limit, 1 request per
// second, gains nothing from batching), as do the follow-ups a restore may
// need: an application's service principal and a proxyAddresses reconcile.
// The results are in the order of reqs.
func (x *Executor) RestoreMany(ctx context.Context, reqs []Request) []Result {
	results := make([]Result, len(reqs))
	var dir []int
	var wg sync.WaitGroup
	for i, req := range reqs {
		k, ok := kinds[req.ObjectType]
		switch {
		case !ok || k.caBin != "" || !audit.ValidObjectID(req.ObjectID):
			// Unknown types and bad ids are answered without a request;
			// Conditional Access goes through its own pacer, one by one.
			wg.Go(func() {
				out, err := x.Restore(ctx, req)
				results[i] = Result{Outcome: out, Err: err}
			})
		default:
			dir = append(dir, i)
		}
	}
	sem := make(chan struct{}, maxParallelBatches)
	for start := 0; start < len(dir); start += MaxBatchRequests {
		chunk := dir[start:min(start+MaxBatchRequests, len(dir))]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			x.restoreChunk(ctx, reqs, chunk, results)
		})
	}
	wg.Wait()
	return results
}

// item is one directory restore going through the batched path.
type item struct {
	at  int // index in reqs and results
	req Request
	k   kind
	out Outcome
}

// restoreChunk runs the batched stages for at most MaxBatchRequests items,
// writing each item's result when it is final.
func (x *Executor) restoreChunk(ctx context.Context, reqs []Request, chunk []int, results []Result) {
	items := make([]*item, len(chunk))
	for j, i := range chunk {
		req := reqs[i]
		items[j] = &item{at: i, req: req, k: kinds[req.ObjectType], out: Outcome{ObjectID: req.ObjectID, ObjectType: req.ObjectType}}
	}
	done := func(it *item, err error) { results[it.at] = Result{Outcome: it.out, Err: err} }
	// fail settles an item from a Graph refusal, as Restore's failure does.
	fail := func(it *item, step string, err error) {
		out, rerr := x.failure(it.out, it.k, step, err)
		it.out = out
		done(it, rerr)
	}

	// 1. Live reads: a live object is already restored.
	answers, err := x.batch(ctx, items, func(it *item) (*abstractions.RequestInformation, []byte, error) {
		ri, err := it.k.live(x, ctx, it.req.ObjectID)
		return ri, nil, err
	})
	var absent []*item
	for j, it := range items {
		if err != nil {
			fail(it, "read the live object", err)
			continue
		}
		switch a := answers[j]; {
		case a.err == nil:
			it.out.Status, it.out.Verified, it.out.After = StatusAlreadyLive, true, a.body
			done(it, nil)
		case isNotFound(a.err):
			absent = append(absent, it)
		default:
			fail(it, "read the live object", a.err)
		}
	}

	// 2. Bin reads for those not live.
	answers, err = x.batch(ctx, absent, func(it *item) (*abstractions.RequestInformation, []byte, error) {
		ri, err := x.graph.V1.Directory().DeletedItems().ByDirectoryObjectId(it.req.ObjectID).ToGetRequestInformation(ctx, nil)
		return ri, nil, err
	})
	var binned []*item
	for j, it := range absent {
		if err != nil {
			fail(it, "read the recycle bin", err)
			continue
		}
		a := answers[j]
		switch {
		case isNotFound(a.err):
			it.out.Status, it.out.Detail = StatusNotFound, "not live and not in the recycle bin: hard-deleted, purged, or never there"
			done(it, nil)
			continue
		case a.err != nil:
			fail(it, "read the recycle bin", a.err)
			continue
		}
		it.out.Before = a.body
		if got := odataType(a.body); it.k.odataType != "" && got != "" && !strings.EqualFold(got, it.k.odataType) {
			it.out.Status, it.out.Detail = StatusFailed, fmt.Sprintf("the recycle bin holds %s under this id, not %s", got, it.k.odataType)
			done(it, nil)
			continue
		}
		binned = append(binned, it)
	}

	// 3. Restores, one write token per inner POST before the batch goes.
	if len(binned) > 0 {
		if err := x.pacer.WaitN(ctx, len(binned)); err != nil {
			for _, it := range binned {
				fail(it, "restore", &graphError{Err: err})
			}
			return
		}
	}
	answers, err = x.batch(ctx, binned, func(it *item) (*abstractions.RequestInformation, []byte, error) {
		body, err := restoreBody(it.req, false)
		return x.restoreRequest(ctx, it.k, it.req.ObjectID), body, err
	})
	var restored []*item
	for j, it := range binned {
		if err != nil {
			fail(it, "restore", err)
			continue
		}
		if a := answers[j]; a.err != nil {
			// Conflicts, a proxyAddresses reconcile, a 404 between read and
			// write, refusals and retries: decided as Restore decides them.
			out, rerr := x.settle(ctx, it.k, it.req, it.out, a.err)
			it.out = out
			x.pairIfApplication(ctx, it, rerr, done)
			continue
		}
		it.out.Status = StatusRestored
		restored = append(restored, it)
	}

	// 4. Read-backs, batched, with the single path's delays.
	pending := restored
	for _, delay := range x.verifyDelays {
		if len(pending) == 0 || !sleep(ctx, delay) {
			break
		}
		answers, err := x.batch(ctx, pending, func(it *item) (*abstractions.RequestInformation, []byte, error) {
			ri, err := it.k.live(x, ctx, it.req.ObjectID)
			return ri, nil, err
		})
		if err != nil {
			continue
		}
		var still []*item
		for j, it := range pending {
			if answers[j].err == nil {
				it.out.Verified, it.out.After = true, answers[j].body
			} else {
				still = append(still, it)
			}
		}
		pending = still
	}
	for _, it := range pending {
		it.out.Detail = "restore accepted, but the object was not yet readable live"
	}
	for _, it := range restored {
		x.afterRestored(ctx, it.req, &it.out, false)
		x.pairIfApplication(ctx, it, nil, done)
	}
}

// pairIfApplication finishes an item as Restore does: an application that
// is back gets its service principal restored too, one by one.
func (x *Executor) pairIfApplication(ctx context.Context, it *item, err error, done func(*item, error)) {
	if err == nil && it.req.ObjectType == audit.TargetApplication && !it.req.Options.SkipServicePrincipal &&
		(it.out.Status == StatusRestored || it.out.Status == StatusAlreadyLive) {
		related, perr := x.pairServicePrincipal(ctx, it.out)
		if related != nil {
			it.out.Related = append(it.out.Related, *related)
		}
		err = perr
	}
	done(it, err)
}

// answer is one inner response of a $batch: its body on success, else a
// graphError classified like a top-level one.
type answer struct {
	body json.RawMessage
	err  error
}

type batchStep struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

type batchAnswer struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// batch sends one request per item, built by build from the SDK's typed
// builders, as one POST /v1.0/$batch through the SDK's adapter, and returns
// the inner answers in item order. Its error is the whole batch's (no
// answer, or Graph refused the batch); an inner 429 pauses the write
// pacer, as send does for a top-level one.
func (x *Executor) batch(ctx context.Context, items []*item, build func(*item) (*abstractions.RequestInformation, []byte, error)) ([]answer, error) {
	if len(items) == 0 {
		return nil, nil
	}
	if len(items) > MaxBatchRequests {
		return nil, fmt.Errorf("a $batch holds at most %d requests, not %d", MaxBatchRequests, len(items))
	}
	steps := make([]batchStep, len(items))
	for j, it := range items {
		ri, body, err := build(it)
		if err != nil {
			return nil, err
		}
		rel, err := relativeURL(ri)
		if err != nil {
			return nil, err
		}
		steps[j] = batchStep{ID: strconv.Itoa(j + 1), Method: ri.Method.String(), URL: rel}
		if body != nil {
			steps[j].Body = body
			steps[j].Headers = map[string]string{"Content-Type": "application/json"}
		}
	}
	payload, err := json.Marshal(map[string]any{"requests": steps})
	if err != nil {
		return nil, err
	}
	ri := x.v1Request(abstractions.POST, "$batch")
	ri.SetStreamContentAndContentType(payload, "application/json")
	raw, err := x.send(ctx, ri)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Responses []batchAnswer `json:"responses"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, &graphError{Err: fmt.Errorf("decode $batch answer: %w", err)}
	}
	byID := make(map[string]batchAnswer, len(resp.Responses))
	for _, r := range resp.Responses {
		byID[strings.ToLower(r.ID)] = r
	}
	answers := make([]answer, len(items))
	var paused time.Duration
	for j, step := range steps {
		r, ok := byID[strings.ToLower(step.ID)]
		if !ok {
			answers[j].err = &graphError{Err: fmt.Errorf("the $batch answer has no response for request %s", step.ID)}
			continue
		}
		body := innerBody(r.Body)
		if r.Status >= 200 && r.Status < 300 {
			answers[j].body = body
			continue
		}
		ge := innerError(r, body)
		if ge.Status == http.StatusTooManyRequests {
			paused = max(paused, backoffFor(ge))
		}
		answers[j].err = ge
	}
	if paused > 0 {
		x.pacer.PauseFor(paused)
	}
	return answers, nil
}

// relativeURL is ri's URL relative to the version root, as a $batch step
// names it ("/users/{id}?…").
func relativeURL(ri *abstractions.RequestInformation) (string, error) {
	u, err := ri.GetUri()
	if err != nil {
		return "", err
	}
	path := u.EscapedPath()
	i := strings.Index(path, "/v1.0/")
	if i < 0 {
		return "", fmt.Errorf("%s is not a v1.0 request and cannot go in a v1.0 $batch", u.Redacted())
	}
	rel := path[i+len("/v1.0"):]
	if u.RawQuery != "" {
		rel += "?" + u.RawQuery
	}
	return rel, nil
}

// innerBody is an inner response's body as JSON: Graph may send it as a
// JSON value or base64-encoded (Learn graph/json-batching).
func innerBody(raw json.RawMessage) json.RawMessage {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return raw
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && json.Valid(b) {
			return b
		}
	}
	return raw
}

// innerError classifies a failed inner response as asGraphError does a
// top-level one: status, OData code, error detail targets, Retry-After.
func innerError(r batchAnswer, body json.RawMessage) *graphError {
	ge := &graphError{Status: r.Status, Err: errors.New("$batch request " + r.ID + " answered " + strconv.Itoa(r.Status))}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Details []struct {
				Target string `json:"target"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil {
		ge.Code, ge.Message = e.Error.Code, e.Error.Message
		for _, d := range e.Error.Details {
			if d.Target != "" {
				ge.Targets = append(ge.Targets, d.Target)
			}
		}
	}
	headers := abstractions.NewResponseHeaders()
	for k, v := range r.Headers {
		headers.Add(k, v)
	}
	ge.ReadRetryAfter(headers)
	return ge
}
