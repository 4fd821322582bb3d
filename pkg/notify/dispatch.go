package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
)

// IntentKind is the store.Intent kind of one message for one channel.
const IntentKind = "notify"

// Journal kinds the dispatcher writes.
const (
	// KindSent records a message delivered to a channel.
	KindSent store.Kind = "notify.sent"
	// KindRetry records a delivery that failed and will be tried again.
	KindRetry store.Kind = "notify.retry"
	// KindDeadLettered records a message that could not be delivered in
	// time: it is kept as a dead letter and still retried, less often.
	KindDeadLettered store.Kind = "notify.deadlettered"
	// KindFailed records a message given up on, for good.
	KindFailed store.Kind = "notify.failed"
	// KindSuppressed records a message a channel's minSeverity kept off it.
	KindSuppressed store.Kind = "notify.suppressed"
)

// Outbox is what the dispatcher keeps in the store: each message for each
// channel is an intent, keyed by channel and content, so that the store
// is the delivery log: a message recorded twice (a redelivered audit
// event, a retried invocation) is sent once.
type Outbox interface {
	Enqueue(ctx context.Context, intent store.Intent, now time.Time) (store.Intent, bool, error)
	LeaseIntents(ctx context.Context, kind string, now, leaseUntil time.Time, limit int) ([]store.Intent, error)
	CompleteIntent(ctx context.Context, id, token string, now time.Time, outcome string) error
	RetryIntent(ctx context.Context, id, token string, now, notBefore time.Time, lastError string) error
	FailIntent(ctx context.Context, id, token string, now time.Time, reason string) error
	Append(ctx context.Context, entry store.Entry) (store.Entry, error)
	PutDeadLetter(ctx context.Context, letter store.DeadLetter) (store.DeadLetter, error)
}

// DispatcherOptions tune a Dispatcher. Zero values take the defaults.
type DispatcherOptions struct {
	Logger *slog.Logger
	Now    func() time.Time
	// GroupWait is how long a message waits for others of its group (one
	// channel, rule, initiator, kind and outcome) to go out with it as one.
	GroupWait time.Duration
	// SendTimeout bounds one delivery, so that a hanging receiver cannot
	// hold the others up.
	SendTimeout time.Duration
	// DeadLetterAfter is how long a message is retried with back-off
	// before it becomes a dead letter; it is then retried every
	// DeadLetterRetry until MaxAge, and then given up on.
	DeadLetterAfter time.Duration
	DeadLetterRetry time.Duration
	MaxAge          time.Duration
}

// Defaults.
const (
	DefaultGroupWait       = 30 * time.Second
	DefaultSendTimeout     = 15 * time.Second
	DefaultDeadLetterAfter = 15 * time.Minute
	DefaultDeadLetterRetry = time.Hour
	DefaultMaxAge          = 7 * 24 * time.Hour
)

// Dispatcher records messages durably (Announce) and delivers them,
// grouped, with retries (Drain). Announcing never waits on a channel, so a
// broken channel never holds up ingestion, restores, or other channels.
type Dispatcher struct {
	outbox   Outbox
	channels map[string]rules.Channel
	senders  map[string]Sender
	opts     DispatcherOptions
	log      *slog.Logger
}

// NewDispatcher delivers to senders, by channel name, over outbox.
func NewDispatcher(outbox Outbox, channels map[string]rules.Channel, senders map[string]Sender, opts DispatcherOptions) *Dispatcher {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.GroupWait < 0 {
		opts.GroupWait = 0
	} else if opts.GroupWait == 0 {
		opts.GroupWait = DefaultGroupWait
	}
	for _, d := range []struct {
		into *time.Duration
		def  time.Duration
	}{{&opts.SendTimeout, DefaultSendTimeout}, {&opts.DeadLetterAfter, DefaultDeadLetterAfter}, {&opts.DeadLetterRetry, DefaultDeadLetterRetry}, {&opts.MaxAge, DefaultMaxAge}} {
		if *d.into <= 0 {
			*d.into = d.def
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{outbox: outbox, channels: channels, senders: senders, opts: opts, log: log}
}

// item is one message for one channel, as the outbox keeps it.
type item struct {
	Channel string  `json:"channel"`
	Group   string  `json:"group"`
	Message Message `json:"message"`
}

// Announce records m for each of channels that admits its severity. It
// returns how many were recorded anew; a message already recorded for a
// channel is not recorded again.
func (d *Dispatcher) Announce(ctx context.Context, m Message, channels []string) (int, error) {
	now := d.opts.Now()
	content, err := json.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("encode message: %w", err)
	}
	sum := sha256.Sum256(content)
	recorded := 0
	for _, name := range channels {
		if ch, ok := d.channels[name]; ok && !ch.Admits(m.Severity) {
			if _, err := d.outbox.Append(ctx, d.entry(KindSuppressed, name, m, 1, fmt.Sprintf("severity %s is below the channel's minSeverity %s", m.Severity, ch.MinSeverity))); err != nil {
				return recorded, fmt.Errorf("journal suppressed message: %w", err)
			}
			continue
		}
		payload, err := json.Marshal(item{Channel: name, Group: groupKey(m), Message: m})
		if err != nil {
			return recorded, fmt.Errorf("encode message: %w", err)
		}
		key := "notify:" + name + ":" + hex.EncodeToString(sum[:16])
		_, created, err := d.outbox.Enqueue(ctx, store.Intent{Key: key, Kind: IntentKind, Payload: payload, NotBefore: now.Add(d.opts.GroupWait)}, now)
		if err != nil {
			return recorded, fmt.Errorf("record message for %s: %w", name, err)
		}
		if created {
			recorded++
		}
	}
	return recorded, nil
}

// groupKey is what messages that go out together share: rule, initiator,
// kind, outcome and guard (a restored object and a failed one are not one
// message).
func groupKey(m Message) string {
	in := m.Initiator
	return strings.Join([]string{m.Rule, in.ID + in.AppID + in.ServicePrincipalID + in.UserPrincipalName, string(m.Kind), string(m.Outcome.Status), m.Guard, string(m.Mode)}, "|")
}

// DrainReport counts what a Drain did, in messages as delivered (a group
// counts once).
type DrainReport struct {
	Sent         int `json:"sent"`
	Retried      int `json:"retried"`
	DeadLettered int `json:"deadLettered"`
	Failed       int `json:"failed"`
}

// drainBatch bounds the intents one lease takes; a storm larger than this
// goes out as one message per batch.
const drainBatch = 10_000

// Drain delivers every due message, grouped: all due messages of one
// group on one channel become one message listing their objects. It
// returns when nothing more is due. Errors are the store's.
func (d *Dispatcher) Drain(ctx context.Context) (DrainReport, error) {
	var report DrainReport
	for {
		now := d.opts.Now()
		leaseUntil := now.Add(d.opts.SendTimeout + time.Minute)
		intents, err := d.outbox.LeaseIntents(ctx, IntentKind, now, leaseUntil, drainBatch)
		if err != nil {
			return report, fmt.Errorf("lease messages: %w", err)
		}
		type group struct {
			channel string
			items   []item
			intents []store.Intent
		}
		var groups []*group
		byKey := map[string]*group{}
		for _, in := range intents {
			var it item
			if err := json.Unmarshal(in.Payload, &it); err != nil {
				// Not ours to fix by retrying: keep it, and say so.
				if err := d.fail(ctx, in, fmt.Sprintf("unreadable message: %v", err)); err != nil {
					return report, err
				}
				report.Failed++
				continue
			}
			k := it.Channel + "\x00" + it.Group
			g := byKey[k]
			if g == nil {
				g = &group{channel: it.Channel}
				byKey[k] = g
				groups = append(groups, g)
			}
			g.items, g.intents = append(g.items, it), append(g.intents, in)
		}
		for _, g := range groups {
			// A group is sent only while the lease outlasts one more send:
			// past that, another dispatcher may take the messages over and
			// send them too. The rest come due when the lease ends.
			if !d.opts.Now().Add(d.opts.SendTimeout).Before(leaseUntil) {
				return report, nil
			}
			if err := d.deliver(ctx, g.channel, g.items, g.intents, &report); err != nil {
				return report, err
			}
		}
		if len(intents) < drainBatch {
			return report, nil
		}
	}
}

// Merge makes the messages of one group one message: the first's
// particulars, every distinct object (the first MaxObjects listed, Total
// counting all), the earliest time, the highest severity. A group of one
// is that message unchanged.
func Merge(messages []Message) Message {
	m := messages[0]
	if len(messages) == 1 {
		return m
	}
	m.Event, m.Objects, m.Total = nil, nil, 0
	seen := map[string]bool{}
	for _, x := range messages {
		if x.Time.Before(m.Time) {
			m.Time = x.Time
		}
		if rank(x.Severity) > rank(m.Severity) {
			m.Severity = x.Severity
		}
		if x.Outcome.Detail != m.Outcome.Detail {
			m.Outcome.Detail = ""
		}
		for _, o := range x.Objects {
			if seen[o.ID] {
				continue
			}
			seen[o.ID] = true
			m.Total++
			if len(m.Objects) < MaxObjects {
				m.Objects = append(m.Objects, o)
			}
		}
		m.Total = max(m.Total, x.Total)
	}
	return m
}

func rank(s rules.Severity) int {
	return slices.Index([]rules.Severity{rules.SeverityInfo, rules.SeverityWarning, rules.SeverityCritical}, s)
}

func (d *Dispatcher) deliver(ctx context.Context, channel string, items []item, intents []store.Intent, report *DrainReport) error {
	messages := make([]Message, len(items))
	for i, it := range items {
		messages[i] = it.Message
	}
	m := Merge(messages)
	sender, ok := d.senders[channel]
	var err error
	if !ok {
		err = fmt.Errorf("channel %s: no sender (not declared, or its type is not supported by this build)", channel)
	} else {
		sendCtx, cancel := context.WithTimeout(ctx, d.opts.SendTimeout)
		err = sender.Send(sendCtx, m)
		cancel()
	}
	if ctx.Err() != nil {
		// Shutting down: judge nothing; the leases run out and the
		// messages are tried again.
		return ctx.Err()
	}
	now := d.opts.Now()
	oldest := intents[0]
	for _, in := range intents {
		if in.CreatedAt.Before(oldest.CreatedAt) {
			oldest = in
		}
	}
	age := now.Sub(oldest.CreatedAt)
	var de *DeliveryError
	retryable := errors.As(err, &de) && de.Retryable
	switch {
	case err == nil:
		report.Sent++
		return d.settle(ctx, intents, d.entry(KindSent, channel, m, len(items), ""), func(in store.Intent) error {
			return d.outbox.CompleteIntent(ctx, in.ID, in.LeaseToken, now, "sent")
		})
	case age >= d.opts.MaxAge:
		report.Failed++
		reason := fmt.Sprintf("given up after %s: %v", age.Round(time.Minute), err)
		return d.settle(ctx, intents, d.entry(KindFailed, channel, m, len(items), reason), func(in store.Intent) error {
			return d.outbox.FailIntent(ctx, in.ID, in.LeaseToken, now, reason)
		})
	case retryable && age < d.opts.DeadLetterAfter:
		report.Retried++
		wait := max(de.RetryAfter, backoff(oldest.Attempts))
		return d.settle(ctx, intents, d.entry(KindRetry, channel, m, len(items), fmt.Sprintf("%v; next try in %s", err, wait.Round(time.Second))), func(in store.Intent) error {
			return d.outbox.RetryIntent(ctx, in.ID, in.LeaseToken, now, now.Add(wait), err.Error())
		})
	}
	// Undeliverable in time, or refused: a dead letter (once), tried again
	// every DeadLetterRetry in case the receiver is mended.
	report.DeadLettered++
	reason := deadLetterPrefix + err.Error()
	var entry store.Entry
	if !strings.HasPrefix(oldest.LastError, deadLetterPrefix) {
		raw, _ := json.Marshal(m)
		letter, dlErr := d.outbox.PutDeadLetter(ctx, store.DeadLetter{Time: now, Source: "notify " + channel, Reason: err.Error(), Raw: raw})
		if dlErr != nil {
			return fmt.Errorf("keep undeliverable message: %w", dlErr)
		}
		entry = d.entry(KindDeadLettered, channel, m, len(items), fmt.Sprintf("%v; dead letter %s; retried every %s", err, letter.ID, d.opts.DeadLetterRetry))
		d.log.WarnContext(ctx, "notification undeliverable; kept as a dead letter", "channel", channel, "error", err.Error())
	}
	return d.settle(ctx, intents, entry, func(in store.Intent) error {
		return d.outbox.RetryIntent(ctx, in.ID, in.LeaseToken, now, now.Add(d.opts.DeadLetterRetry), reason)
	})
}

// deadLetterPrefix marks an intent whose message is already a dead letter.
const deadLetterPrefix = "dead letter: "

// settle journals entry (unless empty) and moves every intent on. A lease
// lost to another dispatcher is not an error: that one delivers it.
func (d *Dispatcher) settle(ctx context.Context, intents []store.Intent, entry store.Entry, move func(store.Intent) error) error {
	if entry.Kind != "" {
		if _, err := d.outbox.Append(ctx, entry); err != nil {
			return fmt.Errorf("journal %s: %w", entry.Kind, err)
		}
	}
	for _, in := range intents {
		if err := move(in); err != nil && !errors.Is(err, store.ErrLeaseLost) {
			return fmt.Errorf("settle message %s: %w", in.ID, err)
		}
	}
	return nil
}

func (d *Dispatcher) fail(ctx context.Context, in store.Intent, reason string) error {
	now := d.opts.Now()
	if _, err := d.outbox.Append(ctx, store.Entry{Time: now, Kind: KindFailed, Outcome: "failed", Detail: reason + " (intent " + in.ID + ")"}); err != nil {
		return fmt.Errorf("journal unreadable message: %w", err)
	}
	if err := d.outbox.FailIntent(ctx, in.ID, in.LeaseToken, now, reason); err != nil && !errors.Is(err, store.ErrLeaseLost) {
		return fmt.Errorf("fail message %s: %w", in.ID, err)
	}
	return nil
}

func (d *Dispatcher) entry(kind store.Kind, channel string, m Message, count int, detail string) store.Entry {
	e := store.Entry{
		Time: d.opts.Now(), Kind: kind, Activity: m.Activity, Actor: m.Who(), Rule: m.Rule,
		Action: "notify:" + channel, Outcome: string(kind), Detail: joinDetail(m.Title(), detail),
	}
	if count > 1 {
		e.Detail = joinDetail(fmt.Sprintf("%d messages as one", count), e.Detail)
	}
	if len(m.Objects) == 1 && m.Total == 1 {
		o := m.Objects[0]
		e.TargetID, e.TargetType, e.TargetName = o.ID, string(o.Type), o.Name
	}
	if m.Event != nil {
		e.EventID = m.Event.ID
	}
	return e
}

func joinDetail(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// backoff is jittered exponential: 5 s, 10 s, 20 s … up to 5 minutes.
func backoff(attempt int) time.Duration {
	d := 5 * time.Second << min(max(attempt-1, 0), 6)
	d = min(d, 5*time.Minute)
	return d/2 + rand.N(d/2+1)
}
