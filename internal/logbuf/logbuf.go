// Package logbuf writes a busy log in batches: a line that finds the log
// quiet is written at once, and the lines that follow it within a short
// window are held and written together when the window ends. A server
// logging a line per join pays a system call per window rather than per
// line, and a quiet log loses no time.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// maxHeld is how many bytes a window holds before they are written early.
const maxHeld = 64 << 10

// Writer batches writes to an underlying writer. Its methods are safe for
// concurrent use. Close it to write what it holds.
type Writer struct {
	w      io.Writer
	window time.Duration

	mu     sync.Mutex
	held   []byte      // written during the window, not yet passed on
	timer  *time.Timer // ends the window; set while one is open
	closed bool
}

// New returns a Writer that holds what follows a write by up to window
// before passing it to w.
func New(w io.Writer, window time.Duration) *Writer {
	return &Writer{w: w, window: window}
}

// Write passes p on at once if no window is open, and opens one;
// otherwise it holds p until the window ends. Errors of held writes are
// not reported: a log has nowhere to report them.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.timer == nil {
		if !b.closed {
			b.timer = time.AfterFunc(b.window, b.endWindow)
		}
		return b.w.Write(p)
	}
	b.held = append(b.held, p...)
	if len(b.held) >= maxHeld {
		b.flushLocked()
	}
	return len(p), nil
}

// endWindow writes what the window held. A window that held something
// is followed by another, so that a steady stream of lines is written
// once per window; an empty one closes, and the next line goes out at
// once.
func (b *Writer) endWindow() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.timer == nil {
		return
	}
	if len(b.held) == 0 {
		b.timer = nil
		return
	}
	b.flushLocked()
	b.timer.Reset(b.window)
}

// Flush writes what is held now.
func (b *Writer) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *Writer) flushLocked() {
	if len(b.held) == 0 {
		return
	}
	_, _ = b.w.Write(b.held)
	b.held = b.held[:0]
	if cap(b.held) > maxHeld {
		b.held = nil // a burst's buffer is not kept for good
	}
}

// Close writes what is held; later writes are passed on at once.
func (b *Writer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	return nil
}

// FlushAt returns a handler that passes records to h, which writes to b,
// and flushes b after each record at level or above: a warning or an
// error is written at once, with the lines before it.
func FlushAt(h slog.Handler, b *Writer, level slog.Level) slog.Handler {
	return &flushingHandler{Handler: h, b: b, level: level}
}

type flushingHandler struct {
	slog.Handler
	b     *Writer
	level slog.Level
}

func (h *flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= h.level {
		h.b.Flush()
	}
	return err
}

func (h *flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &flushingHandler{Handler: h.Handler.WithAttrs(attrs), b: h.b, level: h.level}
}

func (h *flushingHandler) WithGroup(name string) slog.Handler {
	return &flushingHandler{Handler: h.Handler.WithGroup(name), b: h.b, level: h.level}
}
