// Package pprofserve serves net/http/pprof on a listener of its own, so
// that profiling never shows on a server's public routes.
package pprofserve

import (
	"net"
	"net/http"
	_ "net/http/pprof" // registers the handlers on http.DefaultServeMux
	"time"
)

// Start serves the profiles on addr until the returned stop is called, and
// returns the address it listens on.
func Start(addr string) (listening string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}
