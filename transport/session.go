package transport

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/phxgo/phx/protocol"
)

// WebSocket close codes the server uses. Phoenix clients reconnect after any
// code but 1000 (and, since 1.8.16, after 1000 too), so codes that mean "come
// back" are never CloseNormal.
const (
	CloseNormal          = 1000 // the server ends the conversation for good
	CloseGoingAway       = 1001 // disconnect broadcast, idle timeout
	CloseProtocolError   = 1002
	CloseInvalidPayload  = 1007 // text frame that is not UTF-8
	ClosePolicyViolation = 1008 // the client broke a limit
	CloseMessageTooBig   = 1009 // frame over the configured maximum
	CloseInternalError   = 1011 // the socket failed, e.g. an undecodable frame
	CloseServiceRestart  = 1012 // the server is shutting down
	CloseTryAgainLater   = 1013 // the outbox overflowed: the client was too slow
	closeNoStatusPresent = 1005
	closeAbnormal        = 1006 // never sent: the connection was lost
)

// ErrClosed is returned by Conn.Send once the connection is closed or closing.
var ErrClosed = errors.New("transport: connection closed")

// ErrOutboxFull is returned by Conn.Send when the frame does not fit in the
// connection's outbox; the connection is then closed with CloseTryAgainLater.
var ErrOutboxFull = errors.New("transport: outbox full")

// Frame is one encoded frame, as Conn.Send takes it.
type Frame struct {
	Data   []byte
	Binary bool
}

// BatchSender is implemented by a Conn that sends several frames as one
// batch: in order, with nothing sent from another goroutine between them,
// and over WebSocket with one system call when the network takes them at
// once. A reply and the message that follows it at once (a leave's reply
// and its phx_close) cost one write rather than two.
type BatchSender interface {
	SendBatch(frames ...Frame) error
}

// DeferredSender is implemented by a Conn that can place a frame in its
// order without writing it yet. A caller that must fix a frame's place
// among others under a lock (a join reply, before any broadcast the new
// subscription lets in) queues it with SendDeferred under the lock and
// calls Flush after: the write, a system call, is not made while others
// wait for the lock.
type DeferredSender interface {
	// SendDeferred queues frame behind everything sent before it, as Send
	// does, but only writes it if a write is under way already.
	SendDeferred(frame []byte, binary bool) error
	// Flush writes what SendDeferred queued, unless a write is under way,
	// which writes it.
	Flush()
}

// SendBatch sends frames on c as one batch if c is a BatchSender, and one
// after the other otherwise, stopping at the first error.
func SendBatch(c Conn, frames ...Frame) error {
	if b, ok := c.(BatchSender); ok {
		return b.SendBatch(frames...)
	}
	for _, f := range frames {
		if err := c.Send(f.Data, f.Binary); err != nil {
			return err
		}
	}
	return nil
}

// Conn is one client connection as a Session sees it. Its methods are safe
// for concurrent use.
type Conn interface {
	// Send queues one encoded frame and returns at once; it never blocks on
	// the network. The frame must not be modified afterwards: it may be
	// shared by many connections.
	Send(frame []byte, binary bool) error
	// Close writes what is already queued, then closes the connection with
	// code and reason. Calls after the first do nothing.
	Close(code int, reason string)
}

// Session is the server side of one connection, above the wire.
type Session interface {
	// Open is called once, before any Receive, with the connection to write to.
	Open(conn Conn)
	// Receive handles one inbound frame. Calls come from one goroutine, in
	// arrival order; frame is valid only until Receive returns.
	Receive(frame []byte, binary bool)
	// Closed is called once when the connection has ended, after the last
	// Receive. err says why: nil for a close the client or the server asked
	// for, otherwise the read or write error.
	Closed(err error)
}

// Handler accepts or refuses new connections.
type Handler interface {
	// Connect decides on a connection before it is upgraded. A nil error
	// accepts it and names the Session that will drive it. An error refuses
	// it: with a *RefusedError its Status is answered, otherwise 403.
	Connect(req *ConnectRequest) (Session, error)
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(req *ConnectRequest) (Session, error)

// Connect calls f(req).
func (f HandlerFunc) Connect(req *ConnectRequest) (Session, error) { return f(req) }

// RefusedError refuses a connection with a specific HTTP status, such as 429
// for a rate limit. (Phoenix's error_handler.)
type RefusedError struct {
	Status int    // HTTP status of the refusal; 0 means 403
	Reason string // for logs; never sent to the client
}

func (e *RefusedError) Error() string {
	if e.Reason == "" {
		return "transport: connection refused"
	}
	return "transport: connection refused: " + e.Reason
}

// ConnectRequest is what a Handler knows of a connection being made.
type ConnectRequest struct {
	// Transport is "websocket" or "longpoll".
	Transport string
	// Serializer was chosen from the vsn parameter.
	Serializer protocol.Serializer
	// Params are the query parameters; for a repeated key the last value
	// wins, as in Phoenix. Nested keys stay as written ("user[name]").
	// The wildcards of the ServeMux pattern the transport is mounted at
	// ("/ws/{tenant}/websocket") are merged in.
	Params map[string]string
	// Info is the connection's metadata (Phoenix's connect_info).
	Info ConnectInfo
}

// ConnectInfo describes the HTTP request a connection came from.
type ConnectInfo struct {
	// PeerAddr is the remote address, host:port.
	PeerAddr string
	// URI is the request URI with scheme and host filled in.
	URI *url.URL
	// Header holds the request headers Phoenix exposes to connect: every
	// x-* header, traceparent and tracestate, every sec-websocket-* header,
	// and user-agent. Cookies and other headers are deliberately left out.
	Header http.Header
	// AuthToken is the token the client passed as authToken (the
	// base64url.bearer.phx.* subprotocol, or the X-Phoenix-AuthToken header
	// on long-poll), or "".
	AuthToken string
	// Session is the visitor's cookie session when the transport has a
	// CookieSession and the _csrf_token param is valid for it (or the
	// check is off), else nil.
	Session map[string]any
}
