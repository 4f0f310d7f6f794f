package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/phxgo/phx/internal/phxclient"
)

func TestSecretFileMadeOnceAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db.secret")
	first, created, err := loadOrCreateSecret(path)
	if err != nil || !created || len(first) != 64 {
		t.Fatalf("first call: %q created=%v err=%v", first, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	again, created, err := loadOrCreateSecret(path)
	if err != nil || created || again != first {
		t.Fatalf("second call: %q created=%v err=%v, want %q", again, created, err, first)
	}
	if left, _ := filepath.Glob(path + ".tmp*"); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// Nodes of one cluster started together on one database end with one
// secret, and none reads a half-written file.
func TestSecretFileConcurrentStarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db.secret")
	const n = 8
	secrets := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { secrets[i], _, errs[i] = loadOrCreateSecret(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || secrets[i] != secrets[0] {
			t.Fatalf("start %d: %q, %v; start 0: %q", i, secrets[i], errs[i], secrets[0])
		}
	}
}

func TestSecretFileTooShortIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db.secret")
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadOrCreateSecret(path); err == nil || !strings.Contains(err.Error(), "at least 20") {
		t.Fatalf("got %v, want an error naming the minimum", err)
	}
}

// Started as `make run` starts it, with no -secret, the sample keeps its
// token secret beside the database: a token from before a restart still
// opens a socket after it.
func TestSampleTokenSurvivesRestartWithoutSecret(t *testing.T) {
	bin := buildSample(t)
	db := filepath.Join(t.TempDir(), "chat.db")
	start := func() *server {
		cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-db", db)
		cmd.Dir = ".."
		cmd.Env = withoutEnv(os.Environ(), "SECRET_KEY_BASE")
		return startCmd(t, cmd)
	}
	srv := start()
	resp, err := http.Get(srv.url + "/api/token?user_id=ann")
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil || body.Token == "" {
		t.Fatalf("token: %v %+v", err, body)
	}
	srv.stop(t)
	if fi, err := os.Stat(secretFileFor(db)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", fi, err)
	}

	srv = start()
	ws := "ws" + strings.TrimPrefix(srv.url, "http") + "/socket/websocket?vsn=2.0.0&token=" + body.Token
	c, _, err := phxclient.Dial(ws, nil)
	if err != nil {
		t.Fatalf("the token from before the restart is refused: %v", err)
	}
	c.Close()
}

// withoutEnv drops name from env, so that a test run with it set still
// tries the default.
func withoutEnv(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
