package main

import (
	"strings"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/supervision"
)

// A room's restart budget: three restarts in place within five seconds
// (the framework's default, named here so that the notice can tell
// members what it is).
const (
	roomMaxRestarts   = 3
	roomRestartWindow = 5 * time.Second
)

var roomPolicy = supervision.RestartInPlace(roomMaxRestarts, roomRestartWindow)

// ChannelCrashed is the payload of channel_crashed, the sample's own
// event (not in the contract every client relies on): a member's room
// channel crashed, and what its supervisor did about it.
type ChannelCrashed struct {
	// UserID is the member whose channel crashed.
	UserID string `json:"user_id"`
	// Directive is "restart" (in place: the member stayed in the room) or
	// "stop" (past the budget: the member's client rejoins by itself).
	Directive string `json:"directive"`
	// Restarts counts the channel's restarts within the window, this one
	// included when it was restarted.
	Restarts      int `json:"restarts"`
	MaxRestarts   int `json:"max_restarts"`
	WindowSeconds int `json:"window_seconds"`
}

// announceCrashes tells the members of a room each time one of its
// channels crashes. Supervision shows only in the server's log
// otherwise, and it is what the sample is there to show. In a cluster the
// node that supervised the channel broadcasts it, to every node.
func announceCrashes(ep *actors.Endpoint) *supervision.Subscription {
	return ep.Supervision().Subscribe(func(e supervision.Event) {
		if e.Kind != "channel" || !strings.HasPrefix(e.Topic, "room:") {
			return
		}
		if e.Directive != supervision.Restart && e.Directive != supervision.Stop {
			return
		}
		_ = ep.Broadcast(e.Topic, "channel_crashed", ChannelCrashed{
			UserID:        strings.TrimPrefix(e.SocketID, "users_socket:"),
			Directive:     e.Directive.String(),
			Restarts:      e.Restarts,
			MaxRestarts:   roomMaxRestarts,
			WindowSeconds: int(roomRestartWindow / time.Second),
		})
	})
}
