package actors_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/metrics"
	"github.com/phxgo/phx/protocol"
	"github.com/phxgo/phx/transport"
)

// Benchmarks of the actor paths, each beside its bare equivalent: the same
// frames handled with no actors, no registry, straight function calls. The
// ratio of the two is the cost of the runtime.

// countConn counts frames and signals each one, standing in for a
// connection's outbox.
type countConn struct {
	n      atomic.Int64
	signal chan struct{} // nil: no signal
}

func (c *countConn) Send([]byte, bool) error {
	c.n.Add(1)
	if c.signal != nil {
		c.signal <- struct{}{}
	}
	return nil
}
func (c *countConn) Close(int, string) {}

type benchChannel struct{ actors.BaseChannel }

func (benchChannel) Join(string, actors.Payload, *actors.Socket) (any, error) { return nil, nil }
func (benchChannel) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	return actors.ReplyOK(p)
}

func benchEndpoint(b *testing.B) (*actors.Endpoint, *actors.SocketHandler) {
	ep := actors.NewEndpoint(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxChannels: -1})
	b.Cleanup(func() { _ = ep.Shutdown(context.Background()) })
	h := ep.Socket(testConnector{})
	h.Channel("bench:*", func() actors.Channel { return benchChannel{} })
	h.Channel("kept:*", func() actors.Channel { return benchChannel{} }, actors.WithHistory(1000, 10*time.Minute))
	return ep, h
}

func openSession(b *testing.B, h *actors.SocketHandler, conn transport.Conn) transport.Session {
	sess, err := h.Connect(&transport.ConnectRequest{Transport: "bench", Serializer: protocol.V2, Params: map[string]string{}})
	if err != nil {
		b.Fatal(err)
	}
	sess.Open(conn)
	return sess
}

// BenchmarkFanout broadcasts to 10,000 subscribers of one topic; the frame
// is encoded once, and written to every subscriber's connection.
func BenchmarkFanout(b *testing.B) {
	const subs = 10_000
	payload := []byte(`{"body":"hello, everyone","seq":1}`)
	for _, topic := range []string{"bench:fan", "kept:fan"} {
		name := "actors"
		if topic == "kept:fan" {
			name = "actors+history"
		}
		b.Run(name, func(b *testing.B) {
			ep, h := benchEndpoint(b)
			conns := make([]*countConn, subs)
			for i := range conns {
				conns[i] = &countConn{signal: make(chan struct{}, 1)}
				sess := openSession(b, h, conns[i])
				sess.Receive([]byte(`["1","1","`+topic+`","phx_join",{}]`), false)
				<-conns[i].signal // the join reply
				conns[i].signal = nil
			}
			frames := conns[subs-1].n.Load() // the join reply, and phx_recovery with a history
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := ep.Broadcast(topic, "msg", protocol.JSON(payload)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if got := conns[subs-1].n.Load(); got != int64(b.N)+frames {
				b.Fatalf("last subscriber got %d frames, want %d", got, int64(b.N)+frames)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/subs, "ns/delivery")
		})
	}
	b.Run("bare", func(b *testing.B) {
		conns := make([]transport.Conn, subs)
		for i := range conns {
			conns[i] = &countConn{}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			frame, bin, _ := protocol.V2.EncodeBroadcast(nil, &protocol.Broadcast{Topic: "bench:fan", Event: "msg", Payload: protocol.JSON(payload)})
			for _, c := range conns {
				_ = c.Send(frame, bin)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/subs, "ns/delivery")
	})
}

// roundTrips joins bench:rt on h and times b.N frames, each answered
// before the next is sent.
func roundTrips(b *testing.B, h *actors.SocketHandler, frame []byte) {
	conn := &countConn{signal: make(chan struct{}, 1)}
	sess := openSession(b, h, conn)
	sess.Receive([]byte(`["1","1","bench:rt","phx_join",{}]`), false)
	<-conn.signal
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sess.Receive(frame, false)
		<-conn.signal
	}
}

// BenchmarkRoundTrip is one client message through the socket actor and
// the channel actor, answered with a reply.
func BenchmarkRoundTrip(b *testing.B) {
	frame := []byte(`["1","2","bench:rt","echo",{"n":1}]`)
	b.Run("actors", func(b *testing.B) {
		_, h := benchEndpoint(b)
		roundTrips(b, h, frame)
	})
	// Telemetry set, to a function that does nothing: what observing
	// costs. Unset ("actors" above), it costs a nil check.
	b.Run("actors+telemetry", func(b *testing.B) {
		ep := actors.NewEndpoint(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxChannels: -1,
			Telemetry: actors.TelemetryFunc(func(actors.TelemetryEvent) {})})
		b.Cleanup(func() { _ = ep.Shutdown(context.Background()) })
		h := ep.Socket(testConnector{})
		h.Channel("bench:*", func() actors.Channel { return benchChannel{} })
		roundTrips(b, h, frame)
	})
	// The Prometheus collector as telemetry: a histogram observation per
	// message.
	b.Run("actors+metrics", func(b *testing.B) {
		m := metrics.New()
		ep := actors.NewEndpoint(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxChannels: -1, Telemetry: m})
		b.Cleanup(func() { _ = ep.Shutdown(context.Background()) })
		m.WatchEndpoint(ep)
		h := ep.Socket(testConnector{})
		h.Channel("bench:*", func() actors.Channel { return benchChannel{} })
		roundTrips(b, h, frame)
	})
	b.Run("bare", func(b *testing.B) {
		conn := &countConn{}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m, err := protocol.V2.Decode(frame, false)
			if err != nil {
				b.Fatal(err)
			}
			out, bin, _ := protocol.V2.EncodeReply(nil, &protocol.Reply{JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic, Status: "ok", Response: m.Payload})
			_ = conn.Send(out, bin)
		}
	})
}

// BenchmarkJoinLeave is a join and a leave of one topic: a channel actor
// spawned, subscribed, unsubscribed and stopped.
func BenchmarkJoinLeave(b *testing.B) {
	b.Run("actors", func(b *testing.B) {
		_, h := benchEndpoint(b)
		conn := &countConn{signal: make(chan struct{}, 4)}
		sess := openSession(b, h, conn)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ref := fmt.Sprint(i + 1)
			sess.Receive([]byte(`["`+ref+`","`+ref+`","bench:jl","phx_join",{}]`), false)
			<-conn.signal // join reply
			sess.Receive([]byte(`["`+ref+`","l`+ref+`","bench:jl","phx_leave",{}]`), false)
			<-conn.signal // leave reply
			<-conn.signal // phx_close
		}
	})
	b.Run("bare", func(b *testing.B) {
		conn := &countConn{}
		joined := map[string]protocol.Ref{}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			ref := fmt.Sprint(i + 1)
			m, _ := protocol.V2.Decode([]byte(`["`+ref+`","`+ref+`","bench:jl","phx_join",{}]`), false)
			joined[m.Topic] = m.JoinRef
			out, bin, _ := protocol.V2.EncodeReply(nil, &protocol.Reply{JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic, Status: "ok"})
			_ = conn.Send(out, bin)
			m, _ = protocol.V2.Decode([]byte(`["`+ref+`","l`+ref+`","bench:jl","phx_leave",{}]`), false)
			delete(joined, m.Topic)
			out, bin, _ = protocol.V2.EncodeReply(nil, &protocol.Reply{JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic, Status: "ok"})
			_ = conn.Send(out, bin)
			out, bin, _ = protocol.V2.EncodeMessage(nil, &protocol.Message{JoinRef: m.JoinRef, Ref: m.JoinRef, Topic: m.Topic, Event: protocol.EventClose, Payload: protocol.EmptyObject})
			_ = conn.Send(out, bin)
		}
	})
}

// BenchmarkIdleSocket reports the live heap an idle socket with one joined
// channel holds, as the sample's are: socket actor with its id and a user
// id assign, channel actor, subscriptions, state. The connection itself
// (transport) is not counted.
func BenchmarkIdleSocket(b *testing.B) {
	const n = 5000
	var total float64
	for i := 0; i < b.N; i++ {
		ep := actors.NewEndpoint(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxChannels: -1})
		h := ep.Socket(testConnector{})
		h.Channel("bench:*", func() actors.Channel { return benchChannel{} })
		b.StopTimer()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		conns := make([]*countConn, n)
		for j := range conns {
			conns[j] = &countConn{signal: make(chan struct{}, 1)}
			sess, err := h.Connect(&transport.ConnectRequest{Transport: "bench", Serializer: protocol.V2,
				Params: map[string]string{"user": "bench-" + strconv.Itoa(j)}})
			if err != nil {
				b.Fatal(err)
			}
			sess.Open(conns[j])
			sess.Receive([]byte(`["1","1","bench:idle","phx_join",{}]`), false)
			<-conns[j].signal
			conns[j].signal = nil
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		total += float64(after.HeapAlloc) - float64(before.HeapAlloc)
		runtime.KeepAlive(conns)
		if err := ep.Shutdown(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(total/float64(b.N)/n, "heap-B/socket")
}
