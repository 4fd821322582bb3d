// Package customhandler implements the Azure Functions custom-handler
// protocol: the HTTP conversation between the Functions host and a worker
// process that the host starts and calls on loopback. It holds no Reinstate
// business logic; handlers registered with a Server do the work.
//
// The protocol facts relied on here, with their sources, are collected in
// ../shared/reference/functions-custom-handler-and-audit-logs.md, Part A
// ("the reference" in comments below). In short:
//
//   - The host polls GET / until any HTTP answer arrives (reference §A1).
//   - Each invocation is POST /{FunctionName} with a JSON body
//     {"Data":{...},"Metadata":{...}} and an X-Azure-Functions-InvocationId
//     header (§A2).
//   - The host sends strings, numbers and arrays as JSON text wrapped in a
//     JSON string ("double encoding"), while Microsoft's documentation shows
//     them plain (§A2). Request's accessors accept both, using package
//     lenient so that this package and the audit decoder agree on the rules.
//   - The answer must be application/json with a JSON body; any non-2xx
//     status fails the invocation and feeds the function's retry policy (§A2
//     response rules, §A3).
package customhandler
