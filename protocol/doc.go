// Package protocol encodes and decodes the frames of the Phoenix Channels
// wire protocol, as spoken by the official phoenix JavaScript client.
//
// A connection picks its serializer with [Negotiate], from the vsn query
// parameter of its request. There are three frame formats:
//
//   - V2 text frames, used by the JavaScript client, hold a JSON array:
//     ["3","4","room:lobby","new_msg",{"body":"hi"}], that is
//     [join_ref, ref, topic, event, payload].
//   - V2 binary frames carry messages whose payload is raw bytes. A kind
//     byte and one length byte per header field precede the fields, and
//     the payload fills the rest of the frame, so each of join_ref, ref,
//     topic and event is at most 255 bytes.
//   - V1 text frames, for older clients, hold a JSON object:
//     {"topic":"room:lobby","event":"new_msg","payload":{},"ref":"4"}.
//     The server never sends join_ref in V1, and V1 has no binary frames.
//
// Refs are kept as the JSON text the client sent (see [Ref]) and echoed
// unchanged. Payloads are kept as raw JSON text or bytes (see [Payload]):
// decoding validates a JSON payload but never builds values from it.
//
// Decoding is strict: a frame that is not exactly a well-formed message is
// refused with an error wrapping [ErrMalformed], never half-decoded, and no
// input makes Decode panic. Phoenix closes the connection on such frames.
// Encoding appends to a caller's buffer and does not allocate when the
// buffer is large enough, so that a broadcast can be encoded once per
// serializer and the same bytes sent to every subscriber.
package protocol
