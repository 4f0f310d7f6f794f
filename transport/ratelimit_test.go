package transport_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/phx/transport"
)

// fakeClock is a ConnectLimiter's clock that moves only when told.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() int64           { return c.ns.Load() }
func (c *fakeClock) step(d time.Duration) { c.ns.Add(int64(d)) }
func stepped(l *transport.ConnectLimiter) *fakeClock {
	c := &fakeClock{}
	transport.StepClock(l, c.now)
	return c
}

// Past its address's burst, a WebSocket connect is answered 429 with
// Retry-After, before Connect runs; the refusals are counted and logged
// once; once the bucket has refilled, the address connects again.
func TestWebSocketConnectRate(t *testing.T) {
	logs := &syncBuffer{}
	limit := transport.NewConnectLimiter(transport.ConnectLimit{Rate: transport.Rate{PerSecond: 0.5, Burst: 2}})
	clock := stepped(limit)
	h := newHarness(t, transport.WebSocketConfig{ConnectLimit: limit, Logger: slog.New(slog.NewTextHandler(logs, nil))}, withEcho)
	for range 2 {
		dial(h, "", nil)
		h.accept()
		waitFor(t, h.reqs, "Connect")
	}
	for range 3 {
		_, resp, err := tryDial(h, "", nil, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a connect past the rate: %v, %+v", err, resp)
		}
		if got := resp.Header.Get("Retry-After"); got != "2" {
			t.Errorf("Retry-After %q, want 2 (a token every 2 s)", got)
		}
	}
	if !isEmpty(h.reqs) {
		t.Fatal("Connect ran for a connect past the rate")
	}
	if s := h.ws.Stats(); s.ConnectsRefused[transport.RefusedRate] != 3 {
		t.Errorf("refusals counted: %v", s.ConnectsRefused)
	}
	if n := strings.Count(logs.String(), "past its rate"); n != 1 {
		t.Errorf("%d log lines for 3 refusals, want 1:\n%s", n, logs.String())
	}
	clock.step(2 * time.Second)
	dial(h, "", nil)
	h.accept()
	h.close()
	if !strings.Contains(logs.String(), "3 websocket connects refused for their address's rate") {
		t.Errorf("the refusals were not summed at shutdown:\n%s", logs.String())
	}
}

// A long-poll session is a connect: past the rate, the GET that would open
// one is answered 429 with Retry-After; polls of an open session are not
// connects and are never limited.
func TestLongPollConnectRate(t *testing.T) {
	limit := transport.NewConnectLimiter(transport.ConnectLimit{Rate: transport.Rate{PerSecond: 1, Burst: 1}})
	clock := stepped(limit)
	h := newLongPoll(t, transport.LongPollConfig{ConnectLimit: limit})
	tok, _, conn := h.connect(t, "vsn=2.0.0")
	r := h.get(t, "vsn=2.0.0", nil)
	if r.code != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" {
		t.Fatalf("a second session at once: %d %v %s", r.code, r.header, r.body)
	}
	_ = conn.Send([]byte("hello"), false)
	if r := h.get(t, "vsn=2.0.0&token="+tok, nil); r.code != http.StatusOK || !strings.Contains(r.body, "hello") {
		t.Fatalf("a poll of the open session: %d %s", r.code, r.body)
	}
	if s := h.lp.Stats(); s.ConnectsRefused[transport.RefusedRate] != 1 {
		t.Errorf("refusals counted: %v", s.ConnectsRefused)
	}
	clock.step(time.Second)
	h.connect(t, "vsn=2.0.0")
}

// Addresses are limited one by one for IPv4 and by /64 for IPv6; an
// exempt address is never limited; what is not an IP address is not
// limited.
func TestConnectRateKeys(t *testing.T) {
	limit := transport.NewConnectLimiter(transport.ConnectLimit{
		Rate:   transport.Rate{PerSecond: 1, Burst: 1},
		Exempt: func(a netip.Addr) bool { return a.IsLoopback() },
	})
	stepped(limit)
	for _, tc := range []struct {
		first, second string
		shared        bool
	}{
		{"192.0.2.1:1000", "192.0.2.1:2000", true},                      // one address, two ports
		{"192.0.2.2:1000", "192.0.2.3:1000", false},                     // two IPv4 addresses
		{"[2001:db8:1:2::1]:1000", "[2001:db8:1:2:ffff::9]:1000", true}, // one /64
		{"[2001:db8:1:3::1]:1000", "[2001:db8:1:4::1]:1000", false},     // two /64s
		{"[::ffff:192.0.2.4]:1000", "192.0.2.4:1000", true},             // IPv4-mapped IPv6 is IPv4
		{"[fe80::1%eth0]:1000", "[fe80::2%eth1]:1000", true},            // zones dropped
	} {
		if ok, _ := transport.AllowConnect(limit, tc.first); !ok {
			t.Fatalf("%s: refused at once", tc.first)
		}
		if ok, _ := transport.AllowConnect(limit, tc.second); ok == tc.shared {
			t.Errorf("%s after %s: allowed %v, want %v", tc.second, tc.first, ok, !tc.shared)
		}
	}
	for _, exempt := range []string{"127.0.0.1:1", "[::1]:1", "@", "not an address"} {
		for i := range 5 {
			if ok, _ := transport.AllowConnect(limit, exempt); !ok {
				t.Fatalf("%s refused at connect %d", exempt, i+1)
			}
		}
	}
}

// The table of addresses never holds more than MaxAddrs: the address
// seen longest ago is forgotten first, and one seen recently is kept.
func TestConnectRateTableBounded(t *testing.T) {
	limit := transport.NewConnectLimiter(transport.ConnectLimit{Rate: transport.Rate{PerSecond: 1, Burst: 1}, MaxAddrs: 100})
	stepped(limit)
	keep := "198.51.100.1:1"
	transport.AllowConnect(limit, keep) // its one token taken
	for i := range 10_000 {
		transport.AllowConnect(limit, fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255))
		if i%50 == 0 {
			transport.AllowConnect(limit, keep) // seen again: kept, still empty
		}
		if n := limit.Len(); n > 100 {
			t.Fatalf("%d addresses tracked, MaxAddrs 100", n)
		}
	}
	if ok, _ := transport.AllowConnect(limit, keep); ok {
		t.Error("an address seen recently was forgotten: its empty bucket came back full")
	}
	if ok, _ := transport.AllowConnect(limit, "10.0.0.0:1"); !ok {
		t.Error("the address seen longest ago is still tracked")
	}
}
