package main

import (
	"path/filepath"
	"testing"
	"time"
)

// Two crashes in a row, within the restart budget, leave the member
// joined and tracked once: the instance that crashed first had sent
// itself its after-join message, and that message is lost with it rather
// than tracking the member a second time in the last instance.
func TestRoomSurvivesTwoCrashesInARow(t *testing.T) {
	srv := startSample(t, buildSample(t), filepath.Join(t.TempDir(), "chat.db"))
	c := dialJoined(t, srv, "ann", "room:lobby")
	nextEvent(t, c, "presence_state")
	_ = c.Send(`["1","2","room:lobby","boom",{}]`)
	_ = c.Send(`["1","3","room:lobby","boom",{}]`)
	booms, tracked, answered := 0, false, false
	for !answered {
		m, err := c.Next(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case m.Event == "phx_error" || m.Event == "phx_close":
			t.Fatalf("the channel ended: %s %s", m.Event, m.Payload)
		case m.Event == "phx_reply" && (m.Ref == `"2"` || m.Ref == `"3"`):
			if string(m.Payload) != `{"status":"error","response":{"reason":"channel_crash"}}` {
				t.Fatalf("boom answered %s", m.Payload)
			}
			booms++
		case m.Event == "presence_state" && booms == 2 && !tracked:
			// The last instance has run its after-join: what an earlier
			// one sent itself would be handled next.
			tracked = true
			_ = c.Send(`["1","4","room:lobby","dm",{"to":"bob","body":"still here"}]`)
		case m.Event == "phx_reply" && m.Ref == `"4"`:
			if string(m.Payload) != `{"status":"ok","response":{}}` {
				t.Fatalf("dm after the crashes answered %s", m.Payload)
			}
			answered = true
		}
	}
}
