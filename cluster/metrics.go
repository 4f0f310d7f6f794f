package cluster

import "github.com/prometheus/client_golang/prometheus"

// Collector returns a prometheus.Collector of the node's cluster figures:
// peers up and down, what its relay sent, received, skipped and dropped,
// node-wide (Stats) and per peer (Peers). Register it on the registry that
// holds the endpoint's metrics.
func (c *Cluster) Collector() prometheus.Collector { return collector{c} }

type collector struct{ c *Cluster }

// The reasons of each family, all reported (zero included) so that a
// rate over them needs no series to appear first.
var (
	skipReasons       = []reason{reasonPeerDown, reasonQueueFull, reasonUnreachable}
	dropReasons       = []reason{reasonMalformed, reasonMisaddress, reasonStale, reasonDuplicate, reasonUnknownPeer, reasonLeft, reasonUnbound, reasonNameInUse}
	refuseReasons     = []reason{reasonSecret, reasonHandshake, reasonTimeout, reasonTooMany, reasonForeign, reasonNameInUse}
	refusedByReasons  = []reason{reasonSecret, reasonNameInUse}
	peerDropReasons   = []reason{reasonMisaddress, reasonStale, reasonDuplicate, reasonLeft, reasonUnbound, reasonNameInUse}
	descPeers         = clusterDesc("peers", "Peer nodes known, by state (up, down).", "state")
	descReady         = clusterDesc("ready", "1 once this node has met the nodes it was told of (see Cluster.Ready).")
	descRelayed       = clusterDesc("broadcasts_relayed_total", "Broadcasts made on this node and sent to other nodes.")
	descBcFrames      = clusterDesc("broadcast_frames_total", "Frames that carried this node's broadcasts, one per peer up.")
	descBcReceived    = clusterDesc("broadcasts_received_total", "Broadcasts from other nodes delivered here.")
	descForwarded     = clusterDesc("broadcasts_forwarded_total", "Broadcasts of topics that keep a history made on this node and sent to the node that numbers the topic.")
	descSequenced     = clusterDesc("broadcasts_sequenced_total", "Broadcasts other nodes forwarded here to be numbered.")
	descFramesSent    = clusterDesc("frames_sent_total", "Frames sent to other nodes: broadcasts, heartbeats, presence.")
	descFramesRecv    = clusterDesc("frames_received_total", "Frames received from other nodes.")
	descSkipped       = clusterDesc("frames_skipped_total", "Frames not sent to a known peer, by reason: the peer is down, or has too much unacknowledged.", "reason")
	descDropped       = clusterDesc("frames_dropped_total", "Frames received and not taken, by reason.", "reason")
	descRefused       = clusterDesc("refused_total", "Peers refused by this node, by reason: no cluster secret, a failed TLS handshake, a handshake not finished in time, past the connection cap, foreign messages, a node name in use.", "reason")
	descConns         = clusterDesc("listener_connections", "Connections to the cluster listener, by state: handshaking (not yet proved to hold the secret), open.", "state")
	descRefusedBy     = clusterDesc("refused_by_peers_total", "Refusals of this node by its peers, by reason: a wrong cluster secret, this node's name in use.", "reason")
	descPeerUp        = clusterDesc("peer_up", "1 while the peer is up: frames flow both ways.", "peer")
	descPeerHeard     = clusterDesc("peer_last_heard_timestamp_seconds", "When the last frame from the peer was taken, in Unix seconds.", "peer")
	descPeerDowns     = clusterDesc("peer_downs_total", "Times the peer was declared down.", "peer")
	descPeerSent      = clusterDesc("peer_frames_sent_total", "Frames sent to the peer.", "peer")
	descPeerReceived  = clusterDesc("peer_frames_received_total", "Frames taken from the peer.", "peer")
	descPeerSkipped   = clusterDesc("peer_frames_skipped_total", "Frames not sent to the peer, by reason.", "peer", "reason")
	descPeerDropped   = clusterDesc("peer_frames_dropped_total", "Frames from the peer not taken, by reason.", "peer", "reason")
	descPeerQueue     = clusterDesc("peer_queue_frames", "Frames sent to the peer and not yet acknowledged.", "peer")
	descPeerQueueSize = clusterDesc("peer_queue_bytes", "Bytes sent to the peer and not yet acknowledged.", "peer")
)

func clusterDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("phx_cluster_"+name, help, labels, nil)
}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPeers, descReady, descRelayed, descBcFrames, descBcReceived, descForwarded, descSequenced,
		descFramesSent, descFramesRecv, descSkipped, descDropped, descRefused, descRefusedBy, descConns,
		descPeerUp, descPeerHeard, descPeerDowns, descPeerSent, descPeerReceived, descPeerSkipped,
		descPeerDropped, descPeerQueue, descPeerQueueSize} {
		ch <- d
	}
}

func (x collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	byReason := func(d *prometheus.Desc, b *byReason, rs []reason, labels ...string) {
		for _, r := range rs {
			counter(d, b[r].Load(), append(labels, r.String())...)
		}
	}
	up, down := 0, 0
	x.c.mu.Lock()
	view := x.c.view
	x.c.mu.Unlock()
	for _, p := range view {
		if p.up {
			up++
		} else {
			down++
		}
		b := 0.0
		if p.up {
			b = 1
		}
		gauge(descPeerUp, b, p.name)
		if ns := p.counters.heard.Load(); ns != 0 {
			gauge(descPeerHeard, float64(ns)/1e9, p.name)
		}
		counter(descPeerDowns, p.counters.downs.Load(), p.name)
		counter(descPeerSent, p.counters.sent.Load(), p.name)
		counter(descPeerReceived, p.counters.received.Load(), p.name)
		byReason(descPeerSkipped, &p.counters.skipped, skipReasons, p.name)
		byReason(descPeerDropped, &p.counters.dropped, peerDropReasons, p.name)
		gauge(descPeerQueue, float64(p.counters.queued.Load()), p.name)
		gauge(descPeerQueueSize, float64(p.counters.queuedBytes.Load()), p.name)
	}
	gauge(descPeers, float64(up), "up")
	gauge(descPeers, float64(down), "down")
	ready := 0.0
	if x.c.Ready() {
		ready = 1
	}
	gauge(descReady, ready)
	s := &x.c.stats
	counter(descRelayed, s.broadcastsRelayed.Load())
	counter(descBcFrames, s.broadcastFrames.Load())
	counter(descBcReceived, s.broadcastsReceived.Load())
	counter(descForwarded, s.forwarded.Load())
	counter(descSequenced, s.sequenced.Load())
	counter(descFramesSent, s.framesSent.Load())
	counter(descFramesRecv, s.framesReceived.Load())
	byReason(descSkipped, &s.skipped, skipReasons)
	byReason(descDropped, &s.dropped, dropReasons)
	byReason(descRefused, &s.refused, refuseReasons)
	byReason(descRefusedBy, &s.refusedByPeers, refusedByReasons)
	gauge(descConns, float64(s.handshaking.Load()), "handshaking")
	gauge(descConns, float64(s.connections.Load()), "open")
}
