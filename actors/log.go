package actors

import (
	"context"
	"log/slog"
	"strings"
)

// minLevel filters out records below a level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
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
