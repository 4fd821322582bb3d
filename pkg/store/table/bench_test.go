package table

import (
	"strconv"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/store"
)

// The same three benchmarks as package sqlite's, against Azurite on
// loopback: what processing a record, journaling and an intent's life cost
// when every instance shares the store. Azurite is not Azure (no network,
// no service latency), so the figures say what the client and the
// protocol cost, not what production will see.

func BenchmarkClaimComplete(b *testing.B) {
	s := open(b)
	ctx := b.Context()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		key := "record-" + strconv.Itoa(i)
		now := t0.Add(time.Duration(i) * time.Millisecond)
		state, err := s.Claim(ctx, key, now, now.Add(time.Minute))
		if err != nil || state != store.Claimed {
			b.Fatalf("Claim(%q) = %s, %v", key, state, err)
		}
		if err := s.Complete(ctx, key, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	s := open(b)
	ctx := b.Context()
	entry := store.Entry{Kind: store.KindEventReceived, EventID: "Directory_0a1b2c3d-ffff-4e5f-9a8b-7c6d5e4f3a2b_ABCDE_123456789",
		Activity: "Hard delete user", TargetID: "6f1d8b9a-0000-4c2d-8e7f-112233445566", TargetType: "User", TargetName: "Ada Lovelace",
		Actor: "admin@contoso.example", Outcome: "success", Source: "function=Ingest invocation=42 partition=3 seq=1001", Detail: "deletion=hard targets=1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Append(ctx, entry); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnqueueLeaseComplete(b *testing.B) {
	s := open(b)
	ctx := b.Context()
	payload := []byte(`{"objectId":"6f1d8b9a-0000-4c2d-8e7f-112233445566","objectType":"User"}`)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		key := "restore:record-" + strconv.Itoa(i) + ":6f1d8b9a-0000-4c2d-8e7f-112233445566"
		if _, created, err := s.Enqueue(ctx, store.Intent{Key: key, Kind: "restore", Payload: payload}, now); err != nil || !created {
			b.Fatalf("Enqueue(%q) = created %v, %v", key, created, err)
		}
		leased, err := s.LeaseIntents(ctx, "restore", now, now.Add(time.Minute), 1)
		if err != nil || len(leased) != 1 || leased[0].Key != key {
			b.Fatalf("LeaseIntents = %+v, %v; want %q", leased, err, key)
		}
		if err := s.CompleteIntent(ctx, leased[0].ID, leased[0].LeaseToken, now, "restored"); err != nil {
			b.Fatal(err)
		}
	}
}
