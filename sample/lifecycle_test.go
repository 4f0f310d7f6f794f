package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The "listening" line is what tests, scripts and operators wait for: a
// SIGTERM any time after it must drain the server and exit with status 0,
// never kill it. The signal is sent the moment the line is read, again and
// again, since a window before the handler is installed is a race.
func TestSampleDrainsOnSIGTERMRightAfterListening(t *testing.T) {
	bin := buildSample(t)
	db := filepath.Join(t.TempDir(), "chat.db")
	for i := range 10 {
		srv, err := launch(startArgs(bin, db))
		if err != nil {
			t.Fatal(err)
		}
		err = srv.halt()
		logs := srv.logged()
		if err != nil {
			t.Fatalf("start %d: %v\nlog:\n%s", i+1, err, logs)
		}
		if !strings.Contains(logs, `msg="shutting down"`) {
			t.Fatalf("start %d: exited with no drain\nlog:\n%s", i+1, logs)
		}
	}
}
