package main

import (
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/lxzan/gws"

	"github.com/phxgo/phx/loadtest/internal/wire"
)

// peer is the side of a connection the server writes to: a *gws.Conn, or a
// recorder in tests.
type peer interface {
	WriteMessage(op gws.Opcode, payload []byte) error
}

// server answers Phoenix V2 frames on bench:* topics with the least a
// WebSocket server must do: split the frame, echo the refs, keep who is
// joined to what, and write each broadcast's bytes, built once, to every
// member.
type server struct {
	upgrader *gws.Upgrader
	log      *slog.Logger

	mu     sync.Mutex
	topics map[string]*topic // by name; guarded by mu
}

// topic is the set of connections joined to one topic. Its fields are
// guarded by the server's mu.
type topic struct {
	members map[peer]struct{}
	// list holds the members for broadcasts, rebuilt on the first
	// broadcast after a change, so that a broadcast neither walks a map
	// nor holds the lock while it writes.
	list []peer
}

func newServer(log *slog.Logger) *server {
	s := &server{log: log, topics: make(map[string]*topic)}
	s.upgrader = gws.NewUpgrader(events{s}, &gws.ServerOption{
		// As the project's transport: a 4 KiB read buffer, UTF-8 checks
		// on, frames of one connection handled in order.
		ReadBufferSize:     4 << 10,
		ReadMaxPayloadSize: 1 << 20,
		CheckUtf8Enabled:   true,
		Recovery: func(gws.Logger) {
			if r := recover(); r != nil {
				log.Error("panic in a websocket callback", "panic", r, "stack", string(debug.Stack()))
			}
		},
		NewSession: func() gws.SessionStorage { return new(connState) },
	})
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := s.upgrader.Upgrade(w, r)
	if err != nil {
		return // gws has answered 400
	}
	go conn.ReadLoop()
}

// connState is one connection's own state. It lives in the connection's
// gws session slot, and only the connection's read goroutine touches it.
type connState struct {
	joined []membership
	buf    []byte // scratch for the frames this connection writes
}

// membership is one joined topic and the join_ref it was joined with, as
// sent (raw JSON), for its phx_close.
type membership struct {
	topic   string
	joinRef []byte
}

func (st *connState) find(topic []byte) int {
	for i := range st.joined {
		if st.joined[i].topic == string(topic) {
			return i
		}
	}
	return -1
}

// gws.SessionStorage, unused: the slot exists to hold a *connState without
// the map gws's default storage allocates per connection.
func (*connState) Len() int                     { return 0 }
func (*connState) Load(string) (any, bool)      { return nil, false }
func (*connState) Delete(string)                {}
func (*connState) Store(string, any)            {}
func (*connState) Range(func(string, any) bool) {}

// events receives gws's callbacks.
type events struct{ s *server }

func (events) OnOpen(*gws.Conn)               {}
func (events) OnPing(c *gws.Conn, p []byte)   { _ = c.WritePong(p) }
func (events) OnPong(*gws.Conn, []byte)       {}
func (e events) OnClose(c *gws.Conn, _ error) { e.s.leaveAll(c, c.Session().(*connState)) }
func (e events) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	if m.Opcode != gws.OpcodeText || !e.s.handle(c, c.Session().(*connState), m.Bytes()) {
		_ = c.WriteClose(1011, []byte("malformed frame"))
	}
}

// Reply payloads, as the sample's channels answer them.
const (
	okEmpty        = `{"status":"ok","response":{}}`
	unmatchedTopic = `{"status":"error","response":{"reason":"unmatched topic"}}`
	unknownEvent   = `{"status":"error","response":{"reason":"unknown event"}}`
)

// handle answers one frame from p. It returns false for a frame that is
// not a V2 message, which ends the connection.
func (s *server) handle(p peer, st *connState, data []byte) bool {
	f, err := wire.Split(data)
	if err != nil {
		return false
	}
	topic, ok1 := wire.Unquote(f.Topic)
	event, ok2 := wire.Unquote(f.Event)
	if !ok1 || !ok2 {
		return false
	}
	i := st.find(topic)
	switch {
	case string(event) == "heartbeat" && string(topic) == "phoenix":
		s.reply(p, st, f.JoinRef, f.Ref, f.Topic, okEmpty)
	case string(event) == "phx_join":
		if !strings.HasPrefix(string(topic), "bench:") {
			s.reply(p, st, null, f.Ref, f.Topic, unmatchedTopic)
			return true
		}
		joinRef := append([]byte(nil), f.JoinRef...)
		if i >= 0 {
			// A duplicate join: the new join_ref replaces the old one.
			st.joined[i].joinRef = joinRef
		} else {
			name := string(topic)
			st.joined = append(st.joined, membership{topic: name, joinRef: joinRef})
			s.subscribe(name, p)
		}
		s.reply(p, st, f.JoinRef, f.Ref, f.Topic, okEmpty)
	case string(event) == "phx_leave":
		s.reply(p, st, f.JoinRef, f.Ref, f.Topic, okEmpty)
		if i >= 0 {
			m := st.joined[i]
			st.joined = append(st.joined[:i], st.joined[i+1:]...)
			s.unsubscribe(m.topic, p)
			st.buf = appendHead(st.buf[:0], m.joinRef, m.joinRef, f.Topic, "phx_close")
			st.buf = append(st.buf, "{}]"...)
			_ = p.WriteMessage(gws.OpcodeText, st.buf)
		}
	case i < 0:
		s.reply(p, st, null, f.Ref, f.Topic, unmatchedTopic)
	case string(event) == "echo":
		st.buf = appendHead(st.buf[:0], st.joined[i].joinRef, f.Ref, f.Topic, "phx_reply")
		st.buf = append(st.buf, `{"status":"ok","response":`...)
		st.buf = append(st.buf, f.Payload...)
		st.buf = append(st.buf, "}]"...)
		_ = p.WriteMessage(gws.OpcodeText, st.buf)
	case string(event) == "broadcast":
		// Built once, the same bytes for every member.
		st.buf = appendHead(st.buf[:0], null, null, f.Topic, "msg")
		st.buf = append(st.buf, f.Payload...)
		st.buf = append(st.buf, ']')
		fanOut(s.members(st.joined[i].topic), st.buf)
	default:
		s.reply(p, st, st.joined[i].joinRef, f.Ref, f.Topic, unknownEvent)
	}
	return true
}

// fanOut writes frame to every member. A broadcast to many members is
// split among as many goroutines as there are processors, so that its
// latency is not one goroutine's serial work; it returns once every write
// is done, so that the next broadcast of the same publisher comes after
// it on every connection.
func fanOut(members []peer, frame []byte) {
	const perWriter = 256 // fewer are not worth a goroutine
	writers := min(runtime.GOMAXPROCS(0), (len(members)+perWriter-1)/perWriter)
	write := func(part []peer) {
		for _, m := range part {
			_ = m.WriteMessage(gws.OpcodeText, frame) // an error closes that connection
		}
	}
	if writers <= 1 {
		write(members)
		return
	}
	chunk := (len(members) + writers - 1) / writers
	var wg sync.WaitGroup
	for lo := chunk; lo < len(members); lo += chunk {
		part := members[lo:min(lo+chunk, len(members))]
		wg.Go(func() { write(part) })
	}
	write(members[:chunk])
	wg.Wait()
}

func (s *server) reply(p peer, st *connState, joinRef, ref, topic []byte, payload string) {
	st.buf = appendHead(st.buf[:0], joinRef, ref, topic, "phx_reply")
	st.buf = append(st.buf, payload...)
	st.buf = append(st.buf, ']')
	_ = p.WriteMessage(gws.OpcodeText, st.buf)
}

// null is the JSON text of an absent ref.
var null = []byte("null")

// appendHead appends a V2 frame up to its payload:
// [joinRef,ref,topic,"event", where joinRef, ref and topic are raw JSON.
func appendHead(dst, joinRef, ref, topic []byte, event string) []byte {
	dst = append(dst, '[')
	dst = append(dst, joinRef...)
	dst = append(dst, ',')
	dst = append(dst, ref...)
	dst = append(dst, ',')
	dst = append(dst, topic...)
	dst = append(dst, ",\""...)
	dst = append(dst, event...)
	return append(dst, "\","...)
}

func (s *server) subscribe(name string, p peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[name]
	if t == nil {
		t = &topic{members: make(map[peer]struct{})}
		s.topics[name] = t
	}
	t.members[p] = struct{}{}
	t.list = nil
}

func (s *server) unsubscribe(name string, p peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[name]
	if t == nil {
		return
	}
	delete(t.members, p)
	t.list = nil
	if len(t.members) == 0 {
		delete(s.topics, name)
	}
}

// members returns the members of a topic. The slice is shared and must
// not be modified: a change of membership makes a new one.
func (s *server) members(name string) []peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[name]
	if t == nil {
		return nil
	}
	if t.list == nil {
		t.list = make([]peer, 0, len(t.members))
		for m := range t.members {
			t.list = append(t.list, m)
		}
	}
	return t.list
}

func (s *server) leaveAll(p peer, st *connState) {
	for _, m := range st.joined {
		s.unsubscribe(m.topic, p)
	}
	st.joined = nil
}
