package transport_test

// Handshake tests: what happens before and during the upgrade
// (docs/protocol.md §1, §10 rows 14, 15, 18, 23–26).

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/lxzan/gws"

	"github.com/phxgo/phx/transport"
)

func TestNotAnUpgrade(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{})
	url := h.srv.URL + "/socket/websocket"
	hc := h.srv.Client()

	// A plain GET is what a browser sends when someone opens the socket URL:
	// Phoenix answers 400 with the reason as text (§10 row 23).
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "'connection' header must contain 'upgrade'") {
		t.Errorf("plain GET: %d %q, want 400 with the connection reason", resp.StatusCode, body)
	}

	// Any other method is a 400 with an empty body (§1.1).
	resp, err = hc.Post(url, "text/plain", strings.NewReader("hi"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || len(body) != 0 {
		t.Errorf("POST: %d %q, want 400 with an empty body", resp.StatusCode, body)
	}

	// Each missing piece of an upgrade request is named.
	for _, tc := range []struct {
		name string
		hdr  http.Header
		want string
	}{
		{"no upgrade header", http.Header{"Upgrade": nil}, "'upgrade' header must contain 'websocket'"},
		{"upgrade to something else", http.Header{"Upgrade": {"h2c"}}, "'upgrade' header must contain 'websocket'"},
		{"no key", http.Header{"Sec-Websocket-Key": nil}, "'sec-websocket-key' header is missing"},
		{"old version", http.Header{"Sec-Websocket-Version": {"8"}}, "'sec-websocket-version' header must be '13'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawHandshake(h, "", tc.hdr, 0)
			if body := c.body(t); c.resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %q, want 400 %q", c.resp.StatusCode, body, tc.want)
			}
		})
	}
	if !isEmpty(h.reqs) {
		t.Error("Connect was called for a request that is not an upgrade")
	}
}

// TestHandshakeRefused covers every refusal that must happen before Connect,
// answered 403 with an empty body (§1.7).
func TestHandshakeRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   transport.WebSocketConfig
		query string
		hdr   http.Header
	}{
		{name: "vsn matches no serializer", query: "vsn=123.1.1"},
		{name: "vsn 2.1.0", query: "vsn=2.1.0"},
		{name: "vsn not semver", query: "vsn=2.0"},
		{name: "vsn as a list", query: "vsn[]=x"},
		{name: "vsn as a map", query: "vsn[a]=2.0.0"},
		{name: "last vsn wins and is refused", query: "vsn=2.0.0&vsn=123.1.1"},
		{name: "origin of another host", hdr: http.Header{"Origin": {"http://evil.example"}}},
		{name: "origin that does not parse", hdr: http.Header{"Origin": {"http://[::1"}}},
		{name: "null origin", hdr: http.Header{"Origin": {"null"}}},
		{name: "origin not in the list", cfg: transport.WebSocketConfig{CheckOrigin: transport.AllowOrigins("//example.com")},
			hdr: http.Header{"Origin": {"http://notallowed.com"}}},
		{name: "subprotocol not accepted", cfg: transport.WebSocketConfig{Subprotocols: []string{"sip"}},
			hdr: http.Header{"Sec-Websocket-Protocol": {"mqtt"}}},
		{name: "two auth tokens", hdr: http.Header{"Sec-Websocket-Protocol": {"phoenix, base64url.bearer.phx.YQ, base64url.bearer.phx.Yg"}}},
		{name: "auth token not base64", hdr: http.Header{"Sec-Websocket-Protocol": {"phoenix, base64url.bearer.phx.!!!"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			c := rawHandshake(h, tc.query, tc.hdr, 0)
			if body := c.body(t); c.resp.StatusCode != http.StatusForbidden || body != "" {
				t.Errorf("got %d %q, want 403 with an empty body", c.resp.StatusCode, body)
			}
			if !isEmpty(h.reqs) {
				t.Error("Connect was called")
			}
		})
	}
}

func TestSerializerFromVsn(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{})
	for _, tc := range []struct{ query, want string }{
		{"", "1.0.0"}, // absent means 1.0.0 (§1.2)
		{"vsn=1.0.0", "1.0.0"},
		{"vsn=1.0.7", "1.0.0"},
		{"vsn=2.0.0", "2.0.0"},
		{"vsn=2.0.3", "2.0.0"},
		{"vsn=1.0.0&vsn=2.0.0", "2.0.0"}, // the last value wins, as everywhere
	} {
		dial(h, tc.query, nil)
		req := waitFor(t, h.reqs, "Connect")
		if got := req.Serializer.Version(); got != tc.want {
			t.Errorf("%q: serializer %s, want %s", tc.query, got, tc.want)
		}
	}
}

func TestConnectParams(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{})
	// The long-poll token is appended after the application's own params:
	// the last value must win (§1.3, §5.3).
	dial(h, "token=a&vsn=2.0.0&token=b&user[name]=ann&flag", nil)
	req := waitFor(t, h.reqs, "Connect")
	want := map[string]string{"token": "b", "vsn": "2.0.0", "user[name]": "ann", "flag": ""}
	if fmt.Sprint(req.Params) != fmt.Sprint(want) {
		t.Errorf("Params = %v, want %v", req.Params, want)
	}
	if req.Transport != "websocket" {
		t.Errorf("Transport = %q", req.Transport)
	}
}

func TestConnectInfo(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{})
	c := dial(h, "token=a&vsn=2.0.0", http.Header{
		"X-Request-Id":    {"r1"},
		"X-Forwarded-For": {"10.0.0.1", "10.0.0.2"},
		"Traceparent":     {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		"Tracestate":      {"k=v"},
		"User-Agent":      {"phx-test/1"},
		"Cookie":          {"_app_key=secret"},
		"Authorization":   {"Bearer secret"},
	})
	info := waitFor(t, h.reqs, "Connect").Info

	if want := c.conn.LocalAddr().String(); info.PeerAddr != want {
		t.Errorf("PeerAddr = %q, want %q", info.PeerAddr, want)
	}
	u := info.URI
	if u.Scheme != "ws" || u.Host != h.srv.Listener.Addr().String() || u.Path != "/socket/websocket" || u.RawQuery != "token=a&vsn=2.0.0" {
		t.Errorf("URI = %s", u)
	}
	for k, want := range map[string]string{
		"X-Request-Id":          "r1",
		"Traceparent":           "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"Tracestate":            "k=v",
		"User-Agent":            "phx-test/1",
		"Sec-Websocket-Version": "13",
	} {
		if got := info.Header.Get(k); got != want {
			t.Errorf("Header %s = %q, want %q", k, got, want)
		}
	}
	if got := info.Header.Values("X-Forwarded-For"); len(got) != 2 {
		t.Errorf("X-Forwarded-For = %q, want both values", got)
	}
	if info.Header.Get("Sec-Websocket-Key") == "" {
		t.Error("Sec-WebSocket-Key is missing")
	}
	// Connect must not see credentials a cross-site page would send along.
	for _, k := range []string{"Cookie", "Authorization", "Connection", "Upgrade"} {
		if v := info.Header.Values(k); v != nil {
			t.Errorf("Header %s = %q, want it left out", k, v)
		}
	}
	if info.AuthToken != "" {
		t.Errorf("AuthToken = %q without a token", info.AuthToken)
	}
}

func TestTLS(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{CheckOrigin: transport.SameOrigin}, withTLS, withEcho)
	if !strings.HasPrefix(h.url, "wss://") {
		t.Fatalf("url %s", h.url)
	}
	// SameOrigin knows the request came over TLS.
	host := h.srv.Listener.Addr().String()
	c := dial(h, "vsn=2.0.0", http.Header{"Origin": {"https://" + host}})
	if u := waitFor(t, h.reqs, "Connect").Info.URI; u.Scheme != "wss" || u.Host != host {
		t.Errorf("URI = %s, want wss://%s/...", u, host)
	}
	c.send(t, "over tls")
	if f := c.next(t); f.data != "over tls" {
		t.Errorf("echo %q", f.data)
	}
	if _, resp, err := tryDial(h, "", http.Header{"Origin": {"http://" + host}}, nil); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("http origin on a TLS server: %v, want 403", err)
	}
}

func TestConnectRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"plain error", errors.New("nope"), http.StatusForbidden},
		{"refused without status", &transport.RefusedError{Reason: "no"}, http.StatusForbidden},
		{"rate limited", &transport.RefusedError{Status: http.StatusTooManyRequests}, http.StatusTooManyRequests},
		{"wrapped refusal", fmt.Errorf("auth: %w", &transport.RefusedError{Status: 401}), 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, transport.WebSocketConfig{}, func(h *harness) {
				h.refuse = func(*transport.ConnectRequest) error { return tc.err }
			})
			c := rawHandshake(h, "vsn=2.0.0", nil, 0)
			if body := c.body(t); c.resp.StatusCode != tc.want || body != "" {
				t.Errorf("got %d %q, want %d with an empty body", c.resp.StatusCode, body, tc.want)
			}
			waitFor(t, h.reqs, "Connect")
			// The session a refusing Handler returns beside its error is
			// never driven. The response was written after Connect
			// returned, so an Open would have happened by now.
			s := waitFor(t, h.refused, "the refused session")
			if st := s.state.Load(); st != 0 {
				t.Errorf("refused session in state %d, want never opened", st)
			}
			if h.ws.Len() != 0 {
				t.Error("a refused connection was kept")
			}
		})
	}
}

func TestOriginSameHostByDefault(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{})
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},                      // no Origin: not a browser, passes (§1.5)
		{"http://127.0.0.1:9999", true}, // same host, port ignored
		{"https://127.0.0.1", true},     // same host, scheme ignored
		{"http://localhost", false},     // another name for it is another host
		{"http://127.0.0.2", false},
	} {
		var hdr http.Header
		if tc.origin != "" {
			hdr = http.Header{"Origin": {tc.origin}}
		}
		c := rawHandshake(h, "", hdr, 0)
		switch {
		case tc.ok && c.resp.StatusCode != http.StatusSwitchingProtocols:
			t.Errorf("origin %q: %d, want 101", tc.origin, c.resp.StatusCode)
		case !tc.ok && c.resp.StatusCode != http.StatusForbidden:
			t.Errorf("origin %q: %d, want 403", tc.origin, c.resp.StatusCode)
		}
		if called := !isEmpty(h.reqs); called != tc.ok {
			t.Errorf("origin %q: Connect called = %v", tc.origin, called)
		}
		c.Close()
	}
}

func TestOriginList(t *testing.T) {
	// §10 row 14: a list entry without scheme accepts any scheme.
	h := newHarness(t, transport.WebSocketConfig{CheckOrigin: transport.AllowOrigins("//example.com")})
	if c := rawHandshake(h, "", http.Header{"Origin": {"https://example.com"}}, 0); c.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("allowed origin: %d, want 101", c.resp.StatusCode)
	}
	if c := rawHandshake(h, "", http.Header{"Origin": {"http://notallowed.com"}}, 0); c.resp.StatusCode != http.StatusForbidden {
		t.Errorf("other origin: %d, want 403", c.resp.StatusCode)
	}
}

func TestSubprotocols(t *testing.T) {
	b64 := func(tok string) string { return strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(tok)), "=") }
	// "??>???" encodes to "Pz8+Pz8/": both characters where the alphabets
	// differ, so the URL-alphabet row really tests the fallback.
	odd := "??>???"
	if enc := b64(odd); !strings.ContainsAny(enc, "+/") {
		t.Fatalf("test token encodes to %q, want + or / in it", enc)
	}
	urlEnc := base64.RawURLEncoding.EncodeToString([]byte(odd))

	for _, tc := range []struct {
		name      string
		accept    []string // WebSocketConfig.Subprotocols
		offer     []string // Sec-WebSocket-Protocol header lines
		wantProto string   // echoed protocol, "" for none
		wantToken string
	}{
		{name: "none offered"},
		{name: "none offered, sip configured", accept: []string{"sip"}},
		{name: "phoenix", offer: []string{"phoenix"}, wantProto: "phoenix"},
		{name: "sip", accept: []string{"sip"}, offer: []string{"sip"}, wantProto: "sip"},
		{name: "mqtt then sip", accept: []string{"sip"}, offer: []string{"mqtt, sip"}, wantProto: "sip"},
		{name: "JS authToken", offer: []string{"phoenix, base64url.bearer.phx." + b64("tok+en/=x")},
			wantProto: "phoenix", wantToken: "tok+en/=x"},
		{name: "token with + and /", offer: []string{"phoenix, base64url.bearer.phx." + b64(odd)},
			wantProto: "phoenix", wantToken: odd},
		{name: "token in the URL alphabet", offer: []string{"phoenix, base64url.bearer.phx." + urlEnc},
			wantProto: "phoenix", wantToken: odd},
		{name: "padded token", offer: []string{"phoenix, base64url.bearer.phx." + base64.StdEncoding.EncodeToString([]byte("ab"))},
			wantProto: "phoenix", wantToken: "ab"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, transport.WebSocketConfig{Subprotocols: tc.accept})
			var hdr http.Header
			if tc.offer != nil {
				hdr = http.Header{"Sec-Websocket-Protocol": tc.offer}
			}
			c := rawHandshake(h, "", hdr, 0)
			if c.resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d, want 101", c.resp.StatusCode)
			}
			if got := c.resp.Header.Values("Sec-Websocket-Protocol"); strings.Join(got, ",") != tc.wantProto {
				t.Errorf("response protocol %q, want %q", got, tc.wantProto)
			}
			if got := waitFor(t, h.reqs, "Connect").Info.AuthToken; got != tc.wantToken {
				t.Errorf("AuthToken = %q, want %q", got, tc.wantToken)
			}
		})
	}
}

// A client may send Sec-WebSocket-Protocol as several header lines
// (RFC 6455 §4.1 allows it; RFC 9110 makes them one list).
func TestSubprotocolsOnSeveralLines(t *testing.T) {
	h := newHarness(t, transport.WebSocketConfig{})
	c := rawHandshake(h, "", http.Header{"Sec-Websocket-Protocol": {"base64url.bearer.phx.dG9r", "phoenix"}}, 0)
	if c.resp.StatusCode != http.StatusSwitchingProtocols || c.resp.Header.Get("Sec-Websocket-Protocol") != "phoenix" {
		t.Fatalf("got %d protocol %q, want 101 phoenix", c.resp.StatusCode, c.resp.Header.Get("Sec-Websocket-Protocol"))
	}
	if tok := waitFor(t, h.reqs, "Connect").Info.AuthToken; tok != "tok" {
		t.Errorf("AuthToken = %q", tok)
	}
}

func TestCompression(t *testing.T) {
	big := strings.Repeat("phoenix channels ", 256) // 4 KiB, compresses well
	deflate := func(o *gws.ClientOption) { o.PermessageDeflate = gws.PermessageDeflate{Enabled: true} }

	t.Run("on", func(t *testing.T) {
		h := newHarness(t, transport.WebSocketConfig{Compress: true}, withEcho)
		c, resp, err := tryDial(h, "", nil, deflate)
		if err != nil {
			t.Fatal(err)
		}
		ext := resp.Header.Get("Sec-Websocket-Extensions")
		// No context takeover either way keeps per-connection memory small.
		for _, want := range []string{"permessage-deflate", "server_no_context_takeover", "client_no_context_takeover"} {
			if !strings.Contains(ext, want) {
				t.Errorf("Sec-WebSocket-Extensions %q lacks %s", ext, want)
			}
		}
		for _, msg := range []string{big, "short", big + "!"} {
			c.send(t, msg)
			if got := c.next(t); got.data != msg {
				t.Errorf("echo of %d bytes came back as %d bytes", len(msg), len(got.data))
			}
		}
	})

	t.Run("on, frame bits", func(t *testing.T) {
		h := newHarness(t, transport.WebSocketConfig{Compress: true})
		// What a browser offers.
		c := rawHandshake(h, "", http.Header{"Sec-Websocket-Extensions": {"permessage-deflate; client_max_window_bits"}}, 0)
		_, conn := h.accept()
		if err := conn.Send([]byte(big), false); err != nil {
			t.Fatal(err)
		}
		f := c.readFrame(t)
		if !f.rsv1 || len(f.payload) >= len(big) {
			t.Errorf("frame rsv1=%v, %d bytes for %d: want it compressed", f.rsv1, len(f.payload), len(big))
		}
	})

	t.Run("off", func(t *testing.T) {
		h := newHarness(t, transport.WebSocketConfig{}, withEcho)
		c, resp, err := tryDial(h, "", nil, deflate)
		if err != nil {
			t.Fatal(err)
		}
		if ext := resp.Header.Values("Sec-Websocket-Extensions"); ext != nil {
			t.Errorf("Sec-WebSocket-Extensions = %q with compression off", ext)
		}
		c.send(t, big)
		if got := c.next(t); got.data != big {
			t.Error("echo differs")
		}
	})
}

// DNS rebinding: a page of evil.example whose name resolves to this
// server sends Host and Origin both evil.example. SameHost, trusting the
// Host, lets it upgrade; AllowHosts, naming the hosts the server serves,
// does not, and still lets the page of those hosts in.
func TestOriginDNSRebinding(t *testing.T) {
	rebound := http.Header{"Host": {"evil.example:4000"}, "Origin": {"http://evil.example:4000"}}
	same := newHarness(t, transport.WebSocketConfig{})
	if c := rawHandshake(same, "", rebound, 0); c.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("SameHost: %d: the case this test is about no longer arises", c.resp.StatusCode)
	}
	h := newHarness(t, transport.WebSocketConfig{CheckOrigin: transport.AllowHosts("127.0.0.1", "localhost")})
	if c := rawHandshake(h, "", rebound, 0); c.resp.StatusCode != http.StatusForbidden {
		t.Errorf("AllowHosts, rebound page: %d, want 403", c.resp.StatusCode)
	}
	if !isEmpty(h.reqs) {
		t.Error("Connect ran for the rebound page")
	}
	own := http.Header{"Origin": {"http://127.0.0.1:4000"}}
	if c := rawHandshake(h, "", own, 0); c.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("AllowHosts, the server's own page: %d, want 101", c.resp.StatusCode)
	}
	if s := h.ws.Stats(); s.ConnectsRefused[transport.RefusedOrigin] != 1 {
		t.Errorf("refusals counted: %v", s.ConnectsRefused)
	}
}
