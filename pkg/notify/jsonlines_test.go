package notify_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/rules"
)

var sampleTime = time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)

// sampleMessage is message number i: its time is i seconds after sampleTime.
func sampleMessage(i int) notify.Message {
	return notify.Message{
		Kind: notify.KindObjectRestored, Severity: rules.SeverityCritical, Time: sampleTime.Add(time.Duration(i) * time.Second),
		Rule: "critical-groups", Activity: "Delete group", Initiator: audit.Initiator{Type: audit.InitiatorUser, UserPrincipalName: "it.admin@contoso.com"},
		Objects: []notify.Object{{ID: "e5a7c9d1-6f8b-4a0c-8e4f-5b7d9f1b3c65", Type: audit.TargetGroup, Name: "sec-prod-payments"}}, Total: 1,
		Action: "restore", Outcome: notify.Outcome{Status: notify.StatusRestored, Verified: true}, Mode: rules.ModeEnforce,
	}
}

// TestFileAppendsOneLineAMessage: the file channel appends, line by line,
// messages that read back equal, even when sent concurrently, and across
// reopening.
func TestFileAppendsOneLineAMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notifications.jsonl")
	for round := range 2 {
		ch, err := notify.NewFile("audit-log", map[string]any{"path": path})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := ch.Send(context.Background(), sampleMessage(round*50+i)); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		ch.Close()
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[int]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m notify.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		i := int(m.Time.Sub(sampleTime) / time.Second)
		if want := sampleMessage(i); !reflect.DeepEqual(m, want) {
			t.Errorf("read back %+v, want %+v", m, want)
		}
		seen[i] = true
	}
	if len(seen) != 100 {
		t.Errorf("%d distinct messages in the file, want 100", len(seen))
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, %v; want 0600: messages name people", info.Mode(), err)
	}
}

func TestFileSettings(t *testing.T) {
	if _, err := notify.NewFile("audit-log", map[string]any{}); err == nil || !strings.Contains(err.Error(), "channel audit-log: path is required") {
		t.Errorf("missing path: %v", err)
	}
	// Building the channel touches nothing; the first message finds the
	// problem, which is retryable: the folder may appear.
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "x")
	ch, err := notify.NewFile("audit-log", map[string]any{"path": missing})
	if err != nil {
		t.Fatal(err)
	}
	var de *notify.DeliveryError
	if err := ch.Send(context.Background(), sampleMessage(0)); !errors.As(err, &de) || !de.Retryable || !strings.Contains(err.Error(), "channel audit-log") {
		t.Errorf("unwritable path: %v", err)
	}
}
