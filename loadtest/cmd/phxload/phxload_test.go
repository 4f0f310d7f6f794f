package main

import (
	"errors"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/phxgo/phx/loadtest/internal/wire"
)

func TestParseSteps(t *testing.T) {
	got, err := parseSteps("1000, 5000,19000")
	if err != nil || fmt.Sprint(got) != "[1000 5000 19000]" {
		t.Errorf("parseSteps = %v, %v", got, err)
	}
	for _, bad := range []string{"1000,500", "0", "a", "1000,,2000"} {
		if _, err := parseSteps(bad); err == nil {
			t.Errorf("parseSteps(%q) succeeded", bad)
		}
	}
}

func TestDialErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		resp *http.Response
		want string
	}{
		{errors.New("unexpected status code: 403"), &http.Response{StatusCode: 403}, "handshake: http 403"},
		{fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED), nil, "dial: connection refused"},
		{fmt.Errorf("dial tcp: %w", syscall.EADDRNOTAVAIL), nil, "dial: no free local port"},
		{fmt.Errorf("socket: %w", syscall.EMFILE), nil, "dial: too many open files"},
		{errors.New("something else"), nil, "dial: other"},
	}
	for _, tt := range tests {
		if got := dialErrorKind(tt.err, tt.resp); got != tt.want {
			t.Errorf("dialErrorKind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// A subscriber counts deliveries and the ones out of order, and the
// others as errors.
func TestSubscriber(t *testing.T) {
	r := &runner{}
	c := &conn{r: r}
	f := new(fanout)
	s := &subscriber{f: f}
	now := time.Now()
	for _, frame := range []string{
		`[null,null,"bench:fan","msg",{"t":1,"seq":1}]`,
		`[null,null,"bench:fan","msg",{"t":1,"seq":3}]`,
		`[null,null,"bench:fan","msg",{"t":1,"seq":2}]`, // late
		`[null,null,"bench:fan","msg",{"t":1,"seq":3}]`, // again
		`[null,null,"bench:fan","msg",{"t":1,"seq":4}]`,
		`[null,null,"bench:fan","other",{}]`,
		`[null,null,"bench:fan","msg",{"seq":5}]`,
	} {
		fr, err := wire.Split([]byte(frame))
		if err != nil {
			t.Fatal(err)
		}
		s.message(c, &fr, now)
	}
	if got := f.received.Load(); got != 5 {
		t.Errorf("received %d, want 5", got)
	}
	if got := f.disorder.Load(); got != 2 {
		t.Errorf("order violations %d, want 2", got)
	}
	counts, _, total := r.errs.snapshot()
	if total != 2 || counts["unexpected message"] != 1 || counts["bad broadcast payload"] != 1 {
		t.Errorf("errors %v", counts)
	}
}
