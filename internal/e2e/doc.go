// Package e2e holds end-to-end tests that run several real `reinstate
// serve` processes against one graphsim and one Azurite Table store, as a
// scaled-out Function app runs: contention_test.go delivers the same Event
// Hubs batch to two instances at once and kills a lease holder. It has no
// code of its own outside its tests.
package e2e
