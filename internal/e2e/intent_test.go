package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reinstate/reinstate/pkg/graphsim"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/store"
)

// workerPoll is how often `reinstate serve`'s restore worker looks for due
// intents when nothing wakes it (workerPoll in cmd/reinstate/serve.go): an
// intent whose lease ran out waits for it.
const workerPoll = 5 * time.Second

// TestKilledRestoreHolderIntentLeaseRunsOutAndAnotherInstanceRestoresOnce
// kills an instance (SIGKILL) while it holds the lease on a restore intent,
// inside a restore that Graph holds before carrying it out: another
// instance takes the intent over once the lease (REINSTATE_INTENT_LEASE)
// has run out, and the group is restored, journaled and told once.
func TestKilledRestoreHolderIntentLeaseRunsOutAndAnotherInstanceRestoresOnce(t *testing.T) {
	const lease = 3 * time.Second
	leaseEnv := "REINSTATE_INTENT_LEASE=" + lease.String()
	c := newCluster(t)
	a := c.start("a", leaseEnv)
	ctx := t.Context()

	// Graph holds every restore of the group until the fault is lifted,
	// and then answers it 504 without restoring: the only restore Graph
	// carries out is the one after.
	if err := c.tn.Sim.SetFaults(graphsim.FaultConfig{HangRestores: []string{paymentsID}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.tn.Sim.SetFaults(graphsim.FaultConfig{}) })
	if status := a.post(ctx, c.deletionBatch()); status != http.StatusOK {
		t.Fatalf("a answered %d to the deletion, want 200", status)
	}

	// a leases the intent and calls Graph, which holds the restore; a
	// renews its lease meanwhile.
	var leased store.Intent
	wait, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if !poll(wait, 50*time.Millisecond, func() bool {
		leased = c.restoreIntent(paymentsID)
		return leased.State == store.IntentLeased && c.tn.Sim.State().Faults.Hung > 0
	}) {
		t.Fatalf("a never leased the restore intent and called Graph: intent %s, %d restores held", describe(leased), c.tn.Sim.State().Faults.Hung)
	}
	var renewed store.Intent
	if !poll(wait, 50*time.Millisecond, func() bool {
		renewed = c.restoreIntent(paymentsID)
		return renewed.LeaseToken == leased.LeaseToken && renewed.LeaseUntil.After(leased.LeaseUntil)
	}) {
		t.Fatalf("a never renewed its lease while its restore was held: leased %s, now %s", describe(leased), describe(renewed))
	}
	a.kill(t)
	// What a left behind: its lease, as last renewed, and no restore.
	held := c.restoreIntent(paymentsID)
	if held.State != store.IntentLeased || held.LeaseToken != leased.LeaseToken || held.Attempts != 1 {
		t.Fatalf("after a was killed the intent is %s; want a's lease, attempt 1", describe(held))
	}
	if all, _ := c.restores(paymentsID); all != 0 {
		t.Fatalf("Graph restored the group %d times while a's restore was held", all)
	}
	if err := c.tn.Sim.SetFaults(graphsim.FaultConfig{}); err != nil {
		t.Fatal(err)
	}

	// b starts after a died, so that only a can have leased the intent
	// first; it takes it over once a's lease has run out and its worker
	// polls.
	b := c.start("b", leaseEnv)
	var done store.Intent
	wait2, cancel2 := context.WithTimeout(ctx, lease+workerPoll+30*time.Second)
	defer cancel2()
	if !poll(wait2, 100*time.Millisecond, func() bool {
		done = c.restoreIntent(paymentsID)
		return done.State == store.IntentDone || done.State == store.IntentFailed
	}) {
		t.Fatalf("b never finished the intent a held: %s", describe(done))
	}
	if done.State != store.IntentDone || done.Outcome != string(recovery.StatusRestored) || done.Attempts != 2 {
		t.Errorf("the intent ended %s; want done, restored, on attempt 2 (a's lease, then b's)", describe(done))
	}
	completed := c.journalEntries(paymentsID, recovery.KindRestoreDone)
	if len(completed) != 1 {
		t.Fatalf("%d restore.done entries, want 1", len(completed))
	}
	if !completed[0].Time.After(held.LeaseUntil) {
		t.Errorf("the restore was completed at %s, before a's lease ran out at %s", completed[0].Time, held.LeaseUntil)
	}
	t.Logf("a leased the intent until %s and was killed; %s completed it at %s (lease %v)",
		held.LeaseUntil.Format(time.RFC3339Nano), b.name, completed[0].Time.Format(time.RFC3339Nano), lease)

	c.waitRestoredAndTold(ctx, paymentsID)
	time.Sleep(settle)
	c.assertOnce(paymentsID)
	if n := len(c.restoreIntents(paymentsID)); n != 1 {
		t.Errorf("%d restore intents for the group, want 1", n)
	}
}

// restoreIntents lists the restore intents of object id in the shared
// store.
func (c *cluster) restoreIntents(id string) []store.Intent {
	c.t.Helper()
	intents, err := c.st.Intents(c.t.Context(), store.IntentQuery{Kind: recovery.IntentKind, Limit: 1000})
	if err != nil {
		c.t.Fatalf("list the shared intents: %v", err)
	}
	var out []store.Intent
	for _, in := range intents {
		var plan recovery.Plan
		if json.Unmarshal(in.Payload, &plan) == nil && strings.EqualFold(plan.Request.ObjectID, id) {
			out = append(out, in)
		}
	}
	return out
}

// restoreIntent is the one restore intent of object id, or the zero
// Intent while there is none; the test fails if there are more.
func (c *cluster) restoreIntent(id string) store.Intent {
	c.t.Helper()
	intents := c.restoreIntents(id)
	switch len(intents) {
	case 0:
		return store.Intent{}
	case 1:
		return intents[0]
	}
	var all []string
	for _, in := range intents {
		all = append(all, describe(in))
	}
	c.t.Fatalf("%d restore intents for %s, want 1: %s", len(intents), id, strings.Join(all, "; "))
	return store.Intent{}
}

// describe is what a test failure needs of an intent: where it is, and
// whose lease it is under until when.
func describe(in store.Intent) string {
	if in.ID == "" {
		return "none"
	}
	return fmt.Sprintf("%s: %s, attempt %d, lease %.8s… until %s, outcome %q, last error %q",
		in.Key, in.State, in.Attempts, in.LeaseToken, in.LeaseUntil.Format(time.RFC3339Nano), in.Outcome, in.LastError)
}

// journalEntries returns the shared journal's entries of kind about id.
func (c *cluster) journalEntries(id string, kind store.Kind) []store.Entry {
	c.t.Helper()
	entries, err := c.st.Journal(c.t.Context(), store.JournalQuery{TargetID: id, Limit: 1000})
	if err != nil {
		c.t.Fatalf("read the shared journal: %v", err)
	}
	var out []store.Entry
	for _, e := range entries {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}
