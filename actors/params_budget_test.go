package actors_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
)

// The join params every channel keeps add up to a bound of the whole
// endpoint: a socket that joins channel after channel with large params
// is closed (1008) once the bound is reached, as the one holding the
// most, and a socket with small params goes on joining; what the closed
// socket's channels held is given back.
func TestJoinParamsHeldAreBounded(t *testing.T) {
	ts := histServer(t, 10, actors.Config{MaxJoinParamsHeld: 1 << 20})
	ts.h.Channel("p:*", func() actors.Channel { return plain{} })
	modest := ts.dial(t, "")
	send(t, modest, `["1","1","p:modest","phx_join",{"small":true}]`)
	expect(t, modest, `["1","1","p:modest","phx_reply",{"status":"ok","response":{}}]`)

	greedy := ts.dial(t, "")
	params := fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 50_000))
	joined := 0
	for i := range 30 {
		ref := fmt.Sprint(i + 1)
		if err := greedy.Send(fmt.Sprintf(`[%q,%q,"p:%d","phx_join",%s]`, ref, ref, i, params)); err != nil {
			break // closed
		}
		f, err := greedy.NextFrame(wait)
		if err != nil || !strings.Contains(string(f.Data), `"phx_reply",{"status":"ok"`) {
			break
		}
		joined++
	}
	select {
	case <-greedy.Done():
	case <-time.After(wait):
		t.Fatalf("the greedy socket is still open after %d joins", joined)
	}
	if code := greedy.CloseCode(); code != 1008 {
		t.Errorf("close code %d, want 1008", code)
	}
	if joined < 15 || joined > 21 {
		t.Errorf("%d joins of 50 KB taken under a 1 MiB bound", joined)
	}
	// The greedy socket's channels are gone and give back what they held.
	small := int64(len(`{"small":true}`))
	deadline := time.Now().Add(wait)
	for ts.ep.Stats().JoinParamsHeld != small {
		if time.Now().After(deadline) {
			t.Fatalf("held %d after the cut, want %d", ts.ep.Stats().JoinParamsHeld, small)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s := ts.ep.Stats(); s.JoinParamsCuts != 1 {
		t.Errorf("cuts %d", s.JoinParamsCuts)
	}
	send(t, modest, `["1","2","p:again","phx_join",{"small":true}]`)
	expect(t, modest, `["1","2","p:again","phx_reply",{"status":"ok","response":{}}]`)
}
