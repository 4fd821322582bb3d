package e2e

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/notify"
	"github.com/reinstate/reinstate/pkg/pipeline"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/store"
)

// settle is how long a test keeps watching after the outcome it waits for,
// so that a second restore or message would have time to show: longer than
// REINSTATE_GROUP_WAIT (1s) plus the notification poll (1s), with margin.
const settle = 3 * time.Second

// TestSameBatchOnTwoInstancesRestoresAndNotifiesOnce delivers one Event Hubs
// batch, the deletion of a critical group, to two instances at the same
// moment, then redelivers it to all three, as the host does after a
// transient failure or a partition moving: the group is restored once and
// told once, across all instances.
func TestSameBatchOnTwoInstancesRestoresAndNotifiesOnce(t *testing.T) {
	c := newCluster(t)
	procs := []*proc{c.start("a"), c.start("b"), c.start("c")}
	payload := c.deletionBatch()
	ctx := t.Context()

	// The same batch to a and b at once.
	first := deliverAtOnce(ctx, payload, procs[0], procs[1])
	t.Logf("first delivery, to a and b at once: statuses %v", first)
	if first[0] != http.StatusOK && first[1] != http.StatusOK {
		t.Errorf("neither instance took the batch: statuses %v", first)
	}
	// Redelivered to all, until every instance answers that it is done:
	// one still held elsewhere answers 500 for the host to retry.
	redelivered := 0
	deadline, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if !poll(deadline, 200*time.Millisecond, func() bool {
		redelivered++
		statuses := deliverAtOnce(ctx, payload, procs...)
		for _, s := range statuses {
			if s != http.StatusOK {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("redeliveries never all succeeded")
	}
	t.Logf("redelivered to all three %d times", redelivered)

	c.waitRestoredAndTold(ctx, paymentsID)
	time.Sleep(settle)
	c.assertOnce(paymentsID)
}

// deliverAtOnce posts payload to every process at the same moment and
// returns their statuses in order.
func deliverAtOnce(ctx context.Context, payload []byte, procs ...*proc) []int {
	statuses := make([]int, len(procs))
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	for i, p := range procs {
		ready.Add(1)
		done.Go(func() {
			ready.Done()
			<-gate
			statuses[i] = p.post(ctx, payload)
		})
	}
	ready.Wait()
	close(gate)
	done.Wait()
	return statuses
}

// TestKilledClaimHolderLeaseExpiresAndAnotherInstanceTakesOver kills an
// instance (SIGKILL: no drain, nothing released) while it holds the claim
// on an audit record, held inside it by a slow Graph read of the recycle
// bin that its rule needs: the redelivery to another running instance is
// refused while the claim's lease runs, taken over once it has run out,
// and the group is restored and told once.
func TestKilledClaimHolderLeaseExpiresAndAnotherInstanceTakesOver(t *testing.T) {
	const lease = 4 * time.Second
	leaseEnv := "REINSTATE_CLAIM_LEASE=" + lease.String()
	c := newCluster(t)
	a, b := c.start("a", leaseEnv), c.start("b", leaseEnv)
	payload := c.deletionBatch()
	ctx := t.Context()

	// Graph answers nothing for 30 s: a claims the record, then waits on
	// its read of the group's recycle-bin copy.
	if err := c.tn.Sim.SetFaults(graphsim.FaultConfig{Latency: graphsim.Duration(30 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	binReads := c.tn.BinReads()
	posted := time.Now()
	answered := make(chan int, 1)
	go func() { answered <- a.post(ctx, payload) }()
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !poll(wait, 10*time.Millisecond, func() bool { return c.tn.BinReads() > binReads }) {
		t.Fatal("a never read the recycle bin while deciding")
	}
	a.kill(t)
	if status := <-answered; status != 0 {
		t.Fatalf("a answered %d before it was killed; it should have been held in Graph", status)
	}
	if err := c.tn.Sim.SetFaults(graphsim.FaultConfig{}); err != nil {
		t.Fatal(err)
	}
	if n := c.journal(paymentsID)[store.KindEventReceived]; n != 0 {
		t.Fatalf("a journaled the event (%d entries) before it was killed; it was not inside its claim", n)
	}

	// a's claim is still leased: b must refuse the batch for the host to
	// retry, and must not act on it.
	held := time.Now()
	if held.After(posted.Add(lease - 500*time.Millisecond)) {
		t.Fatalf("b got the batch only %v after a's claim; too late to see the claim held (lease %v)", held.Sub(posted), lease)
	}
	if status := b.post(ctx, payload); status != http.StatusInternalServerError {
		t.Fatalf("b answered %d to the batch whose claim a still holds, want 500 (retry later)", status)
	}
	if j := c.journal(paymentsID); j[store.KindEventReceived] != 0 {
		t.Fatalf("b acted on a record a still held: journal %v", j)
	}
	// The host retries; once the lease has run out, b takes the record over.
	var tookOver time.Time
	wait2, cancel2 := context.WithTimeout(ctx, lease+15*time.Second)
	defer cancel2()
	if !poll(wait2, 250*time.Millisecond, func() bool {
		if b.post(ctx, payload) != http.StatusOK {
			return false
		}
		tookOver = time.Now()
		return true
	}) {
		t.Fatal("b never took the record over after a's lease ran out")
	}
	if tookOver.Before(posted.Add(lease)) {
		t.Fatalf("b took the record over %v after a claimed it, before the %v lease ran out", tookOver.Sub(posted), lease)
	}
	t.Logf("a killed inside its claim; b refused the batch at +%v and took it over at +%v (lease %v)",
		held.Sub(posted).Round(time.Millisecond), tookOver.Sub(posted).Round(time.Millisecond), lease)

	c.waitRestoredAndTold(ctx, paymentsID)
	time.Sleep(settle)
	c.assertOnce(paymentsID)
}

// waitRestoredAndTold waits until the group is live, Graph has restored
// it, and a message about it went out.
func (c *cluster) waitRestoredAndTold(ctx context.Context, id string) {
	c.t.Helper()
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !poll(wait, 100*time.Millisecond, func() bool {
		restores, _ := c.restores(id)
		return restores > 0 && len(c.messages(id)) > 0 && c.tn.Live(c.t, adminToken, "groups", id)
	}) {
		restores, _ := c.restores(id)
		c.t.Fatalf("group %s not restored and told within 30 s: live %v, %d restores, %d messages, journal %v",
			id, c.tn.Live(c.t, adminToken, "groups", id), restores, len(c.messages(id)), c.journal(id))
	}
}

// assertOnce checks that the group is live, that Graph restored it once,
// at Reinstate's request (graphsim's audit log), that one message told of it, on the file
// channels of all instances together and in the shared journal, and that
// the audit record was received once.
func (c *cluster) assertOnce(id string) {
	t := c.t
	t.Helper()
	if !c.tn.Live(t, adminToken, "groups", id) {
		t.Errorf("group %s is not live", id)
	}
	if all, byReinstate := c.restores(id); all != 1 || byReinstate != 1 {
		t.Errorf("Graph logged %d restores of %s, %d by Reinstate; want exactly 1, by Reinstate", all, id, byReinstate)
	}
	msgs := c.messages(id)
	if len(msgs) != 1 {
		t.Errorf("%d messages about %s on the file channels, want exactly 1: %+v", len(msgs), id, msgs)
	} else if msgs[0].Kind != notify.KindObjectRestored {
		t.Errorf("the message is %q, want %q", msgs[0].Kind, notify.KindObjectRestored)
	}
	j := c.journal(id)
	for kind, want := range map[store.Kind]int{
		store.KindEventReceived:   1,
		pipeline.KindDecision:     1,
		recovery.KindRestoreDone:  1,
		notify.KindSent:           1,
		recovery.KindRestoreRetry: 0,
	} {
		if j[kind] != want {
			t.Errorf("the shared journal has %d %s entries about %s, want %d (journal %v)", j[kind], kind, id, want, j)
		}
	}
}
