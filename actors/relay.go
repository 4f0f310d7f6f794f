package actors

import (
	"context"
	"log/slog"
	"strings"

	"github.com/phxgo/phx/internal/seam"
)

// setRelay makes r carry this endpoint's broadcasts to other nodes; nil
// makes the endpoint a single node again.
func (e *Endpoint) setRelay(r seam.Relay) {
	if r == nil {
		e.relay.Store(nil)
		return
	}
	e.relay.Store(&r)
}

func init() {
	seam.Of = func(ep any) *seam.Endpoint {
		e, _ := ep.(*Endpoint)
		if e == nil {
			return nil
		}
		return &seam.Endpoint{System: e.system, Dispatcher: e.pool, SetRelay: e.setRelay}
	}
}

// LocalBroadcast sends event with payload to the subscribers of topic on
// this node only (Phoenix's local_broadcast). A relay delivers the
// broadcasts of other nodes with it; presence sends its diffs with it,
// since every node computes its own.
func (e *Endpoint) LocalBroadcast(topic, event string, payload any) error {
	p, err := broadcastPayload(payload)
	if err != nil {
		return err
	}
	e.dispatch(topic, event, p, nil)
	return nil
}

// runtimeLogHandler passes the actor runtime's warnings and errors, but for
// Proto.Actor remote's reports on its connections: it reports each attempt
// to reach a peer that is down, every two seconds, as an error, and the
// cluster reports peers going down and coming up itself, once.
type runtimeLogHandler struct{ minLevel }

func (h runtimeLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "EndpointWriter") || strings.HasPrefix(r.Message, "EndpointReader") {
		return nil
	}
	return h.minLevel.Handle(ctx, r)
}

func (h runtimeLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return runtimeLogHandler{minLevel{h.Handler.WithAttrs(attrs), h.level}}
}

func (h runtimeLogHandler) WithGroup(name string) slog.Handler {
	return runtimeLogHandler{minLevel{h.Handler.WithGroup(name), h.level}}
}
