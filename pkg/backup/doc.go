// Package backup drives Microsoft Entra Backup and Recovery (the Graph
// namespace microsoft.graph.entraRecoveryServices, rooted at
// /directory/recovery): it lists the daily snapshots, creates preview jobs
// (the admin center's "difference report") and recovery jobs from one,
// polls them, pages through their changes and failed changes, and cancels
// them.
//
// msgraph-sdk-go has no request builders or models for /directory/recovery
// (reference graph-recovery-apis.md §1.1), so Client sends raw requests
// through the adapter of a graphapi.Client: the same authentication,
// middleware and host allow-list as every other Graph call Reinstate makes,
// with the SDK's retries off. Throttling and server faults come back as a
// *RetryError carrying Graph's Retry-After; the caller decides when to try
// again.
//
// Around that client the package keeps recovery cases (a preview, its
// approval, the recovery) in the store and acts on behalf of a signed-in
// administrator where Graph refuses Reinstate's own identity.
//
// Facts this package depends on are cited next to the code, by section of
// /work/shared/reference/graph-recovery-apis.md and by Learn / [MGD] page.
package backup
