package notify

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/rules"
)

// knownSettings are the keys each channel type reads, beside type and
// minSeverity: any other key is a mistake (a misspelt secret name, say)
// and refused, not ignored.
var knownSettings = map[string][]string{
	"console":   {},
	"file":      {"path"},
	"webhook":   {"url", "secret", "source"},
	"teams":     {"url"},
	"slack":     {"url"},
	"pagerduty": {"routingKey", "url"},
}

// NewSenders builds a sender for every channel of a rule table, checking
// every channel's settings; all problems are reported together, and
// nothing is contacted or opened. stdout is the console channel's. The
// closer closes the files the file channels open.
func NewSenders(channels map[string]rules.Channel, client *http.Client, stdout io.Writer) (map[string]Sender, io.Closer, error) {
	if client == nil {
		client = &http.Client{Timeout: DefaultSendTimeout}
	}
	senders := map[string]Sender{}
	var closers closeAll
	var errs []error
	names := make([]string, 0, len(channels))
	for name := range channels {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ch := channels[name]
		known, ok := knownSettings[ch.Type]
		if !ok {
			errs = append(errs, fmt.Errorf("channel %s: type %q is not supported", name, ch.Type))
			continue
		}
		var unknown []string
		for key := range ch.Settings {
			if !slices.Contains(known, key) {
				unknown = append(unknown, key)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			errs = append(errs, fmt.Errorf("channel %s: %s not a setting of a %s channel (known: %s)", name, strings.Join(unknown, ", "), ch.Type, strings.Join(append([]string{"type", "minSeverity"}, known...), ", ")))
			continue
		}
		var (
			s   Sender
			err error
		)
		switch ch.Type {
		case "console":
			s = NewJSONLines(name, stdout)
		case "file":
			var f *JSONLines
			if f, err = NewFile(name, ch.Settings); err == nil {
				s, closers = f, append(closers, f)
			}
		case "webhook":
			s, err = NewWebhook(name, ch.Settings, client, time.Now)
		case "teams":
			s, err = NewTeams(name, ch.Settings, client)
		case "slack":
			s, err = NewSlack(name, ch.Settings, client)
		case "pagerduty":
			s, err = NewPagerDuty(name, ch.Settings, client)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		senders[name] = s
	}
	if len(errs) > 0 {
		closers.Close()
		return nil, nil, errors.Join(errs...)
	}
	return senders, closers, nil
}

type closeAll []io.Closer

func (c closeAll) Close() error {
	var errs []error
	for _, x := range c {
		errs = append(errs, x.Close())
	}
	return errors.Join(errs...)
}
