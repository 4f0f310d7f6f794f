package protocol

// A Serializer encodes and decodes the frames of one protocol version.
//
// The Encode methods append a frame to dst, which may be nil, and return the
// extended slice, together with whether the frame must be sent as a binary
// WebSocket frame rather than a text one. They allocate only when dst lacks
// capacity, so a caller that reuses its buffer encodes without allocating.
// On error they return dst unchanged.
type Serializer interface {
	// Version returns the protocol version: "1.0.0" or "2.0.0".
	Version() string

	// Decode parses one frame sent by a client. binary reports whether it
	// arrived as a binary WebSocket frame. The returned Message does not
	// alias frame, so the caller may reuse frame afterwards.
	//
	// Errors wrap ErrMalformed, except that V1 returns ErrBinaryUnsupported
	// for a binary frame. Decode never panics.
	Decode(frame []byte, binary bool) (Message, error)

	// EncodeMessage appends the frame of a push from the server.
	EncodeMessage(dst []byte, m *Message) ([]byte, bool, error)

	// EncodeReply appends the frame of a reply.
	EncodeReply(dst []byte, r *Reply) ([]byte, bool, error)

	// EncodeBroadcast appends the frame of a broadcast.
	EncodeBroadcast(dst []byte, b *Broadcast) ([]byte, bool, error)
}

// The serializers Phoenix ships with.
var (
	// V1 is the "1.0.0" serializer: messages are JSON objects in text
	// frames, without join_ref on output, and binary payloads are not
	// supported.
	V1 Serializer = v1{}

	// V2 is the "2.0.0" serializer the JavaScript client uses: messages are
	// JSON arrays in text frames, or binary frames for binary payloads.
	V2 Serializer = v2{}
)

// AppendMessage is s.EncodeMessage(dst, m) for a caller that keeps m on
// its stack: a call through the interface makes m escape, which costs a
// push an allocation of its own. The serializers of this package are
// called directly; any other is given a copy.
func AppendMessage(s Serializer, dst []byte, m *Message) ([]byte, bool, error) {
	switch s := s.(type) {
	case v2:
		return s.EncodeMessage(dst, m)
	case v1:
		return s.EncodeMessage(dst, m)
	}
	c := *m
	return s.EncodeMessage(dst, &c)
}

// AppendReply is to EncodeReply what AppendMessage is to EncodeMessage.
func AppendReply(s Serializer, dst []byte, r *Reply) ([]byte, bool, error) {
	switch s := s.(type) {
	case v2:
		return s.EncodeReply(dst, r)
	case v1:
		return s.EncodeReply(dst, r)
	}
	c := *r
	return s.EncodeReply(dst, &c)
}
