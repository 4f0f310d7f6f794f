package actors_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/transport"
)

// Room is a chat room: each join gets a fresh Room, and a member's
// "shout" reaches every member.
type Room struct {
	actors.BaseChannel
	shouts int
}

func (r *Room) Join(topic string, params actors.Payload, s *actors.Socket) (any, error) {
	if s.Get("user") == "" {
		return nil, actors.Refuse(map[string]string{"reason": "who are you?"})
	}
	return map[string]string{"welcome": topic}, nil
}

func (r *Room) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	switch event {
	case "shout":
		r.shouts++
		_ = s.Broadcast("shout", p)
		return actors.ReplyOK(map[string]int{"shouts": r.shouts})
	}
	return r.BaseChannel.HandleIn(event, p, s)
}

// Users accepts every connection; one that names a user gets that user's
// socket id.
type Users struct{}

func (Users) Connect(params map[string]string, _ transport.ConnectInfo) (map[string]any, error) {
	return map[string]any{"user": params["user"]}, nil
}

// ID names a user's sockets, so that a "disconnect" broadcast on it closes
// them all. An anonymous socket gets no id: a shared one would let one
// disconnect close every anonymous socket at once.
func (Users) ID(assigns map[string]any) string {
	if user, _ := assigns["user"].(string); user != "" {
		return "users_socket:" + user
	}
	return ""
}

func Example() {
	ep := actors.NewEndpoint(actors.Config{})
	defer ep.Shutdown(context.Background())

	sock := ep.Socket(Users{})
	sock.Channel("room:*", func() actors.Channel { return &Room{} })

	mux := http.NewServeMux()
	mux.Handle("/socket/websocket", sock.WebSocket(transport.WebSocketConfig{}))
	srv := httptest.NewServer(mux) // or http.ListenAndServe(addr, mux)
	defer srv.Close()

	// A client: the phoenix JS client speaks exactly this.
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/socket/websocket?vsn=2.0.0&user=ann"
	c, _, err := phxclient.Dial(url, nil)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_ = c.Send(`["1","1","room:lobby","phx_join",{}]`)
	_ = c.Send(`["1","2","room:lobby","shout",{"body":"hi"}]`)
	for i := 0; i < 3; i++ {
		f, _ := c.NextFrame(5 * time.Second)
		fmt.Println(string(f.Data))
	}
	// Output:
	// ["1","1","room:lobby","phx_reply",{"status":"ok","response":{"welcome":"room:lobby"}}]
	// [null,null,"room:lobby","shout",{"body":"hi"}]
	// ["1","2","room:lobby","phx_reply",{"status":"ok","response":{"shouts":1}}]
}
