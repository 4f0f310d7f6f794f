//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phxgo/phx/internal/phxclient"
)

// nodeFiles is the open-file limit of the node the scale tests stand
// for: the sample's default connection caps follow from it.
const nodeFiles = 20_000

// TestTwentyThousandConnections: one client holds 20,000 plain HTTP
// connections to a sample with its default limits, half of them idle
// after a first GET /healthz, half renewing theirs with a GET every few
// seconds, and dials again a second after the server closes or refuses
// one, so that the server stays at its cap. Meanwhile a GET /healthz on
// a new connection, and a new WebSocket's connect and join of
// room:lobby, are each answered within a second, and the node stays
// under 2 GB resident.
//
// The flood is a program of its own (internal/connflood), in processes
// of a few thousand connections each: their sockets count against their
// own file limits, not the test's, and the race detector does not slow
// them. The sample is built without it, as it would be deployed; with
// SCALE_BIN, the test runs another build of it, to compare.
func TestTwentyThousandConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 connections for several seconds")
	}
	const conns, processes = 20_000, 3
	requireFiles(t)
	bin, flood := scaleSample(t), buildTool(t, "connflood")
	srv := startCmd(t, withFiles(defaultSample(bin, filepath.Join(t.TempDir(), "chat.db")), nodeFiles))
	t.Cleanup(http.DefaultClient.CloseIdleConnections) // scrape's
	host := strings.TrimPrefix(srv.url, "http://")

	floods := make([]*toolProc, processes)
	for i := range floods {
		n := conns / processes
		if i == 0 {
			n += conns % processes
		}
		floods[i] = startTool(t, flood, "-addr", host, "-conns", fmt.Sprint(n), "-renewing", fmt.Sprint(n/2), "-every", "5s")
	}
	var up floodFigures
	for _, f := range floods {
		var g floodFigures
		f.next(t, time.Minute, &g)
		up.add(g)
	}
	// Every connection has had a first answer; the cap is reached once
	// the server has had to close or refuse one for a newcomer.
	waitFor(t, 30*time.Second, "the server at its cap", func() (bool, string) {
		m := scrape(t, srv.url)
		return m["phx_http_connections_closed_for_room_total"]+m["phx_http_connections_refused_total"] > 0,
			fmt.Sprintf("%v connections held, %v idle", m["phx_http_connections"], m["phx_http_connections_idle"])
	})

	tok, err := mustSigner(t, testSecret).Sign("ann")
	if err != nil {
		t.Fatal(err)
	}
	ws := "ws" + strings.TrimPrefix(srv.url, "http") + "/socket/websocket?vsn=2.0.0&token=" + tok
	var healthz, join time.Duration
	held := 0.0
	for round := range 5 {
		if round > 0 {
			// A pace, so that the rounds fall among the renewals, not a
			// wait for anything.
			time.Sleep(time.Second)
		}
		held = max(held, scrape(t, srv.url)["phx_http_connections"])
		d, err := timeHealthz(host)
		if err != nil || d > time.Second {
			t.Errorf("round %d: GET /healthz on a new connection: %v in %v", round, err, d)
		}
		healthz = max(healthz, d)
		d, err = timeJoin(ws, "room:lobby")
		if err != nil || d > time.Second {
			t.Errorf("round %d: a new WebSocket's connect and join: %v in %v", round, err, d)
		}
		join = max(join, d)
	}

	rss, peak := procMemory(t, srv.cmd.Process.Pid)
	m := scrape(t, srv.url)
	var end floodFigures
	for _, f := range floods {
		var g floodFigures
		f.stop(t, &g)
		end.add(g)
	}
	t.Logf("%d connections dialed by %d processes: %d held once up, %v held by the server at most; "+
		"%d answered 503 and %d closed by the server (%v closed for room, %v refused at once, %v refused on the reserve); "+
		"%d GETs answered, %d dials failed",
		conns, processes, up.Held, held, end.Refused, end.Closed,
		m["phx_http_connections_closed_for_room_total"], m["phx_http_connections_refused_total"], m["phx_http_reserve_refused_total"],
		end.Answered, end.Failed)
	t.Logf("GET /healthz at most %v, a WebSocket connect and join at most %v; the node's RSS %.0f MiB, at most %.0f MiB",
		healthz.Round(time.Microsecond), join.Round(time.Microsecond), float64(rss)/(1<<20), float64(peak)/(1<<20))
	if peak >= 2e9 {
		t.Errorf("the node's peak RSS: %.0f MiB, want under 2 GB", float64(peak)/(1<<20))
	}
}

// TestMemoryUnderProbes: the probes each of the node's memory bounds was
// made against, at once, with more connections than any one bound
// needs: 300 sockets flooding rooms with dm frames of 1 MB, which a room
// decodes slower than they are read (frames waiting to be handled: 16
// MiB a socket, 512 MiB in all); 45 sockets joining 100 channels each
// with 60 KB of params (256 MiB in all); 100 long-poll POSTs of 7.9 MB
// stalled before their last byte (64 MiB of bodies being read). Whatever
// the server closes or refuses is dialed again for 10 s, and on until
// every probe has been cut or refused once (a minute at most: on a busy
// machine the flood takes longer to outrun the rooms). The sample,
// with its default limits, stays under 2 GB resident, and each probe is
// cut or refused at its bound.
//
// The probes are a program of its own (internal/memprobe), as the flood
// of TestTwentyThousandConnections is: hundreds of megabytes a second of
// frames are more than a race-built test sends. SCALE_BIN runs another
// build of the sample.
func TestMemoryUnderProbes(t *testing.T) {
	if testing.Short() {
		t.Skip("a node pressed on its memory bounds for several seconds")
	}
	bin, probe := scaleSample(t), buildTool(t, "memprobe")
	srv := startCmd(t, defaultSample(bin, filepath.Join(t.TempDir(), "chat.db")))
	t.Cleanup(http.DefaultClient.CloseIdleConnections) // scrape's
	p := startTool(t, probe, "-url", srv.url, "-secret", testSecret,
		"-flood", "300", "-joiners", "45", "-posts", "100", "-duration", "10s", "-max-duration", "60s")
	var f struct{ FloodFrames, FloodCuts, Joins, JoinsBusy, JoinCuts, PostsHeld, PostsBusy, Dials, Errors int64 }
	p.next(t, 3*time.Minute, &f)
	rss, peak := procMemory(t, srv.cmd.Process.Pid)
	m := scrape(t, srv.url)
	// Sockets are closed with 1008 for their frames (their own or all
	// sockets'), or for their params: the flood's are the others.
	floodCuts := m[`phx_websocket_closes_total{code="1008"}`] - m["phx_join_params_cuts_total"]
	paramsCuts, budget := m["phx_join_params_cuts_total"], m[`phx_longpoll_posts_refused_total{reason="budget"}`]
	t.Logf("%d dm frames of 1 MB sent, %v flooding sockets closed (%v for the frames of all sockets; %d seen by the probe); "+
		"%d joins of 60 KB made, %d refused, %v joining sockets closed (%d seen); "+
		"%d POSTs of 7.9 MB held stalled to the end, %v refused for the budget; %d connects, %d errors",
		f.FloodFrames, floodCuts, m["phx_queued_cuts_total"], f.FloodCuts, f.Joins, f.JoinsBusy, paramsCuts, f.JoinCuts,
		f.PostsHeld, budget, f.Dials, f.Errors)
	t.Logf("the node's RSS %.0f MiB after the probes, at most %.0f MiB", float64(rss)/(1<<20), float64(peak)/(1<<20))
	if peak >= 2e9 {
		t.Errorf("the node's peak RSS: %.0f MiB, want under 2 GB", float64(peak)/(1<<20))
	}
	if floodCuts == 0 || paramsCuts == 0 || budget == 0 {
		t.Errorf("a probe never met its bound: %v flooding sockets closed, %v joining sockets closed, %v POSTs refused", floodCuts, paramsCuts, budget)
	}
}

// scaleSample is the sample the scale tests run: SCALE_BIN, or a build
// without the race detector.
func scaleSample(t *testing.T) string {
	if bin := os.Getenv("SCALE_BIN"); bin != "" {
		return bin
	}
	return buildSampleWith(t)
}

// requireFiles skips a test unless the sample can be given the open-file
// limit of the node it stands for.
func requireFiles(t *testing.T) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Max < nodeFiles {
		t.Skipf("the open-file hard limit is %d: the sample needs %d, the limit its default caps are measured against (raise it with ulimit -Hn)", rl.Max, nodeFiles)
	}
}

// defaultSample is the sample with its default limits, and the Go
// runtime's (no GOGC or GOMEMLIMIT of the test's environment). What
// differs from a deployment is what a test on loopback needs: a free
// port, a database of its own, and a secret to sign tokens with.
func defaultSample(bin, db string) *exec.Cmd {
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-db", db, "-secret", testSecret)
	cmd.Dir = ".."
	cmd.Env = withoutEnv(withoutEnv(os.Environ(), "GOGC"), "GOMEMLIMIT")
	return cmd
}

// withFiles runs cmd with an open-file limit of files, soft and hard, as
// on a node of that limit: on a machine that allows more, the limit is
// lowered to it. The process keeps its id: the shell execs it.
func withFiles(cmd *exec.Cmd, files int) *exec.Cmd {
	cmd.Args = append([]string{"sh", "-c", `ulimit -n ` + strconv.Itoa(files) + ` && exec "$0" "$@"`}, cmd.Args...)
	cmd.Path = "/bin/sh"
	return cmd
}

// buildTool builds the program sample/internal/<name>.
func buildTool(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, "./internal/"+name).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// toolProc is a client program of the test's, running: it prints its
// figures as JSON lines, and ends when its standard input closes.
type toolProc struct {
	cmd    *exec.Cmd
	stdin  *os.File
	lines  chan string
	stderr bytes.Buffer // read once the process is waited for
	done   chan error
}

func startTool(t *testing.T, bin string, args ...string) *toolProc {
	t.Helper()
	p := &toolProc{cmd: exec.Command(bin, args...), lines: make(chan string, 4), done: make(chan error, 1)}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = r, &lineWriter{lines: p.lines}, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	p.stdin = w
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Errorf("%s did not end when told to", filepath.Base(bin))
		}
	})
	return p
}

// next decodes into v the next JSON line the process prints.
func (p *toolProc) next(t *testing.T, within time.Duration, v any) {
	t.Helper()
	select {
	case line := <-p.lines:
		if err := json.Unmarshal([]byte(line), v); err != nil {
			t.Fatalf("%s printed %q: %v", filepath.Base(p.cmd.Path), line, err)
		}
	case err := <-p.done:
		p.done <- err
		t.Fatalf("%s exited: %v\n%s", filepath.Base(p.cmd.Path), err, p.stderr.String())
	case <-time.After(within):
		t.Fatalf("%s printed nothing within %v", filepath.Base(p.cmd.Path), within)
	}
}

// stop ends the process, and decodes into v the last line it prints.
func (p *toolProc) stop(t *testing.T, v any) {
	t.Helper()
	p.stdin.Close()
	p.next(t, 30*time.Second, v)
}

// lineWriter sends each line written to it to lines, and drops those
// that find it full: a test reads the ones it expects.
type lineWriter struct {
	lines chan string
	part  []byte // the start of a line not ended yet
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.part = append(w.part, p...)
	for {
		line, rest, ok := bytes.Cut(w.part, []byte("\n"))
		if !ok {
			return len(p), nil
		}
		select {
		case w.lines <- string(line):
		default:
		}
		w.part = rest
	}
}

// floodFigures are what a connflood process counts.
type floodFigures struct {
	Held, Answered, Refused, Closed, Failed int64
}

func (f *floodFigures) add(g floodFigures) {
	f.Held += g.Held
	f.Answered += g.Answered
	f.Refused += g.Refused
	f.Closed += g.Closed
	f.Failed += g.Failed
}

// timeHealthz times a GET /healthz on a new connection, from the dial
// to the answer.
func timeHealthz(host string) (time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		return time.Since(start), err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host); err != nil {
		return time.Since(start), err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return time.Since(start), err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return time.Since(start), fmt.Errorf("answered %s", resp.Status)
	}
	return time.Since(start), nil
}

// timeJoin times a new WebSocket's connect and join of topic, from the
// dial to the join's reply.
func timeJoin(url, topic string) (time.Duration, error) {
	start := time.Now()
	c, resp, err := phxclient.Dial(url, nil)
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%w (%s)", err, resp.Status)
		}
		return time.Since(start), err
	}
	defer func() {
		c.Close()
		select {
		case <-c.Done(): // its read goroutine is gone
		case <-time.After(5 * time.Second):
		}
	}()
	if err := c.Send(`["1","1","` + topic + `","phx_join",{}]`); err != nil {
		return time.Since(start), err
	}
	for {
		m, err := c.Next(5 * time.Second)
		if err != nil {
			return time.Since(start), err
		}
		if m.Event == "phx_reply" && m.Ref == `"1"` {
			if !strings.Contains(string(m.Payload), `"status":"ok"`) {
				return time.Since(start), fmt.Errorf("join answered %s", m.Payload)
			}
			return time.Since(start), nil
		}
	}
}

// procMemory returns a process's resident set and its peak, in bytes.
func procMemory(t *testing.T, pid int) (rss, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		name, value, _ := strings.Cut(line, ":")
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch {
		case name == "VmRSS" && err == nil:
			rss = kb << 10
		case name == "VmHWM" && err == nil:
			peak = kb << 10
		}
	}
	if rss == 0 || peak == 0 {
		t.Fatalf("no VmRSS or VmHWM in /proc/%d/status", pid)
	}
	return rss, peak
}
