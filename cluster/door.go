package cluster

import (
	"errors"
	"net"
	"sync"
	"time"
)

// The door is what a connection to the cluster listener meets before it
// has proved it holds the secret: anyone who reaches the port gets this
// far, so nothing here grows with what they send. A connection past the
// cap (Config.MaxConnections) is closed before any byte of it is read; one
// that has not finished its TLS handshake and gRPC preface within
// Config.HandshakeTimeout is closed; one that fails the handshake is
// closed at once. What TLS reads of a stranger is bounded by its record
// size, and nothing reaches gRPC's message parser (maxGRPCMessage) before
// the handshake has succeeded. Every refusal is counted by reason and
// logged at most once a minute per reason and host, and at most
// refusalLogBurst lines a minute in all (refusal).

// Defaults of the door.
const (
	defaultMaxConnections   = 256
	defaultHandshakeTimeout = 5 * time.Second
	// refusalLogBurst bounds the refusal lines logged a minute, whatever
	// the number of hosts refused: past it they are counted and summed up
	// in one line when the minute ends.
	refusalLogBurst = 8
)

var errTooManyConns = errors.New("cluster: too many connections to the cluster listener")

// inbound is a connection accepted by the cluster listener, from its
// accept to its close: it holds its place under the cap, and counts the
// bytes read of it during the handshake, which tell a stranger's bytes
// from a connect-and-close (the nodes' own probes).
type inbound struct {
	net.Conn
	s    *stats
	read int // bytes read; read by the handshake's goroutine alone

	mu     sync.Mutex
	authed bool // past the handshake: counted as open, not handshaking
	closed bool
}

// admit takes a place under the cap for conn, or says there is none.
func (s *stats) admit(conn net.Conn, limit int64) (*inbound, bool) {
	if s.inbound.Add(1) > limit {
		s.inbound.Add(-1)
		return nil, false
	}
	s.handshaking.Add(1)
	return &inbound{Conn: conn, s: s}, true
}

func (c *inbound) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read += n
	return n, err
}

// authenticated moves c from the handshaking to the open connections.
func (c *inbound) authenticated() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.authed {
		return
	}
	c.authed = true
	c.s.handshaking.Add(-1)
	c.s.connections.Add(1)
}

func (c *inbound) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		if c.authed {
			c.s.connections.Add(-1)
		} else {
			c.s.handshaking.Add(-1)
		}
		c.s.inbound.Add(-1)
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// remoteHost is the host of conn's remote address, the key of its
// refusals' log lines.
func remoteHost(conn net.Conn) string {
	a := conn.RemoteAddr()
	if a == nil {
		return "unknown"
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
