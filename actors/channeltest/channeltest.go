// Package channeltest tests channels without a network, in the spirit of
// Phoenix's ChannelTest: connect a socket with params, join a topic, push
// events, and assert the replies, pushes and broadcasts the client receives.
//
// The socket is real (a socket actor, channel actors, the topic registry of
// the endpoint); only the connection is replaced by an in-memory one that
// decodes what the server writes the way the JS client does.
//
//	sock := channeltest.Connect(t, handler, map[string]string{"token": tok})
//	ch := sock.Join("room:lobby", nil)
//	ref := ch.Push("new_msg", map[string]any{"body": "hi"})
//	ch.AssertBroadcast("new_msg", `{"body":"hi"}`)
//	ch.AssertNoReply(ref)
package channeltest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/protocol"
	"github.com/phxgo/phx/transport"
)

// Timeout is how long assertions wait for a message, and refutations watch
// for one. Phoenix's default is 100 ms; ours allows for slow CI machines.
var Timeout = 2 * time.Second

// RefuteTimeout is how long AssertNo* watches for a message.
var RefuteTimeout = 100 * time.Millisecond

// Message is what the client received, decoded as the JS client decodes it.
type Message struct {
	JoinRef string // JSON text: `"1"`, or "null"
	Ref     string // JSON text
	Topic   string
	Event   string
	// Payload is the JSON payload; for a reply, the response. Nil for binary.
	Payload json.RawMessage
	// Binary is a binary payload or response.
	Binary []byte
	// Status is a reply's status.
	Status string
}

// Socket is a connected client socket with no network.
type Socket struct {
	t     testing.TB
	sess  transport.Session
	conn  *memConn
	ref   int
	close sync.Once
}

// Connect connects to h with params and fails the test if Connect refuses.
func Connect(t testing.TB, h *actors.SocketHandler, params map[string]string) *Socket {
	t.Helper()
	s, err := TryConnect(t, h, params)
	if err != nil {
		t.Fatalf("channeltest: connect refused: %v", err)
	}
	return s
}

// TryConnect connects to h with params and returns Connect's refusal, if any.
func TryConnect(t testing.TB, h *actors.SocketHandler, params map[string]string) (*Socket, error) {
	t.Helper()
	if params == nil {
		params = map[string]string{}
	}
	sess, err := h.Connect(&transport.ConnectRequest{
		Transport: "test", Serializer: protocol.V2, Params: params,
	})
	if err != nil {
		return nil, err
	}
	s := &Socket{t: t, sess: sess, conn: newMemConn()}
	s.conn.onServerClose = s.Close
	sess.Open(s.conn)
	t.Cleanup(s.Close)
	return s, nil
}

// Close ends the connection, as a client closing it would: every channel
// terminates with actors.ReasonClosed.
func (s *Socket) Close() {
	s.close.Do(func() {
		s.conn.shut(0)
		s.sess.Closed(nil)
	})
}

// Closed reports whether the server closed the connection, and its code.
func (s *Socket) Closed() (code int, closed bool) { return s.conn.closeCode() }

func (s *Socket) nextRef() string {
	s.ref++
	return strconv.Itoa(s.ref)
}

func (s *Socket) send(m *protocol.Message) {
	frame, bin, err := protocol.V2.EncodeMessage(nil, m)
	if err != nil {
		// Client frames carry refs, which server encoding would drop from
		// binary frames: build those by hand.
		s.t.Fatalf("channeltest: encoding %s: %v", m.Event, err)
	}
	if m.Payload.Binary {
		frame = clientBinary(m)
		bin = true
	}
	s.sess.Receive(frame, bin)
}

func clientBinary(m *protocol.Message) []byte {
	jr, r := m.JoinRef.Value(), m.Ref.Value()
	b := []byte{0, byte(len(jr)), byte(len(r)), byte(len(m.Topic)), byte(len(m.Event))}
	b = append(b, jr...)
	b = append(b, r...)
	b = append(b, m.Topic...)
	b = append(b, m.Event...)
	return append(b, m.Payload.Data...)
}

// Join joins topic with payload and fails the test unless the join is
// accepted. Its reply's response is Channel.JoinResponse.
func (s *Socket) Join(topic string, payload any) *Channel {
	s.t.Helper()
	ch, reply := s.TryJoin(topic, payload)
	if reply.Status != "ok" {
		s.t.Fatalf("channeltest: join %s answered %s %s", topic, reply.Status, reply.Payload)
	}
	return ch
}

// TryJoin joins topic with payload and returns the join's reply, whatever
// its status.
func (s *Socket) TryJoin(topic string, payload any) (*Channel, Message) {
	s.t.Helper()
	ref := s.nextRef()
	ch := &Channel{s: s, topic: topic, joinRef: ref}
	s.send(&protocol.Message{
		JoinRef: protocol.StringRef(ref), Ref: protocol.StringRef(ref), Topic: topic,
		Event: protocol.EventJoin, Payload: payloadOf(s.t, payload),
	})
	reply := ch.AssertReply(ref, "")
	ch.JoinResponse = reply.Payload
	return ch, reply
}

// Channel is one joined topic of a Socket.
type Channel struct {
	s       *Socket
	topic   string
	joinRef string
	// JoinResponse is the join reply's response.
	JoinResponse json.RawMessage
}

// Topic returns the channel's topic.
func (c *Channel) Topic() string { return c.topic }

// Push sends event with payload (any JSON-encodable value, a json.RawMessage
// or actors.Binary) and returns the message's ref, for AssertReply.
func (c *Channel) Push(event string, payload any) string {
	c.s.t.Helper()
	ref := c.s.nextRef()
	c.s.send(&protocol.Message{
		JoinRef: protocol.StringRef(c.joinRef), Ref: protocol.StringRef(ref), Topic: c.topic,
		Event: event, Payload: payloadOf(c.s.t, payload),
	})
	return ref
}

// Leave leaves the channel and waits for its reply and phx_close.
func (c *Channel) Leave() {
	c.s.t.Helper()
	ref := c.s.nextRef()
	c.s.send(&protocol.Message{
		JoinRef: protocol.StringRef(c.joinRef), Ref: protocol.StringRef(ref), Topic: c.topic,
		Event: protocol.EventLeave, Payload: protocol.EmptyObject,
	})
	c.AssertReply(ref, "ok")
	c.AssertPush(protocol.EventClose, nil)
}

// AssertReply waits for the reply to ref and checks its status (unless
// status is "") and, when a want is given, its response (see AssertPush for
// how want is compared). It returns the reply.
func (c *Channel) AssertReply(ref, status string, want ...any) Message {
	c.s.t.Helper()
	m := c.s.conn.await(c.s.t, fmt.Sprintf("reply to %s on %s", ref, c.topic), func(m Message) bool {
		return m.Event == protocol.EventReply && m.Topic == c.topic && m.Ref == strconv.Quote(ref)
	})
	if status != "" && m.Status != status {
		c.s.t.Fatalf("channeltest: reply to %s has status %q, want %q (response %s)", ref, m.Status, status, m.Payload)
	}
	if len(want) > 0 {
		checkPayload(c.s.t, "reply to "+ref, m, want[0])
	}
	return m
}

// AssertNoReply checks that no reply to ref arrives within RefuteTimeout.
func (c *Channel) AssertNoReply(ref string) {
	c.s.t.Helper()
	c.s.conn.refute(c.s.t, "a reply to "+ref, func(m Message) bool {
		return m.Event == protocol.EventReply && m.Topic == c.topic && m.Ref == strconv.Quote(ref)
	})
}

// AssertPush waits for a push of event from this channel (carrying its
// join_ref) and returns it. A non-nil want is compared with the payload: a
// string is JSON text, actors.Binary is raw bytes, anything else is
// encoded with encoding/json; JSON is compared by value.
func (c *Channel) AssertPush(event string, want any) Message {
	c.s.t.Helper()
	m := c.s.conn.await(c.s.t, fmt.Sprintf("push %s on %s", event, c.topic), func(m Message) bool {
		return m.Event == event && m.Topic == c.topic && m.JoinRef != "null"
	})
	if want != nil {
		checkPayload(c.s.t, "push "+event, m, want)
	}
	return m
}

// AssertBroadcast waits for a broadcast of event on the channel's topic as
// the client receives it (null refs), and compares its payload as
// AssertPush does.
func (c *Channel) AssertBroadcast(event string, want any) Message {
	c.s.t.Helper()
	m := c.s.conn.await(c.s.t, fmt.Sprintf("broadcast %s on %s", event, c.topic), func(m Message) bool {
		return m.Event == event && m.Topic == c.topic && m.JoinRef == "null"
	})
	if want != nil {
		checkPayload(c.s.t, "broadcast "+event, m, want)
	}
	return m
}

// AssertNoPush checks that no message of event (push or broadcast) reaches
// the channel within RefuteTimeout.
func (c *Channel) AssertNoPush(event string) {
	c.s.t.Helper()
	c.s.conn.refute(c.s.t, "a push of "+event, func(m Message) bool {
		return m.Event == event && m.Topic == c.topic
	})
}

// AssertError waits for the channel's phx_error: it crashed.
func (c *Channel) AssertError() {
	c.s.t.Helper()
	c.AssertPush(protocol.EventError, nil)
}

// AssertClose waits for the channel's phx_close: it stopped normally.
func (c *Channel) AssertClose() {
	c.s.t.Helper()
	c.AssertPush(protocol.EventClose, nil)
}

func payloadOf(t testing.TB, v any) protocol.Payload {
	t.Helper()
	switch p := v.(type) {
	case nil:
		return protocol.EmptyObject
	case actors.Binary:
		return protocol.Bytes(p)
	case json.RawMessage:
		return protocol.JSON(p)
	case string:
		if json.Valid([]byte(p)) {
			return protocol.JSON([]byte(p))
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("channeltest: encoding payload: %v", err)
	}
	return protocol.JSON(b)
}

func checkPayload(t testing.TB, what string, m Message, want any) {
	t.Helper()
	if bin, ok := want.(actors.Binary); ok {
		if string(m.Binary) != string(bin) {
			t.Fatalf("channeltest: %s: got bytes % x, want % x", what, m.Binary, []byte(bin))
		}
		return
	}
	var wantJSON []byte
	switch w := want.(type) {
	case string:
		wantJSON = []byte(w)
	case json.RawMessage:
		wantJSON = w
	default:
		b, err := json.Marshal(w)
		if err != nil {
			t.Fatalf("channeltest: encoding want: %v", err)
		}
		wantJSON = b
	}
	var got, exp any
	if err := json.Unmarshal(m.Payload, &got); err != nil {
		t.Fatalf("channeltest: %s: payload %q is not JSON", what, m.Payload)
	}
	if err := json.Unmarshal(wantJSON, &exp); err != nil {
		t.Fatalf("channeltest: %s: want %q is not JSON", what, wantJSON)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Fatalf("channeltest: %s:\n got  %s\n want %s", what, m.Payload, wantJSON)
	}
}

// memConn is the in-memory connection: it decodes every frame the server
// sends and lets assertions take them in any order.
type memConn struct {
	onServerClose func() // tells the session, as a transport would

	mu      sync.Mutex
	msgs    []Message     // received, not yet asserted
	arrived chan struct{} // closed and replaced on every arrival
	closed  bool
	code    int // the server's close code, 0 if the client closed
}

func newMemConn() *memConn { return &memConn{arrived: make(chan struct{})} }

func (c *memConn) Send(frame []byte, binary bool) error {
	m, err := phxclient.DecodeV2(phxclient.Frame{Data: frame, Binary: binary})
	if err != nil {
		return err
	}
	msg := Message{JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic, Event: m.Event, Payload: m.Payload, Binary: m.Binary, Status: m.Status}
	if msg.Event == protocol.EventReply && !binary {
		var r struct {
			Status   string          `json:"status"`
			Response json.RawMessage `json:"response"`
		}
		if err := json.Unmarshal(m.Payload, &r); err == nil {
			msg.Status, msg.Payload = r.Status, r.Response
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return transport.ErrClosed
	}
	c.msgs = append(c.msgs, msg)
	close(c.arrived)
	c.arrived = make(chan struct{})
	return nil
}

func (c *memConn) Close(code int, _ string) {
	if c.shut(code) {
		c.onServerClose() // as a transport's read loop would
	}
}

// shut marks the connection closed and reports whether it was open.
func (c *memConn) shut(code int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closed, c.code = true, code
	close(c.arrived)
	c.arrived = make(chan struct{})
	return true
}

func (c *memConn) closeCode() (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code, c.closed && c.code != 0
}

// take removes and returns the first message matching match.
func (c *memConn) take(match func(Message) bool) (Message, bool, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, m := range c.msgs {
		if match(m) {
			c.msgs = append(c.msgs[:i], c.msgs[i+1:]...)
			return m, true, nil
		}
	}
	return Message{}, false, c.arrived
}

func (c *memConn) await(t testing.TB, what string, match func(Message) bool) Message {
	t.Helper()
	deadline := time.NewTimer(Timeout)
	defer deadline.Stop()
	for {
		m, ok, arrived := c.take(match)
		if ok {
			return m
		}
		select {
		case <-arrived:
		case <-deadline.C:
			t.Fatalf("channeltest: no %s within %v; received meanwhile: %s", what, Timeout, c.pending())
			return Message{}
		}
	}
}

func (c *memConn) refute(t testing.TB, what string, match func(Message) bool) {
	t.Helper()
	deadline := time.NewTimer(RefuteTimeout)
	defer deadline.Stop()
	for {
		m, ok, arrived := c.take(match)
		if ok {
			t.Fatalf("channeltest: unexpected %s: %s %s", what, m.Event, m.Payload)
		}
		select {
		case <-arrived:
		case <-deadline.C:
			return
		}
	}
}

func (c *memConn) pending() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := "["
	for i, m := range c.msgs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %s %s", m.Topic, m.Event, m.Payload)
	}
	return s + "]"
}
