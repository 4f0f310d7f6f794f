package actors_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/supervision"
)

// TestCrashStormLogIsBounded: a storm of crashes logs the first ones of
// the route with their stack and sums the rest in one line, while the
// supervision stream and the route's counter see every crash.
func TestCrashStormLogIsBounded(t *testing.T) {
	logs := &lockedBuffer{}
	policy := supervision.RestartInPlace(1000, time.Minute)
	ts := newServer(t, serverOpts{endpoint: actors.Config{
		Policy: &policy, Logger: slog.New(slog.NewTextHandler(logs, nil)),
	}})
	evs := make(chan supervision.Event, 1000)
	t.Cleanup(ts.ep.Supervision().Subscribe(func(e supervision.Event) { evs <- e }).Unsubscribe)

	const sockets, crashes = 5, 20
	for i := range sockets {
		c := ts.dial(t, fmt.Sprintf("vsn=2.0.0&user=u%d", i))
		topic := fmt.Sprintf("room:storm%d", i)
		join(t, c, "1", topic)
		for j := range crashes {
			send(t, c, fmt.Sprintf(`["1","b%d","%s","boom",{}]`, j, topic))
			expect(t, c, fmt.Sprintf(`["1","b%d","%s","phx_reply",{"status":"error","response":{"reason":"channel_crash"}}]`, j, topic))
		}
	}
	for range sockets * crashes {
		if e := nextEvent(t, evs); e.Directive != supervision.Restart {
			t.Fatalf("event %+v", e)
		}
	}
	for _, r := range ts.ep.Stats().Routes {
		if r.Route == "room:*" && r.Crashes != sockets*crashes {
			t.Errorf("route counted %d crashes, want %d", r.Crashes, sockets*crashes)
		}
	}
	if n := strings.Count(logs.String(), `msg="channel crashed"`); n != 10 {
		t.Errorf("%d crashes logged one by one, want the first 10", n)
	}
	ts.shutdown(t)
	log := logs.String()
	if !strings.Contains(log, `msg="route room:* crashed 100 times in the last`) || !strings.Contains(log, "not_logged=90") {
		t.Errorf("no line summing the storm:\n%s", log)
	}
	if n := strings.Count(log, "rejoined after restart"); n > 10 {
		t.Errorf("%d rejoins logged, want at most the 10 of the logged crashes", n)
	}
	// Ten stacks and a line per connect, join and leave: a hundred crashes
	// write no more than a few tens of kilobytes.
	t.Logf("%d bytes, %d lines of log", len(log), strings.Count(log, "\n"))
	if len(log) > 40<<10 {
		t.Errorf("%d bytes of log for %d crashes", len(log), sockets*crashes)
	}
}

// TestRoutineLinesAreSummed: past Config.LogLimit's burst, connects,
// joins and the refusals clients cause are counted rather than logged one
// by one, and each kind's count is logged once its interval ends (here,
// at shutdown), at the kind's level.
func TestRoutineLinesAreSummed(t *testing.T) {
	logs := &lockedBuffer{}
	ts := newServer(t, serverOpts{endpoint: actors.Config{
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
		LogLimit: actors.LogLimit{Burst: 3, Interval: time.Minute},
	}})
	const sockets = 10
	for i := range sockets {
		c := ts.dial(t, fmt.Sprintf("vsn=2.0.0&user=u%d", i))
		join(t, c, "1", fmt.Sprintf("room:r%d", i))
		send(t, c, `["2","2","nowhere","phx_join",{}]`)
		expect(t, c, `[null,"2","nowhere","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`)
	}
	for _, msg := range []string{"msg=connected", "msg=joined", `msg="unmatched topic"`} {
		if n := strings.Count(logs.String(), msg+" "); n != 3 {
			t.Errorf("%d lines with %s, want the first 3", n, msg)
		}
	}
	ts.shutdown(t)
	log := logs.String()
	for _, want := range []string{
		`level=INFO msg="connected: 7 more in the last`,
		`level=INFO msg="joined: 7 more in the last`,
		`level=WARN msg="unmatched topic: 7 more in the last`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("no line %s...:\n%s", want, log)
		}
	}
	if !strings.Contains(log, "lines=10 not_logged=7") {
		t.Errorf("the sums do not say how many lines there were:\n%s", log)
	}
}

// TestRoutineLinesUnlimited: a negative LogLimit.Burst logs every line.
func TestRoutineLinesUnlimited(t *testing.T) {
	logs := &lockedBuffer{}
	ts := newServer(t, serverOpts{endpoint: actors.Config{
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
		LogLimit: actors.LogLimit{Burst: -1},
	}})
	const sockets = 150
	for i := range sockets {
		c := ts.dial(t, fmt.Sprintf("vsn=2.0.0&user=u%d", i))
		join(t, c, "1", fmt.Sprintf("room:r%d", i))
	}
	ts.shutdown(t)
	if n := strings.Count(logs.String(), "msg=joined "); n != sockets {
		t.Errorf("%d joins logged, want %d", n, sockets)
	}
}
