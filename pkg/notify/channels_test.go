package notify_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/rules"
)

// whsec is a Standard Webhooks secret (base64 of 24 bytes) for tests.
const whsec = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"

func TestNewSenders(t *testing.T) {
	dir := t.TempDir()
	good := map[string]rules.Channel{
		"console": {Name: "console", Type: "console", Settings: map[string]any{}},
		"log":     {Name: "log", Type: "file", Settings: map[string]any{"path": filepath.Join(dir, "n.jsonl")}},
		"hook":    {Name: "hook", Type: "webhook", Settings: map[string]any{"url": "https://example.com/hook", "secret": whsec}},
		"teams":   {Name: "teams", Type: "teams", Settings: map[string]any{"url": "https://example.com/workflow?sig=S3CRET"}},
		"slack":   {Name: "slack", Type: "slack", Settings: map[string]any{"url": "https://hooks.slack.com/services/T/B/S3CRET"}},
		"pager":   {Name: "pager", Type: "pagerduty", Settings: map[string]any{"routingKey": "S3CRET"}, MinSeverity: rules.SeverityCritical},
	}
	senders, closer, err := notify.NewSenders(good, nil, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("NewSenders: %v", err)
	}
	defer closer.Close()
	if len(senders) != len(good) {
		t.Errorf("%d senders for %d channels", len(senders), len(good))
	}

	bad := map[string]rules.Channel{
		"typo":  {Name: "typo", Type: "slack", Settings: map[string]any{"url": "https://hooks.slack.com/x", "webhookUrl": "S3CRET"}},
		"plain": {Name: "plain", Type: "teams", Settings: map[string]any{"url": "http://example.com/workflow?sig=S3CRET"}},
		"nokey": {Name: "nokey", Type: "pagerduty", Settings: map[string]any{}},
		"email": {Name: "email", Type: "email", Settings: map[string]any{}},
	}
	_, _, err = notify.NewSenders(bad, nil, &bytes.Buffer{})
	if err == nil {
		t.Fatal("NewSenders accepted bad channels")
	}
	for _, want := range []string{
		"channel typo: webhookUrl not a setting of a slack channel",
		"channel plain: url must be https",
		"channel nokey: routingKey is required",
		`channel email: type "email" is not supported`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "S3CRET") {
		t.Errorf("the error shows a secret: %v", err)
	}
}
