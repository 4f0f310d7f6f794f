package actors_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/transport"
)

// stepClock is the rate limits' clock in a test: it moves only when told.
type stepClock struct{ ns atomic.Int64 }

func (c *stepClock) now() int64           { return c.ns.Load() }
func (c *stepClock) step(d time.Duration) { c.ns.Add(int64(d)) }

const limitedReply = `{"status":"error","response":{"reason":"rate limited"}}`

func heartbeat(t *testing.T, c *phxclient.Client, ref string) {
	t.Helper()
	send(t, c, `[null,"`+ref+`","phoenix","heartbeat",{}]`)
	expect(t, c, `[null,"`+ref+`","phoenix","phx_reply",{"status":"ok","response":{}}]`)
}

func echoOK(t *testing.T, c *phxclient.Client, topic string, ref int) {
	t.Helper()
	send(t, c, fmt.Sprintf(`["1","%d","%s","echo",{"n":%d}]`, ref, topic, ref))
	expect(t, c, fmt.Sprintf(`["1","%d","%s","phx_reply",{"status":"ok","response":{"n":%d}}]`, ref, topic, ref))
}

func echoLimited(t *testing.T, c *phxclient.Client, topic string, ref int) {
	t.Helper()
	send(t, c, fmt.Sprintf(`["1","%d","%s","echo",{"n":%d}]`, ref, topic, ref))
	expect(t, c, fmt.Sprintf(`["1","%d","%s","phx_reply",%s]`, ref, topic, limitedReply))
}

// A socket flooding a route with a limit gets "rate limited" replies, in
// order with the others, and its messages are not handled; heartbeats
// always pass; once refused more than 3 × the burst within the window it
// is closed with 1008 "rate limited". Another socket on the same route is
// unaffected, and the refusals are counted and logged as one summary and
// one line for the socket cut off.
func TestRouteRateLimitFlood(t *testing.T) {
	clock := &stepClock{}
	logs := &lockedBuffer{}
	ts := newServer(t, serverOpts{clock: clock.now, endpoint: actors.Config{Logger: slog.New(slog.NewTextHandler(logs, nil))}})
	ts.h.Channel("limited:*", func() actors.Channel { return &room{ended: ts.ended} }, actors.WithRateLimit(actors.Rate{PerSecond: 1, Burst: 3}))

	flooder, steady := ts.dial(t, ""), ts.dial(t, "")
	join(t, flooder, "1", "limited:a") // the join takes a token of the route's
	join(t, steady, "1", "limited:a")
	echoOK(t, flooder, "limited:a", 2)
	echoOK(t, flooder, "limited:a", 3)
	// Pushed without waiting: each is answered in its turn, the refusals
	// after the reply to the push before them.
	send(t, flooder, `["1","4","limited:a","count",{}]`)
	send(t, flooder, `["1","5","limited:a","count",{}]`)
	expect(t, flooder, `["1","4","limited:a","phx_reply",`+limitedReply+`]`)
	expect(t, flooder, `["1","5","limited:a","phx_reply",`+limitedReply+`]`)

	clock.step(time.Second) // one token back
	send(t, flooder, `["1","6","limited:a","count",{}]`)
	expect(t, flooder, `["1","6","limited:a","phx_reply",{"status":"ok","response":{"count":1}}]`) // the refused counts never ran

	for i := range 7 { // 2 + 7 = 9 refusals: 3 × the burst, not yet closed
		echoLimited(t, flooder, "limited:a", 10+i)
		heartbeat(t, flooder, fmt.Sprint(100+i))
		if i < 2 { // within its own budget
			echoOK(t, steady, "limited:a", 10+i)
		}
	}
	send(t, flooder, `["1","20","limited:a","echo",{}]`) // the tenth
	select {
	case <-flooder.Done():
	case <-time.After(wait):
		t.Fatal("the flooding socket is still open")
	}
	if code, reason := flooder.CloseCode(), flooder.CloseReason(); code != 1008 || reason != "rate limited" {
		t.Errorf("closed with %d %q, want 1008 \"rate limited\"", code, reason)
	}
	if got := ts.waitEnded(t); !strings.Contains(got, "rate limited") {
		t.Errorf("the flooder's channel ended with %q", got)
	}
	clock.step(time.Second)
	echoOK(t, steady, "limited:a", 30)
	heartbeat(t, steady, "31")

	s := ts.ep.Stats()
	if s.RateLimits != (actors.RateLimitStats{Route: 10, Cutoffs: 1}) {
		t.Errorf("RateLimits %+v", s.RateLimits)
	}
	for _, r := range s.Routes {
		if r.Route == "limited:*" && r.RateLimited != 10 {
			t.Errorf("limited:* counted %d frames rate limited, want 10", r.RateLimited)
		}
	}
	ts.shutdown(t)
	if n := strings.Count(logs.String(), "closing socket"); n != 1 {
		t.Errorf("%d lines for the socket cut off, want 1:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "client frames refused by rate limits"); n != 1 {
		t.Errorf("%d summaries, want 1:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "\n"); n > 12 {
		t.Errorf("%d log lines for 10 refusals:\n%s", n, logs.String())
	}
}

// An event's limit refuses that event only; the route's other events,
// and the same event on another route, go on.
func TestEventRateLimit(t *testing.T) {
	clock := &stepClock{}
	ts := newServer(t, serverOpts{clock: clock.now})
	ts.h.Channel("chat:*", func() actors.Channel { return &room{} }, actors.WithEventRateLimit("count", actors.Rate{PerSecond: 1, Burst: 1}))
	c := ts.dial(t, "")
	join(t, c, "1", "chat:a")
	join(t, c, "1", "room:a")
	send(t, c, `["1","2","chat:a","count",{}]`)
	expect(t, c, `["1","2","chat:a","phx_reply",{"status":"ok","response":{"count":1}}]`)
	send(t, c, `["1","3","chat:a","count",{}]`)
	expect(t, c, `["1","3","chat:a","phx_reply",`+limitedReply+`]`)
	for i := range 20 {
		echoOK(t, c, "chat:a", 10+i)
		send(t, c, fmt.Sprintf(`["1","%d","room:a","count",{}]`, 40+i))
		expect(t, c, fmt.Sprintf(`["1","%d","room:a","phx_reply",{"status":"ok","response":{"count":%d}}]`, 40+i, i+1))
	}
	clock.step(time.Second)
	send(t, c, `["1","4","chat:a","count",{}]`)
	expect(t, c, `["1","4","chat:a","phx_reply",{"status":"ok","response":{"count":2}}]`)
	if s := ts.ep.Stats().RateLimits; s != (actors.RateLimitStats{Event: 1}) {
		t.Errorf("RateLimits %+v", s)
	}
}

// The endpoint's limit counts every frame of a socket but heartbeats and
// leaves: messages, joins, and frames for topics not joined. A route's
// budget is the socket's, shared by its channels of the route: a second
// topic buys no more.
func TestSocketRateLimit(t *testing.T) {
	clock := &stepClock{}
	ts := newServer(t, serverOpts{clock: clock.now, endpoint: actors.Config{
		RateLimit:       actors.Rate{PerSecond: 2, Burst: 3},
		RateLimitCutoff: actors.Cutoff{Refusals: -1}, // never closed
	}})
	c := ts.dial(t, "")
	join(t, c, "1", "room:a")
	echoOK(t, c, "room:a", 2)
	echoOK(t, c, "room:a", 3)
	echoLimited(t, c, "room:a", 4)
	send(t, c, `["5","5","room:b","phx_join",{}]`)
	expect(t, c, `["5","5","room:b","phx_reply",`+limitedReply+`]`)
	send(t, c, `[null,"6","nowhere","echo",{}]`)
	expect(t, c, `[null,"6","nowhere","phx_reply",`+limitedReply+`]`)
	for i := range 50 {
		heartbeat(t, c, fmt.Sprint(100+i))
	}
	send(t, c, `["1","7","room:a","phx_leave",{}]`)
	expect(t, c, `["1","7","room:a","phx_reply",{"status":"ok","response":{}}]`)
	expect(t, c, `["1","1","room:a","phx_close",{}]`)
	expect(t, c, `["1",null,"room:a","you_left",{"message":"bye!"}]`)
	for i := range 20 { // refused, never closed
		send(t, c, fmt.Sprintf(`[null,"%d","room:z","echo",{}]`, 200+i))
		expect(t, c, fmt.Sprintf(`[null,"%d","room:z","phx_reply",%s]`, 200+i, limitedReply))
	}
	clock.step(time.Second) // two tokens
	join(t, c, "8", "room:b")
	send(t, c, `["8","9","room:b","echo",{}]`)
	expect(t, c, `["8","9","room:b","phx_reply",{"status":"ok","response":{}}]`)
	if s := ts.ep.Stats().RateLimits; s.Socket != 23 || s.Cutoffs != 0 {
		t.Errorf("RateLimits %+v", s)
	}
}

// A join flood is a flood: joins count against the route's budget, and
// one past it is refused with the reason, as a refused join; a route's
// budget is per socket, shared by its topics.
func TestRateLimitJoins(t *testing.T) {
	clock := &stepClock{}
	ts := newServer(t, serverOpts{clock: clock.now})
	ts.h.Channel("limited:*", func() actors.Channel { return &room{} }, actors.WithRateLimit(actors.Rate{PerSecond: 1, Burst: 2}))
	c := ts.dial(t, "")
	join(t, c, "1", "limited:a")
	join(t, c, "2", "limited:b")
	send(t, c, `["3","3","limited:c","phx_join",{}]`)
	expect(t, c, `["3","3","limited:c","phx_reply",`+limitedReply+`]`)
	send(t, c, `["1","4","limited:a","echo",{}]`)
	expect(t, c, `["1","4","limited:a","phx_reply",`+limitedReply+`]`)
	other := ts.dial(t, "") // another socket has a budget of its own
	join(t, other, "1", "limited:c")
	clock.step(time.Second)
	join(t, c, "5", "limited:c")
	// A duplicate join refused leaves the channel it would replace.
	send(t, c, `["6","6","limited:a","phx_join",{}]`)
	expect(t, c, `["6","6","limited:a","phx_reply",`+limitedReply+`]`)
	clock.step(time.Second)
	echoOK(t, c, "limited:a", 7)
	for _, r := range ts.ep.Stats().Routes {
		if r.Route == "limited:*" && (r.JoinsRefused != 2 || r.RateLimited != 3 || r.Joined != 4) {
			t.Errorf("limited:* %+v", r)
		}
	}
}

// Over long-poll, a client past the cutoff has its session ended, as
// for any limit it breaks: its next request finds it gone.
func TestRateLimitLongPoll(t *testing.T) {
	clock := &stepClock{}
	ts := newServer(t, serverOpts{clock: clock.now, lp: transport.LongPollConfig{Window: 5 * time.Second}, endpoint: actors.Config{
		RateLimit:       actors.Rate{PerSecond: 1, Burst: 1},
		RateLimitCutoff: actors.Cutoff{Refusals: 2},
	}})
	lp := ts.longPoll(t, "vsn=2.0.0")
	lp.token = lp.get().Token
	lp.post(`["1","1","room:lp","phx_join",{}]`, `["1","2","room:lp","echo",{}]`, `["1","3","room:lp","echo",{}]`,
		`[null,"4","phoenix","heartbeat",{}]`)
	var got []string
	for len(got) < 4 {
		a := lp.get()
		if a.Status != 200 {
			t.Fatalf("GET after %q: %+v", got, a)
		}
		got = append(got, a.Messages...)
	}
	want := []string{
		`["1","1","room:lp","phx_reply",{"status":"ok","response":{}}]`,
		`[null,"4","phoenix","phx_reply",{"status":"ok","response":{}}]`,
		`["1","2","room:lp","phx_reply",` + limitedReply + `]`,
		`["1","3","room:lp","phx_reply",` + limitedReply + `]`,
	}
	// The heartbeat's reply, from the socket, may come before the
	// channel's.
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	lp.post(`["1","5","room:lp","echo",{}]`) // the third refusal
	if got := ts.waitEnded(t); !strings.Contains(got, "rate limited") {
		t.Errorf("the channel ended with %q", got)
	}
	if a := lp.get(); a.Status != 410 {
		t.Fatalf("GET after the cutoff: %+v", a)
	}
}
