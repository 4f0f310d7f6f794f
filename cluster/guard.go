package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// guard stands between the cluster listener and Proto.Actor remote's
// receiver, which trusts what it reads: it looks a message's type up by
// name and dereferences nil when the name is unknown (the process dies),
// delivers system messages (Stop) to any actor named, and forwards a
// message addressed to another host. Our nodes send one thing, frames to
// the relay, so the guard lets exactly that through: after the stream's
// one connect request, every envelope a BytesValue for the relay. Only
// nodes holding the cluster secret get this far (the TLS handshake stops
// the others), so this guards against a bug
// or a stranger's tool among them, not an outsider. A stream that carries
// anything else is refused, counted and logged (once a minute per host);
// a panic below is recovered and refuses the stream.
type guard struct {
	c     *Cluster
	local atomic.Pointer[string] // this node's address, once known
}

var bytesValueName = string(proto.MessageName(&wrapperspb.BytesValue{}))

func newGuard(c *Cluster) *guard { return &guard{c: c} }

func (g *guard) setLocal(addr string) { g.local.Store(&addr) }

func peerHost(ctx context.Context) string {
	p, ok := grpcpeer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "unknown"
	}
	host, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		return p.Addr.String()
	}
	return host
}

func (g *guard) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	from := peerHost(ss.Context())
	defer func() {
		if p := recover(); p != nil {
			err = g.refuse(from, fmt.Errorf("panic reading a stream: %v", p))
		}
	}()
	return handler(srv, &guardedStream{ServerStream: ss, g: g, from: from})
}

// unary answers the remote service's other calls, which Proto.Actor
// leaves unimplemented (they panic), with an error.
func (g *guard) unary(ctx context.Context, _ any, info *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
	return nil, status.Errorf(codes.Unimplemented, "cluster: %s is not served", info.FullMethod)
}

type guardedStream struct {
	grpc.ServerStream
	g         *guard
	from      string
	connected bool // the stream's connect request has been read
}

// RecvMsg lets through what a node's writer sends on a stream: one connect
// request of a server connection first, then message batches. Anything
// else remote would log once per message (an error for a client
// connection or none at all, a warning for a disconnect request or an
// empty message) and go on reading.
func (s *guardedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	rm, ok := m.(*remote.RemoteMessage)
	if !ok {
		return s.g.refuse(s.from, fmt.Errorf("unexpected message %T", m))
	}
	if !s.connected {
		if rm.GetConnectRequest().GetServerConnection() == nil {
			return s.g.refuse(s.from, fmt.Errorf("%w: a stream that does not start with a server connection", errForeign))
		}
		s.connected = true
		return nil
	}
	b := rm.GetMessageBatch()
	if b == nil {
		return s.g.refuse(s.from, fmt.Errorf("%w: a message other than a batch on a stream connected", errForeign))
	}
	if err := s.g.check(b); err != nil {
		return s.g.refuse(s.from, err)
	}
	return nil
}

var errForeign = errors.New("a message no node of this cluster sends")

// check lets a batch through if it holds only frames for the relay, and
// makes their target this node.
func (g *guard) check(b *remote.MessageBatch) error {
	if len(b.Senders) != 0 {
		return errForeign
	}
	for _, name := range b.TypeNames {
		if name != bytesValueName {
			return fmt.Errorf("%w: type %q", errForeign, name)
		}
	}
	local := g.local.Load()
	for _, t := range b.Targets {
		if t == nil || t.Id != relayName || local == nil {
			return fmt.Errorf("%w: a target other than the relay", errForeign)
		}
		t.Address = *local
	}
	for _, e := range b.Envelopes {
		if e == nil || e.SerializerId != 0 || e.Sender != 0 || e.MessageHeader != nil ||
			e.TargetRequestId != 0 || e.SenderRequestId != 0 ||
			e.TypeId < 0 || int(e.TypeId) >= len(b.TypeNames) ||
			e.Target < 0 || int(e.Target) >= len(b.Targets) {
			return errForeign
		}
		if !isBytesValue(e.MessageData) {
			return fmt.Errorf("%w: not a %s", errForeign, bytesValueName)
		}
	}
	return nil
}

// isBytesValue says b is a BytesValue as nodes write it: its one field or
// nothing. It reads b in place, where decoding it would copy the frame
// once more on every node it reaches.
func isBytesValue(b []byte) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num != 1 || typ != protowire.BytesType {
			return false
		}
		b = b[n:]
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// refuse counts and logs a refused stream, and returns the error that
// ends it.
func (g *guard) refuse(from string, err error) error {
	g.c.refuse(from, reasonForeign, err)
	return status.Error(codes.PermissionDenied, "cluster: refused")
}
