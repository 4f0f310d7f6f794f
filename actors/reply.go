package actors

import (
	"errors"
	"fmt"
)

// Reply is what HandleIn answers: a reply to the client's message, or none,
// optionally followed by stopping the channel. The zero Reply is NoReply.
type Reply struct {
	status   string // "" for no reply
	response any
	stop     error // non-nil: stop the channel after replying
}

// NoReply answers nothing (Phoenix's {:noreply, socket}).
func NoReply() Reply { return Reply{} }

// ReplyOK replies {"status":"ok","response":response} (Phoenix's
// {:reply, {:ok, response}, socket}); a nil response is {}.
func ReplyOK(response any) Reply { return Reply{status: "ok", response: response} }

// ReplyError replies {"status":"error","response":response} (Phoenix's
// {:reply, {:error, response}, socket}); nil is {}.
func ReplyError(response any) Reply { return Reply{status: "error", response: response} }

// ReplyStatus replies with any status string, as Phoenix does for any
// atom.
func ReplyStatus(status string, response any) Reply {
	return Reply{status: status, response: response}
}

// Stop stops the channel without replying. A reason for which IsShutdown
// holds closes the channel (phx_close); any other reason is a failure
// (phx_error).
func Stop(reason error) Reply { return Reply{stop: stopReason(reason)} }

// AndStop returns r followed by stopping the channel with reason.
func (r Reply) AndStop(reason error) Reply {
	r.stop = stopReason(reason)
	return r
}

func stopReason(reason error) error {
	if reason == nil {
		return Normal
	}
	return reason
}

// Normal is the reason of a channel that ends because it is done
// (Phoenix's :normal). The client receives phx_close.
const Normal normalReason = "normal"

type normalReason string

func (r normalReason) Error() string { return string(r) }

// ShutdownError is the reason of a channel stopped on purpose (Phoenix's
// {:shutdown, reason}): the reason itself. The client receives phx_close.
// Two ShutdownErrors of the same reason are equal, so errors.Is tells
// them apart from others.
type ShutdownError string

func (e ShutdownError) Error() string { return "shutdown: " + string(e) }

// ShutdownReason returns a ShutdownError with reason, to stop a channel
// with (Stop, AndStop): ShutdownReason("kicked") is Phoenix's
// {:shutdown, :kicked}.
func ShutdownReason(reason string) error { return ShutdownError(reason) }

// Reasons Terminate receives when the channel did not stop itself.
const (
	// ReasonLeft: the client left the channel.
	ReasonLeft ShutdownError = "left"
	// ReasonClosed: the connection ended. Terminate gets it wrapped with
	// the read or write error that ended the connection, if any: test for
	// it with errors.Is.
	ReasonClosed ShutdownError = "closed"
	// ReasonDisconnected: a disconnect broadcast on the socket id closed it.
	ReasonDisconnected ShutdownError = "disconnected"
	// ReasonServerShutdown: the endpoint is shutting down.
	ReasonServerShutdown ShutdownError = "server shutdown"
)

// IsShutdown reports whether reason ends a channel normally: Normal or a
// ShutdownError, the reasons for which the client gets phx_close rather
// than phx_error.
func IsShutdown(reason error) bool {
	switch reason.(type) {
	case ShutdownError, normalReason:
		return true // the common cases, without errors.As's allocation
	}
	var se ShutdownError
	return errors.Is(reason, Normal) || errors.As(reason, &se)
}

// PanicError is the reason of a channel that crashed: a callback panicked.
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the goroutine's stack at the panic
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// JoinError refuses a join: the client gets {"status":"error","response":Response}.
type JoinError struct{ Response any }

func (e *JoinError) Error() string { return fmt.Sprintf("join refused: %v", e.Response) }

// Refuse returns a *JoinError, for Join to refuse with response (Phoenix's
// {:error, reply}).
func Refuse(response any) error { return &JoinError{Response: response} }
