package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/phxgo/phx/internal/phxclient"
)

// dialJoined connects user to srv and joins topic; it waits for the join's
// reply.
func dialJoined(t *testing.T, srv *server, user, topic string) *phxclient.Client {
	t.Helper()
	c := dialAs(t, srv, user)
	t.Cleanup(c.Close)
	_ = c.Send(`["1","1","` + topic + `","phx_join",{}]`)
	if st, resp := reply(t, c, "1"); st != "ok" {
		t.Fatalf("%s joining %s: %s %s", user, topic, st, resp)
	}
	return c
}

// nextEvent returns the payload of the next push of event on c.
func nextEvent(t *testing.T, c *phxclient.Client, event string) string {
	t.Helper()
	for {
		m, err := c.Next(10 * time.Second)
		if err != nil {
			t.Fatalf("waiting for %s: %v", event, err)
		}
		if m.Event == event {
			return m.Topic + " " + string(m.Payload)
		}
	}
}

// A dm reaches every socket of its recipient, in whatever room, and
// nobody else; bad ones are refused with their reason.
func TestDirectMessages(t *testing.T) {
	srv := startSample(t, buildSample(t), filepath.Join(t.TempDir(), "chat.db"))
	annHome := dialJoined(t, srv, "ann", "room:lobby")
	annPhone := dialJoined(t, srv, "ann", "room:random")
	bob := dialJoined(t, srv, "bob", "room:lobby")
	cid := dialJoined(t, srv, "cid", "room:lobby")

	_ = bob.Send(`["1","2","room:lobby","dm",{"to":"ann","body":"psst"}]`)
	if st, resp := reply(t, bob, "2"); st != "ok" {
		t.Fatalf("dm: %s %s", st, resp)
	}
	want := `{"body":"psst","from":"bob"}`
	if got := nextEvent(t, annHome, "dm"); got != "room:lobby "+want {
		t.Errorf("ann's first socket got %s", got)
	}
	if got := nextEvent(t, annPhone, "dm"); got != "room:random "+want {
		t.Errorf("ann's second socket got %s", got)
	}

	for ref, tc := range map[string]struct{ payload, reason string }{
		"3": {`{"to":"ann smith","body":"hi"}`, "invalid recipient"},
		"4": {`{"to":"ann","body":"   "}`, "invalid body"},
		"5": {`{"to":"ann","body":42}`, "invalid payload"},
	} {
		_ = bob.Send(`["1","` + ref + `","room:lobby","dm",` + tc.payload + `]`)
		if st, resp := reply(t, bob, ref); st != "error" || resp != `{"reason":"`+tc.reason+`"}` {
			t.Errorf("dm %s: %s %s", tc.payload, st, resp)
		}
	}

	// cid saw none of it: a ping's answer comes after anything sent to it
	// before.
	_ = cid.Send(`["1","9","room:lobby","ping",{}]`)
	for {
		m, err := cid.Next(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m.Event == "dm" {
			t.Fatalf("cid got a dm: %s", m.Payload)
		}
		if m.Event == "phx_reply" && m.Ref == `"9"` {
			break
		}
	}
}
