package cluster

import (
	"sync/atomic"
	"time"
)

// Stats counts what a node's relay has done since it started.
type Stats struct {
	// BroadcastsRelayed counts the broadcasts made on this node that were
	// sent to other nodes; BroadcastFrames the frames that carried them,
	// one per peer up: nodes − 1 per broadcast in a cluster all up.
	BroadcastsRelayed uint64 `json:"broadcasts_relayed"`
	BroadcastFrames   uint64 `json:"broadcast_frames"`
	// BroadcastsReceived counts broadcasts from other nodes delivered
	// here.
	BroadcastsReceived uint64 `json:"broadcasts_received"`
	// BroadcastsForwarded counts the broadcasts of topics that keep a
	// history made on this node and sent to the node that sequences the
	// topic; BroadcastsSequenced those other nodes forwarded here.
	BroadcastsForwarded uint64 `json:"broadcasts_forwarded"`
	BroadcastsSequenced uint64 `json:"broadcasts_sequenced"`
	// FramesSent and FramesReceived count every frame: broadcasts,
	// heartbeats, presence.
	FramesSent     uint64 `json:"frames_sent"`
	FramesReceived uint64 `json:"frames_received"`
	// FramesDropped counts frames received and not taken, FramesSkipped
	// frames not sent to a known peer; both by reason (see Reasons).
	FramesDropped uint64            `json:"frames_dropped"`
	Dropped       map[string]uint64 `json:"dropped"`
	FramesSkipped uint64            `json:"frames_skipped"`
	Skipped       map[string]uint64 `json:"skipped"`
	// StreamsRefused counts connections and peers this node refused, by
	// reason in Refused: without the cluster secret, a failed or
	// unfinished TLS handshake, past the connection cap, sending what no
	// node sends, or under a node name already live.
	StreamsRefused uint64            `json:"streams_refused"`
	Refused        map[string]uint64 `json:"refused"`
	// RefusedByPeers counts the times other nodes refused this one, by
	// reason: a wrong secret, or this node's name live elsewhere.
	RefusedByPeers map[string]uint64 `json:"refused_by_peers"`
	// Connections are the connections to the cluster listener open now
	// past their handshake (one per peer that dials this node);
	// Handshaking those that have not yet proved they hold the secret.
	// Together they are at most Config.MaxConnections.
	Connections int64 `json:"connections"`
	Handshaking int64 `json:"handshaking"`
}

// Reasons a frame is skipped, dropped or a peer refused, as they appear in
// Stats, Peer and the metrics' reason label.
const (
	// Skipped on the way out.
	ReasonPeerDown  = "peer_down"  // the peer is known but not up: nothing but heartbeats go there
	ReasonQueueFull = "queue_full" // the peer has not acknowledged enough of what was sent: it cannot keep up
	// The connection to the peer was lost and its listener has not
	// answered since: remote would dial, fail, and hold what is sent
	// meanwhile for two seconds before dropping it.
	ReasonUnreachable = "unreachable"
	// Dropped on the way in.
	ReasonMalformed   = "malformed"    // the frame did not decode
	ReasonMisaddress  = "misaddressed" // for another node: its address now serves this one
	ReasonStale       = "stale"        // for an earlier run of this node
	ReasonDuplicate   = "duplicate"    // a sequence number already passed on its link
	ReasonUnknownPeer = "unknown_peer" // from a node that never introduced itself
	ReasonLeft        = "left"         // from a node that said goodbye
	ReasonUnbound     = "unbound"      // bound to no run of this node, and not a hello
	// Refusals, either way.
	ReasonSecret    = "secret"      // the peer does not hold the cluster secret
	ReasonHandshake = "handshake"   // the peer's TLS handshake failed otherwise: a stranger, or a recorded connection played again
	ReasonForeign   = "foreign"     // the peer sent what no node sends
	ReasonNameInUse = "name_in_use" // the peer's node name is live at another address
	// Refused at the listener's door, before any proof of the secret.
	ReasonTimeout = "handshake_timeout"    // the connection had not finished its handshake within Config.HandshakeTimeout
	ReasonTooMany = "too_many_connections" // the listener held Config.MaxConnections connections already
)

// reason indexes the counters by reason.
type reason uint8

const (
	reasonPeerDown reason = iota
	reasonQueueFull
	reasonUnreachable
	reasonMalformed
	reasonMisaddress
	reasonStale
	reasonDuplicate
	reasonUnknownPeer
	reasonLeft
	reasonUnbound
	reasonSecret
	reasonHandshake
	reasonForeign
	reasonNameInUse
	reasonTimeout
	reasonTooMany
	reasons
)

var reasonNames = [reasons]string{
	ReasonPeerDown, ReasonQueueFull, ReasonUnreachable, ReasonMalformed, ReasonMisaddress, ReasonStale, ReasonDuplicate,
	ReasonUnknownPeer, ReasonLeft, ReasonUnbound, ReasonSecret, ReasonHandshake, ReasonForeign, ReasonNameInUse,
	ReasonTimeout, ReasonTooMany,
}

func (r reason) String() string { return reasonNames[r] }

// byReason counts by reason.
type byReason [reasons]atomic.Uint64

func (b *byReason) total() uint64 {
	var n uint64
	for i := range b {
		n += b[i].Load()
	}
	return n
}

// snapshot returns the counts that are not zero, by name.
func (b *byReason) snapshot() map[string]uint64 {
	m := make(map[string]uint64)
	for i := range b {
		if v := b[i].Load(); v > 0 {
			m[reasonNames[i]] = v
		}
	}
	return m
}

type stats struct {
	broadcastsRelayed  atomic.Uint64
	broadcastFrames    atomic.Uint64
	broadcastsReceived atomic.Uint64
	forwarded          atomic.Uint64
	sequenced          atomic.Uint64
	framesSent         atomic.Uint64
	framesReceived     atomic.Uint64
	dropped            byReason
	skipped            byReason
	refused            byReason
	refusedByPeers     byReason
	// The cluster listener's connections (door.go): inbound counts every
	// one, handshaking those not yet past the handshake, connections the
	// others.
	inbound, handshaking, connections atomic.Int64
}

// Stats returns the relay's counters.
func (c *Cluster) Stats() Stats {
	s := &c.stats
	return Stats{
		BroadcastsRelayed:   s.broadcastsRelayed.Load(),
		BroadcastFrames:     s.broadcastFrames.Load(),
		BroadcastsReceived:  s.broadcastsReceived.Load(),
		BroadcastsForwarded: s.forwarded.Load(),
		BroadcastsSequenced: s.sequenced.Load(),
		FramesSent:          s.framesSent.Load(),
		FramesReceived:      s.framesReceived.Load(),
		FramesDropped:       s.dropped.total(),
		Dropped:             s.dropped.snapshot(),
		FramesSkipped:       s.skipped.total(),
		Skipped:             s.skipped.snapshot(),
		StreamsRefused:      s.refused.total(),
		Refused:             s.refused.snapshot(),
		RefusedByPeers:      s.refusedByPeers.snapshot(),
		Connections:         s.connections.Load(),
		Handshaking:         s.handshaking.Load(),
	}
}

// peerCounters are one peer's figures, written by the relay and read by
// Peers at any time.
type peerCounters struct {
	sent, received atomic.Uint64
	downs          atomic.Uint64
	skipped        byReason
	dropped        byReason
	queued         atomic.Int64 // frames sent and not yet acknowledged
	queuedBytes    atomic.Int64
	heard          atomic.Int64 // unix nanoseconds of the last frame taken
}

// Peer is a node as this one sees it.
type Peer struct {
	Node string `json:"node"`
	Addr string `json:"addr"`
	// Incarnation names the peer's current run (a UUID): a restart
	// changes it.
	Incarnation string `json:"incarnation"`
	// Up says frames flow both ways: this node hears the peer and the peer
	// has heard this run of it. Broadcasts and presence go only to peers
	// up. Linked adds that the peer counts this node up too (it relays
	// here).
	Up     bool `json:"up"`
	Linked bool `json:"linked"`
	// Slow says the peer has more unacknowledged frames than a peer may
	// have: what is sent to it meanwhile is skipped (queue_full).
	Slow bool `json:"slow"`
	// LastHeard is when the last frame from the peer was taken (zero:
	// never).
	LastHeard time.Time `json:"last_heard"`
	// Downs counts the times the peer was declared down (silent, gone, or
	// unable to keep up).
	Downs uint64 `json:"downs"`
	// FramesSent and FramesReceived count frames on the link; Skipped and
	// Dropped the frames not sent to it and not taken from it, by reason.
	FramesSent     uint64            `json:"frames_sent"`
	FramesReceived uint64            `json:"frames_received"`
	Skipped        map[string]uint64 `json:"skipped"`
	Dropped        map[string]uint64 `json:"dropped"`
	// Queue and QueueBytes are the frames sent to the peer and not yet
	// acknowledged: what remote's writer and the network hold for it.
	Queue      int64 `json:"queue"`
	QueueBytes int64 `json:"queue_bytes"`
}
