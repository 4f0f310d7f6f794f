package transport_test

// Long-poll tests, part one: the session-creating GET, polls and the
// session token (docs/protocol.md §1.3, §1.5, §5.1–5.3, §10 rows 30, 32,
// 40, 41, 45, 47–52). The harness is in longpoll_harness_test.go.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptrace"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phx/transport"
)

func TestLongPollFirstGET(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{})
	r := h.get(t, "", nil)
	tok := want410(t, r)
	req := waitFor(t, h.reqs, "Connect")
	if req.Transport != "longpoll" {
		t.Errorf("Transport = %q, want longpoll", req.Transport)
	}
	s, conn := h.accept()
	if conn == nil || s.state.Load() != 1 {
		t.Errorf("session state %d after the first GET, want open", s.state.Load())
	}
	if n := h.lp.Len(); n != 1 {
		t.Errorf("Len() = %d, want 1", n)
	}
	// The token is opaque but must be usable as a query value as it is.
	if strings.ContainsAny(tok, "+/=&%? ") {
		t.Errorf("token %q needs escaping in a URL", tok)
	}
	// A second first GET is another session with another token.
	if tok2 := want410(t, h.get(t, "", nil)); tok2 == tok {
		t.Error("two sessions got the same token")
	}
	if n := h.lp.Len(); n != 2 {
		t.Errorf("Len() = %d, want 2", n)
	}
}

func TestLongPollSerializerFromVsn(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{})
	for _, tc := range []struct{ query, want string }{
		{"", "1.0.0"}, // absent means 1.0.0 (§1.2)
		{"vsn=1.0.0", "1.0.0"},
		{"vsn=1.0.7", "1.0.0"},
		{"vsn=2.0.0", "2.0.0"},
		{"vsn=2.0.3", "2.0.0"},
		{"vsn=1.0.0&vsn=2.0.0", "2.0.0"}, // the last value wins
	} {
		want410(t, h.get(t, tc.query, nil))
		if got := waitFor(t, h.reqs, "Connect").Serializer.Version(); got != tc.want {
			t.Errorf("%q: serializer %s, want %s", tc.query, got, tc.want)
		}
	}
	// §10 row 45; a refused vsn never reaches Connect.
	for _, q := range []string{"vsn=123.1.1", "vsn=2.1.0", "vsn=2.0", "vsn[]=2.0.0", "vsn=2.0.0&vsn=123.1.1"} {
		wantStatus(t, h.get(t, q, nil), 403)
		if !isEmpty(h.reqs) {
			t.Errorf("%q: Connect was called", q)
		}
	}
	if n := h.lp.Len(); n != 6 {
		t.Errorf("Len() = %d, want 6", n)
	}
}

func TestLongPollConnectParams(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{})
	want410(t, h.get(t, "token=a&vsn=2.0.0&token=b&user[name]=ann&flag", nil))
	req := waitFor(t, h.reqs, "Connect")
	want := map[string]string{"token": "b", "vsn": "2.0.0", "user[name]": "ann", "flag": ""}
	if !reflect.DeepEqual(req.Params, want) {
		t.Errorf("Params = %v, want %v", req.Params, want)
	}

	// §10 row 49: the mux pattern's wildcards are params too.
	r, err := h.requestTo(context.Background(), h.srv.URL+"/t/acme/longpoll", http.MethodGet, "vsn=2.0.0", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	want410(t, r)
	req = waitFor(t, h.reqs, "Connect")
	if want := map[string]string{"tenant": "acme", "vsn": "2.0.0"}; !reflect.DeepEqual(req.Params, want) {
		t.Errorf("Params = %v, want %v", req.Params, want)
	}
}

// §1.4, §10 row 32: connect_info comes from the session-creating GET.
func TestLongPollConnectInfo(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{})
	var local string
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { local = ci.Conn.LocalAddr().String() }}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	r, err := h.requestTo(ctx, h.url, http.MethodGet, "vsn=1.0.0&x=1", http.Header{
		"X-Request-Id":        {"r1"},
		"X-Forwarded-For":     {"10.0.0.1", "10.0.0.2"},
		"X-Phoenix-AuthToken": {"secret-token"},
		"Traceparent":         {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		"Tracestate":          {"k=v"},
		"User-Agent":          {"phx-test/1"},
		"Accept":              {"application/json"},
		"Cookie":              {"_app_key=secret"},
		"Authorization":       {"Bearer secret"},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	want410(t, r)
	info := waitFor(t, h.reqs, "Connect").Info

	if info.PeerAddr != local {
		t.Errorf("PeerAddr = %q, want the client's address %q", info.PeerAddr, local)
	}
	u := info.URI
	if u.Scheme != "http" || u.Host != h.srv.Listener.Addr().String() || u.Path != "/socket/longpoll" || u.RawQuery != "vsn=1.0.0&x=1" {
		t.Errorf("URI = %s", u)
	}
	for k, want := range map[string]string{
		"X-Request-Id": "r1",
		"Traceparent":  "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"Tracestate":   "k=v",
		"User-Agent":   "phx-test/1",
	} {
		if got := info.Header.Get(k); got != want {
			t.Errorf("Header %s = %q, want %q", k, got, want)
		}
	}
	if got := info.Header.Values("X-Forwarded-For"); len(got) != 2 {
		t.Errorf("X-Forwarded-For = %q, want both values", got)
	}
	for _, k := range []string{"Cookie", "Authorization", "Accept"} {
		if v := info.Header.Values(k); v != nil {
			t.Errorf("Header %s = %q, want it left out", k, v)
		}
	}
	if info.AuthToken != "secret-token" {
		t.Errorf("AuthToken = %q, want the X-Phoenix-AuthToken header", info.AuthToken)
	}

	want410(t, h.get(t, "", nil))
	if tok := waitFor(t, h.reqs, "Connect").Info.AuthToken; tok != "" {
		t.Errorf("AuthToken = %q without the header", tok)
	}
}

// §10 row 40: every refusal is {"status":403}; the JS client would throw
// on any other status, so a RefusedError's own status is not used here.
func TestLongPollConnectRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"plain error", errors.New("nope")},
		{"refused with a status", &transport.RefusedError{Status: http.StatusTooManyRequests}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newLongPoll(t, transport.LongPollConfig{}, func(h *harness) {
				h.refuse = func(*transport.ConnectRequest) error { return tc.err }
			})
			wantStatus(t, h.get(t, "vsn=2.0.0", nil), 403)
			waitFor(t, h.reqs, "Connect")
			// Connect returned before the answer was written: an Open would
			// have happened by now.
			if s := waitFor(t, h.refused, "the refused session"); s.state.Load() != 0 {
				t.Errorf("refused session in state %d, want never opened", s.state.Load())
			}
			if n := h.lp.Len(); n != 0 {
				t.Errorf("Len() = %d after a refusal", n)
			}
		})
	}
}

// §1.5, §10 rows 41 and 47: the origin is checked on every request,
// OPTIONS included, before anything else.
func TestLongPollOrigin(t *testing.T) {
	t.Run("same host by default", func(t *testing.T) {
		h := newLongPoll(t, transport.LongPollConfig{})
		for _, tc := range []struct {
			origin string
			ok     bool
		}{
			{"", true},                      // no Origin: not a browser
			{"http://127.0.0.1:9999", true}, // same host, port ignored
			{"https://127.0.0.1", true},     // scheme ignored
			{"http://evil.com", false},
			{"http://localhost", false},
			{"null", false},
		} {
			var hdr http.Header
			if tc.origin != "" {
				hdr = http.Header{"Origin": {tc.origin}}
			}
			r := h.get(t, "vsn=2.0.0", hdr)
			if tc.ok {
				want410(t, r)
				waitFor(t, h.reqs, "Connect")
				continue
			}
			wantStatus(t, r, 403)
			if !isEmpty(h.reqs) {
				t.Errorf("origin %q: Connect was called", tc.origin)
			}
		}
	})

	t.Run("every method", func(t *testing.T) {
		h := newLongPoll(t, transport.LongPollConfig{})
		tok, s, _ := h.connect(t, "vsn=2.0.0")
		evil := http.Header{"Origin": {"http://evil.com"}}
		wantStatus(t, h.get(t, tq(tok), evil), 403)
		wantStatus(t, h.do(t, http.MethodOptions, "", http.Header{"Origin": {"http://evil.com"}, "Access-Control-Request-Headers": {"x-a"}}, ""), 403)
		wantStatus(t, h.do(t, http.MethodPost, tq(tok), http.Header{"Origin": {"http://evil.com"}, "Content-Type": {"application/x-ndjson"}}, `["x"]`), 403)
		if !isEmpty(s.frames) {
			t.Error("a POST from a refused origin reached Receive")
		}
	})

	t.Run("list", func(t *testing.T) {
		h := newLongPoll(t, transport.LongPollConfig{CheckOrigin: transport.AllowOrigins("//example.com")})
		want410(t, h.get(t, "", http.Header{"Origin": {"https://example.com"}}))
		wantStatus(t, h.get(t, "", http.Header{"Origin": {"http://notallowed.com"}}), 403)
	})
}

// §5.2: what is buffered is answered at once, all of it, in order.
func TestLongPollBufferedFrames(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{Window: 5 * time.Second})
	tok, _, conn := h.connect(t, "vsn=2.0.0")
	frames := []string{
		`["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]`,
		`[null,null,"room:lobby","user_entered",{"user":null}]`,
		`[null,null,"room:lobby","joined",{"a":"\"quoted\" \\ <tag> & é"}]`,
	}
	for _, f := range frames {
		if err := conn.Send([]byte(f), false); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	wantMessages(t, h.get(t, tq(tok), nil), 200, tok, frames...)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("GET with frames buffered took %v, want an answer at once", d)
	}
	// Taken frames are gone: one more frame is answered alone.
	if err := conn.Send([]byte(`["x"]`), false); err != nil {
		t.Fatal(err)
	}
	wantMessages(t, h.get(t, tq(tok), nil), 200, tok, `["x"]`)
}

// §5.2: with nothing buffered a GET waits; the first frame ends the wait.
func TestLongPollGETWaitsForAFrame(t *testing.T) {
	const window = 5 * time.Second
	h := newLongPoll(t, transport.LongPollConfig{Window: window})
	tok, _, conn := h.connect(t, "vsn=2.0.0")
	start := time.Now()
	got := h.async(http.MethodGet, tq(tok), nil, "")
	waitPolls(t, 1)
	if !isEmpty(got) {
		t.Fatal("the GET answered with nothing buffered")
	}
	if err := conn.Send([]byte(`["late"]`), false); err != nil {
		t.Fatal(err)
	}
	wantMessages(t, waitFor(t, got, "the GET"), 200, tok, `["late"]`)
	if d := time.Since(start); d >= window {
		t.Errorf("the GET took %v: the frame did not end the wait", d)
	}
}

// §5.2: nothing within the window is a 204 that keeps the session.
func TestLongPollWindowExpires(t *testing.T) {
	const window = 200 * time.Millisecond
	h := newLongPoll(t, transport.LongPollConfig{Window: window})
	tok, s, conn := h.connect(t, "vsn=2.0.0")
	start := time.Now()
	wantMessages(t, h.get(t, tq(tok), nil), 204, tok)
	if d := time.Since(start); d < window {
		t.Errorf("204 after %v, before the %v window", d, window)
	}
	if !isEmpty(s.closed) {
		t.Fatal("the session ended")
	}
	if err := conn.Send([]byte(`["after"]`), false); err != nil {
		t.Fatal(err)
	}
	wantMessages(t, h.get(t, tq(tok), nil), 200, tok, `["after"]`)
}

// §5.5: a newer GET takes over the wait; the older one answers 204.
func TestLongPollNewerGETTakesOver(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{Window: 5 * time.Second})
	tok, _, conn := h.connect(t, "vsn=2.0.0")
	older := h.async(http.MethodGet, tq(tok), nil, "")
	waitPolls(t, 1)
	newer := h.async(http.MethodGet, tq(tok), nil, "")
	waitPolls(t, 2)
	if err := conn.Send([]byte(`["for the newer"]`), false); err != nil {
		t.Fatal(err)
	}
	wantMessages(t, waitFor(t, older, "the older GET"), 204, tok)
	wantMessages(t, waitFor(t, newer, "the newer GET"), 200, tok, `["for the newer"]`)
}

// §5.3, §10 row 50: the x-phoenix-longpoll-token header wins over the
// token param.
func TestLongPollTokenHeader(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{Window: 5 * time.Second})
	tok, s, conn := h.connect(t, "vsn=2.0.0")
	if err := conn.Send([]byte(`["a"]`), false); err != nil {
		t.Fatal(err)
	}
	hdr := http.Header{"X-Phoenix-Longpoll-Token": {tok}}
	wantMessages(t, h.get(t, "vsn=2.0.0&token=bogus", hdr), 200, tok, `["a"]`)
	wantStatus(t, h.do(t, http.MethodPost, "token=bogus", http.Header{
		"X-Phoenix-Longpoll-Token": {tok},
		"Content-Type":             {"application/x-ndjson"},
	}, `["b"]`), 200)
	if f := waitFor(t, s.frames, "the POSTed frame"); f.data != `["b"]` {
		t.Errorf("Receive got %q", f.data)
	}

	// The other way round: a bogus header hides a good param.
	if tok2 := want410(t, h.get(t, tq(tok), http.Header{"X-Phoenix-Longpoll-Token": {"bogus"}})); tok2 == tok {
		t.Error("the param was used despite the header")
	}
	waitFor(t, h.reqs, "the new session's Connect")
	wantStatus(t, h.do(t, http.MethodPost, tq(tok), http.Header{
		"X-Phoenix-Longpoll-Token": {"bogus"},
		"Content-Type":             {"application/x-ndjson"},
	}, `["c"]`), 410)
}

// §5.3 gotcha: the app's own token param comes first, the session token
// last. Phoenix and this transport take the last one.
func TestLongPollLastTokenParam(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{Window: 5 * time.Second})
	// The first GET of the JS client ends in "&": its token is the app's.
	tok := want410(t, h.get(t, "token=USER&vsn=2.0.0&", nil))
	if p := waitFor(t, h.reqs, "Connect").Params; p["token"] != "USER" {
		t.Errorf("Params[token] = %q, want the app's USER", p["token"])
	}
	s, conn := h.accept()
	if err := conn.Send([]byte(`["a"]`), false); err != nil {
		t.Fatal(err)
	}
	poll := "token=USER&vsn=2.0.0&token=" + tok
	wantMessages(t, h.get(t, poll, nil), 200, tok, `["a"]`)
	wantStatus(t, h.post(t, poll, "application/x-ndjson", `["b"]`), 200)
	waitFor(t, s.frames, "the POSTed frame")

	// Only the last value counts: the session's token first is not it.
	want410(t, h.get(t, "token="+tok+"&token=USER", nil))
	waitFor(t, h.reqs, "the new session's Connect")
	wantStatus(t, h.post(t, "token="+tok+"&token=USER", "application/x-ndjson", `["c"]`), 410)
	if !isEmpty(s.frames) {
		t.Error("a frame reached the first session")
	}
}

// §5.2: a token that does not verify is treated as absent.
func TestLongPollBadTokens(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{Window: 5 * time.Second})
	tok, s, conn := h.connect(t, "vsn=2.0.0")
	flip := func(i int) string {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	random := make([]byte, 48)
	_, _ = rand.Read(random)
	for name, bad := range map[string]string{
		"first character flipped":  flip(0),
		"middle character flipped": flip(len(tok) / 2),
		"last character flipped":   flip(len(tok) - 1),
		"truncated":                tok[:len(tok)-2],
		"extended":                 tok + "AA",
		"random base64":            base64.RawURLEncoding.EncodeToString(random),
		"not base64":               "!!!",
	} {
		if bad == tok {
			t.Fatalf("%s: same as the token", name)
		}
		wantStatus(t, h.post(t, tq(bad), "application/x-ndjson", `["x"]`), 410)
		if tok2 := want410(t, h.get(t, tq(bad), nil)); tok2 == tok {
			t.Errorf("%s: GET found the session", name)
		}
		waitFor(t, h.reqs, "the new session's Connect")
	}
	// The real session saw none of it and is still there.
	if !isEmpty(s.frames) {
		t.Error("a frame reached the session")
	}
	if err := conn.Send([]byte(`["still"]`), false); err != nil {
		t.Fatal(err)
	}
	wantMessages(t, h.get(t, tq(tok), nil), 200, tok, `["still"]`)
}

// §5.2: the token of a session that is gone gets a new session, whose
// connect params are the app's own, without the dead session token.
func TestLongPollDeadSessionToken(t *testing.T) {
	h := newLongPoll(t, transport.LongPollConfig{Window: 5 * time.Second})
	dead, s, conn := h.connect(t, "token=USER&vsn=2.0.0&")
	conn.Close(transport.CloseNormal, "")
	waitFor(t, s.closed, "Closed")

	for _, tc := range []struct {
		name  string
		query string
		hdr   http.Header
		want  map[string]string
	}{
		{"app token kept", "token=USER&vsn=2.0.0&token=" + dead, nil, map[string]string{"token": "USER", "vsn": "2.0.0"}},
		{"no app token", "vsn=2.0.0&token=" + dead, nil, map[string]string{"vsn": "2.0.0"}},
		{"dead token in the header", "token=USER&vsn=2.0.0", http.Header{"X-Phoenix-Longpoll-Token": {dead}}, map[string]string{"token": "USER", "vsn": "2.0.0"}},
	} {
		tok := want410(t, h.get(t, tc.query, tc.hdr))
		if tok == dead {
			t.Errorf("%s: the dead token came back", tc.name)
		}
		if p := waitFor(t, h.reqs, "Connect").Params; !reflect.DeepEqual(p, tc.want) {
			t.Errorf("%s: Params = %v, want %v", tc.name, p, tc.want)
		}
		h.accept()
	}
	wantStatus(t, h.post(t, tq(dead), "application/x-ndjson", `["x"]`), 410)
}
