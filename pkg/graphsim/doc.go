// Package graphsim is a local simulation of the slice of Microsoft Graph that
// Reinstate uses: reading and deleting Entra ID directory objects, the
// directory recycle bin (list, get, restore, permanent delete), the beta
// recycle bin of Conditional Access policies and named locations, JSON
// batching, the directory audit log, the audit stream that Entra writes to
// Event Hubs, delivered the way a local Azure Functions host would deliver it,
// and Microsoft Entra Backup and Recovery (/directory/recovery: daily
// snapshots, preview and recovery jobs, difference reports; backup.go).
//
// It exists so that Reinstate's recovery code can be tested over real HTTP
// through the real msgraph-sdk-go, and so that `make run` can demonstrate the
// whole flow without a tenant. It therefore copies what Microsoft documents
// (and, where the documents are silent, what has been observed) rather than
// what would be convenient: requests Graph refuses are refused here too, with
// the same status and error shape. Choices made where no source settles the
// question are marked "Unconfirmed:" next to the code that makes them.
//
// The Server is a plain net/http handler. It serves every Graph path under
// both /v1.0 and /beta, and a control plane under /_sim/ (no token needed;
// the command only listens on loopback) that tests and demos use to inject
// faults, to read the simulated tenant, and to delete objects the way sources
// outside Graph do (directory synchronization, Exchange Online).
//
// Callers are the seed's static tokens or, with Options.Issuer, access tokens
// that issuer signed for Microsoft Graph (jwt.go).
//
// Main references: /work/shared/reference/graph-recovery-apis.md §1–§4 and §6,
// and functions-custom-handler-and-audit-logs.md Part B; each endpoint cites
// the Microsoft Learn page it follows.
package graphsim
