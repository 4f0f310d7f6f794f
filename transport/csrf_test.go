package transport_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/phxgo/phx/transport"
)

// A token made as Plug.CSRFProtection makes them (state and mask of known
// bytes, masked and encoded by hand) is valid.
func TestCSRFTokenPlugVector(t *testing.T) {
	const (
		state = "AAECAwQFBgcICQoLDA0ODw=="                                 // bytes 0..15
		token = "GwYTLhtFOTYjChc6IQZaOicJdjYnAAAAZGVmZ2hpamtsbW5vcHFycw==" // mask: bytes 100..115
	)
	if !transport.ValidCSRFToken(state, token) {
		t.Fatal("Plug's token for the state is not valid")
	}
	if transport.ValidCSRFToken("AAECAwQFBgcICQoLDA0ODg==", token) {
		t.Fatal("the token is valid for another state")
	}
}

func TestCSRFTokens(t *testing.T) {
	state := transport.NewCSRFState()
	a, b := transport.MaskCSRFToken(state), transport.MaskCSRFToken(state)
	if len(state) != 24 || len(a) != 56 || a == b {
		t.Fatalf("state %q, tokens %q %q: want 24 and 56 characters, masks that differ", state, a, b)
	}
	if !transport.ValidCSRFToken(state, a) || !transport.ValidCSRFToken(state, b) {
		t.Fatal("a masked token is not valid for its state")
	}
	flipped := []byte(a)
	flipped[3] ^= 1
	for _, bad := range []string{"", a[:55], a + "x", string(flipped), strings.Repeat("!", 56)} {
		if transport.ValidCSRFToken(state, bad) {
			t.Errorf("token %q is valid", bad)
		}
	}
	if transport.ValidCSRFToken(transport.NewCSRFState(), a) {
		t.Error("a token is valid for another state")
	}
	if transport.ValidCSRFToken("short", a) || transport.MaskCSRFToken("short") != "" {
		t.Error("a state of the wrong size is accepted")
	}
}

// cookieSessions is a session store of one session, under the cookie
// _app_key=s1.
func cookieSessions(state string) func(*http.Request) map[string]any {
	return func(r *http.Request) map[string]any {
		if c, err := r.Cookie("_app_key"); err == nil && c.Value == "s1" {
			return map[string]any{"_csrf_token": state, "user_id": "42"}
		}
		return nil
	}
}

// §1.4, §10 row 9: the session reaches Connect with its cookie and a valid
// _csrf_token param; otherwise it is nil.
func TestConnectInfoSession(t *testing.T) {
	state := transport.NewCSRFState()
	token := transport.MaskCSRFToken(state)
	cookie := http.Header{"Cookie": {"_app_key=s1"}}
	for _, tc := range []struct {
		name  string
		query string
		hdr   http.Header
		skip  bool
		want  bool
	}{
		{"cookie and token", "vsn=2.0.0&_csrf_token=" + token, cookie, false, true},
		{"no token", "vsn=2.0.0", cookie, false, false},
		{"token of another state", "vsn=2.0.0&_csrf_token=" + transport.MaskCSRFToken(transport.NewCSRFState()), cookie, false, false},
		{"no cookie", "vsn=2.0.0&_csrf_token=" + token, nil, false, false},
		{"unknown cookie", "vsn=2.0.0&_csrf_token=" + token, http.Header{"Cookie": {"_app_key=s2"}}, false, false},
		{"check off", "vsn=2.0.0", cookie, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, transport.WebSocketConfig{Session: &transport.CookieSession{Load: cookieSessions(state), SkipCSRF: tc.skip}})
			dial(h, tc.query, tc.hdr)
			info := waitFor(t, h.reqs, "Connect").Info
			if got := info.Session != nil; got != tc.want {
				t.Fatalf("session %v, want one: %v", info.Session, tc.want)
			}
			if tc.want && info.Session["user_id"] != "42" {
				t.Errorf("session %v", info.Session)
			}
			if info.Header.Get("Cookie") != "" {
				t.Error("the cookie header reached Connect")
			}
		})
	}
}

// Without a CookieSession there is no session, cookie and token or not.
func TestConnectInfoNoSessionConfigured(t *testing.T) {
	state := transport.NewCSRFState()
	h := newHarness(t, transport.WebSocketConfig{})
	dial(h, "vsn=2.0.0&_csrf_token="+transport.MaskCSRFToken(state), http.Header{"Cookie": {"_app_key=s1"}})
	if s := waitFor(t, h.reqs, "Connect").Info.Session; s != nil {
		t.Fatalf("session %v without a CookieSession", s)
	}
}

// Long-poll takes the session from the GET that creates its session.
func TestLongPollConnectInfoSession(t *testing.T) {
	state := transport.NewCSRFState()
	h := newLongPoll(t, transport.LongPollConfig{Session: &transport.CookieSession{Load: cookieSessions(state)}})
	for _, tc := range []struct {
		query string
		want  bool
	}{
		{"vsn=2.0.0&_csrf_token=" + transport.MaskCSRFToken(state), true},
		{"vsn=2.0.0&_csrf_token=" + transport.MaskCSRFToken(transport.NewCSRFState()), false},
	} {
		r, err := h.requestTo(t.Context(), h.url, http.MethodGet, tc.query, http.Header{"Cookie": {"_app_key=s1"}}, "")
		if err != nil {
			t.Fatal(err)
		}
		want410(t, r)
		info := waitFor(t, h.reqs, "Connect").Info
		if got := info.Session != nil; got != tc.want {
			t.Errorf("%s: session %v, want one: %v", tc.query, info.Session, tc.want)
		}
	}
}
