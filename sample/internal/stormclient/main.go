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
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/token"
)

// Result is what a storm measured: how long it blew, the crashes and
// rejoins, and the healthy messages timed with their latencies' median,
// 99th percentile and maximum, in microseconds.
type Result struct {
	Seconds       float64
	Crashes       int64
	Rejoins       int64
	Messages      int
	P50, P99, Max int64
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
	storm := make([]*phxclient.Client, *sockets)
	for i := range storm {
		c, err := dial(fmt.Sprintf("storm%d", i))
		if err != nil {
			return err
		}
		defer c.Close()
		storm[i] = c
	}

	began := time.Now()
	deadline := began.Add(*duration)
	var crashes, rejoins atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(storm)+len(calm))
	for i, c := range storm {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := crashLoop(c, fmt.Sprintf("room:storm-%d", i), deadline, *rejoinAfter, &crashes, &rejoins); err != nil {
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
		Seconds: time.Since(began).Seconds(), Crashes: crashes.Load(), Rejoins: rejoins.Load(),
		Messages: len(latencies), P50: pct(0.5), P99: pct(0.99), Max: pct(1),
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

// crashLoop joins topic and crashes its channel until deadline: a crash
// restarted in place answers the boom; one past the restart budget stops
// the channel, the client hears phx_error and joins again after
// rejoinAfter.
func crashLoop(c *phxclient.Client, topic string, deadline time.Time, rejoinAfter time.Duration, crashes, rejoins *atomic.Int64) error {
	joinRef := "j0"
	if err := join(c, topic, joinRef); err != nil {
		return err
	}
	for n := 0; time.Now().Before(deadline); n++ {
		ref := fmt.Sprintf("b%d", n)
		if err := c.Send(fmt.Sprintf(`["%s","%s","%s","boom",{}]`, joinRef, ref, topic)); err != nil {
			return err
		}
		stopped := false
		for {
			m, err := c.Next(30 * time.Second)
			if err != nil {
				return fmt.Errorf("crash %d: %w", n, err)
			}
			if m.Event == "phx_reply" && m.Ref == `"`+ref+`"` {
				break
			}
			if m.Event == "phx_error" && m.Topic == topic {
				stopped = true
				break
			}
		}
		crashes.Add(1)
		if stopped {
			time.Sleep(rejoinAfter)
			joinRef = fmt.Sprintf("j%d", n+1)
			if err := join(c, topic, joinRef); err != nil {
				return fmt.Errorf("rejoining: %w", err)
			}
			rejoins.Add(1)
		}
	}
	return nil
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
