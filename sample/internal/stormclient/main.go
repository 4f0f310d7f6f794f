// Command stormclient is the client side of the sample's crash storm
// test (TestCrashStormLatency), and a tool to profile the sample under
// one by hand: sockets that crash their rooms' channels ("boom") in a
// loop, each joining again rejoinAfter after its channel is stopped, as
// the phoenix client does on phx_error, while a few healthy rooms chat
// and time each of their messages, from its send to its broadcast back.
// It prints what it measured as one JSON object.
//
// It is a program of its own so that the test, built with the race
// detector, does not time its own clients: a race-built client of
// hundreds of sockets is slower than the server it measures.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/token"
)

// Result is what a storm measured: how long it blew, the crashes and
// rejoins, the healthy messages timed with their latencies' median, 99th
// percentile and maximum, in microseconds, and what the server's limits
// refused.
type Result struct {
	Seconds  float64
	Crashes  int64
	Rejoins  int64
	Messages int
	P50, P99 int64
	Max      int64
	// Refused counts the joins and booms answered "rate limited";
	// Cutoffs the sockets the server closed, Reconnects their connects
	// again, ConnectsRefused the connects answered 429.
	Refused, Cutoffs, Reconnects, ConnectsRefused int64
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "stormclient:", err)
		os.Exit(1)
	}
}

func run() error {
	url := flag.String("url", "ws://127.0.0.1:4000/socket/websocket", "the sample's WebSocket endpoint")
	secret := flag.String("secret", "", "the sample's token secret")
	salt := flag.String("salt", "user socket", "the salt of the sample's tokens")
	sockets := flag.Int("sockets", 300, "sockets crashing their rooms")
	calmSockets := flag.Int("calm", 6, "healthy rooms, a socket each")
	duration := flag.Duration("duration", 8*time.Second, "how long the storm blows")
	rejoinAfter := flag.Duration("rejoin", time.Second, "how long a socket waits to join again after phx_error (the phoenix client's first rejoinAfterMs); 0: at once")
	hosts := flag.Int("hosts", 0, "storm sockets connect from this many loopback addresses, 127.0.0.2 on, as from as many hosts, each with a connect budget of its own on a sample that limits loopback's (-addr-connect-rate-loopback); 0: the system's choice")
	pause := flag.Duration("pause", 10*time.Millisecond, "a healthy room's pause between a message's broadcast and its next")
	flag.Parse()

	signer, err := token.New(*secret, *salt)
	if err != nil {
		return err
	}
	dial := func(user string) (*phxclient.Client, error) {
		tok, err := signer.Sign(user)
		if err != nil {
			return nil, err
		}
		c, _, err := phxclient.Dial(*url+"?vsn=2.0.0&token="+tok, nil)
		return c, err
	}
	calm := make([]*phxclient.Client, *calmSockets)
	for i := range calm {
		c, err := dial(fmt.Sprintf("calm%d", i))
		if err != nil {
			return err
		}
		defer c.Close()
		if err := join(c, fmt.Sprintf("room:calm-%d", i), "1"); err != nil {
			return err
		}
		calm[i] = c
	}
	var from []net.Addr
	for i := range *hosts {
		from = append(from, &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))})
	}
	// The storm sockets connect as the storm begins, as many at once as
	// the server lets their addresses.
	began := time.Now()
	deadline := began.Add(*duration)
	var t tally
	storm := make([]*stormSocket, *sockets)
	for i := range storm {
		tok, err := signer.Sign(fmt.Sprintf("storm%d", i))
		if err != nil {
			return err
		}
		s := &stormSocket{url: *url + "?vsn=2.0.0&token=" + tok, topic: fmt.Sprintf("room:storm-%d", i), rejoinAfter: *rejoinAfter, tally: &t}
		if len(from) > 0 {
			s.from = from[i%len(from)]
		}
		storm[i] = s
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(storm)+len(calm))
	for i, s := range storm {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.run(deadline); err != nil {
				errs <- fmt.Errorf("storm socket %d: %w", i, err)
			}
		}()
	}
	var mu sync.Mutex
	var latencies []time.Duration
	for i, c := range calm {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine, err := chat(c, i, deadline, *pause)
			if err != nil {
				errs <- fmt.Errorf("calm socket %d: %w", i, err)
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		return err
	}
	if len(latencies) == 0 {
		return errors.New("no healthy message timed")
	}
	slices.Sort(latencies)
	pct := func(p float64) int64 { return latencies[int(float64(len(latencies)-1)*p)].Microseconds() }
	return json.NewEncoder(os.Stdout).Encode(Result{
		Seconds: time.Since(began).Seconds(), Crashes: t.crashes.Load(), Rejoins: t.rejoins.Load(),
		Refused: t.refused.Load(), Cutoffs: t.cutoffs.Load(), Reconnects: t.reconnects.Load(),
		ConnectsRefused: t.connectsRefused.Load(),
		Messages:        len(latencies), P50: pct(0.5), P99: pct(0.99), Max: pct(1),
	})
}

// join joins topic with join ref ref and waits for the answer.
func join(c *phxclient.Client, topic, ref string) error {
	if err := c.Send(fmt.Sprintf(`["%s","%s","%s","phx_join",{}]`, ref, ref, topic)); err != nil {
		return err
	}
	m, err := awaitReply(c, ref)
	if err == nil && !strings.Contains(string(m.Payload), `"ok"`) {
		err = fmt.Errorf("joining %s: %s", topic, m.Payload)
	}
	return err
}

// awaitReply reads c until the reply to ref and returns it.
func awaitReply(c *phxclient.Client, ref string) (phxclient.Message, error) {
	for {
		m, err := c.Next(30 * time.Second)
		if err != nil {
			return m, fmt.Errorf("waiting for the reply to %s: %w", ref, err)
		}
		if m.Event == "phx_reply" && m.Ref == `"`+ref+`"` {
			return m, nil
		}
	}
}

// stormSocket is one socket crashing its room's channel in a loop, from
// the local address from (nil: the system's choice).
type stormSocket struct {
	url         string
	from        net.Addr
	topic       string
	rejoinAfter time.Duration
	tally       *tally
	c           *phxclient.Client
	refs        int
}

// tally is what the storm sockets did, summed.
type tally struct {
	crashes, rejoins, refused, cutoffs, reconnects, connectsRefused atomic.Int64
}

// dial connects the socket, waiting as told when the server refuses the
// connect (429): a client that retried at once would be a flood of
// connects, which the network's defences bound, not the server.
func (s *stormSocket) dial(deadline time.Time) error {
	for time.Now().Before(deadline) {
		c, resp, err := phxclient.DialFrom(s.url, nil, s.from)
		if err == nil {
			s.c = c
			return nil
		}
		if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			return err
		}
		s.tally.connectsRefused.Add(1)
		wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		time.Sleep(min(time.Duration(max(wait, 1))*time.Second, time.Until(deadline)))
	}
	return nil
}

// run joins the topic and crashes its channel until deadline: a crash
// restarted in place answers the boom; one past the restart budget stops
// the channel, the client hears phx_error and joins again after
// rejoinAfter. With a rejoinAfter of 0 the client is as hostile as it
// gets short of a flood of connects: it joins again at once, sends again
// at once what was refused ("rate limited"), and connects again at once
// when the server closes the socket.
func (s *stormSocket) run(deadline time.Time) error {
	defer func() {
		if s.c != nil {
			s.c.Close()
		}
	}()
	joinRef := ""
	for connected := false; time.Now().Before(deadline); {
		if s.c == nil {
			if err := s.dial(deadline); err != nil || s.c == nil {
				return err
			}
			if connected {
				s.tally.reconnects.Add(1)
			}
			connected = true
			joinRef = ""
		}
		s.refs++
		ref := strconv.Itoa(s.refs)
		if joinRef == "" {
			if err := s.c.Send(fmt.Sprintf(`["%s","%s","%s","phx_join",{}]`, ref, ref, s.topic)); err != nil {
				s.closed()
				continue
			}
		} else if err := s.c.Send(fmt.Sprintf(`["%s","%s","%s","boom",{}]`, joinRef, ref, s.topic)); err != nil {
			s.closed()
			continue
		}
		m, err := s.await(ref)
		switch {
		case errors.Is(err, phxclient.ErrClosed):
			s.closed()
		case err != nil:
			return err
		case strings.Contains(string(m.Payload), `"rate limited"`):
			s.tally.refused.Add(1)
			time.Sleep(s.rejoinAfter)
		case joinRef == "" && m.Event == "phx_reply":
			if !strings.Contains(string(m.Payload), `"status":"ok"`) {
				return fmt.Errorf("joining %s: %s", s.topic, m.Payload)
			}
			joinRef = ref
		case m.Event == "phx_error":
			s.tally.crashes.Add(1)
			s.tally.rejoins.Add(1)
			joinRef = ""
			time.Sleep(s.rejoinAfter)
		default: // restarted in place
			s.tally.crashes.Add(1)
		}
	}
	return nil
}

// await reads the socket until the reply to ref or the topic's phx_error.
func (s *stormSocket) await(ref string) (phxclient.Message, error) {
	for {
		m, err := s.c.Next(30 * time.Second)
		if err != nil {
			return m, err
		}
		if m.Event == "phx_reply" && m.Ref == `"`+ref+`"` || m.Event == "phx_error" && m.Topic == s.topic {
			return m, nil
		}
	}
}

// closed counts the server closing the socket (1008 "rate limited", once
// the client went on past its limits), which is then connected again.
func (s *stormSocket) closed() {
	s.tally.cutoffs.Add(1)
	s.c.Close()
	s.c = nil
	if s.rejoinAfter > 0 {
		time.Sleep(s.rejoinAfter)
	}
}

// chat sends a message to room:calm-i, waits for its broadcast, and sends
// the next pause later, until deadline; it returns each one's time from
// its send to its broadcast back.
func chat(c *phxclient.Client, i int, deadline time.Time, pause time.Duration) ([]time.Duration, error) {
	topic := fmt.Sprintf("room:calm-%d", i)
	var took []time.Duration
	for n := 0; time.Now().Before(deadline); n++ {
		body := fmt.Sprintf("calm %d message %d", i, n)
		ref := fmt.Sprintf(`"m%d"`, n)
		sent := time.Now()
		if err := c.Send(fmt.Sprintf(`["1",%s,"%s","new_msg",{"body":"%s"}]`, ref, topic, body)); err != nil {
			return took, err
		}
		for {
			m, err := c.Next(30 * time.Second)
			if err != nil {
				return took, fmt.Errorf("waiting for %q: %w", body, err)
			}
			if m.Event == "phx_reply" && m.Ref == ref {
				// new_msg is answered only when it fails.
				return took, fmt.Errorf("%q: %s", body, m.Payload)
			}
			if m.Event == "new_msg" && strings.Contains(string(m.Payload), `"body":"`+body+`"`) {
				took = append(took, time.Since(sent))
				break
			}
		}
		time.Sleep(pause)
	}
	return took, nil
}
