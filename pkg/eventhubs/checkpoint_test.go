package eventhubs

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/reinstate/reinstate/internal/tools/azurite"
)

// connection is the Azurite the blob checkpoint tests use: the one `make
// test` started, named by azurite.EnvConnection, or one TestMain starts,
// so that plain `go test ./pkg/eventhubs/` works too.
var connection string

// TestMain starts Azurite from the repository's node_modules unless one is
// named already. It fails rather than skips when it cannot: the checkpoint
// store is tested against a real Azurite or not at all.
func TestMain(m *testing.M) {
	os.Exit(azurite.RunTests(m, &connection, "the blob checkpoint tests", "./pkg/eventhubs/"))
}

// openStore opens a checkpoint store on container name, as one replica.
func openStore(t *testing.T, name string) azeventhubs.CheckpointStore {
	t.Helper()
	cc, err := ContainerClient("", nil, connection, name)
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenCheckpointStore(t.Context(), cc)
	if err != nil {
		t.Fatalf("OpenCheckpointStore: %v", err)
	}
	return st
}

const (
	namespace = "evhns-reinstate.servicebus.windows.net"
	hub       = "entra-audit"
	group     = "reinstate"
)

func containerName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "checkpoints-" + hex.EncodeToString(b[:])
}

func TestBlobCheckpointsAreReadBackByAnotherReplica(t *testing.T) {
	name := containerName()
	a := openStore(t, name)
	ctx := t.Context()
	for _, cp := range []azeventhubs.Checkpoint{
		{PartitionID: "0", SequenceNumber: to.Ptr[int64](41), Offset: to.Ptr("167936")},
		{PartitionID: "0", SequenceNumber: to.Ptr[int64](59), Offset: to.Ptr("616008")}, // moves on
		{PartitionID: "1", SequenceNumber: to.Ptr[int64](3), Offset: to.Ptr("12288")},
	} {
		cp.FullyQualifiedNamespace, cp.EventHubName, cp.ConsumerGroup = namespace, hub, group
		if err := a.SetCheckpoint(ctx, cp, nil); err != nil {
			t.Fatalf("SetCheckpoint %s: %v", cp.PartitionID, err)
		}
	}
	// A second replica, with its own clients, opening the existing container.
	b := openStore(t, name)
	list, err := b.ListCheckpoints(ctx, namespace, hub, group, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]string{}
	for _, cp := range list {
		got[cp.PartitionID] = [2]string{fmt.Sprint(*cp.SequenceNumber), *cp.Offset}
	}
	want := map[string][2]string{"0": {"59", "616008"}, "1": {"3", "12288"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("checkpoints read back %v, want %v", got, want)
	}
	// Another consumer group's checkpoints are its own.
	if other, err := b.ListCheckpoints(ctx, namespace, hub, "$Default", nil); err != nil || len(other) != 0 {
		t.Errorf("other group's checkpoints %v, %v; want none", other, err)
	}
}

func TestBlobOwnershipClaims(t *testing.T) {
	name := containerName()
	a, b := openStore(t, name), openStore(t, name)
	ctx := t.Context()
	claim := func(st azeventhubs.CheckpointStore, owner string, o azeventhubs.Ownership) []azeventhubs.Ownership {
		o.FullyQualifiedNamespace, o.EventHubName, o.ConsumerGroup, o.OwnerID = namespace, hub, group, owner
		got, err := st.ClaimOwnership(ctx, []azeventhubs.Ownership{o}, nil)
		if err != nil {
			t.Fatalf("ClaimOwnership by %s: %v", owner, err)
		}
		return got
	}
	// a claims partition 0, unowned so far.
	first := claim(a, "replica-a", azeventhubs.Ownership{PartitionID: "0"})
	if len(first) != 1 || first[0].ETag == nil || first[0].OwnerID != "replica-a" {
		t.Fatalf("first claim = %+v", first)
	}
	// b claims it with a stale (absent) ETag: refused, not an error.
	if got := claim(b, "replica-b", azeventhubs.Ownership{PartitionID: "0"}); len(got) != 0 {
		t.Errorf("a claim without the current ETag succeeded: %+v", got)
	}
	// b claims it with the ETag it listed: granted, as load balancing does.
	owners, err := b.ListOwnership(ctx, namespace, hub, group, nil)
	if err != nil || len(owners) != 1 || owners[0].OwnerID != "replica-a" {
		t.Fatalf("ListOwnership = %+v, %v", owners, err)
	}
	taken := claim(b, "replica-b", owners[0])
	if len(taken) != 1 || taken[0].OwnerID != "replica-b" {
		t.Fatalf("takeover = %+v", taken)
	}
	// a renewing with its old ETag now fails: it has lost the partition.
	if got := claim(a, "replica-a", first[0]); len(got) != 0 {
		t.Errorf("a renewed with a stale ETag: %+v", got)
	}
	owners, err = a.ListOwnership(ctx, namespace, hub, group, nil)
	if err != nil || len(owners) != 1 || owners[0].OwnerID != "replica-b" {
		t.Errorf("ListOwnership after takeover = %+v, %v", owners, err)
	}
}
