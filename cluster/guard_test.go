package cluster_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/phxgo/phx/actors/channeltest"
	"github.com/phxgo/phx/cluster"
)

// rawPeer is a gRPC client speaking Proto.Actor remote's protocol by hand,
// with the cluster's secret: a tool of someone who holds it, or a node with
// a bug.
type rawPeer struct {
	conn   *grpc.ClientConn
	stream remote.Remoting_ReceiveClient
}

func dialRaw(t *testing.T, addr string) *rawPeer {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cluster.ClientTLS(testSecret))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := remote.NewRemotingClient(conn).Receive(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{
		ConnectRequest: &remote.ConnectRequest{ConnectionType: &remote.ConnectRequest_ServerConnection{
			ServerConnection: &remote.ServerConnection{SystemId: "stranger", Address: "127.0.0.1:1"},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("connect response: %v", err)
	}
	return &rawPeer{conn: conn, stream: stream}
}

// send sends one envelope of typeName with data to the actor id.
func (p *rawPeer) send(t *testing.T, addr, typeName, id string, data []byte) {
	t.Helper()
	err := p.stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{
		MessageBatch: &remote.MessageBatch{
			TypeNames: []string{typeName},
			Targets:   []*actor.PID{{Address: addr, Id: id}},
			Envelopes: []*remote.MessageEnvelope{{MessageData: data}},
		},
	}})
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
}

// refused waits for the node to end the stream, refusing it.
func (p *rawPeer) refused(t *testing.T) {
	t.Helper()
	for {
		_, err := p.stream.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("stream ended with %v, want PermissionDenied", err)
		}
		return
	}
}

func bytesValue(t *testing.T, b []byte) []byte {
	t.Helper()
	data, err := proto.Marshal(&wrapperspb.BytesValue{Value: b})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestForeignMessagesNeverCrashANode sends what Proto.Actor remote's own
// receiver would die of, or obey, and checks the node refuses it and goes
// on serving its cluster.
func TestForeignMessagesNeverCrashANode(t *testing.T) {
	a := startNode(t, testConfig("a"))
	addr := a.c.Addr()

	cases := []struct {
		name         string
		typeName, id string
		data         []byte
	}{
		// remote looks the name up and dereferences nil: the process dies.
		{name: "unregistered type", typeName: "nope.Nope", id: "phx-cluster", data: []byte{1, 2, 3}},
		// remote would deliver a Stop to any actor named.
		{name: "system message to an actor", typeName: "actor.Stop", id: "$1"},
		{name: "frame for another actor", typeName: "google.protobuf.BytesValue", id: "$1", data: bytesValue(t, []byte("x"))},
		{name: "not protobuf", typeName: "google.protobuf.BytesValue", id: "phx-cluster", data: []byte{0xff, 0xff, 0xff}},
	}
	for _, tc := range cases {
		p := dialRaw(t, addr)
		p.send(t, addr, tc.typeName, tc.id, tc.data)
		p.refused(t)
	}
	// ListProcesses is not implemented by remote (it panics there).
	_, err := remote.NewRemotingClient(dialRaw(t, addr).conn).ListProcesses(context.Background(), &remote.ListProcessesRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("ListProcesses: %v, want Unimplemented", err)
	}
	if got := a.c.Stats().Refused[cluster.ReasonForeign]; got != uint64(len(cases)) {
		t.Errorf("streams refused as foreign: %d, want %d", got, len(cases))
	}
	if n := strings.Count(a.logs.String(), "cluster: refused a peer"); n != 1 {
		t.Errorf("%d log lines for one refused peer, want 1:\n%s", n, a.logs.String())
	}

	// Frames of a version or kind this node does not know, or cut short:
	// dropped, logged once for the sender.
	p := dialRaw(t, addr)
	for _, frame := range [][]byte{
		{99, 1, 1, 'x', 1, 1},
		{2, 77, 1, 'x', 1, 1},
		{2, 2, 1, 'x', 1, 2, 200},
	} {
		p.send(t, addr, "google.protobuf.BytesValue", "phx-cluster", bytesValue(t, frame))
	}
	waitFor(t, "three frames dropped", func() bool { return a.c.Stats().Dropped[cluster.ReasonMalformed] == 3 })
	if n := strings.Count(a.logs.String(), "cluster: dropped a frame"); n != 1 {
		t.Errorf("%d log lines for one peer's bad frames, want 1", n)
	}

	// The node is whole: it meets a peer and relays its broadcasts.
	b := startNode(t, testConfig("b", addr))
	waitMeshed(t, a, b)
	bob := channeltest.Connect(t, b.h, map[string]string{"user": "bob"}).Join("room:1", nil)
	if err := a.ep.Broadcast("room:1", "fine", nil); err != nil {
		t.Fatal(err)
	}
	bob.AssertBroadcast("fine", `{}`)
}

func TestPeerWithoutTheSecretIsRefused(t *testing.T) {
	a := startNode(t, testConfig("a"))
	cfg := testConfig("b", a.c.Addr())
	cfg.Secret = "another secret"
	b := startNode(t, cfg)
	waitFor(t, "a to refuse b twice", func() bool { return a.c.Stats().Refused[cluster.ReasonSecret] >= 2 })
	waitFor(t, "b to count two refusals", func() bool { return b.c.Stats().RefusedByPeers[cluster.ReasonSecret] >= 2 })
	if up := a.upPeers(); len(up) != 0 {
		t.Errorf("a sees %v up", up)
	}
	if up := b.upPeers(); len(up) != 0 {
		t.Errorf("b sees %v up", up)
	}
	// Watched to twice ReadyAfter (10 heartbeats): b, which met nobody
	// and was refused, never says it is ready.
	for watch := time.Now().Add(20 * heartbeat); time.Now().Before(watch); time.Sleep(heartbeat / 5) {
		if b.c.Ready() {
			t.Fatal("b, refused by its only peer, says it is ready")
		}
	}
	// Each side says so, once a minute: the good one as a warning, the
	// misconfigured one as the error it is.
	if n := strings.Count(a.logs.String(), "cluster: refused a peer"); n != 1 {
		t.Errorf("a logged %d refusals of one peer, want 1:\n%s", n, a.logs.String())
	}
	if n := strings.Count(b.logs.String(), "level=ERROR msg=\"cluster: refused by a peer"); n != 1 {
		t.Errorf("b logged %d refusals by its peer as errors, want 1:\n%s", n, b.logs.String())
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  cluster.Config
		want string
	}{
		{cluster.Config{ListenAddr: "10.1.2.3:7000"}, "needs a Secret"},
		{cluster.Config{ListenAddr: "0.0.0.0:7000", Secret: "s"}, "needs an AdvertiseAddr"},
		{cluster.Config{ListenAddr: "nowhere"}, "listen address"},
		{cluster.Config{ListenAddr: "127.0.0.1:99999"}, "bad port"},
		{cluster.Config{Seeds: []string{"no-port"}}, "seed"},
	} {
		ep := newEndpoint(t)
		_, err := cluster.Start(ep, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start(%+v): %v, want an error about %q", tc.cfg, err, tc.want)
		}
	}
}

func TestListenerInUse(t *testing.T) {
	a := startNode(t, testConfig("a"))
	ep := newEndpoint(t)
	_, err := cluster.Start(ep, cluster.Config{ListenAddr: a.c.Addr()})
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("Start on a taken address: %v, want a listen error", err)
	}
}

// TestStaysWithinItsDeadline: a node whose peers are gone still leaves
// within the goodbye's bound.
func TestStopWithPeersGone(t *testing.T) {
	a := startNode(t, testConfig("a"))
	b := startNode(t, testConfig("b", a.c.Addr()))
	waitMeshed(t, a, b)
	cluster.Crash(b.c)
	start := time.Now()
	a.stop()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Shutdown took %v with its peer gone", took)
	}
}
