package protocol

// Reserved topic and event names.
const (
	// TopicPhoenix is the topic of heartbeats; it cannot be joined.
	TopicPhoenix = "phoenix"

	// EventJoin asks the server to join the message's topic.
	EventJoin = "phx_join"
	// EventLeave asks the server to leave the message's topic.
	EventLeave = "phx_leave"
	// EventHeartbeat keeps the connection alive; it is sent on TopicPhoenix.
	EventHeartbeat = "heartbeat"
	// EventReply is the event of every reply the server sends.
	EventReply = "phx_reply"
	// EventError tells the client that a channel crashed.
	EventError = "phx_error"
	// EventClose tells the client that a channel stopped.
	EventClose = "phx_close"
)

// A Message is one decoded client message, or a push from the server.
type Message struct {
	// JoinRef is the ref of the join that created the channel the message
	// belongs to. It is null for messages outside any channel.
	JoinRef Ref

	// Ref identifies a client message; the server's reply echoes it.
	// It is null in server pushes.
	Ref Ref

	Topic   string
	Event   string
	Payload Payload
}

// A Reply answers the client message whose ref it carries. It is sent with
// event [EventReply] and payload {"status": Status, "response": Response}.
type Reply struct {
	JoinRef Ref
	Ref     Ref
	Topic   string

	// Status is usually "ok" or "error", but any string is allowed.
	Status string

	// Response is the reply's body. It may be any JSON value, unlike the
	// payloads of pushes and broadcasts. A zero Payload encodes as {}.
	Response Payload
}

// A Broadcast is a message sent to every subscriber of a topic. Its join_ref
// is null on the wire, so that every channel instance of the topic on the
// client accepts it.
type Broadcast struct {
	Topic   string
	Event   string
	Payload Payload
	// Ref is null, or the broadcast's position in its topic's history,
	// which a client keeps to recover what it missed. A binary frame
	// (kind 2) has no place for it and goes without.
	Ref Ref
}
