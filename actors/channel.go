package actors

// Channel is the server side of one joined topic on one connection, the
// counterpart of a Phoenix channel module. A fresh value is produced for
// every join, so its fields are the channel's state. Embed BaseChannel to get
// the optional callbacks.
type Channel interface {
	// Join decides whether the client may join topic with params. It returns
	// the join reply's response (nil is {}), or an error to refuse: a
	// *JoinError (see Refuse) sends its Response; any other error sends
	// {"reason": err.Error()}. Join may set assigns but must not push: the
	// join reply has not been sent yet. Send a message to s.Self() to push
	// right after the join (the "after join" pattern).
	Join(topic string, params Payload, s *Socket) (any, error)
	// HandleIn handles an event pushed by the client.
	HandleIn(event string, payload Payload, s *Socket) Reply
	// HandleInfo handles a message sent to the channel with ChannelRef.Send.
	// A non-nil error stops the channel with that reason.
	HandleInfo(msg any, s *Socket) error
	// HandleOut handles a broadcast of an event the channel intercepts (see
	// Interceptor); it may Push a changed payload, or nothing. A non-nil
	// error stops the channel with that reason.
	HandleOut(event string, payload Payload, s *Socket) error
	// Terminate runs once when the channel ends, with the reason: the one
	// it stopped with, ReasonLeft, ReasonClosed, ReasonDisconnected, or a
	// *PanicError. Pushes from Terminate are still delivered when the
	// connection is open. It does not run for a channel replaced by a
	// duplicate join (as in Phoenix).
	Terminate(reason error, s *Socket)
}

// Interceptor is implemented by channels that intercept broadcasts: for the
// events listed, every broadcast reaches HandleOut instead of going straight
// to the client (Phoenix's intercept/1).
type Interceptor interface {
	Intercept() []string
}

// BaseChannel supplies the optional callbacks of Channel. Embed it and write
// only Join and the callbacks you need.
type BaseChannel struct{}

// HandleIn replies {"reason":"unknown event"} with status error.
func (BaseChannel) HandleIn(string, Payload, *Socket) Reply {
	return ReplyError(map[string]string{"reason": "unknown event"})
}

// HandleInfo ignores the message.
func (BaseChannel) HandleInfo(any, *Socket) error { return nil }

// HandleOut pushes the broadcast unchanged.
func (BaseChannel) HandleOut(event string, payload Payload, s *Socket) error {
	return s.Push(event, payload)
}

// Terminate does nothing.
func (BaseChannel) Terminate(error, *Socket) {}

// ChannelFunc produces a fresh Channel for each join.
type ChannelFunc func() Channel
