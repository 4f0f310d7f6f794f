package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/phx/internal/phxclient"
)

// awaitReply reads c until the reply to ref and returns it; pushes and
// broadcasts on the way go to seen, if set.
func awaitReply(c *phxclient.Client, ref string, seen func(phxclient.Message)) (phxclient.Message, error) {
	for {
		m, err := c.Next(30 * time.Second)
		if err != nil {
			return m, fmt.Errorf("waiting for the reply to %s: %w", ref, err)
		}
		if m.Event == "phx_reply" && m.Ref == `"`+ref+`"` {
			return m, nil
		}
		if seen != nil {
			seen(m)
		}
	}
}

// TestCrashStormSparesHealthyRooms: while 40 sockets crash their rooms'
// channels 10 times each (400 crashes, each followed by a join again and
// its history read), a few other rooms keep chatting. Every message of
// theirs is stored and delivered, and the log stays small: the first
// crashes are logged with their stack, the rest summed.
func TestCrashStormSparesHealthyRooms(t *testing.T) {
	srv := startSample(t, buildSample(t), filepath.Join(t.TempDir(), "chat.db"))
	signer := mustSigner(t, testSecret)
	dial := func(user string) *phxclient.Client {
		tok, err := signer.Sign(user)
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := phxclient.Dial("ws"+strings.TrimPrefix(srv.url, "http")+"/socket/websocket?vsn=2.0.0&token="+tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}

	const stormSockets, stormTopics, crashesPerTopic = 40, 5, 2
	const calmSockets, minMessages = 4, 30
	storm := make([]*phxclient.Client, stormSockets)
	calm := make([]*phxclient.Client, calmSockets)
	for i := range storm {
		storm[i] = dial(fmt.Sprintf("storm%d", i))
	}
	for i := range calm {
		calm[i] = dial(fmt.Sprintf("calm%d", i))
	}

	var wg sync.WaitGroup
	errs := make(chan error, stormSockets+calmSockets)
	stormDone := make(chan struct{})
	var crashes atomic.Int64
	var stormWG sync.WaitGroup
	for i, c := range storm {
		stormWG.Add(1)
		go func() {
			defer stormWG.Done()
			for k := range stormTopics {
				topic := fmt.Sprintf("room:storm-%d-%d", i, k)
				ref := fmt.Sprintf("j%d", k)
				_ = c.Send(fmt.Sprintf(`["%s","%s","%s","phx_join",{}]`, ref, ref, topic))
				if m, err := awaitReply(c, ref, nil); err != nil || !strings.Contains(string(m.Payload), `"ok"`) {
					errs <- fmt.Errorf("storm socket %d joining %s: %s %v", i, topic, m.Payload, err)
					return
				}
				for n := range crashesPerTopic {
					b := fmt.Sprintf("b%d-%d", k, n)
					_ = c.Send(fmt.Sprintf(`["%s","%s","%s","boom",{}]`, ref, b, topic))
					if m, err := awaitReply(c, b, nil); err != nil || !strings.Contains(string(m.Payload), "channel_crash") {
						errs <- fmt.Errorf("storm socket %d crashing %s: %s %v", i, topic, m.Payload, err)
						return
					}
					crashes.Add(1)
				}
			}
		}()
	}
	go func() {
		stormWG.Wait()
		close(stormDone)
	}()

	var sent, failed, delivered atomic.Int64
	for i, c := range calm {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := fmt.Sprintf("room:calm-%d", i)
			_ = c.Send(fmt.Sprintf(`["1","1","%s","phx_join",{}]`, topic))
			if _, err := awaitReply(c, "1", nil); err != nil {
				errs <- err
				return
			}
			// One message at a time, each awaited as its broadcast back,
			// for as long as the storm lasts.
			for n := 0; ; n++ {
				select {
				case <-stormDone:
					if n >= minMessages {
						return
					}
				default:
				}
				body := fmt.Sprintf("calm %d message %d", i, n)
				ref := fmt.Sprintf("m%d", n)
				_ = c.Send(fmt.Sprintf(`["1","%s","%s","new_msg",{"body":"%s"}]`, ref, topic, body))
				sent.Add(1)
				for {
					m, err := c.Next(30 * time.Second)
					if err != nil {
						errs <- fmt.Errorf("calm socket %d waiting for %q: %w", i, body, err)
						return
					}
					if m.Event == "phx_reply" && m.Ref == `"`+ref+`"` {
						failed.Add(1) // new_msg is answered only when it fails
						t.Errorf("calm socket %d, %q: %s", i, body, m.Payload)
						break
					}
					if m.Event == "new_msg" && strings.Contains(string(m.Payload), `"body":"`+body+`"`) {
						delivered.Add(1)
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	<-stormDone
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if failed.Load() != 0 || delivered.Load() != sent.Load() {
		t.Errorf("healthy rooms: %d messages sent, %d delivered, %d failed", sent.Load(), delivered.Load(), failed.Load())
	}
	if n := crashes.Load(); n != stormSockets*stormTopics*crashesPerTopic {
		t.Fatalf("%d crashes", n)
	}

	srv.stop(t)
	logs := srv.logged()
	stacks := strings.Count(logs, `msg="channel crashed"`)
	t.Logf("%d crashes, %d healthy messages: %d bytes of log, %d lines, %d crashes logged one by one",
		crashes.Load(), sent.Load(), len(logs), strings.Count(logs, "\n"), stacks)
	if stacks == 0 || stacks > 10 {
		t.Errorf("%d crashes logged one by one, want the first 10 at most", stacks)
	}
	if !strings.Contains(logs, `msg="route room:* crashed 400 times in the last`) {
		t.Errorf("no line summing the storm")
	}
	// Connects, joins and leaves are lines of about 150 bytes, and ten
	// stacks about 2.5 KB each: some 80 KB in all. Logged one by one, the
	// 400 crashes (stack included) and their rejoins would add 900 KB.
	if len(logs) > 160<<10 {
		t.Errorf("%d bytes of log", len(logs))
	}
}

// TestCrashStormLatency: hundreds of sockets crash their rooms' channels
// in a loop while a few healthy rooms chat. The healthy rooms' messages
// come back to their sender within 100 ms at the 99th percentile, timed
// from the client, and the log grows by a bounded number of lines a
// second: routine lines (connected, joined, left) and crashes past the
// first of each window are summed. Two storms:
//
//   - phoenix client: each socket joins again a second after its channel
//     is stopped, as the phoenix client rejoins on phx_error
//     (rejoinAfterMs: 1 s after a first error); no rate limit.
//   - at once: a hostile client, joining again at once, sending again at
//     once what was refused and connecting again at once when closed,
//     from 2 addresses. The sample's own limits bound it: booms per
//     socket, then the socket closed, then connects per address
//     (loopback's limited too here, as if the 2 were hosts).
//
// The clients are a program of their own (internal/stormclient), and the
// sample is built without the race detector: this test measures the time
// a message takes, which a race-built client or server would multiply.
// TestCrashStormSparesHealthyRooms runs a storm under the race detector.
// STORM_SOCKETS, STORM_SECONDS, STORM_BIN (another build of the sample,
// to compare) and STORM_PPROF (an address for the sample's -pprof) size,
// compare and profile a run by hand.
func TestCrashStormLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("a storm of several seconds")
	}
	bin := os.Getenv("STORM_BIN")
	if bin == "" {
		bin = buildSampleWith(t)
	}
	client := filepath.Join(t.TempDir(), "stormclient")
	if out, err := exec.Command("go", "build", "-o", client, "./internal/stormclient").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Run("phoenix client", func(t *testing.T) {
		cmd := startArgs(bin, filepath.Join(t.TempDir(), "chat.db"))
		r := storm(t, client, cmd, "-rejoin", "1s")
		if r.Refused+r.Cutoffs+r.ConnectsRefused != 0 {
			t.Errorf("a storm without limits was limited: %+v", r)
		}
	})
	t.Run("at once", func(t *testing.T) {
		// The sample's limits as it starts, but new_msg's: the healthy
		// rooms chat faster than a person types.
		cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "chat.db"),
			"-secret", testSecret, "-msg-rate", "0", "-addr-connect-rate-loopback")
		cmd.Dir = ".."
		r := storm(t, client, cmd, "-rejoin", "0", "-hosts", "2")
		if r.Refused == 0 || r.Cutoffs == 0 {
			t.Errorf("a hostile storm was neither refused nor cut: %+v", r)
		}
	})
}

// stormResult is what internal/stormclient prints.
type stormResult struct {
	Seconds       float64
	Crashes       int64
	Rejoins       int64
	Messages      int
	P50, P99, Max int64 // µs

	Refused, Cutoffs, Reconnects, ConnectsRefused int64
}

// storm runs a storm of the client against the sample cmd starts and
// checks the healthy rooms' latency and the log's growth.
func storm(t *testing.T, client string, cmd *exec.Cmd, clientArgs ...string) stormResult {
	t.Helper()
	sockets, seconds := envOr("STORM_SOCKETS", "300"), envOr("STORM_SECONDS", "8")
	args := []string{"-secret", testSecret, "-salt", tokenSalt, "-sockets", sockets, "-duration", seconds + "s"}
	args = append(args, clientArgs...)
	if addr := os.Getenv("STORM_PPROF"); addr != "" {
		cmd.Args = append(cmd.Args, "-pprof", addr)
	}
	srv := startCmd(t, cmd)
	args = append(args, "-url", "ws"+strings.TrimPrefix(srv.url, "http")+"/socket/websocket")

	linesBefore, bytesBefore := srv.logLines.Load(), srv.logBytes.Load()
	var stderr strings.Builder
	c := exec.Command(client, args...)
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("stormclient: %v\n%s", err, stderr.String())
	}
	lines, bytes := srv.logLines.Load()-linesBefore, srv.logBytes.Load()-bytesBefore
	var r stormResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("stormclient printed %q: %v", out, err)
	}
	us := func(n int64) time.Duration { return time.Duration(n) * time.Microsecond }
	t.Logf("%s storm sockets, %.1f s: %d crashes (%.0f/s), %d rejoins, %d refused, %d cut, %d reconnects, %d connects refused; %d healthy messages: p50 %v, p99 %v, max %v; log %d lines (%.0f/s), %d bytes (%.0f B/s)",
		sockets, r.Seconds, r.Crashes, float64(r.Crashes)/r.Seconds, r.Rejoins, r.Refused, r.Cutoffs, r.Reconnects, r.ConnectsRefused,
		r.Messages, us(r.P50), us(r.P99), us(r.Max), lines, float64(lines)/r.Seconds, bytes, float64(bytes)/r.Seconds)
	if r.Messages < 200 {
		t.Fatalf("%d healthy messages timed, want 200 at least", r.Messages)
	}
	if r.Crashes < 300 {
		t.Errorf("%d crashes: the storm hardly blew", r.Crashes)
	}
	if p99 := us(r.P99); p99 > 100*time.Millisecond {
		t.Errorf("healthy rooms' p99 %v under the storm, want 100 ms at most", p99)
	}
	// Of each kind of routine line, 100 per 10 s one by one and a sum,
	// and 10 crashes per 10 s with their stack: some 30 lines and 7 KB a
	// second. A line per connect, join, leave and crash was 500 lines and
	// 75 KB a second.
	if perSec := float64(lines) / r.Seconds; perSec > 100 {
		t.Errorf("%.0f lines of log a second of storm, want 100 at most", perSec)
	}
	if perSec := float64(bytes) / r.Seconds; perSec > 32<<10 {
		t.Errorf("%.0f bytes of log a second of storm, want 32 KiB at most", perSec)
	}
	return r
}
