package cluster

import (
	"net"
	"sync"
	"testing"
)

// The door's counts hold under concurrent admits, handshakes and closes,
// each close counted once.
func TestDoorCounts(t *testing.T) {
	var s stats
	const limit, tries = 16, 64
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted, refused := 0, 0
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, b := net.Pipe()
			defer b.Close()
			in, ok := s.admit(a, limit)
			mu.Lock()
			if ok {
				admitted++
			} else {
				refused++
			}
			mu.Unlock()
			if !ok {
				a.Close()
				return
			}
			if i%2 == 0 {
				in.authenticated()
			}
			_ = in.Close()
			_ = in.Close()
			in.authenticated() // after its close: changes nothing
		}()
	}
	wg.Wait()
	if admitted+refused != tries || admitted == 0 {
		t.Errorf("%d admitted, %d refused of %d", admitted, refused, tries)
	}
	if n, h, o := s.inbound.Load(), s.handshaking.Load(), s.connections.Load(); n != 0 || h != 0 || o != 0 {
		t.Errorf("after every close: %d inbound, %d handshaking, %d open", n, h, o)
	}

	// Held, the cap refuses the next.
	var held []*inbound
	for range limit {
		a, b := net.Pipe()
		defer b.Close()
		in, ok := s.admit(a, limit)
		if !ok {
			t.Fatal("refused under the cap")
		}
		held = append(held, in)
	}
	held[0].authenticated()
	if _, ok := s.admit(nil, limit); ok {
		t.Error("admitted past the cap")
	}
	if h, o := s.handshaking.Load(), s.connections.Load(); h != limit-1 || o != 1 {
		t.Errorf("%d handshaking, %d open, want %d and 1", h, o, limit-1)
	}
	for _, in := range held {
		_ = in.Close()
	}
	if n := s.inbound.Load(); n != 0 {
		t.Errorf("%d inbound after every close", n)
	}
}
