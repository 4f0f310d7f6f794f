// Package phxclient is a small Phoenix socket client over WebSocket, for the
// project's tests and load tool: it sends raw frames and hands back what the
// server sends, decoded as the JS client would see it.
package phxclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lxzan/gws"
)

// Frame is one frame from the server.
type Frame struct {
	Data   []byte
	Binary bool
}

// Message is a server frame decoded the way the JS client decodes it.
// Refs are kept as JSON text ("null" when absent) so tests can tell "1"
// from 1.
type Message struct {
	JoinRef string
	Ref     string
	Topic   string
	Event   string
	// Payload is the JSON payload, or for a binary frame nil.
	Payload json.RawMessage
	// Binary is the payload (or reply response) of a binary frame.
	Binary []byte
	// Status is set for binary replies (kind 1).
	Status string
}

// Client is one connection.
type Client struct {
	conn   *gws.Conn
	frames chan Frame
	done   chan struct{}

	mu       sync.Mutex
	closeErr error // why the connection ended, guarded by mu
}

// ErrTimeout is returned by Next when nothing arrives in time.
var ErrTimeout = errors.New("phxclient: timeout")

// ErrClosed is returned by Next once the connection has ended and every
// frame has been read.
var ErrClosed = errors.New("phxclient: connection closed")

// Dial connects to url (ws://…) with extra request headers.
func Dial(url string, header http.Header) (*Client, *http.Response, error) {
	return DialFrom(url, header, nil)
}

// DialFrom is Dial from the local address local (nil: the system's
// choice), so that one test can play clients on several hosts: on Linux
// every address of 127.0.0.0/8 is a loopback address of its own.
func DialFrom(url string, header http.Header, local net.Addr) (*Client, *http.Response, error) {
	c := &Client{frames: make(chan Frame, 4096), done: make(chan struct{})}
	conn, resp, err := gws.NewClient(events{c}, &gws.ClientOption{
		Addr:               url,
		RequestHeader:      header,
		ReadMaxPayloadSize: 64 << 20,
		HandshakeTimeout:   5 * time.Second,
		NewDialer: func() (gws.Dialer, error) {
			return &net.Dialer{Timeout: 5 * time.Second, LocalAddr: local}, nil
		},
	})
	if err != nil {
		return nil, resp, err
	}
	c.conn = conn
	go conn.ReadLoop()
	return c, resp, nil
}

type events struct{ c *Client }

func (e events) OnOpen(*gws.Conn)             {}
func (e events) OnPing(s *gws.Conn, p []byte) { _ = s.WritePong(p) }
func (e events) OnPong(*gws.Conn, []byte)     {}
func (e events) OnClose(_ *gws.Conn, err error) {
	e.c.mu.Lock()
	e.c.closeErr = err
	e.c.mu.Unlock()
	close(e.c.done)
}
func (e events) OnMessage(_ *gws.Conn, m *gws.Message) {
	data := append([]byte(nil), m.Bytes()...)
	e.c.frames <- Frame{Data: data, Binary: m.Opcode == gws.OpcodeBinary}
	_ = m.Close()
}

// Send writes a text frame.
func (c *Client) Send(text string) error { return c.conn.WriteString(text) }

// SendBinary writes a binary frame.
func (c *Client) SendBinary(b []byte) error { return c.conn.WriteMessage(gws.OpcodeBinary, b) }

// SendFrame writes a frame of any opcode, for tests of odd input.
func (c *Client) SendFrame(op gws.Opcode, b []byte) error { return c.conn.WriteMessage(op, b) }

// Ping writes a ping control frame.
func (c *Client) Ping(p []byte) error { return c.conn.WritePing(p) }

// Close closes the connection with code 1000.
func (c *Client) Close() { _ = c.conn.WriteClose(1000, nil) }

// CloseWith closes the connection with code, which may be any a client
// chooses.
func (c *Client) CloseWith(code uint16) { _ = c.conn.WriteClose(code, nil) }

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// CloseCode returns the close code the server sent, or 0 if the connection
// ended without one or has not ended.
func (c *Client) CloseCode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ce *gws.CloseError
	if errors.As(c.closeErr, &ce) {
		return int(ce.Code)
	}
	return 0
}

// CloseReason returns the reason of the close frame the server sent, or
// "" if there was none.
func (c *Client) CloseReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ce *gws.CloseError
	if errors.As(c.closeErr, &ce) {
		return string(ce.Reason)
	}
	return ""
}

// NextFrame returns the next frame, waiting up to d.
func (c *Client) NextFrame(d time.Duration) (Frame, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case f := <-c.frames:
		return f, nil
	case <-c.done:
		select {
		case f := <-c.frames:
			return f, nil
		default:
			return Frame{}, ErrClosed
		}
	case <-t.C:
		return Frame{}, ErrTimeout
	}
}

// Next returns the next message, decoded as V2, waiting up to d.
func (c *Client) Next(d time.Duration) (Message, error) {
	f, err := c.NextFrame(d)
	if err != nil {
		return Message{}, err
	}
	return DecodeV2(f)
}

// DecodeV2 decodes a server frame of the V2 serializer.
func DecodeV2(f Frame) (Message, error) {
	if f.Binary {
		return decodeBinary(f.Data)
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(f.Data, &parts); err != nil || len(parts) != 5 {
		return Message{}, fmt.Errorf("phxclient: bad V2 text frame %q", f.Data)
	}
	m := Message{JoinRef: string(parts[0]), Ref: string(parts[1]), Payload: parts[4]}
	if err := json.Unmarshal(parts[2], &m.Topic); err != nil {
		return Message{}, err
	}
	if err := json.Unmarshal(parts[3], &m.Event); err != nil {
		return Message{}, err
	}
	return m, nil
}

func decodeBinary(b []byte) (Message, error) {
	bad := fmt.Errorf("phxclient: bad binary frame % x", b)
	take := func(n int) (string, bool) {
		if len(b) < n {
			return "", false
		}
		s := string(b[:n])
		b = b[n:]
		return s, true
	}
	quote := func(s string) string {
		if s == "" {
			return "null"
		}
		q, _ := json.Marshal(s)
		return string(q)
	}
	if len(b) < 1 {
		return Message{}, bad
	}
	kind := b[0]
	var m Message
	switch kind {
	case 0: // push: join_ref, topic, event
		if len(b) < 4 {
			return Message{}, bad
		}
		jl, tl, el := int(b[1]), int(b[2]), int(b[3])
		b = b[4:]
		jr, ok1 := take(jl)
		tp, ok2 := take(tl)
		ev, ok3 := take(el)
		if !ok1 || !ok2 || !ok3 {
			return Message{}, bad
		}
		m = Message{JoinRef: quote(jr), Ref: "null", Topic: tp, Event: ev}
	case 1: // reply: join_ref, ref, topic, status
		if len(b) < 5 {
			return Message{}, bad
		}
		jl, rl, tl, sl := int(b[1]), int(b[2]), int(b[3]), int(b[4])
		b = b[5:]
		jr, ok1 := take(jl)
		rf, ok2 := take(rl)
		tp, ok3 := take(tl)
		st, ok4 := take(sl)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return Message{}, bad
		}
		m = Message{JoinRef: quote(jr), Ref: quote(rf), Topic: tp, Event: "phx_reply", Status: st}
	case 2: // broadcast: topic, event
		if len(b) < 3 {
			return Message{}, bad
		}
		tl, el := int(b[1]), int(b[2])
		b = b[3:]
		tp, ok1 := take(tl)
		ev, ok2 := take(el)
		if !ok1 || !ok2 {
			return Message{}, bad
		}
		m = Message{JoinRef: "null", Ref: "null", Topic: tp, Event: ev}
	default:
		return Message{}, bad
	}
	m.Binary = append([]byte{}, b...)
	return m, nil
}
