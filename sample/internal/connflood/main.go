// Command connflood is the client side of the sample's connection flood
// test (TestTwentyThousandConnections): it holds many plain HTTP/1.1
// connections to a server, some idle after a first GET, some renewing
// theirs with a GET every few seconds, and dials again a while after the
// server closes or refuses one, so that the server stays at its cap.
//
// Once every connection has had a first answer (or a refusal), it prints
// what it holds as one JSON object; once its standard input closes, it
// closes every connection and prints the final figures as another.
//
// It is a program of its own so that the test, built with the race
// detector, does not time its own clients, and so that the flood's
// sockets count against its file limit, not the test's: one process
// holds a few thousand of them.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Figures are what a flood counts.
type Figures struct {
	Held     int64 // connections open now, answered 200
	Answered int64 // 200s, first answers and renewals
	Refused  int64 // answered 503: at the cap, or on its reserve
	Closed   int64 // closed by the server while held, or before an answer
	Failed   int64 // dials that failed
}

type counters struct {
	held, answered, refused, closed, failed atomic.Int64
}

func (c *counters) figures() Figures {
	return Figures{Held: c.held.Load(), Answered: c.answered.Load(), Refused: c.refused.Load(), Closed: c.closed.Load(), Failed: c.failed.Load()}
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "connflood:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:4000", "the server's host:port")
	path := flag.String("path", "/healthz", "what each GET asks for")
	conns := flag.Int("conns", 1000, "connections to hold")
	renewing := flag.Int("renewing", 0, "of them, how many send a GET every -every; the rest stay idle after their first")
	every := flag.Duration("every", 5*time.Second, "how often a renewing connection sends a GET")
	redial := flag.Duration("redial", time.Second, "how long to wait before dialing again after a refusal or a close")
	dialing := flag.Int("dialing", 128, "dials in flight at most, so that the server's listen backlog is not overrun")
	flag.Parse()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// The test closes our standard input to end the flood.
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()

	f := &flood{addr: *addr, path: *path, every: *every, redial: *redial, slots: make(chan struct{}, *dialing)}
	var first, all sync.WaitGroup
	first.Add(*conns)
	for i := range *conns {
		all.Add(1)
		go func() {
			defer all.Done()
			f.hold(ctx, i < *renewing, first.Done)
		}()
	}
	first.Wait()
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(f.c.figures()); err != nil {
		return err
	}
	all.Wait()
	return enc.Encode(f.c.figures())
}

type flood struct {
	addr, path    string
	every, redial time.Duration
	slots         chan struct{} // dials in flight
	c             counters
}

// hold keeps one connection open until ctx ends: it dials, GETs, and
// then waits for the server to close it, or GETs again every f.every
// when renewing; a refused or closed connection is dialed again after
// f.redial. answered is called once, after the first attempt.
func (f *flood) hold(ctx context.Context, renewing bool, answered func()) {
	answered = sync.OnceFunc(answered)
	defer answered() // if ctx ended before the first dial
	for ctx.Err() == nil {
		f.slots <- struct{}{}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", f.addr)
		if err != nil {
			<-f.slots
			answered()
			if ctx.Err() == nil {
				f.c.failed.Add(1)
			}
		} else {
			f.serve(ctx, conn, renewing, func() {
				<-f.slots
				answered()
			})
		}
		select {
		case <-ctx.Done():
		case <-time.After(f.redial):
		}
	}
}

// serve sends conn a first GET, calls answered, and holds conn while the
// server does: until it closes it or ctx ends, renewing it every f.every
// if asked to.
func (f *flood) serve(ctx context.Context, conn net.Conn, renewing bool, answered func()) {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 512)
	ok := f.get(ctx, conn, r)
	answered()
	if !ok {
		return
	}
	f.c.held.Add(1)
	defer f.c.held.Add(-1)
	for {
		var next time.Time
		if renewing {
			// Spread, so that thousands of renewals do not come at once.
			next = time.Now().Add(f.every/2 + rand.N(f.every))
		}
		_ = conn.SetReadDeadline(next)
		_, err := r.Peek(1)
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			// The server closed it, or sent what no GET asked for.
			f.lost(ctx)
			return
		}
		if !f.get(ctx, conn, r) {
			return
		}
	}
}

// get sends a GET and counts its answer; it reports a 200 on a
// connection kept alive.
func (f *flood) get(ctx context.Context, conn net.Conn, r *bufio.Reader) bool {
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	defer conn.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", f.path, f.addr); err != nil {
		f.lost(ctx)
		return false
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		f.lost(ctx)
		return false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		f.c.refused.Add(1)
		return false
	case err != nil || resp.StatusCode != http.StatusOK || resp.Close:
		// None of them is what the server does to a GET of the path: the
		// flood holds nothing it cannot count.
		f.lost(ctx)
		return false
	}
	f.c.answered.Add(1)
	return true
}

// lost counts a connection the server closed, unless the flood is ending
// and closed it itself.
func (f *flood) lost(ctx context.Context) {
	if ctx.Err() == nil {
		f.c.closed.Add(1)
	}
}
