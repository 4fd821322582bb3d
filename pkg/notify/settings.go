package notify

import (
	"fmt"
	"net/url"

	"github.com/reinstate/reinstate/pkg/graphapi"
)

// settings reads a channel's own keys from the rule file (rules.Channel's
// Settings, already ${ENV}-expanded), naming the channel in every problem
// and never echoing a value: they are secrets.
type settings struct {
	channel string
	values  map[string]any
	errs    []error
}

func (s *settings) str(key string, required bool) string {
	v, ok := s.values[key]
	if !ok || v == nil {
		if required {
			s.errs = append(s.errs, fmt.Errorf("channel %s: %s is required", s.channel, key))
		}
		return ""
	}
	str, ok := v.(string)
	if !ok || (required && str == "") {
		s.errs = append(s.errs, fmt.Errorf("channel %s: %s must be a non-empty string", s.channel, key))
		return ""
	}
	return str
}

// url reads an http(s) URL; plain http only to a loopback host, so that a
// secret never crosses a network in clear text (tests use loopback).
func (s *settings) url(key string, required bool) string {
	raw := s.str(key, required)
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		s.errs = append(s.errs, fmt.Errorf("channel %s: %s is not a URL", s.channel, key))
	case u.Scheme == "https":
	case u.Scheme == "http" && graphapi.IsLoopback(u):
	default:
		s.errs = append(s.errs, fmt.Errorf("channel %s: %s must be https (http only to loopback): %s", s.channel, key, Redact(raw)))
	}
	return raw
}
