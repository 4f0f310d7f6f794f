package transport

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
)

// Why a POST's body is refused, as Stats.PostsRefused counts them.
const (
	// RefusedTooLarge: the body, one of its messages, or its declared
	// length is past a cap (413).
	RefusedTooLarge = "too_large"
	// RefusedBudget: the transport already holds
	// LongPollConfig.MaxBodiesBytes of bodies being read (503).
	RefusedBudget = "budget"
)

// bodyBudget bounds the bytes of POST bodies that a transport holds while
// it reads them, every session together: a client that opens many POSTs
// cannot make the node hold more than this.
type bodyBudget struct {
	max  int64
	held atomic.Int64
}

// take reserves n bytes, or reports false and reserves nothing.
func (b *bodyBudget) take(n int64) bool {
	if b.held.Add(n) > b.max {
		b.held.Add(-n)
		return false
	}
	return true
}

func (b *bodyBudget) give(n int64) { b.held.Add(-n) }

// errBodyTooLarge and errBodyBudget end a body's reading early.
var (
	errBodyTooLarge = errors.New("transport: a POST body past its caps")
	errBodyBudget   = errors.New("transport: POST bodies past the transport's budget")
)

// bodyReader reads one POST body as it arrives, with its caps applied as
// it reads: the whole body's bytes (MaxBody), one message's bytes
// (MaxFrameSize), its lines (MaxLines), and what every body being read
// holds together (the budget). Nothing is held for a line but its bytes:
// a body of empty lines costs no memory, and one past a cap is refused
// without reading the rest. It reads what has arrived, never waiting for
// a line's end to count what the line holds so far.
type bodyReader struct {
	lp      *LongPoll
	r       io.Reader
	buf     [4096]byte
	pending []byte // read and not consumed yet, in buf
	eof     bool   // the body was read to its end
	held    int64  // reserved from the budget, given back by release
}

func (lp *LongPoll) newBodyReader(w http.ResponseWriter, r *http.Request) *bodyReader {
	return &bodyReader{lp: lp, r: http.MaxBytesReader(w, r.Body, lp.cfg.MaxBody)}
}

func (br *bodyReader) release() {
	br.lp.bodies.give(br.held)
	br.held = 0
}

// reserve counts n more bytes held.
func (br *bodyReader) reserve(n int) error {
	if n == 0 {
		return nil
	}
	if !br.lp.bodies.take(int64(n)) {
		return errBodyBudget
	}
	br.held += int64(n)
	return nil
}

// fill reads what has arrived of the body into pending, which is empty.
func (br *bodyReader) fill() error {
	n, err := br.r.Read(br.buf[:])
	br.pending = br.buf[:n]
	if err == io.EOF {
		br.eof = true
		return nil
	}
	return readErr(err)
}

// readErr turns what reading the body returned into the reason to
// refuse it.
func readErr(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errBodyTooLarge
	}
	return err
}

// frames reads an application/x-ndjson body: up to MaxLines lines, each
// a JSON text frame or a base64 binary one. Lines past MaxLines are left
// unread and ignored, as Phoenix ignores them; empty lines count.
func (br *bodyReader) frames() ([]Frame, error) {
	maxFrame := br.lp.cfg.MaxFrameSize
	// A binary frame's line is its base64: 4/3 of it, and an "\r".
	maxLine := base64.StdEncoding.EncodedLen(maxFrame) + 1
	var frames []Frame
	for range br.lp.cfg.MaxLines {
		line, err := br.line(maxLine)
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) > 0 {
			if line[0] == '[' {
				if len(line) > maxFrame {
					return nil, errBodyTooLarge
				}
				frames = append(frames, Frame{Data: line})
			} else {
				bin := make([]byte, base64.StdEncoding.DecodedLen(len(line)))
				n, derr := base64.StdEncoding.Decode(bin, line)
				if derr != nil {
					return nil, errNotAFrame
				}
				if n > maxFrame {
					return nil, errBodyTooLarge
				}
				frames = append(frames, Frame{Data: bin[:n], Binary: true})
			}
		}
		if err == io.EOF {
			return frames, nil
		}
		if err != nil {
			return nil, readErr(err)
		}
	}
	return frames, nil
}

// errNotAFrame: an ndjson line that is neither JSON nor base64.
var errNotAFrame = errors.New("transport: a line is neither a JSON array nor base64")

// line reads up to and without the next "\n", refusing a line longer
// than limit as soon as it is. It returns io.EOF with the last line.
func (br *bodyReader) line(limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, rest, found := bytes.Cut(br.pending, []byte{'\n'})
		if len(line)+len(chunk) > limit {
			return nil, errBodyTooLarge
		}
		if err := br.reserve(len(chunk)); err != nil {
			return nil, err
		}
		line = append(line, chunk...)
		br.pending = rest
		switch {
		case found:
			return line, nil
		case br.eof:
			return line, io.EOF
		}
		if err := br.fill(); err != nil {
			return nil, err
		}
	}
}

// whole reads a body of any other type: one text frame, of at most
// MaxFrameSize bytes.
func (br *bodyReader) whole() ([]Frame, error) {
	var data []byte
	for !br.eof {
		if err := br.fill(); err != nil {
			return nil, err
		}
		if len(data)+len(br.pending) > br.lp.cfg.MaxFrameSize {
			return nil, errBodyTooLarge
		}
		if err := br.reserve(len(br.pending)); err != nil {
			return nil, err
		}
		data = append(data, br.pending...)
		br.pending = nil
	}
	return []Frame{{Data: data}}, nil
}
