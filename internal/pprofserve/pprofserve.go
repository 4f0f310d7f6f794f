// Package pprofserve serves net/http/pprof on a listener of its own, so
// that profiling never shows on a server's public routes.
package pprofserve

import (
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // registers the handlers on http.DefaultServeMux
	"time"
)

// Start serves the profiles on addr, and logs where, until the returned
// stop is called. An empty addr serves nothing.
func Start(addr string, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("pprof", "addr", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { _ = srv.Close() }, nil
}
