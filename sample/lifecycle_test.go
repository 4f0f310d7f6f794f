package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// A second instance started on a port in use fails before it writes
// anything: no database, no secret file beside it, and a message that
// names the address and the flag that chooses another.
func TestSampleOnBusyPortCreatesNothing(t *testing.T) {
	bin := buildSample(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, flag := range []string{"-addr", "-pprof"} {
		t.Run(flag, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "chat.db"), flag, busy.Addr().String()}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Dir = ".."
			cmd.Env = withoutEnv(os.Environ(), "SECRET_KEY_BASE") // so that it would make the secret file
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("exit: %v, want a non-zero status\n%s", err, out)
			}
			want := "listen tcp " + busy.Addr().String()
			if !strings.Contains(string(out), want) || !strings.Contains(string(out), "(choose another with "+flag+")") {
				t.Errorf("output names not %q and %s:\n%s", want, flag, out)
			}
			if made, _ := os.ReadDir(dir); len(made) != 0 {
				var names []string
				for _, e := range made {
					names = append(names, e.Name())
				}
				t.Errorf("made %v before failing\n%s", names, out)
			}
		})
	}
}
