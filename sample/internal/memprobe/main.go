// Command memprobe is the client side of the sample's memory test
// (TestMemoryUnderProbes): it runs at once the probes that the node's
// memory bounds were each made against, and dials again whatever the
// server closes, so that every bound is pressed for as long as it runs:
//
//   - flood: sockets that each join a room and send it dm frames of
//     about 1 MB as fast as they are taken. The channel decodes each body
//     before refusing it (too long), slower than the socket reads them,
//     so the frames pile up: actors.Config.MaxQueuedBytes for a socket,
//     MaxQueuedBytesHeld for all.
//   - joins: sockets that each join 100 channels with 60 KB of params,
//     which a channel keeps: MaxJoinParams, MaxJoinParamsHeld.
//   - posts: long-poll POSTs that announce a body of 7.9 MB, send all but
//     its last byte, and stall: transport.LongPollConfig.MaxBodiesBytes.
//
// The joins come first; once they are made, it runs for -duration, and
// on until each probe has been refused or cut off by its bound, for
// -max-duration at most: on a busy machine the flood may take longer to
// outrun the channels. Then it prints what it counted as one JSON object.
// It is a program of its own so that the test, built with the race
// detector, does not have to produce a gigabyte a second itself.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/phx/internal/phxclient"
	"github.com/phxgo/phx/token"
)

// Figures are what the probes count.
type Figures struct {
	FloodFrames int64 // dm frames sent
	FloodCuts   int64 // flooding sockets the server closed
	Joins       int64 // joins answered ok
	JoinsBusy   int64 // joins refused: past a bound
	JoinCuts    int64 // joining sockets the server closed
	PostsHeld   int64 // stalled POSTs whose body the server held to the end
	PostsBusy   int64 // POSTs answered 503
	Dials       int64 // WebSocket connects and long-poll sessions
	Errors      int64 // what went wrong otherwise
}

type counters struct {
	floodFrames, floodCuts, joins, joinsBusy, joinCuts, postsHeld, postsBusy, dials, errors atomic.Int64
}

// bounded reports whether every probe has met its bound: a flooding
// socket closed, a joining socket closed, a POST refused.
func (c *counters) bounded() bool {
	return c.floodCuts.Load() > 0 && c.joinCuts.Load() > 0 && c.postsBusy.Load() > 0
}

func (c *counters) figures() Figures {
	return Figures{
		FloodFrames: c.floodFrames.Load(), FloodCuts: c.floodCuts.Load(),
		Joins: c.joins.Load(), JoinsBusy: c.joinsBusy.Load(), JoinCuts: c.joinCuts.Load(),
		PostsHeld: c.postsHeld.Load(), PostsBusy: c.postsBusy.Load(), Dials: c.dials.Load(), Errors: c.errors.Load(),
	}
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "memprobe:", err)
		os.Exit(1)
	}
}

func run() error {
	base := flag.String("url", "http://127.0.0.1:4000", "the sample's address")
	secret := flag.String("secret", "", "the sample's token secret")
	salt := flag.String("salt", "user socket", "the salt of the sample's tokens")
	flood := flag.Int("flood", 30, "sockets flooding a room with dm frames")
	frame := flag.Int("frame", 1_000_000, "the dm frames' bodies, in bytes")
	joiners := flag.Int("joiners", 40, "sockets joining 100 channels each")
	params := flag.Int("params", 60_000, "each join's params, in bytes")
	posts := flag.Int("posts", 100, "long-poll POSTs stalling at once")
	postSize := flag.Int("post-size", 7_900_000, "each POST's body, in bytes")
	duration := flag.Duration("duration", 10*time.Second, "how long the probes press, once the joins are made")
	maxDuration := flag.Duration("max-duration", time.Minute, "how long they press at most, until each has met its bound")
	flag.Parse()

	signer, err := token.New(*secret, *salt)
	if err != nil {
		return err
	}
	u, err := neturl.Parse(*base)
	if err != nil {
		return err
	}
	p := &prober{host: u.Host, signer: signer}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	start := func(n int, probe func(ctx context.Context, i int, first bool)) {
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for first := true; ctx.Err() == nil; first = false {
					probe(ctx, i, first)
				}
			}()
		}
	}
	// The joins first, all of them: they are what takes the longest to
	// press on its bound, and the other probes would slow them.
	var joined sync.WaitGroup
	joined.Add(*joiners)
	pad := strings.Repeat("x", *params)
	start(*joiners, func(ctx context.Context, i int, first bool) {
		p.join(ctx, i, pad, func() {
			if first {
				joined.Done()
			}
		})
	})
	joined.Wait()
	body := strings.Repeat("x", *frame)
	start(*flood, func(ctx context.Context, i int, _ bool) { p.flood(ctx, i, body) })
	start(*posts, func(ctx context.Context, i int, _ bool) { p.post(ctx, i, *postSize) })
	time.Sleep(*duration)
	for end := time.Now().Add(*maxDuration - *duration); !p.c.bounded() && time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(p.c.figures())
}

type prober struct {
	host   string
	signer *token.Signer
	c      counters
}

// dial opens a WebSocket as user, closed when ctx ends.
func (p *prober) dial(ctx context.Context, user string) (*phxclient.Client, func(), error) {
	tok, err := p.signer.Sign(user)
	if err != nil {
		return nil, nil, err
	}
	c, _, err := phxclient.Dial("ws://"+p.host+"/socket/websocket?vsn=2.0.0&token="+tok, nil)
	if err != nil {
		p.failed(ctx, err)
		return nil, nil, err
	}
	p.c.dials.Add(1)
	stop := context.AfterFunc(ctx, c.Close)
	return c, func() {
		stop()
		c.Close()
	}, nil
}

// flood joins room:flood-i and sends dm frames until the server closes
// the socket or ctx ends; it reads what comes back, so that the socket's
// own outbox never fills.
func (p *prober) flood(ctx context.Context, i int, body string) {
	c, closeConn, err := p.dial(ctx, fmt.Sprintf("flood%d", i))
	if err != nil {
		return
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		drain(c)
	}()
	defer func() {
		closeConn()
		<-drained
	}()
	topic := fmt.Sprintf("room:flood-%d", i)
	if c.Send(`["1","1","`+topic+`","phx_join",{}]`) != nil {
		return
	}
	for n := 0; ctx.Err() == nil; n++ {
		if c.Send(fmt.Sprintf(`["1","%d","%s","dm",{"to":"flood%d","body":"%s"}]`, n+2, topic, i, body)) != nil {
			break
		}
		p.c.floodFrames.Add(1)
		if closed(c) {
			break
		}
	}
	if ctx.Err() == nil {
		p.c.floodCuts.Add(1) // closed by the server
	}
}

// closed reports whether c has been closed.
func closed(c *phxclient.Client) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// drain reads c until it is closed.
func drain(c *phxclient.Client) {
	for {
		if _, err := c.Next(time.Hour); errors.Is(err, phxclient.ErrClosed) {
			return
		}
	}
}

// join joins bench:join-i-k for k up to 100, each with params of pad,
// calls joined, and holds them until the server closes the socket or ctx
// ends.
func (p *prober) join(ctx context.Context, i int, pad string, joined func()) {
	joined = sync.OnceFunc(joined)
	defer joined() // if the socket is gone before its joins are made
	c, closeConn, err := p.dial(ctx, fmt.Sprintf("joiner%d", i))
	if err != nil {
		return
	}
	defer closeConn()
	for k := range 100 {
		ref := fmt.Sprint(k + 1)
		if c.Send(fmt.Sprintf(`[%q,%q,"bench:join-%d-%d","phx_join",{"pad":%q}]`, ref, ref, i, k, pad)) != nil {
			break
		}
		m, err := awaitReply(c, ref)
		if err != nil {
			break
		}
		if strings.Contains(string(m.Payload), `"status":"ok"`) {
			p.c.joins.Add(1)
		} else {
			p.c.joinsBusy.Add(1)
		}
	}
	joined()
	drain(c)
	if ctx.Err() == nil {
		p.c.joinCuts.Add(1) // closed by the server
	}
}

// awaitReply reads c until the reply to ref.
func awaitReply(c *phxclient.Client, ref string) (phxclient.Message, error) {
	for {
		m, err := c.Next(30 * time.Second)
		if err != nil {
			return m, err
		}
		if m.Event == "phx_reply" && m.Ref == `"`+ref+`"` {
			return m, nil
		}
	}
}

// post opens a long-poll session and POSTs it a body of size bytes,
// lines of JSON frames of about 1 MB, all but its last byte, then waits
// for an answer until ctx ends: a refusal for the budget comes while the
// body is sent.
func (p *prober) post(ctx context.Context, i int, size int) {
	tok, err := p.signer.Sign(fmt.Sprintf("poster%d", i))
	if err != nil {
		return
	}
	query := "/socket/longpoll?vsn=2.0.0&token=" + tok
	conn, err := net.Dial("tcp", p.host)
	if err != nil {
		p.failed(ctx, err)
		return
	}
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	defer conn.Close()
	r := bufio.NewReader(conn)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", query, p.host)
	var opened struct {
		Status int    `json:"status"`
		Token  string `json:"token"`
	}
	if code, err := readAnswer(r, &opened); err != nil || code != http.StatusOK || opened.Token == "" {
		p.failed(ctx, fmt.Errorf("opening a long-poll session: %d %+v %v", code, opened, err))
		return
	}
	p.c.dials.Add(1)

	fmt.Fprintf(conn, "POST %s&token=%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n",
		query, opened.Token, p.host, size)
	answered := make(chan int, 1)
	go func() {
		code, _ := readAnswer(r, nil)
		answered <- code
	}()
	line := `["1","1","room:post","new_msg",{"body":"` + strings.Repeat("x", 1_000_000-64) + `"}]` + "\n"
	for left := size - 1; left > 0; {
		n := min(left, len(line))
		chunk := line[:n]
		if n < len(line) {
			chunk = line[:n-1] + "\n" // the body's last line, short
			if n == 1 {
				chunk = "\n"
			}
		}
		if _, err := io.WriteString(conn, chunk); err != nil {
			break // refused: the answer says why
		}
		left -= n
	}
	select {
	case code := <-answered:
		if code != http.StatusServiceUnavailable {
			p.failed(ctx, fmt.Errorf("a stalled POST answered %d", code))
			return
		}
		p.c.postsBusy.Add(1)
		pause(ctx, time.Second) // its Retry-After
	case <-ctx.Done():
		p.c.postsHeld.Add(1)
		<-answered
	}
}

// readAnswer reads an HTTP answer, decoding its JSON body into v if set.
func readAnswer(r *bufio.Reader, v any) (int, error) {
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if v != nil {
		err = json.NewDecoder(resp.Body).Decode(v)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// failed counts err, reports the first few, and pauses before the probe
// goes on: the server may be out of breath.
func (p *prober) failed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	if p.c.errors.Add(1) <= 5 {
		fmt.Fprintln(os.Stderr, "memprobe:", err)
	}
	pause(ctx, 100*time.Millisecond)
}

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
