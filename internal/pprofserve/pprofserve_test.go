package pprofserve

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"testing"
)

func TestStartServesProfiles(t *testing.T) {
	var logged bytes.Buffer
	stop, err := Start("127.0.0.1:0", slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`addr=(http://\S+/debug/pprof/)`).FindStringSubmatch(logged.String())
	if m == nil {
		t.Fatalf("no address logged: %q", logged.String())
	}
	resp, err := http.Get(m[1] + "goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	stop()
	if _, err := http.Get(m[1]); err == nil {
		t.Fatal("still serving after stop")
	}
}

func TestStartWithoutAddress(t *testing.T) {
	stop, err := Start("", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	stop()
}
