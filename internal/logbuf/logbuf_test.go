package logbuf

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// recorder keeps each write it receives and signals it.
type recorder struct {
	mu     sync.Mutex
	writes []string
	wrote  chan struct{}
}

func newRecorder() *recorder { return &recorder{wrote: make(chan struct{}, 100)} }

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, string(p))
	r.mu.Unlock()
	r.wrote <- struct{}{}
	return len(p), nil
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...)
}

func (r *recorder) await(t *testing.T) {
	t.Helper()
	select {
	case <-r.wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing written")
	}
}

func write(t *testing.T, w *Writer, s string) {
	t.Helper()
	if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
		t.Fatalf("Write(%q) = %d, %v", s, n, err)
	}
}

// A line on a quiet log goes out at once; those after it within the window
// go out together when it ends; the window after an empty one starts anew.
func TestWindows(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newRecorder()
	w := New(r, 20*time.Millisecond)
	write(t, w, "a\n")
	if got := r.got(); len(got) != 1 || got[0] != "a\n" {
		t.Fatalf("after the first line: %q, want it written at once", got)
	}
	write(t, w, "b\n")
	write(t, w, "c\n")
	r.await(t) // a
	r.await(t) // b and c
	if got := r.got(); len(got) != 2 || got[1] != "b\nc\n" {
		t.Fatalf("%q, want b and c in one write", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// Windows driven by hand: one that ends holding lines is followed by
	// another; one that ends empty leaves the log quiet, and the next
	// line goes out at once.
	r = newRecorder()
	w = New(r, time.Hour)
	defer w.Close()
	write(t, w, "a\n")
	write(t, w, "b\n")
	w.endWindow()
	write(t, w, "c\n")
	if got := strings.Join(r.got(), "|"); got != "a\n|b\n" {
		t.Fatalf("writes %q, want c held by the window that followed b's", got)
	}
	w.endWindow()
	w.endWindow()
	write(t, w, "d\n")
	if got := strings.Join(r.got(), "|"); got != "a\n|b\n|c\n|d\n" {
		t.Fatalf("writes %q, want d written at once after an empty window", got)
	}
}

// Flush and Close write what is held at once; after Close every write
// goes straight through; a window holding too much is written early.
func TestFlushCloseAndLimit(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newRecorder()
	w := New(r, time.Hour)
	write(t, w, "a\n")
	write(t, w, "b\n")
	w.Flush()
	write(t, w, "c\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	write(t, w, "d\n")
	if got := strings.Join(r.got(), "|"); got != "a\n|b\n|c\n|d\n" {
		t.Fatalf("writes %q", got)
	}

	r = newRecorder()
	w = New(r, time.Hour)
	defer w.Close()
	write(t, w, "first\n")
	line := strings.Repeat("x", 1000) + "\n"
	for range maxHeld / len(line) {
		write(t, w, line)
	}
	if got := r.got(); len(got) != 1 {
		t.Fatalf("%d writes before the limit, want only the first line", len(got))
	}
	write(t, w, line)
	if got := r.got(); len(got) != 2 || len(got[1]) < maxHeld {
		t.Fatalf("%d writes, want the held lines written at the limit", len(got))
	}
}

// Through FlushAt, a warning is written at once with the lines held
// before it.
func TestFlushAt(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newRecorder()
	w := New(r, time.Hour)
	defer w.Close()
	log := slog.New(FlushAt(slog.NewTextHandler(w, nil), w, slog.LevelWarn)).With("node", "a")
	log.Info("one")
	log.Info("two")
	if got := r.got(); len(got) != 1 {
		t.Fatalf("%d writes, want the second line held", len(got))
	}
	log.WithGroup("g").Warn("three", "k", 1)
	got := r.got()
	if len(got) != 2 || !strings.Contains(got[1], "msg=two") || !strings.Contains(got[1], "msg=three node=a g.k=1") {
		t.Fatalf("writes %q, want two and three written with the warning", got)
	}
	if !bytes.Contains([]byte(got[0]), []byte("msg=one")) {
		t.Fatalf("first write %q", got[0])
	}
}
