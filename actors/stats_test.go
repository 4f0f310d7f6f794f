package actors_test

import (
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/transport"
)

func routeStats(s actors.Stats, route string) actors.RouteStats {
	for _, r := range s.Routes {
		if r.Route == route {
			return r
		}
	}
	return actors.RouteStats{Route: route}
}

func transportStats(s actors.Stats, name string) transport.Stats {
	for _, t := range s.Transports {
		if t.Transport == name {
			return t
		}
	}
	return transport.Stats{Transport: name}
}

// Stats follows sockets, joins, refusals, crashes and broadcasts, route
// by route and transport by transport.
func TestStats(t *testing.T) {
	ts := newServer(t, serverOpts{lp: transport.LongPollConfig{Window: 300 * time.Millisecond}})
	if s := ts.ep.Stats(); len(s.Routes) != 6 || s.Routes[0].Route != "room:*" || s.Routes[1].Route != "exact" {
		t.Fatalf("routes of a new endpoint: %+v", s.Routes)
	}

	ann := ts.dial(t, "vsn=2.0.0&user=ann")
	bob := ts.dial(t, "vsn=2.0.0&user=bob")
	lp := ts.longPoll(t, "vsn=2.0.0&user=lp")
	lp.token = lp.get().Token
	waitFor(t, func() bool {
		s := ts.ep.Stats().Sockets
		return s["websocket"] == 2 && s["longpoll"] == 1
	})

	join(t, ann, "1", "room:a")
	join(t, bob, "1", "room:a")
	join(t, ann, "2", "exact")
	send(t, ann, `["3","3","room:locked","phx_join",{}]`)
	expect(t, ann, `["3","3","room:locked","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]`)
	send(t, ann, `["4","4","nowhere","phx_join",{}]`)
	expect(t, ann, `[null,"4","nowhere","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`)
	s := ts.ep.Stats()
	if r := routeStats(s, "room:*"); r.Joined != 2 || r.Joins != 2 || r.JoinsRefused != 1 || r.Crashes != 0 {
		t.Errorf("room:* after two joins and a refusal: %+v", r)
	}
	if r := routeStats(s, "exact"); r.Joined != 1 || r.Joins != 1 {
		t.Errorf("exact after a join: %+v", r)
	}
	if s.JoinsUnmatched != 1 {
		t.Errorf("JoinsUnmatched = %d", s.JoinsUnmatched)
	}

	send(t, ann, `["1","5","room:a","broadcast",{"n":1}]`)
	expect(t, ann, `[null,null,"room:a","shout",{"n":1}]`)
	expect(t, bob, `[null,null,"room:a","shout",{"n":1}]`)
	send(t, ann, `["1","6","room:a","broadcast_from",{"n":2}]`)
	expect(t, ann, `["1","6","room:a","phx_reply",{"status":"ok","response":{}}]`)
	expect(t, bob, `[null,null,"room:a","shout",{"n":2}]`)
	if n := ts.ep.Stats().BroadcastDeliveries; n != 3 {
		t.Errorf("BroadcastDeliveries = %d after a broadcast to two and a broadcast_from to one", n)
	}

	send(t, bob, `["1","7","room:a","boom",{}]`)
	expect(t, bob, `["1","7","room:a","phx_reply",{"status":"error","response":{"reason":"channel_crash"}}]`)
	if r := routeStats(ts.ep.Stats(), "room:*"); r.Crashes != 1 || r.Joined != 2 || r.Joins != 2 {
		t.Errorf("room:* after a crash restarted in place: %+v", r)
	}

	send(t, ann, `["1","8","room:a","phx_leave",{}]`)
	expect(t, ann, `["1","8","room:a","phx_reply",{"status":"ok","response":{}}]`)
	waitFor(t, func() bool { return routeStats(ts.ep.Stats(), "room:*").Joined == 1 })

	bob.Close()
	<-bob.Done()
	waitFor(t, func() bool {
		s := ts.ep.Stats()
		return s.Sockets["websocket"] == 1 && routeStats(s, "room:*").Joined == 0 &&
			transportStats(s, "websocket").Closes[1000] == 1
	})
	ws := transportStats(ts.ep.Stats(), "websocket")
	if ws.FramesIn != 9 {
		t.Errorf("websocket frames in = %d, want the 9 sent", ws.FramesIn)
	}
	if lp := transportStats(ts.ep.Stats(), "longpoll"); lp.Closes != nil {
		t.Errorf("long-poll closes: %v", lp.Closes)
	}
}
