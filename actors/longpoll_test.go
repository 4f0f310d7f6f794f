package actors_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
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

// TestLongPollJoinParamsBound: the bounds on what a client makes the
// server hold apply to long-poll as to WebSocket. A message past
// MaxFrameSize is refused whole (413); joins whose params pass
// MaxJoinParams are refused one by one, the session staying; and a
// client that posts over a hundred megabytes of such joins leaves the
// heap as it found it.
func TestLongPollJoinParamsBound(t *testing.T) {
	// A window long enough that the session outlives the POSTs between
	// its GETs.
	ts := newServer(t, serverOpts{lp: transport.LongPollConfig{Window: 5 * time.Second}})
	lp := ts.longPoll(t, "vsn=2.0.0&user=lp")
	lp.token = lp.get().Token

	huge := `["1","1","room:huge","phx_join",{"b":"` + strings.Repeat("x", 7_500_000) + `"}]`
	resp, err := http.Post(lp.url(), "application/x-ndjson", strings.NewReader(huge))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a join of 7.5 MB params: HTTP %d, want 413", resp.StatusCode)
	}

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	params := strings.Repeat("y", 1<<20-100) // within MaxFrameSize, past MaxJoinParams
	const posts, perPost = 6, 7              // 6 POSTs of 7 MB: 42 MB of join params
	refused := 0
	for p := range posts {
		lines := make([]string, perPost)
		for i := range lines {
			n := p*perPost + i
			lines[i] = fmt.Sprintf(`["%d","%d","room:p%d","phx_join",{"b":"%s"}]`, n, n, n, params)
		}
		if a := lp.post(lines...); a.Status != 200 {
			t.Fatalf("POST %d: %+v", p, a)
		}
		for refused < (p+1)*perPost {
			a := lp.get()
			if a.Status != 200 {
				t.Fatalf("GET after %d refusals: %+v", refused, a)
			}
			for _, m := range a.Messages {
				if !strings.Contains(m, `"join params too large"`) {
					t.Fatalf("answer %s", m)
				}
				refused++
			}
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d refused joins of 1 MiB params: heap %+d KiB", refused, grown>>10)
	if grown > 32<<20 {
		t.Errorf("the heap grew by %d MB over %d refused joins", grown>>20, refused)
	}
	lp.post(`["x","x","room:fine","phx_join",{"b":"small"}]`)
	if a := lp.get(); len(a.Messages) != 1 || a.Messages[0] != `["x","x","room:fine","phx_reply",{"status":"ok","response":{}}]` {
		t.Fatalf("a join within the bounds after them: %+v", a)
	}
}
