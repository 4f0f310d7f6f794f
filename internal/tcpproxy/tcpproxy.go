// Package tcpproxy is a TCP forwarder for tests: a listener whose
// connections are relayed to one address, as a VIP, a load balancer or a
// Kubernetes service would relay them, keeping what clients sent so that
// a test can play it again.
package tcpproxy

import (
	"net"
	"sync"
)

// Proxy relays each connection made to its listener to its target.
type Proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool // guarded by mu; nil once closed
	sent  [][]byte          // guarded by mu: what each client sent, by connection
}

// Serve relays the connections ln accepts to target until Close.
func Serve(ln net.Listener, target string) *Proxy {
	p := &Proxy{ln: ln, target: target, conns: make(map[net.Conn]bool)}
	p.wg.Add(1)
	go p.serve()
	return p
}

// Addr is the address the proxy listens at.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Conns is how many connections the proxy has relayed.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sent)
}

// Sent returns the bytes each relayed connection's client sent, in the
// order the connections came.
func (p *Proxy) Sent() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([][]byte, len(p.sent))
	for i, b := range p.sent {
		out[i] = append([]byte(nil), b...)
	}
	return out
}

// Close stops the listener, closes every relayed connection, and waits
// for the proxy's goroutines.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		if p.conns == nil { // closed meanwhile
			p.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		p.conns[in], p.conns[out] = true, true
		i := len(p.sent)
		p.sent = append(p.sent, nil)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.copy(out, in, i)
		go p.copy(in, out, -1)
	}
}

// copy relays from src to dst until either ends, keeping what src sent
// as connection i's (when i ≥ 0), then closes both.
func (p *Proxy) copy(dst, src net.Conn, i int) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if i >= 0 {
				p.mu.Lock()
				p.sent[i] = append(p.sent[i], buf[:n]...)
				p.mu.Unlock()
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}
