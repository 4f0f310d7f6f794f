package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/token"
)

// newSite serves a site with a bare endpoint behind it.
func newSite(t *testing.T, s *site) *httptest.Server {
	t.Helper()
	ep := actors.NewEndpoint(actors.Config{})
	t.Cleanup(func() { _ = ep.Shutdown(context.Background()) })
	s.ep = ep
	s.tokens = mustSigner(t, testSecret)
	s.websocket, s.longpoll = http.NotFoundHandler(), http.NotFoundHandler()
	srv := httptest.NewServer(s.routes())
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url string, header map[string]string, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

const news = `{"topic":"room:1","event":"news","payload":{}}`

// On loopback /api/broadcast is open; beyond it, only with the admin
// secret; never for another site's page or another content type.
func TestBroadcastDoor(t *testing.T) {
	json := map[string]string{"Content-Type": "application/json"}
	open := newSite(t, &site{open: true})
	for _, tc := range []struct {
		header map[string]string
		want   int
	}{
		{json, 202},
		{nil, 202}, // no content type: taken as JSON
		{map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}, 403},
		{map[string]string{"Content-Type": "application/json", "Origin": open.URL}, 202},
		// A form a page of another site may post without a preflight.
		{map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, 403},
		{map[string]string{"Content-Type": "text/plain"}, 415},
	} {
		if got := post(t, open.URL+"/api/broadcast", tc.header, news); got != tc.want {
			t.Errorf("loopback, %v: %d, want %d", tc.header, got, tc.want)
		}
	}

	public := newSite(t, &site{open: false, adminSecret: "s3cret"})
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", 401},
		{"Bearer wrong", 401},
		{"s3cret", 401},
		{"Bearer s3cret", 202},
	} {
		h := map[string]string{"Content-Type": "application/json", "Authorization": tc.auth}
		if got := post(t, public.URL+"/api/broadcast", h, news); got != tc.want {
			t.Errorf("beyond loopback, Authorization %q: %d, want %d", tc.auth, got, tc.want)
		}
	}
	// Beyond loopback with no secret set, the door stays shut.
	shut := newSite(t, &site{open: false})
	if got := post(t, shut.URL+"/api/broadcast", map[string]string{"Authorization": "Bearer "}, news); got != 401 {
		t.Errorf("no admin secret: %d, want 401", got)
	}
}

// Any name is anyone's to take but admin's, which opens room:admins:
// beyond loopback its token takes the admin secret; on loopback, and for
// every other name, a token is had for the asking.
func TestAdminNameTakesTheSecret(t *testing.T) {
	get := func(url, auth string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	open := newSite(t, &site{open: true})
	public := newSite(t, &site{open: false, adminSecret: "s3cret"})
	shut := newSite(t, &site{open: false})
	for _, tc := range []struct {
		srv        *httptest.Server
		user, auth string
		want       int
	}{
		{open, "admin", "", 200},
		{public, "ann", "", 200},
		{public, "admin", "", 401},
		{public, "admin", "Bearer wrong", 401},
		{public, "admin", "Bearer s3cret", 200},
		{shut, "admin", "Bearer ", 401},
		{shut, "ann", "", 200},
	} {
		if got := get(tc.srv.URL+"/api/token?user_id="+tc.user, tc.auth); got != tc.want {
			t.Errorf("%s, %s, Authorization %q: %d, want %d", tc.srv.URL, tc.user, tc.auth, got, tc.want)
		}
	}
}

// /healthz says "not ready" once the server drains, so that a load
// balancer stops sending it new sockets.
func TestHealthzDuringDrain(t *testing.T) {
	s := &site{open: true}
	srv := newSite(t, s)
	get := func() (int, string) {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 200 || body != "ok" {
		t.Errorf("ready: %d %q", code, body)
	}
	s.draining.Store(true)
	if code, body := get(); code != 503 || body != "draining" {
		t.Errorf("draining: %d %q", code, body)
	}
}

// TestBuiltBinaryRunsAnywhere builds the binary as `make build` does and
// runs it from an empty folder: the page and its scripts come from the
// binary itself.
func TestBuiltBinaryRunsAnywhere(t *testing.T) {
	if os.Getenv("PHX_E2E") == "" {
		t.Skip("set PHX_E2E=1 after `npm ci --prefix sample/assets` (make test does both)")
	}
	bin := t.TempDir()
	// -o sample-assets: the npm packages are installed already (make test
	// did it), and reinstalling them would pull them from under the
	// tests running beside this one.
	cmd := exec.Command("make", "-o", "sample-assets", "build", "BIN="+bin)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	empty := t.TempDir()
	run := exec.Command(filepath.Join(bin, "sample"), "-addr", "127.0.0.1:0", "-db", filepath.Join(empty, "chat.db"), "-secret", testSecret)
	run.Dir = empty
	srv := startCmd(t, run)
	for _, path := range []string{"/", "/assets/phoenix.mjs", "/static/app.js", "/static/style.css", "/static/favicon.svg"} {
		resp, err := http.Get(srv.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	out, err := exec.Command(filepath.Join(bin, "sample"), "-version").Output()
	if err != nil || !strings.HasPrefix(string(out), "phx sample ") {
		t.Errorf("-version: %q, %v", out, err)
	}
	if err := exec.Command(filepath.Join(bin, "sample"), "-h").Run(); err != nil {
		t.Errorf("-h: %v, want exit 0", err)
	}
}

// /api/whoami accepts exactly the tokens the socket accepts, so that the
// page can tell a server that is down from one that refuses its token.
func TestWhoami(t *testing.T) {
	srv := newSite(t, &site{open: true})
	good, err := mustSigner(t, testSecret).Sign("ann")
	if err != nil {
		t.Fatal(err)
	}
	expired, err := mustSigner(t, testSecret).Sign("ann", token.WithSignedAt(time.Now().Add(-token.DefaultMaxAge-time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := mustSigner(t, testSecret+"-but-not-quite").Sign("ann")
	if err != nil {
		t.Fatal(err)
	}
	badID, err := mustSigner(t, testSecret).Sign("ann smith")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, auth string
		want       int
		body       string
	}{
		{"good", "Bearer " + good, 200, `{"user_id":"ann"}`},
		{"none", "", 401, ""},
		{"no scheme", good, 401, ""},
		{"expired", "Bearer " + expired, 401, ""},
		{"forged", "Bearer " + forged, 401, ""},
		{"bad user id", "Bearer " + badID, 401, ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/whoami", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || (tc.body != "" && strings.TrimSpace(string(b)) != tc.body) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, resp.StatusCode, b, tc.want, tc.body)
		}
		if tc.want == 401 && !strings.Contains(string(b), `"error"`) {
			t.Errorf("%s: body %s has no error", tc.name, b)
		}
	}
	if got := post(t, srv.URL+"/api/whoami", map[string]string{"Authorization": "Bearer " + good}, ""); got != 405 {
		t.Errorf("POST: %d, want 405", got)
	}
}

// The page's icon is embedded with it, so that even bin/sample serves it.
func TestFavicon(t *testing.T) {
	srv := newSite(t, &site{open: true})
	resp, err := http.Get(srv.URL + "/static/favicon.svg")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(string(b), "<svg") {
		t.Fatalf("GET /static/favicon.svg: %d %q %.40q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	page, err := webFiles.ReadFile("web/index.html")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), `<link rel="icon" href="/static/favicon.svg"`) {
		t.Error("index.html does not link the icon")
	}
}

func TestBroadcastDoorRebinding(t *testing.T) {
	check, err := originCheck(defaultHosts)
	if err != nil {
		t.Fatal(err)
	}
	srv := newSite(t, &site{open: true, originOK: check})
	for _, tc := range []struct {
		host, origin string
		want         int
	}{
		{"evil.example:4000", "http://evil.example:4000", 403},
		{"", srv.URL, 202},
		{"localhost:4000", "http://localhost:4000", 202},
	} {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/broadcast", strings.NewReader(news))
		if err != nil {
			t.Fatal(err)
		}
		if tc.host != "" {
			req.Host = tc.host
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", tc.origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Host %q, Origin %q: %d, want %d", tc.host, tc.origin, resp.StatusCode, tc.want)
		}
	}
}

func TestOriginCheckOfHosts(t *testing.T) {
	rebound := httptest.NewRequest("GET", "/socket/websocket", nil)
	rebound.Host = "evil.example:4000"
	for _, tc := range []struct {
		hosts  string
		origin string
		want   bool
	}{
		{defaultHosts, "http://127.0.0.1:4000", true},
		{defaultHosts, "http://localhost:4000", true},
		{defaultHosts, "http://[::1]:4000", true},
		{defaultHosts, "http://evil.example:4000", false},
		{"chat.example.com, 10.0.0.5", "https://chat.example.com", true},
		{"chat.example.com, 10.0.0.5", "http://10.0.0.5:4000", true},
		{"chat.example.com, 10.0.0.5", "http://127.0.0.1:4000", false},
		{"*", "http://evil.example:4000", true}, // the old SameHost: the rebinding it lets through
	} {
		check, err := originCheck(tc.hosts)
		if err != nil {
			t.Fatalf("%q: %v", tc.hosts, err)
		}
		u, _ := url.Parse(tc.origin)
		if got := check(u, rebound); got != tc.want {
			t.Errorf("-hosts %q, Origin %q: %v, want %v", tc.hosts, tc.origin, got, tc.want)
		}
	}
	for _, bad := range []string{"", " , ", "http://example.com", "example.com:4000"} {
		if _, err := originCheck(bad); err == nil {
			t.Errorf("-hosts %q accepted", bad)
		}
	}
}

// Outside a cluster /api/node is one node, up, with no name.
func TestNodeOutsideACluster(t *testing.T) {
	srv := newSite(t, &site{open: true})
	var v nodeView
	if err := getJSON(srv.URL+"/api/node", &v); err != nil {
		t.Fatal(err)
	}
	if v != (nodeView{Nodes: 1, Up: 1}) {
		t.Fatalf("GET /api/node: %+v", v)
	}
}
