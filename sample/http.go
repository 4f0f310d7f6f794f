package main

import (
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/cluster"
	"github.com/phxgo/phx/token"
)

//go:embed web
var webFiles embed.FS

// maxBroadcastBody bounds POST /api/broadcast bodies.
const maxBroadcastBody = 1 << 20

// routes serves the sample's HTTP API and page around the socket handlers.
func routes(ep *actors.Endpoint, clu *cluster.Cluster, tokens *token.Signer, websocket, longpoll http.Handler, assetsDir string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/socket/websocket", websocket)
	mux.Handle("/socket/longpoll", longpoll)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
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
		t, err := tokens.Sign(userID)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "could not sign a token")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"token": t})
	})
	mux.HandleFunc("/api/broadcast", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeError(w, http.StatusMethodNotAllowed, "use POST")
			return
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
		if err := ep.Broadcast(in.Topic, in.Event, in.Payload); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusAccepted, struct{}{})
	})

	// This node's view of its cluster: peers up and down, and what the
	// relay has carried.
	mux.HandleFunc("GET /api/cluster", func(w http.ResponseWriter, _ *http.Request) {
		if clu == nil {
			writeError(w, http.StatusNotFound, "this server is not in a cluster (see -peers and -cluster-addr)")
			return
		}
		peers := clu.Peers()
		if peers == nil {
			peers = []cluster.Peer{}
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"node": clu.Node(), "addr": clu.Addr(), "incarnation": strconv.FormatUint(clu.Incarnation(), 10),
			"peers": peers, "stats": clu.Stats(),
		})
	})

	web, _ := fs.Sub(webFiles, "web")
	phoenixJS := filepath.Join(assetsDir, "node_modules", "phoenix", "priv", "static", "phoenix.mjs")
	mux.HandleFunc("GET /assets/phoenix.mjs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFile(w, r, phoenixJS)
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(web)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(phoenixJS); errors.Is(err, fs.ErrNotExist) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "The page's JavaScript is not installed: run `make run` (or `npm ci --prefix sample/assets`) and reload.\n")
			return
		}
		http.ServeFileFS(w, r, web, "index.html")
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
