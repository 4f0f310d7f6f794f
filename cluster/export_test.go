package cluster

import (
	"crypto/tls"

	"github.com/google/uuid"
)

// Crash stops c as a killed process would look to its peers: no goodbye,
// its listener and relay gone at once.
func Crash(c *Cluster) { c.stopOnce.Do(c.halt) }

// Isolate cuts c off from its peers (on) or back (off), as a network
// partition would, keeping its incarnation.
func Isolate(c *Cluster, on bool) { c.hooks.System.Root.Send(c.relay, isolate{on}) }

// ClientTLS returns the TLS configuration a node of the cluster keyed by
// secret dials its peers with.
func ClientTLS(secret string) *tls.Config {
	_, client, err := tlsConfigs(secret)
	if err != nil {
		panic(err)
	}
	return client
}

// HeartbeatFrame encodes frame seq of the link from node (run inc,
// listening at addr) to to's current run: a heartbeat.
func HeartbeatFrame(node string, inc uuid.UUID, addr string, to *Cluster, seq uint64) []byte {
	e := &encoder{}
	e.header(&header{kind: kindHeartbeat, from: node, fromInc: inc, to: to.node, toInc: to.inc, seq: seq})
	e.heartbeat(&heartbeat{addr: addr})
	return e.b
}

// BroadcastFrame encodes frame seq of the link from node (run inc) to to's
// current run: a broadcast.
func BroadcastFrame(node string, inc uuid.UUID, to *Cluster, seq uint64, topic, event, payload string) []byte {
	e := &encoder{}
	e.header(&header{kind: kindBroadcast, from: node, fromInc: inc, to: to.node, toInc: to.inc, seq: seq, flags: flagUp})
	e.broadcast(&broadcastFrame{topic: topic, event: event, payload: []byte(payload)})
	return e.b
}
