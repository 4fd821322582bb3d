package graphsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Duration is a time.Duration written in JSON as a Go duration string
// ("250ms", "2s"), for the /_sim/faults body.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts a duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("a duration must be a string such as \"250ms\" or a number of seconds")
	}
	*d = Duration(time.Duration(secs * float64(time.Second)))
	return nil
}

// FaultConfig injects failures into Graph requests (never into /_sim/). Rates
// are fractions in [0, 1]; random choices come from a source seeded by
// Options.FaultSeed, so a test sees the same faults on every run.
//
// Latency and ConnectionResetRate act on each HTTP request as received (a
// $batch is one request); ErrorRate and the 429 storm are judged per Graph
// request, so each request inside a $batch gets its own chance.
type FaultConfig struct {
	// Latency is added before each HTTP request is answered.
	Latency Duration `json:"latency"`
	// ErrorRate is the fraction of requests answered with 500, 502, 503 or
	// 504 (chosen evenly), with Graph-shaped bodies; 503 carries Retry-After.
	ErrorRate float64 `json:"errorRate"`
	// ConnectionResetRate is the fraction of HTTP requests whose connection
	// is closed (with a TCP reset) without an answer.
	ConnectionResetRate float64 `json:"connectionResetRate"`
	// StormFor, when set, starts a 429 storm lasting this long from the
	// moment the config is applied: every Graph request is answered 429 with
	// a Retry-After that counts down to the storm's end.
	StormFor Duration `json:"stormFor,omitempty"`
	// StormUntil is when the current storm ends (read-only; reported by GET
	// /_sim/faults).
	StormUntil *time.Time `json:"stormUntil,omitempty"`
	// FailNextBackupJob makes the next Entra Backup and Recovery job
	// created (preview or recovery) end with status "failed" instead of
	// successful, for tests of a caller's handling of a failed job. It is
	// cleared when that job is created.
	FailNextBackupJob bool `json:"failNextBackupJob,omitempty"`
	// HangRestores names objects (by id, in any case) whose restore never
	// reaches the tenant while this configuration stands: POST
	// .../deletedItems/{id}/restore, from the directory or a Conditional
	// Access bin, on its own or inside a $batch, is held before graphsim
	// applies it. When the configuration is replaced (POST /_sim/faults,
	// SetFaults), every held restore is answered 504 GatewayTimeout, with
	// nothing restored. It stands for a worker that dies, or loses its
	// connection, in the middle of a restore without Graph having carried
	// it out: the only restore is the one made after the fault is lifted.
	// A held request is released only that way, not when its caller goes
	// away, so a test that sets it must replace the configuration before
	// its server closes.
	HangRestores []string `json:"hangRestores,omitempty"`
	// Hung counts the restores this configuration has held (read-only;
	// reported by GET /_sim/faults), so that a test can wait until the
	// restore it hangs has arrived.
	Hung int `json:"hung,omitempty"`

	// lifted is closed when this configuration is replaced, releasing the
	// restores it holds.
	lifted chan struct{}
}

func (f FaultConfig) validate() error {
	for name, r := range map[string]float64{"errorRate": f.ErrorRate, "connectionResetRate": f.ConnectionResetRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("%s must be between 0 and 1, got %v", name, r)
		}
	}
	if f.Latency < 0 || f.StormFor < 0 {
		return fmt.Errorf("latency and stormFor must not be negative")
	}
	return nil
}

// serverErrors are the 5xx answers ErrorRate chooses among. The codes follow
// Graph's error-code list (Learn graph/errors); the messages are generic.
var serverErrors = [...]struct {
	status        int
	code, message string
}{
	{500, "InternalServerError", "An internal server error occurred while processing the request."},
	{502, "BadGateway", "The server, while acting as a gateway, received an invalid response from the upstream server."},
	{503, "ServiceUnavailable", "The service is temporarily unavailable. Retry the request after the time in the Retry-After header."},
	{504, "GatewayTimeout", "The server, while acting as a proxy, did not receive a timely response from the upstream server."},
}

// faultFor decides the fault for one Graph request: a hung restore (then
// a 504), a storm 429, a 5xx, or none. The caller holds s.mu; a restore
// that HangRestores names releases it while it is held, and holds it
// again when faultFor returns.
func (s *Server) faultFor(c *call, now time.Time) *response {
	if s.hangs(c) {
		s.faults.Hung++
		lifted := s.faults.lifted
		s.mu.Unlock()
		<-lifted
		s.mu.Lock()
		s.stats.Faults["504"]++
		r := c.fail(504, "GatewayTimeout", "The server, while acting as a proxy, did not receive a timely response from the upstream server.")
		return &r
	}
	if !s.stormUntil.IsZero() && now.Before(s.stormUntil) {
		s.throttle.throttled["storm"]++
		r := c.fail(429, "TooManyRequests", "Too many requests. Retry after the time in the Retry-After header.")
		r.header.Set("Retry-After", fmt.Sprint(retryAfterSeconds(s.stormUntil.Sub(now))))
		return &r
	}
	if s.faults.ErrorRate > 0 && s.rng.Float64() < s.faults.ErrorRate {
		e := serverErrors[s.rng.IntN(len(serverErrors))]
		r := c.fail(e.status, e.code, e.message)
		if e.status == 503 {
			r.header.Set("Retry-After", "1")
		}
		s.stats.Faults[fmt.Sprint(e.status)]++
		return &r
	}
	return nil
}

// hangs reports whether c is a restore that HangRestores names: a POST
// of the restore action on an item of a recycle bin (a deletedItems path),
// whose id is the segment before the action.
func (s *Server) hangs(c *call) bool {
	n := len(c.segs)
	if len(s.faults.HangRestores) == 0 || c.method != http.MethodPost || n < 3 || !isRestoreAction(c.segs[n-1]) {
		return false
	}
	if !slices.ContainsFunc(c.segs, func(seg string) bool { return strings.EqualFold(seg, "deletedItems") }) {
		return false
	}
	return slices.ContainsFunc(s.faults.HangRestores, func(id string) bool { return strings.EqualFold(id, c.segs[n-2]) })
}

// applyFaults replaces the fault configuration, releasing the restores
// the one it replaces holds.
func (s *Server) applyFaults(f FaultConfig, now time.Time) error {
	if err := f.validate(); err != nil {
		return err
	}
	if s.faults.lifted != nil {
		close(s.faults.lifted)
	}
	s.faults = f
	s.faults.lifted = make(chan struct{})
	s.faults.Hung = 0
	s.faults.StormUntil = nil
	s.stormUntil = time.Time{}
	if f.StormFor > 0 {
		s.stormUntil = now.Add(time.Duration(f.StormFor))
	}
	return nil
}

func (s *Server) faultState() FaultConfig {
	f := s.faults
	if !s.stormUntil.IsZero() {
		u := s.stormUntil
		f.StormUntil = &u
	}
	return f
}
