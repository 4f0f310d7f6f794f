package supervision

import (
	"errors"
	"testing"
)

func TestStream(t *testing.T) {
	var s Stream
	var got []Directive
	unsub := s.Subscribe(func(e Event) { got = append(got, e.Directive) })
	s.Publish(Event{Directive: Stop})
	s.Publish(Event{Directive: Restart})
	unsub()
	s.Publish(Event{Directive: Escalate})
	if len(got) != 2 || got[0] != Stop || got[1] != Restart {
		t.Fatalf("got %v", got)
	}
}

func TestTemporary(t *testing.T) {
	if d := Temporary.Decide(Failure{Reason: errors.New("x")}); d != Stop {
		t.Fatalf("Temporary decided %v", d)
	}
}

func TestDirectiveString(t *testing.T) {
	for d, want := range map[Directive]string{Stop: "stop", Restart: "restart", Escalate: "escalate", 9: "Directive(9)"} {
		if d.String() != want {
			t.Errorf("%d: %q", int(d), d.String())
		}
	}
}
