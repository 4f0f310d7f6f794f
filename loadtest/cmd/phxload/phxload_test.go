package main

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phxgo/phx/loadtest/internal/wire"
)

func TestParseSteps(t *testing.T) {
	got, err := parseSteps("1000, 5000,19000")
	if err != nil || fmt.Sprint(got) != "[1000 5000 19000]" {
		t.Errorf("parseSteps = %v, %v", got, err)
	}
	for _, bad := range []string{"1000,500", "0", "a", "1000,,2000"} {
		if _, err := parseSteps(bad); err == nil {
			t.Errorf("parseSteps(%q) succeeded", bad)
		}
	}
}

func TestDialErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		resp *http.Response
		want string
	}{
		{errors.New("unexpected status code: 403"), &http.Response{StatusCode: 403}, "handshake: http 403"},
		{fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED), nil, "dial: connection refused"},
		{fmt.Errorf("dial tcp: %w", syscall.EADDRNOTAVAIL), nil, "dial: no free local port"},
		{fmt.Errorf("socket: %w", syscall.EMFILE), nil, "dial: too many open files"},
		{errors.New("something else"), nil, "dial: other"},
	}
	for _, tt := range tests {
		if got := dialErrorKind(tt.err, tt.resp); got != tt.want {
			t.Errorf("dialErrorKind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// A subscriber counts deliveries and the ones out of order, and the
// others as errors.
func TestSubscriber(t *testing.T) {
	r := &runner{}
	c := &conn{r: r}
	f := new(fanout)
	s := &subscriber{f: f}
	now := time.Now()
	for _, frame := range []string{
		`[null,null,"bench:fan","msg",{"t":1,"seq":1}]`,
		`[null,null,"bench:fan","msg",{"t":1,"seq":3}]`,
		`[null,null,"bench:fan","msg",{"t":1,"seq":2}]`, // late
		`[null,null,"bench:fan","msg",{"t":1,"seq":3}]`, // again
		`[null,null,"bench:fan","msg",{"t":1,"seq":4}]`,
		`[null,null,"bench:fan","other",{}]`,
		`[null,null,"bench:fan","msg",{"seq":5}]`,
	} {
		fr, err := wire.Split([]byte(frame))
		if err != nil {
			t.Fatal(err)
		}
		s.message(c, &fr, now)
	}
	if got := f.received.Load(); got != 5 {
		t.Errorf("received %d, want 5", got)
	}
	if got := f.disorder.Load(); got != 2 {
		t.Errorf("order violations %d, want 2", got)
	}
	counts, _, total := r.errs.snapshot()
	if total != 2 || counts["unexpected message"] != 1 || counts["bad broadcast payload"] != 1 {
		t.Errorf("errors %v", counts)
	}
}

func TestParseServers(t *testing.T) {
	urls, pids, err := parseServers("ws://a/socket/websocket, ws://b/socket/websocket", "10,11")
	if err != nil || len(urls) != 2 || urls[1] != "ws://b/socket/websocket" || fmt.Sprint(pids) != "[10 11]" {
		t.Errorf("parseServers = %v, %v, %v", urls, pids, err)
	}
	if urls, pids, err := parseServers("ws://a/", ""); err != nil || len(urls) != 1 || pids != nil {
		t.Errorf("parseServers without pids = %v, %v, %v", urls, pids, err)
	}
	for _, bad := range [][2]string{{"ws://a/,", ""}, {"ws://a/,ws://b/", "10"}, {"ws://a/", "x"}, {"ws://a/", "0"}} {
		if _, _, err := parseServers(bad[0], bad[1]); err == nil {
			t.Errorf("parseServers(%q, %q) succeeded", bad[0], bad[1])
		}
	}
}

// Subscribers go round robin over the servers, the publisher to the
// first.
func TestFanoutPlacement(t *testing.T) {
	r := &runner{cfg: config{urls: []string{"a", "b", "c"}}}
	if got := []int{r.server(0), r.server(1), r.server(2), r.server(3)}; fmt.Sprint(got) != "[0 1 2 0]" {
		t.Errorf("round robin: %v", got)
	}
	r.place = fanoutPlace(5, 3)
	if got := []int{r.server(0), r.server(1), r.server(2), r.server(3), r.server(4), r.server(5)}; fmt.Sprint(got) != "[0 1 2 0 1 0]" {
		t.Errorf("fanout: %v", got)
	}
}

func TestClusterAPI(t *testing.T) {
	for in, want := range map[string]string{
		"ws://127.0.0.1:4001/socket/websocket":       "http://127.0.0.1:4001/api/cluster",
		"wss://example.com/socket/websocket?x=1":     "https://example.com/api/cluster",
		"ws://[::1]:4001/socket/websocket?token=abc": "http://[::1]:4001/api/cluster",
	} {
		if got, err := clusterAPI(in); err != nil || got != want {
			t.Errorf("clusterAPI(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := clusterAPI("tcp://x"); err == nil {
		t.Error("clusterAPI(tcp://x) succeeded")
	}
}

func TestNotUp(t *testing.T) {
	node := func(name string, inc string, peers ...clusterPeer) clusterInfo {
		return clusterInfo{Node: name, Incarnation: inc, Peers: peers}
	}
	a, b, c := clusterPeer{Node: "a", Incarnation: "1", Up: true}, clusterPeer{Node: "b", Incarnation: "2", Up: true}, clusterPeer{Node: "c", Incarnation: "3", Up: true}
	whole := []clusterInfo{node("a", "1", b, c), node("b", "2", a, c), node("c", "3", a, b)}
	if m := notUp(whole); len(m) != 0 {
		t.Errorf("whole cluster: %v", m)
	}
	down := c
	down.Up = false
	old := a
	old.Incarnation = "0" // b saw a's previous run
	m := notUp([]clusterInfo{node("a", "1", b, down), node("b", "2", old, c), node("c", "3", a, b)})
	if fmt.Sprint(m) != "[a does not see c up b does not see a up]" {
		t.Errorf("notUp = %v", m)
	}
}

func TestGrowth(t *testing.T) {
	g := growth(map[string]uint64{"broadcast_frames": 4, "gone": 1}, map[string]uint64{"broadcast_frames": 10, "new": 3})
	if len(g) != 2 || g["broadcast_frames"] != 6 || g["new"] != 3 {
		t.Errorf("growth = %v", g)
	}
}

func TestReconnectSchedules(t *testing.T) {
	var got []time.Duration
	for tries := 1; tries <= 11; tries++ {
		got = append(got, reconnectAfter(tries))
	}
	if fmt.Sprint(got) != "[10ms 50ms 100ms 150ms 200ms 250ms 500ms 1s 2s 5s 5s]" {
		t.Errorf("reconnectAfter: %v", got)
	}
	got = got[:0]
	for tries := 1; tries <= 4; tries++ {
		got = append(got, rejoinAfter(tries))
	}
	if fmt.Sprint(got) != "[1s 2s 5s 10s]" {
		t.Errorf("rejoinAfter: %v", got)
	}
}

// format writes ps as fmt does a map of strings to string slices, keys
// sorted.
func format(syms *symbols, ps presences) string {
	named := make(map[string][]string, len(ps))
	for key, refs := range ps {
		var names []string
		for _, r := range refs {
			names = append(names, syms.name(r))
		}
		named[syms.name(key)] = names
	}
	return fmt.Sprint(named)
}

// state makes a presences from "key:ref,ref key:ref" pairs.
func state(syms *symbols, s string) presences {
	ps := presences{}
	for _, kv := range strings.Fields(s) {
		key, refs, _ := strings.Cut(kv, ":")
		var ids []symbol
		for _, r := range strings.Split(refs, ",") {
			if r != "" {
				ids = append(ids, syms.of([]byte(r)))
			}
		}
		ps[syms.of([]byte(key))] = ids
	}
	return ps
}

func TestParsePresences(t *testing.T) {
	syms := newSymbols("u", 3)
	ps, err := parsePresences([]byte(` {"u1":{"metas":[{"online_at":1,"phx_ref":"a"},{"phx_ref_prev":"x","phx_ref":"b"}]},"u\u0032":{"metas":[{"phx_ref":"c"}],"user":{"name":"n"}} , "u3":{"metas":[]}} `), syms, 0)
	if err != nil || format(syms, ps) != "map[u1:[a b] u2:[c] u3:[]]" {
		t.Errorf("parsePresences = %v, %v", format(syms, ps), err)
	}
	d, err := parseDiff([]byte(`{"joins":{"u3":{"metas":[{"phx_ref":"d"}]}},"leaves":{}}`), syms)
	if err != nil || format(syms, d.joins)+format(syms, d.leaves) != "map[u3:[d]]map[]" {
		t.Errorf("parseDiff = %v, %v", d, err)
	}
	// u0 … u2 are symbols 1 … 3; every other string has one of its own
	// after them, the same each time.
	for _, c := range []struct {
		name string
		want symbol
	}{{"u1", 2}, {"u0", 1}, {"u2", 3}, {"u3", 0}, {"a", 0}, {"u01", 0}, {"u", 0}, {"u-1", 0}} {
		got := syms.of([]byte(c.name))
		if (c.want != 0 && got != c.want) || (c.want == 0 && got <= 3) || syms.of([]byte(c.name)) != got || syms.name(got) != c.name {
			t.Errorf("symbol of %q: %d (%q), want %d", c.name, got, syms.name(got), c.want)
		}
	}
	for _, bad := range []string{`[]`, `{"u":{}}`, `{"u":{"metas":[{"online_at":1}]}}`, `{"u":{"metas":[{"phx_ref":1}]}}`, `{"u":{"metas":{}}}`, `{"u":{"metas":[]}} x`, `{"u":{"metas":[{"phx_ref":"a"}]}`} {
		if _, err := parsePresences([]byte(bad), syms, 0); err == nil {
			t.Errorf("parsePresences(%s) succeeded", bad)
		}
	}
	for _, bad := range []string{`{"joins":{}}`, `{"joins":{},"leaves":[]}`} {
		if _, err := parseDiff([]byte(bad), syms); err == nil {
			t.Errorf("parseDiff(%s) succeeded", bad)
		}
	}
}

// The cases of phoenix.js's own tests of Presence.syncState and syncDiff.
func TestPresenceSync(t *testing.T) {
	syms := newSymbols("", 0)
	// syncState: a new key joins, a key gone leaves, a key with a new
	// meta keeps the metas it still has, and one whose metas all left
	// is removed.
	ps := state(syms, "u1:1 u2:2 u4:4a,4b u6:6 u7:")
	ps = syncState(ps, state(syms, "u1:1 u3:3 u4:4c,4b u6: u7:"))
	if got := format(syms, ps); got != "map[u1:[1] u3:[3] u4:[4b 4c] u7:[]]" {
		t.Errorf("syncState = %v", got)
	}
	// A reconnect: every ref is new, the old ones all leave.
	ps = syncState(ps, state(syms, "u1:1x u4:4x"))
	if got := format(syms, ps); got != "map[u1:[1x] u4:[4x]]" {
		t.Errorf("syncState after a reconnect = %v", got)
	}
	// syncDiff: a join adds its metas after the current ones, a leave
	// removes its own and the key with its last.
	ps = syncDiff(ps, presenceDiff{
		joins:  state(syms, "u1:1y u5:5"),
		leaves: state(syms, "u4:4x u6:6"),
	})
	if got := format(syms, ps); got != "map[u1:[1x 1y] u5:[5]]" {
		t.Errorf("syncDiff = %v", got)
	}
	ps = syncDiff(ps, presenceDiff{joins: state(syms, "u1:1y"), leaves: state(syms, "u1:1x")})
	if got := format(syms, ps); got != "map[u1:[1y] u5:[5]]" {
		t.Errorf("syncDiff, a meta joining again and another leaving = %v", got)
	}
}

// BenchmarkParseState reads a full room's presence_state as the storm's
// clients do, its keys and refs already numbered by the room's other
// members.
func BenchmarkParseState(b *testing.B) {
	const members = 190
	syms := newSymbols(userIDPrefix, 19000)
	var buf strings.Builder
	buf.WriteString(`[null,null,"room:storm-7","presence_state",{`)
	for i := range members {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `"%s":{"metas":[{"online_at":1765142400,"phx_ref":"GHx%013d"}]}`, userID(i*100+7), i)
	}
	buf.WriteString(`}]`)
	frame := []byte(buf.String())
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := wire.Split(frame)
		if err != nil {
			b.Fatal(err)
		}
		ps, err := parsePresences(f.Payload, syms, members)
		if err != nil || len(ps) != members {
			b.Fatal(err, len(ps))
		}
	}
}

// name returns the string of id, looking through the whole table: for
// tests' messages.
func (s *symbols) name(id symbol) string {
	if int(id) >= 1 && int(id) <= s.n {
		return s.prefix + strconv.Itoa(int(id)-1)
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for name, v := range sh.ids {
			if v == id {
				sh.mu.Unlock()
				return name
			}
		}
		sh.mu.Unlock()
	}
	return ""
}
