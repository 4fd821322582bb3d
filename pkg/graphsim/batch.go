package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// maxBatchRequests is JSON batching's limit (Learn graph/json-batching:
// "JSON batch requests are currently limited to 20 individual requests").
const maxBatchRequests = 20

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    any               `json:"body,omitempty"`
}

// batch serves POST /$batch (Learn graph/json-batching). Each request is
// executed independently against the same version with the outer token:
// its own permission check, throttling (an inner 429 carries its own
// Retry-After; Learn graph/throttling, "Throttling and batching") and fault
// decision. A malformed batch is answered 400 as a whole.
//
// dependsOn is honoured: requests then run in the given order, a request
// whose dependency failed gets 424, and a batch that is neither fully
// parallel nor fully sequential is refused with the error observed in
// practice ("Batch should be either fully sequential or fully parallel";
// the same sentence is a tip on the batching page). Without dependsOn,
// requests also run in order; the answer lists them in request order, which
// Graph permits but does not promise.
func (s *Server) batch(c *call) response {
	var req struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := json.Unmarshal(c.body, &req); err != nil {
		return c.fail(400, "BadRequest", "Invalid batch payload format: "+err.Error())
	}
	if req.Requests == nil {
		return c.fail(400, "BadRequest", "Invalid batch payload format: the 'requests' property is required.")
	}
	if len(req.Requests) > maxBatchRequests {
		// Unconfirmed: Graph's text for an oversized batch.
		return c.fail(400, "BadRequest", fmt.Sprintf("Too many requests in the batch: %d. A JSON batch can contain at most %d requests.", len(req.Requests), maxBatchRequests))
	}
	ids := map[string]int{}
	sequential := 0
	for i, r := range req.Requests {
		switch {
		case r.ID == "":
			return c.fail(400, "BadRequest", fmt.Sprintf("Invalid batch payload format: request %d has no id.", i))
		case r.Method == "":
			return c.fail(400, "BadRequest", fmt.Sprintf("Invalid batch payload format: request '%s' has no method.", r.ID))
		case r.URL == "":
			return c.fail(400, "BadRequest", fmt.Sprintf("Invalid batch payload format: request '%s' has no url.", r.ID))
		}
		key := strings.ToLower(r.ID) // ids are not case-sensitive
		if _, dup := ids[key]; dup {
			return c.fail(400, "BadRequest", fmt.Sprintf("Batch request ids must be unique; '%s' is repeated.", r.ID))
		}
		ids[key] = i
		if len(r.Body) > 0 && string(r.Body) != "null" && headerValue(r.Headers, "Content-Type") == "" {
			return c.fail(400, "BadRequest", fmt.Sprintf("Request '%s' has a body but no Content-Type header.", r.ID))
		}
		for _, d := range r.DependsOn {
			j, ok := ids[strings.ToLower(d)]
			if !ok || j >= i {
				return c.fail(400, "BadRequest", fmt.Sprintf("Request '%s' depends on '%s', which is not an earlier request in the batch.", r.ID, d))
			}
		}
		if len(r.DependsOn) > 0 {
			sequential++
		}
	}
	if sequential > 0 && sequential != len(req.Requests)-1 {
		return c.fail(400, "BadRequest", "Batch should be either fully sequential or fully parallel")
	}

	status := map[string]int{}
	out := make([]batchResponse, 0, len(req.Requests))
	for _, r := range req.Requests {
		br := batchResponse{ID: r.ID}
		failedDep := ""
		for _, d := range r.DependsOn {
			if st := status[strings.ToLower(d)]; st < 200 || st > 299 {
				failedDep = d
			}
		}
		var resp response
		if failedDep != "" {
			resp = c.fail(424, "FailedDependency", fmt.Sprintf("The request depends on request '%s', which failed.", failedDep))
		} else {
			resp = s.execInner(c, r)
		}
		status[strings.ToLower(r.ID)] = resp.status
		br.Status = resp.status
		br.Headers = map[string]string{}
		for k := range resp.header {
			br.Headers[k] = resp.header.Get(k)
		}
		if resp.body != nil {
			br.Body = resp.body
			if resp.status < 300 {
				br.Headers["Content-Type"] = odataJSON
			} else {
				br.Headers["Content-Type"] = "application/json"
			}
		}
		if len(br.Headers) == 0 {
			br.Headers = nil
		}
		out = append(out, br)
	}
	return newResponse(200, map[string]any{"responses": out})
}

// execInner runs one request of a batch.
func (s *Server) execInner(outer *call, r batchRequest) response {
	c := &call{
		method:      strings.ToUpper(r.Method),
		version:     outer.version,
		header:      http.Header{},
		ident:       outer.ident,
		reqID:       outer.reqID,
		clientReqID: outer.clientReqID,
		base:        outer.base,
		now:         s.now(),
	}
	for k, v := range r.Headers {
		c.header.Set(k, v)
	}
	if c.header.Get("User-Agent") == "" {
		c.header.Set("User-Agent", outer.header.Get("User-Agent"))
	}
	if strings.Contains(r.URL, "://") {
		return c.fail(400, "BadRequest", "The url of a batch request must be relative, such as /users/{id}.")
	}
	u, err := url.Parse("/" + strings.TrimPrefix(r.URL, "/"))
	if err != nil {
		return c.fail(400, "BadRequest", "Invalid url in batch request: "+err.Error())
	}
	segs, err := splitPath(u.EscapedPath())
	if err != nil {
		return c.fail(400, "BadRequest", err.Error())
	}
	c.segs = segs
	c.rawPath = "/" + c.version + u.EscapedPath()
	c.query = u.Query()
	if len(r.Body) > 0 && string(r.Body) != "null" {
		body := []byte(r.Body)
		var s string
		// "Might be a JSON object or a base64 URL-encoded value" (Learn
		// graph/json-batching).
		if json.Unmarshal(r.Body, &s) == nil {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				body = b
			} else if b, err := base64.URLEncoding.DecodeString(s); err == nil {
				body = b
			}
		}
		c.body = body
	}
	return s.exec(c)
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
