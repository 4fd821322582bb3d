package main

import (
	"strings"
	"testing"
)

func TestWorkerRefusesWithoutEventHubs(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		want    []string
		notWant []string
	}{
		{"nothing set", nil,
			[]string{"REINSTATE_EVENTHUB_NAMESPACE", "REINSTATE_EVENTHUB_NAME", "REINSTATE_CHECKPOINT_URL", "not set"}, nil},
		{"checkpoints missing", map[string]string{"REINSTATE_EVENTHUB_NAMESPACE": "ns.servicebus.windows.net", "REINSTATE_EVENTHUB_NAME": "audit"},
			[]string{"REINSTATE_CHECKPOINT_URL not set"}, []string{"REINSTATE_EVENTHUB_NAME,"}},
		{"namespace malformed", map[string]string{"REINSTATE_EVENTHUB_NAMESPACE": "https://ns.servicebus.windows.net", "REINSTATE_EVENTHUB_NAME": "audit",
			"REINSTATE_CHECKPOINT_URL": "https://acct.blob.core.windows.net/checkpoints"},
			[]string{"REINSTATE_EVENTHUB_NAMESPACE", "fully qualified"}, nil},
		{"checkpoint key never echoed", map[string]string{"REINSTATE_CHECKPOINT_URL": "AccountName=a;AccountKey=c2VjcmV0"},
			[]string{"REINSTATE_CHECKPOINT_URL", "Container"}, []string{"c2VjcmV0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{"REINSTATE_RULES": replayRules, "REINSTATE_STORE": "sqlite:" + t.TempDir() + "/state.db"}
			for k, v := range tt.vars {
				vars[k] = v
			}
			res := invoke(t, vars, "", "worker")
			if res.code != 1 {
				t.Fatalf("exit code %d, want 1; stderr %q", res.code, res.stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr %q does not mention %q", res.stderr, want)
				}
			}
			for _, bad := range tt.notWant {
				if strings.Contains(res.stderr, bad) {
					t.Errorf("stderr %q mentions %q", res.stderr, bad)
				}
			}
		})
	}
}

func TestWorkerIsACommand(t *testing.T) {
	res := invoke(t, nil, "", "worker", "--help")
	if res.code != 0 || !strings.Contains(res.stdout, "event hub") || !strings.Contains(res.stdout, "REINSTATE_CHECKPOINT_URL") {
		t.Errorf("worker --help: code %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
}
