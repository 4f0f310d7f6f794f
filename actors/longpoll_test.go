package actors_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phx/transport"
)

type lpAnswer struct {
	Status   int      `json:"status"`
	Token    string   `json:"token"`
	Messages []string `json:"messages"`
}

type lpClient struct {
	t     *testing.T
	base  string
	query string
	token string
}

func (ts *testServer) longPoll(t *testing.T, query string) *lpClient {
	return &lpClient{t: t, base: ts.srv.URL + "/socket/longpoll", query: query}
}

func (c *lpClient) url() string {
	u := c.base + "?" + c.query
	if c.token != "" {
		u += "&token=" + url.QueryEscape(c.token)
	}
	return u
}

func (c *lpClient) answer(resp *http.Response, err error) lpAnswer {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("HTTP %d: %s", resp.StatusCode, b)
	}
	var a lpAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		c.t.Fatal(err)
	}
	return a
}

func (c *lpClient) get() lpAnswer {
	c.t.Helper()
	return c.answer(http.Get(c.url()))
}

func (c *lpClient) post(lines ...string) lpAnswer {
	c.t.Helper()
	return c.answer(http.Post(c.url(), "application/x-ndjson", strings.NewReader(strings.Join(lines, "\n"))))
}

// docs/protocol.md §10 row 30 and §5: a session, a join through POST,
// replies on the next GET; a WebSocket client in the same room sees the
// long-poll client's broadcast and the other way round.
func TestLongPollSession(t *testing.T) {
	ts := newServer(t, serverOpts{lp: transport.LongPollConfig{Window: 300 * time.Millisecond}})
	lp := ts.longPoll(t, "vsn=2.0.0&user=lp")
	a := lp.get()
	if a.Status != 410 || a.Token == "" || a.Messages == nil || len(a.Messages) != 0 {
		t.Fatalf("first GET: %+v", a)
	}
	lp.token = a.Token
	if a := lp.post(`["1","1","room:lp","phx_join",{}]`, `["1","2","room:lp","echo",{"x":1}]`); a.Status != 200 {
		t.Fatalf("POST: %+v", a)
	}
	got := []string{}
	for len(got) < 2 {
		a := lp.get()
		if a.Status != 200 {
			t.Fatalf("GET: %+v", a)
		}
		got = append(got, a.Messages...)
	}
	if got[0] != `["1","1","room:lp","phx_reply",{"status":"ok","response":{}}]` ||
		got[1] != `["1","2","room:lp","phx_reply",{"status":"ok","response":{"x":1}}]` {
		t.Fatalf("messages %q", got)
	}
	ws := ts.dial(t, "")
	join(t, ws, "1", "room:lp")
	lp.post(`["1","3","room:lp","broadcast",{"from":"lp"}]`)
	expect(t, ws, `[null,null,"room:lp","shout",{"from":"lp"}]`)
	send(t, ws, `["1","2","room:lp","broadcast",{"from":"ws"}]`)
	var msgs []string
	for len(msgs) < 2 {
		msgs = append(msgs, lp.get().Messages...)
	}
	if msgs[0] != `[null,null,"room:lp","shout",{"from":"lp"}]` || msgs[1] != `[null,null,"room:lp","shout",{"from":"ws"}]` {
		t.Fatalf("long-poll got %q", msgs)
	}
	// Nothing more: 204 after the window.
	if a := lp.get(); a.Status != 204 || a.Token != lp.token {
		t.Fatalf("idle GET: %+v", a)
	}
}
