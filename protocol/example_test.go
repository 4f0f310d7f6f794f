package protocol_test

import (
	"fmt"

	"github.com/phxgo/phx/protocol"
)

// A connection negotiates its serializer, decodes a join, and answers it.
func Example() {
	s, err := protocol.Negotiate("2.0.0")
	if err != nil {
		panic(err)
	}
	msg, err := s.Decode([]byte(`["3","3","room:lobby","phx_join",{"user":"ann"}]`), false)
	if err != nil {
		panic(err)
	}
	fmt.Println(msg.Topic, msg.Event, msg.Ref.Value(), string(msg.Payload.Data))

	frame, binary, err := s.EncodeReply(nil, &protocol.Reply{
		JoinRef:  msg.JoinRef,
		Ref:      msg.Ref,
		Topic:    msg.Topic,
		Status:   "ok",
		Response: protocol.EmptyObject,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(frame), binary)
	// Output:
	// room:lobby phx_join 3 {"user":"ann"}
	// ["3","3","room:lobby","phx_reply",{"status":"ok","response":{}}] false
}

func ExampleNegotiate() {
	for _, vsn := range []string{"", "2.0.0", "2.1.0"} {
		s, err := protocol.Negotiate(vsn)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%q: %s\n", vsn, s.Version())
	}
	// Output:
	// "": 1.0.0
	// "2.0.0": 2.0.0
	// protocol: unsupported serializer version: "2.1.0" matches neither ~> 1.0.0 nor ~> 2.0.0
}

// The V1 serializer answers the same join without join_ref.
func ExampleSerializer_v1() {
	msg, err := protocol.V1.Decode([]byte(`{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}`), false)
	if err != nil {
		panic(err)
	}
	frame, _, _ := protocol.V1.EncodeReply(nil, &protocol.Reply{JoinRef: msg.JoinRef, Ref: msg.Ref, Topic: msg.Topic, Status: "ok"})
	fmt.Println(string(frame))
	// Output:
	// {"topic":"room:lobby","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1"}
}

// Binary payloads travel in binary frames.
func ExampleSerializer_binary() {
	frame, binary, err := protocol.V2.EncodeBroadcast(nil, &protocol.Broadcast{
		Topic:   "topic",
		Event:   "event",
		Payload: protocol.Bytes([]byte("efg")),
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("% x %v\n", frame, binary)
	// Output:
	// 02 05 05 74 6f 70 69 63 65 76 65 6e 74 65 66 67 true
}

// Refs keep their JSON type: a string ref is echoed as a string, a number
// ref as a number.
func ExampleRef() {
	for _, frame := range []string{`[null,"7","t","e",{}]`, `[null,7,"t","e",{}]`} {
		msg, _ := protocol.V2.Decode([]byte(frame), false)
		reply, _, _ := protocol.V2.EncodeReply(nil, &protocol.Reply{Ref: msg.Ref, Topic: "t", Status: "ok"})
		fmt.Printf("%s %q\n", reply, msg.Ref.Value())
	}
	// Output:
	// [null,"7","t","phx_reply",{"status":"ok","response":{}}] "7"
	// [null,7,"t","phx_reply",{"status":"ok","response":{}}] "7"
}
