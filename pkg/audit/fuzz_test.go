package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode checks the promises Decode makes for any input: no panic, only
// usable events, skips in order, and events that marshal. It is seeded with
// every fixture, and testdata/fuzz/FuzzDecode holds the edge cases.
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*", "*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures to seed from: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		before := bytes.Clone(data)
		res, err := Decode(data)
		if !bytes.Equal(data, before) {
			t.Fatal("Decode modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrNotJSON) {
				t.Fatalf("error %v does not wrap ErrNotJSON", err)
			}
			if len(res.Events) != 0 || len(res.Skipped) != 0 {
				t.Fatalf("error %v with a non-empty result", err)
			}
			return
		}
		total := len(res.Events) + len(res.Skipped)
		prev := -1
		for _, s := range res.Skipped {
			if s.Index <= prev || s.Index >= total {
				t.Fatalf("skip index %d after %d, with %d records in all", s.Index, prev, total)
			}
			prev = s.Index
			if s.Line < 1 || s.Reason == "" || s.Error() == "" {
				t.Fatalf("incomplete skip %+v", s)
			}
		}
		for _, ev := range res.Events {
			if ev.ID == "" || ev.Activity == "" || ev.Time.IsZero() || ev.Targets == nil {
				t.Fatalf("unusable event %+v", ev)
			}
			switch ev.Deletion {
			case DeletionNone, DeletionSoft, DeletionHard:
			default:
				t.Fatalf("deletion %q", ev.Deletion)
			}
			switch ev.Initiator.Type {
			case InitiatorUser, InitiatorApp, InitiatorUnknown:
			default:
				t.Fatalf("initiator type %q", ev.Initiator.Type)
			}
			if _, err := json.Marshal(ev); err != nil {
				t.Fatalf("event does not marshal: %v\n%+v", err, ev)
			}
		}
	})
}
