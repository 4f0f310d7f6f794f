package presence_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/presence"
	"github.com/phxgo/phx/transport"
)

// Fetch adds each user's profile to the presences every client gets,
// loaded once per diff for all the users in it (Phoenix's fetch/2).
func ExampleConfig_fetch() {
	profiles := map[string]string{"ann": "Ann Smith"} // a database, say
	ep := actors.NewEndpoint(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer ep.Shutdown(context.Background())
	tracker := presence.New(ep, presence.Config{
		Fetch: func(topic string, keys []string) map[string]map[string]any {
			out := map[string]map[string]any{}
			for _, k := range keys { // one query for all of keys
				out[k] = map[string]any{"user": map[string]string{"name": profiles[k]}}
			}
			return out
		},
	})
	sock := ep.Socket(users{})
	sock.Channel("room:*", func() actors.Channel { return &room{p: tracker} })
	srv := httptest.NewServer(sock.WebSocket(transport.WebSocketConfig{}))
	defer srv.Close()

	c, _, err := phxclient.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"?vsn=2.0.0&user=ann", nil)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_ = c.Send(`["1","1","room:lobby","phx_join",{}]`)
	ref := regexp.MustCompile(`"phx_ref":"[^"]+"`)
	for range 3 { // the join's reply, presence_state, ann's presence_diff
		m, _ := c.Next(5 * time.Second)
		if m.Event != "phx_reply" {
			fmt.Println(m.Event, ref.ReplaceAllString(string(m.Payload), `"phx_ref":"…"`))
		}
	}
	// Unordered output:
	// presence_state {"ann":{"metas":[{"online_at":"1","phx_ref":"…"}],"user":{"name":"Ann Smith"}}}
	// presence_diff {"joins":{"ann":{"metas":[{"online_at":"1","phx_ref":"…"}],"user":{"name":"Ann Smith"}}},"leaves":{}}
}
