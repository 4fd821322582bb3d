package graphsim

import (
	"math"
	"time"
)

// ThrottleConfig sets the request quotas graphsim enforces. A zero field
// takes the documented default; a negative quota switches that limit off.
// Every window is divided by Options.TimeScale, with the same quota, so a
// time scale of 100 turns "3,000 writes per 150 s" into "3,000 writes per
// 1.5 s": the permitted rate grows by the time scale.
//
// All limits are sliding windows (a log of admitted requests): a request is
// admitted when fewer than Quota requests were admitted in the Window before
// it. Graph's real limiter is a token bucket with resource units
// (reference §3.2); the write quotas are what recovery code meets, and a
// sliding window gives a well-defined Retry-After. Refused requests are not
// counted, although Graph documents that usage keeps counting while a client
// is throttled (Learn graph/throttling): graphsim is thereby slightly kinder.
type ThrottleConfig struct {
	// AppWriteQuota / AppWriteWindow: directory writes per app per tenant,
	// 3,000 per 2 min 30 s (Learn graph/throttling-limits, "Identity and
	// access service limits", write quota for application + tenant pair).
	AppWriteQuota  int           `json:"appWriteQuota"`
	AppWriteWindow time.Duration `json:"appWriteWindow"`
	// TenantWriteQuota / TenantWriteWindow: directory writes per tenant, all
	// apps, 18,000 per 5 min (same page, tenant write quota).
	TenantWriteQuota  int           `json:"tenantWriteQuota"`
	TenantWriteWindow time.Duration `json:"tenantWriteWindow"`
	// CAQuota / CAWindow: Conditional Access policies and named locations,
	// 1 request per second per tenant for all apps, answered without
	// Retry-After (same page, "Identity protection and conditional access
	// service limits"; reference §3.3).
	CAQuota  int           `json:"caQuota"`
	CAWindow time.Duration `json:"caWindow"`
	// AuditQuota / AuditWindow: directoryAudit reads, 5 requests per 10 s per
	// app per tenant (same page, "Identity and access reports service
	// limits"; reference §3.3).
	AuditQuota  int           `json:"auditQuota"`
	AuditWindow time.Duration `json:"auditWindow"`
}

func (c ThrottleConfig) withDefaults() ThrottleConfig {
	def := func(q *int, w *time.Duration, dq int, dw time.Duration) {
		if *q == 0 {
			*q = dq
		}
		if *w <= 0 {
			*w = dw
		}
	}
	def(&c.AppWriteQuota, &c.AppWriteWindow, 3000, 150*time.Second)
	def(&c.TenantWriteQuota, &c.TenantWriteWindow, 18000, 5*time.Minute)
	def(&c.CAQuota, &c.CAWindow, 1, time.Second)
	def(&c.AuditQuota, &c.AuditWindow, 5, 10*time.Second)
	return c
}

// window is a sliding-window log.
type window struct {
	quota int
	span  time.Duration
	times []time.Time
}

func (w *window) prune(now time.Time) {
	cut := 0
	for cut < len(w.times) && !w.times[cut].After(now.Add(-w.span)) {
		cut++
	}
	w.times = w.times[cut:]
}

// wait is how long until one more request fits; 0 when one fits now.
func (w *window) wait(now time.Time) time.Duration {
	if w.quota < 0 {
		return 0
	}
	w.prune(now)
	if len(w.times) < w.quota {
		return 0
	}
	return w.times[len(w.times)-w.quota].Add(w.span).Sub(now)
}

func (w *window) record(now time.Time) {
	if w.quota >= 0 {
		w.times = append(w.times, now)
	}
}

// throttler holds every window. It is guarded by the Server's mutex.
type throttler struct {
	cfg       ThrottleConfig
	scale     float64
	appWrites map[string]*window
	tenant    *window
	ca        *window
	audits    map[string]*window
	// counters for /_sim/state
	admittedWrites int
	throttled      map[string]int
}

func newThrottler(cfg ThrottleConfig, scale float64) *throttler {
	cfg = cfg.withDefaults()
	return &throttler{
		cfg:       cfg,
		scale:     scale,
		appWrites: map[string]*window{},
		tenant:    &window{quota: cfg.TenantWriteQuota, span: scaled(cfg.TenantWriteWindow, scale)},
		ca:        &window{quota: cfg.CAQuota, span: scaled(cfg.CAWindow, scale)},
		audits:    map[string]*window{},
		throttled: map[string]int{},
	}
}

func scaled(d time.Duration, scale float64) time.Duration {
	return time.Duration(float64(d) / scale)
}

func (t *throttler) appWindow(m map[string]*window, key string, quota int, span time.Duration) *window {
	w := m[key]
	if w == nil {
		w = &window{quota: quota, span: scaled(span, t.scale)}
		m[key] = w
	}
	return w
}

// admitWrite decides a directory write by app (the caller's quota key). It
// returns 0 and records the write, or the wait before a retry can succeed.
func (t *throttler) admitWrite(app string, now time.Time) time.Duration {
	aw := t.appWindow(t.appWrites, app, t.cfg.AppWriteQuota, t.cfg.AppWriteWindow)
	wait := max(aw.wait(now), t.tenant.wait(now))
	if wait > 0 {
		t.throttled["write"]++
		return wait
	}
	aw.record(now)
	t.tenant.record(now)
	t.admittedWrites++
	return 0
}

// admitCA decides a Conditional Access request.
func (t *throttler) admitCA(now time.Time) time.Duration {
	if wait := t.ca.wait(now); wait > 0 {
		t.throttled["conditionalAccess"]++
		return wait
	}
	t.ca.record(now)
	return 0
}

// admitAudit decides a directoryAudit read by app.
func (t *throttler) admitAudit(app string, now time.Time) time.Duration {
	w := t.appWindow(t.audits, app, t.cfg.AuditQuota, t.cfg.AuditWindow)
	if wait := w.wait(now); wait > 0 {
		t.throttled["auditLogs"]++
		return wait
	}
	w.record(now)
	return 0
}

// retryAfterSeconds is a Retry-After value: whole seconds, rounded up, at
// least 1 (Graph sends an integer number of seconds; Learn graph/throttling).
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// ThrottleState is the throttling part of /_sim/state.
type ThrottleState struct {
	Config ThrottleConfig `json:"config"`
	// TimeScale divides every window.
	TimeScale float64 `json:"timeScale"`
	// AdmittedWrites counts directory writes admitted so far.
	AdmittedWrites int `json:"admittedWrites"`
	// WritesInWindow is the tenant window's current count.
	WritesInWindow int `json:"writesInWindow"`
	// AppWritesInWindow is each app's current count.
	AppWritesInWindow map[string]int `json:"appWritesInWindow"`
	// Throttled counts 429 answers by limit ("write", "conditionalAccess",
	// "auditLogs", "storm").
	Throttled map[string]int `json:"throttled"`
}

func (t *throttler) state(now time.Time) ThrottleState {
	st := ThrottleState{Config: t.cfg, TimeScale: t.scale, AdmittedWrites: t.admittedWrites, AppWritesInWindow: map[string]int{}, Throttled: map[string]int{}}
	t.tenant.prune(now)
	st.WritesInWindow = len(t.tenant.times)
	for k, w := range t.appWrites {
		w.prune(now)
		st.AppWritesInWindow[k] = len(w.times)
	}
	for k, v := range t.throttled {
		st.Throttled[k] = v
	}
	return st
}
