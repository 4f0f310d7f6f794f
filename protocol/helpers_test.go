package protocol

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// frameHex returns the bytes written in hex in s, ignoring spaces and '|'.
func frameHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "|", "").Replace(s))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// equalMessage reports whether a and b hold the same message.
func equalMessage(a, b Message) bool {
	return a.JoinRef == b.JoinRef && a.Ref == b.Ref && a.Topic == b.Topic && a.Event == b.Event &&
		a.Payload.Binary == b.Payload.Binary && bytes.Equal(a.Payload.Data, b.Payload.Data)
}

// fmtMessage formats m for test failures.
func fmtMessage(m Message) string {
	return fmt.Sprintf("{JoinRef:%#q Ref:%#q Topic:%q Event:%q Payload:%q Binary:%v}",
		string(m.JoinRef), string(m.Ref), m.Topic, m.Event, m.Payload.Data, m.Payload.Binary)
}

// The client encoders below write what a client sends, which the server
// encoders cannot: V2 text frames with any JSON payload, kind 0 binary
// frames with a ref, and V1 objects with join_ref.

// clientV2JSON encodes m as a V2 text frame, as the JavaScript client does.
func clientV2JSON(m Message) []byte {
	b := appendV2Head(nil, m.JoinRef, m.Ref, m.Topic, m.Event)
	b = appendPayload(b, m.Payload)
	return append(b, ']')
}

// clientV2Binary encodes m as a kind 0 binary frame from a client.
func clientV2Binary(m Message) []byte {
	jr, ref := m.JoinRef.Value(), m.Ref.Value()
	b := []byte{kindPush, byte(len(jr)), byte(len(ref)), byte(len(m.Topic)), byte(len(m.Event))}
	b = append(b, jr...)
	b = append(b, ref...)
	b = append(b, m.Topic...)
	b = append(b, m.Event...)
	return append(b, m.Payload.Data...)
}

// clientV1 encodes m as a V1 object from a client, with join_ref first
// when it is not null.
func clientV1(m Message) []byte {
	var b []byte
	if !m.JoinRef.IsNull() {
		b = append(b, `{"join_ref":`...)
		b = m.JoinRef.appendJSON(b)
		b = append(b, `,"topic":`...)
	} else {
		b = append(b, `{"topic":`...)
	}
	b = appendQuoted(b, m.Topic)
	b = append(b, `,"event":`...)
	b = appendQuoted(b, m.Event)
	b = append(b, `,"payload":`...)
	b = appendPayload(b, m.Payload)
	return appendV1Tail(b, m.Ref)
}

// decodeOK decodes frame and fails the test on error.
func decodeOK(t testing.TB, s Serializer, frame []byte, binary bool) Message {
	t.Helper()
	m, err := s.Decode(frame, binary)
	if err != nil {
		t.Fatalf("%s Decode(%q): %v", s.Version(), frame, err)
	}
	return m
}
