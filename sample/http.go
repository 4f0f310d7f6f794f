package main

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/cluster"
	"github.com/phxgo/phx/token"
	"github.com/phxgo/phx/transport"
)

// webFiles is the page. A binary built with `make build` also carries the
// phoenix client, copied to web/vendor/phoenix.mjs first, so that it
// serves the page from anywhere; other builds read it from -assets.
//
//go:embed web
var webFiles embed.FS

// embeddedPhoenix is where `make build` puts the phoenix client.
const embeddedPhoenix = "web/vendor/phoenix.mjs"

// maxBroadcastBody bounds POST /api/broadcast bodies.
const maxBroadcastBody = 1 << 20

// site is the sample's HTTP side: its page, its API and the sockets.
type site struct {
	ep        *actors.Endpoint
	cluster   *cluster.Cluster // nil outside a cluster
	tokens    *token.Signer
	websocket http.Handler
	longpoll  http.Handler
	assetsDir string // holds node_modules/phoenix, for builds without it embedded
	// adminSecret, when set, is the bearer token POST /api/broadcast
	// requires; open is whether it may do without (the listener is on
	// loopback, where only this machine reaches it).
	adminSecret string
	open        bool
	// metrics serves GET /metrics; nil when -metrics=false.
	metrics http.Handler
	// originOK checks the Origin of a browser's POST /api/broadcast, as
	// the transports check their connects' (-hosts). Nil means
	// transport.SameHost.
	originOK transport.OriginCheck
	// draining is set once shutdown has begun: /healthz answers 503 so
	// that a load balancer sends new clients elsewhere.
	draining atomic.Bool
}

// phoenixJS returns the phoenix client, from the binary or from assetsDir.
func (s *site) phoenixJS() ([]byte, error) {
	if b, err := webFiles.ReadFile(embeddedPhoenix); err == nil {
		return b, nil
	}
	return os.ReadFile(filepath.Join(s.assetsDir, "node_modules", "phoenix", "priv", "static", "phoenix.mjs"))
}

// routes serves the sample's HTTP API and page around the socket handlers.
func (s *site) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/socket/websocket", s.websocket)
	mux.Handle("/socket/longpoll", s.longpoll)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if s.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "draining")
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	// Readiness, for a load balancer or Kubernetes: 200 once this node
	// has met the cluster it was told of (at once for a single node), so
	// that what is broadcast through it reaches every node, and what any
	// node broadcasts reaches its clients; 503 before, and while draining.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		switch {
		case s.draining.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "draining")
		case s.cluster != nil && !s.cluster.Ready():
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "meeting the cluster")
		default:
			_, _ = io.WriteString(w, "ready")
		}
	})
	mux.HandleFunc("/api/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			writeError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		userID := r.URL.Query().Get("user_id")
		if !userIDPattern.MatchString(userID) {
			writeError(w, http.StatusBadRequest, "user_id must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -")
			return
		}
		// Any other name is a demo name, anyone's to take. The admin's
		// opens room:admins: beyond loopback it takes the admin secret,
		// as POST /api/broadcast does.
		if userID == adminUser && !s.open && !s.adminAuthorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="phx sample"`)
			writeError(w, http.StatusUnauthorized, "the name admin takes the admin secret (-admin-secret): send Authorization: Bearer <admin secret>")
			return
		}
		t, err := s.tokens.Sign(userID)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "could not sign a token")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"token": t})
	})
	// A browser cannot read the 403 that refuses a WebSocket upgrade: the
	// page asks here whether its token is still good, and so tells a
	// server that is down (wait) from one that no longer knows the token
	// (log in again).
	mux.HandleFunc("GET /api/whoami", func(w http.ResponseWriter, r *http.Request) {
		t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		userID, err := verifyUser(s.tokens, t)
		if !ok || err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="phx sample"`)
			writeError(w, http.StatusUnauthorized, "missing, invalid or expired token: get a new one from /api/token")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"user_id": userID})
	})
	mux.HandleFunc("/api/broadcast", s.broadcast)
	if s.metrics != nil {
		mux.Handle("GET /metrics", s.metrics)
	}
	// This node's view of its cluster: peers up and down, and what the
	// relay has carried.
	mux.HandleFunc("GET /api/cluster", func(w http.ResponseWriter, _ *http.Request) {
		if s.cluster == nil {
			writeError(w, http.StatusNotFound, "this server is not in a cluster (see -peers and -cluster-addr)")
			return
		}
		peers := s.cluster.Peers()
		if peers == nil {
			peers = []cluster.Peer{}
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"node": s.cluster.Node(), "addr": s.cluster.Addr(), "incarnation": s.cluster.Incarnation(),
			"ready": s.cluster.Ready(), "peers": peers, "stats": s.cluster.Stats(),
		})
	})

	// What the page says of the cluster, in a shape that is the same for a
	// single process: /api/cluster's 404 would be an error on the
	// browser's console of every page outside a cluster.
	mux.HandleFunc("GET /api/node", func(w http.ResponseWriter, _ *http.Request) {
		if s.cluster == nil {
			writeJSON(w, http.StatusOK, nodeView{Nodes: 1, Up: 1})
			return
		}
		v := nodeView{Node: s.cluster.Node(), Nodes: 1, Up: 1}
		for _, p := range s.cluster.Peers() {
			v.Nodes++
			if p.Up {
				v.Up++
			}
		}
		writeJSON(w, http.StatusOK, v)
	})

	web, _ := fs.Sub(webFiles, "web")
	mux.HandleFunc("GET /assets/phoenix.mjs", func(w http.ResponseWriter, r *http.Request) {
		b, err := s.phoenixJS()
		if err != nil {
			http.Error(w, "the phoenix client is not installed: run `make run` or `make build`", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeContent(w, r, "phoenix.mjs", time.Time{}, bytes.NewReader(b))
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(web)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.phoenixJS(); err != nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "The page's JavaScript is not installed: run `make run` (or `npm ci --prefix sample/assets`) and reload, or build the binary with `make build`, which carries it.\n")
			return
		}
		http.ServeFileFS(w, r, web, "index.html")
	})
	return mux
}

// broadcast is POST /api/broadcast: Endpoint.Broadcast from outside any
// channel. Open on loopback; beyond it, only with the admin secret.
func (s *site) broadcast(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	if !s.open {
		if !s.adminAuthorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="phx sample"`)
			writeError(w, http.StatusUnauthorized, "this server is not on loopback: send Authorization: Bearer <admin secret> (-admin-secret)")
			return
		}
	}
	// A page of another site must not make its visitors' browsers post
	// here.
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		check := s.originOK
		if check == nil {
			check = transport.SameHost
		}
		if err != nil || !check(u, r) {
			writeError(w, http.StatusForbidden, "cross-site request")
			return
		}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "the body must be application/json")
			return
		}
	}
	var in struct {
		Topic   string          `json:"topic"`
		Event   string          `json:"event"`
		Payload json.RawMessage `json:"payload"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBroadcastBody))
	if err := dec.Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "body must be a JSON object {topic, event, payload}: "+err.Error())
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body must hold one JSON object")
		return
	}
	switch {
	case in.Topic == "":
		writeError(w, http.StatusBadRequest, "topic must be a non-empty string")
		return
	case in.Event == "":
		writeError(w, http.StatusBadRequest, "event must be a non-empty string")
		return
	case len(in.Payload) == 0 || in.Payload[0] != '{':
		writeError(w, http.StatusBadRequest, "payload must be a JSON object")
		return
	}
	if err := s.ep.Broadcast(in.Topic, in.Event, in.Payload); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, struct{}{})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// adminAuthorized reports whether r carries the admin secret, which a
// server without one never takes.
func (s *site) adminAuthorized(r *http.Request) bool {
	want := "Bearer " + s.adminSecret
	return s.adminSecret != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) == 1
}

// nodeView is GET /api/node: this node's name in its cluster ("" outside
// one), how many nodes it knows, itself included, and how many of them
// are up.
type nodeView struct {
	Node  string `json:"node"`
	Nodes int    `json:"nodes"`
	Up    int    `json:"up"`
}
