// Command floor is the baseline of the load tests: a bare gws WebSocket
// server that answers the same frames as the sample's bench channel with
// nothing but a WebSocket stack. No actors, no channels, no registry, no
// authentication, no outbox. Every figure of the matrix is given as a ratio
// to this floor, which is what a WebSocket server in Go costs at the least.
//
//	floor -addr 127.0.0.1:4200
//
// It logs "listening addr=http://…" once it accepts connections, and stops
// accepting on SIGINT or SIGTERM; the open connections end with the
// process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/phxgo/phx/internal/pprofserve"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:4200", "listen address")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address, as the sample's -pprof; off when empty")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	s := newServer(log)
	mux := http.NewServeMux()
	mux.Handle("/socket/websocket", s)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", "http://"+ln.Addr().String())

	stopPprof, err := pprofserve.Start(*pprofAddr, log)
	if err != nil {
		return err
	}
	defer stopPprof()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Hijacked connections are not the HTTP server's: Shutdown only stops
	// accepting, and the WebSocket connections end with the process.
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
