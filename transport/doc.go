// Package transport carries Phoenix socket frames between clients and the
// server: bytes in, bytes out. It knows nothing of channels or actors.
//
// A transport is an http.Handler; the application owns the listener and the
// mux. For every accepted connection the transport asks a Handler to
// Connect, before any upgrade, and then drives the Session it returned:
// Open once with the Conn it can write to, Receive for every inbound frame in
// arrival order, from a single goroutine, and Closed exactly once at the end.
//
// Writes never block the caller. Each connection has a bounded outbox,
// counted in bytes; a connection whose outbox overflows is closed with
// CloseTryAgainLater, so a slow client cannot hold up a publisher or grow the
// server's memory without bound.
package transport
