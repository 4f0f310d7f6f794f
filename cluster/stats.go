package cluster

import "sync/atomic"

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
	// FramesSent and FramesReceived count every frame: broadcasts,
	// heartbeats, presence.
	FramesSent     uint64 `json:"frames_sent"`
	FramesReceived uint64 `json:"frames_received"`
	// FramesDropped counts frames received and dropped as malformed.
	FramesDropped uint64 `json:"frames_dropped"`
	// StreamsRefused counts connections from peers refused: without the
	// cluster secret, or sending what no node sends.
	StreamsRefused uint64 `json:"streams_refused"`
}

type stats struct {
	broadcastsRelayed  atomic.Uint64
	broadcastFrames    atomic.Uint64
	broadcastsReceived atomic.Uint64
	framesSent         atomic.Uint64
	framesReceived     atomic.Uint64
	framesDropped      atomic.Uint64
	streamsRefused     atomic.Uint64
}

// Stats returns the relay's counters.
func (c *Cluster) Stats() Stats {
	s := &c.stats
	return Stats{
		BroadcastsRelayed:  s.broadcastsRelayed.Load(),
		BroadcastFrames:    s.broadcastFrames.Load(),
		BroadcastsReceived: s.broadcastsReceived.Load(),
		FramesSent:         s.framesSent.Load(),
		FramesReceived:     s.framesReceived.Load(),
		FramesDropped:      s.framesDropped.Load(),
		StreamsRefused:     s.streamsRefused.Load(),
	}
}
