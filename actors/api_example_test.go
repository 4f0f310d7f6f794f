package actors_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/transport"
)

// exampleServer serves sock and returns a function that connects a
// client as user, and a function that stops it all.
func exampleServer(ep *actors.Endpoint, sock *actors.SocketHandler) (dial func(user string) *phxclient.Client, stop func()) {
	mux := http.NewServeMux()
	mux.Handle("/socket/websocket", sock.WebSocket(transport.WebSocketConfig{}))
	srv := httptest.NewServer(mux)
	dial = func(user string) *phxclient.Client {
		c, _, err := phxclient.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/socket/websocket?vsn=2.0.0&user="+user, nil)
		if err != nil {
			panic(err)
		}
		return c
	}
	return dial, func() {
		_ = ep.Shutdown(context.Background())
		srv.Close()
	}
}

func quietEndpoint() *actors.Endpoint {
	return actors.NewEndpoint(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// next prints the next frame of c.
func next(c *phxclient.Client) {
	f, err := c.NextFrame(5 * time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(f.Data))
}

// Inbox subscribes to its user's topic: what is sent to the user reaches
// HandleInfo, which pushes it to the client.
type Inbox struct{ actors.BaseChannel }

func (Inbox) Join(_ string, _ actors.Payload, s *actors.Socket) (any, error) {
	return nil, s.Subscribe("user:" + s.Get("user").(string))
}

func (Inbox) HandleInfo(msg any, s *actors.Socket) error {
	if b, ok := msg.(actors.Broadcast); ok && b.Event == "dm" {
		return s.Push("dm", b.Payload)
	}
	return nil
}

// A channel subscribes to a per-user topic in Join; a broadcast there, from
// anywhere on any node, arrives in its HandleInfo as an actors.Broadcast.
func ExampleSocket_Subscribe() {
	ep := quietEndpoint()
	sock := ep.Socket(Users{})
	sock.Channel("inbox", func() actors.Channel { return Inbox{} })
	dial, stop := exampleServer(ep, sock)
	defer stop()

	c := dial("ann")
	defer c.Close()
	_ = c.Send(`["1","1","inbox","phx_join",{}]`)
	next(c) // the join's reply: the subscription is in place
	_ = ep.Broadcast("user:ann", "dm", map[string]string{"from": "bob", "body": "hi"})
	next(c)
	// Output:
	// ["1","1","inbox","phx_reply",{"status":"ok","response":{}}]
	// ["1",null,"inbox","dm",{"body":"hi","from":"bob"}]
}

// Lobby hands the reference of every channel that joins to joined.
type Lobby struct {
	actors.BaseChannel
	joined chan actors.ChannelRef
}

func (l Lobby) Join(_ string, _ actors.Payload, s *actors.Socket) (any, error) {
	l.joined <- s.Self()
	return nil, nil
}

// BroadcastFrom skips one channel: here a broadcast on behalf of ann's
// channel, made outside it, reaches bob only.
func ExampleEndpoint_BroadcastFrom() {
	ep := quietEndpoint()
	joined := make(chan actors.ChannelRef, 2)
	sock := ep.Socket(Users{})
	sock.Channel("room:*", func() actors.Channel { return Lobby{joined: joined} })
	dial, stop := exampleServer(ep, sock)
	defer stop()

	ann, bob := dial("ann"), dial("bob")
	defer ann.Close()
	defer bob.Close()
	_ = ann.Send(`["1","1","room:lobby","phx_join",{}]`)
	next(ann)
	annRef := <-joined
	_ = bob.Send(`["1","1","room:lobby","phx_join",{}]`)
	next(bob)
	<-joined

	_ = ep.BroadcastFrom(annRef, "room:lobby", "typing", map[string]string{"user": "ann"})
	next(bob)
	if _, err := ann.NextFrame(100 * time.Millisecond); errors.Is(err, phxclient.ErrTimeout) {
		fmt.Println("ann got nothing")
	}
	// Output:
	// ["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]
	// ["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]
	// [null,null,"room:lobby","typing",{"user":"ann"}]
	// ann got nothing
}

// Disconnect closes every socket of a user, on every node, as when their
// access is revoked: the client reconnects, and Connect decides again.
func ExampleEndpoint_Disconnect() {
	ep := quietEndpoint()
	sock := ep.Socket(Users{})
	dial, stop := exampleServer(ep, sock)
	defer stop()

	c := dial("ann")
	_ = c.Send(`[null,"1","phoenix","heartbeat",{}]`)
	next(c) // connected, and its id subscribed
	_ = ep.Disconnect("users_socket:ann")
	<-c.Done()
	fmt.Println("closed with", c.CloseCode())
	// Output:
	// [null,"1","phoenix","phx_reply",{"status":"ok","response":{}}]
	// closed with 1001
}

// Lookup starts its work with the channel's context: when the client
// leaves, the work is cancelled rather than finished for nobody.
type Lookup struct {
	actors.BaseChannel
	done chan error
}

func (Lookup) Join(string, actors.Payload, *actors.Socket) (any, error) { return nil, nil }

func (l Lookup) HandleIn(event string, _ actors.Payload, s *actors.Socket) actors.Reply {
	ctx, ref := s.Context(), s.Ref()
	go func() {
		select {
		case <-time.After(time.Minute): // a slow query, say
			_ = ref.Reply(actors.ReplyOK(nil))
		case <-ctx.Done():
			l.done <- ctx.Err()
		}
	}()
	return actors.NoReply()
}

func ExampleSocket_Context() {
	ep := quietEndpoint()
	done := make(chan error, 1)
	sock := ep.Socket(Users{})
	sock.Channel("lookup", func() actors.Channel { return Lookup{done: done} })
	dial, stop := exampleServer(ep, sock)
	defer stop()

	c := dial("ann")
	defer c.Close()
	_ = c.Send(`["1","1","lookup","phx_join",{}]`)
	next(c)
	_ = c.Send(`["1","2","lookup","search",{"q":"go"}]`)
	_ = c.Send(`["1","3","lookup","phx_leave",{}]`)
	next(c)
	fmt.Println("the search:", <-done)
	// Output:
	// ["1","1","lookup","phx_reply",{"status":"ok","response":{}}]
	// ["1","3","lookup","phx_reply",{"status":"ok","response":{}}]
	// the search: context canceled
}

// NewMessage is the payload of "new_msg".
type NewMessage struct {
	Body string `json:"body"`
}

// Validate refuses an empty body.
func (m NewMessage) Validate() error {
	if strings.TrimSpace(m.Body) == "" {
		return errors.New("empty body")
	}
	return nil
}

type Chat struct{ actors.BaseChannel }

func (Chat) Join(string, actors.Payload, *actors.Socket) (any, error) { return nil, nil }

func (Chat) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	switch event {
	case "new_msg":
		return actors.WithPayload(p, func(m NewMessage) actors.Reply {
			return actors.ReplyOK(map[string]int{"length": len(m.Body)})
		})
	}
	return actors.ReplyError(map[string]string{"reason": "unknown event"})
}

// WithPayload declares the type an event's payload decodes into; a
// payload that does not fit, or does not validate, is answered for the
// handler.
func ExampleWithPayload() {
	ep := quietEndpoint()
	sock := ep.Socket(Users{})
	sock.Channel("chat", func() actors.Channel { return Chat{} })
	dial, stop := exampleServer(ep, sock)
	defer stop()

	c := dial("ann")
	defer c.Close()
	_ = c.Send(`["1","1","chat","phx_join",{}]`)
	next(c)
	for i, payload := range []string{`{"body":"hello"}`, `{"body":42}`, `{"body":" "}`} {
		_ = c.Send(fmt.Sprintf(`["1","%d","chat","new_msg",%s]`, i+2, payload))
		next(c)
	}
	// Output:
	// ["1","1","chat","phx_reply",{"status":"ok","response":{}}]
	// ["1","2","chat","phx_reply",{"status":"ok","response":{"length":5}}]
	// ["1","3","chat","phx_reply",{"status":"error","response":{"reason":"invalid payload"}}]
	// ["1","4","chat","phx_reply",{"status":"error","response":{"reason":"empty body"}}]
}
