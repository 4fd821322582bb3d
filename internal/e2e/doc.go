// Package e2e holds end-to-end tests that run several real `reinstate
// serve` processes against one graphsim and one Azurite Table store, as a
// scaled-out Function app runs: contention_test.go delivers the same Event
// Hubs batch to two instances at once and kills a claim holder;
// intent_test.go kills an instance inside a restore, whose intent another
// takes over once its lease has run out. It has no code of its own outside
// its tests.
package e2e
