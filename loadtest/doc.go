// Package loadtest holds the project's load tools; it has no code of its
// own. Its commands are:
//
//   - cmd/phxload, a load generator speaking Phoenix V2 over WebSocket, with
//     the scenarios conns, fanout, echo and joins;
//   - cmd/floor, a bare gws server doing the same work as the sample's
//     bench channel with nothing but a WebSocket stack, so that every figure
//     can be read as a ratio to what WebSocket alone costs;
//   - cmd/report, which turns the results of run-matrix.sh into a table
//     against the budgets of docs/architecture.md#budgets.
//
// run-matrix.sh runs every scenario against both servers, and the fanout
// also on a cluster of three sample processes against one
// (cluster-fanout); docs/benchmarks.md says what is measured and how to
// read it. Nothing here runs under
// `go test` but small unit tests of the pure parts.
package loadtest
