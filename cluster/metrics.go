package cluster

import "github.com/prometheus/client_golang/prometheus"

// Collector returns a prometheus.Collector of the node's cluster figures:
// peers up and down, and what its relay sent and received (Stats). Register
// it on the registry that holds the endpoint's metrics.
func (c *Cluster) Collector() prometheus.Collector { return collector{c} }

type collector struct{ c *Cluster }

var (
	descPeers              = clusterDesc("peers", "Peer nodes known, by state (up, down).", "state")
	descBroadcastsRelayed  = clusterDesc("broadcasts_relayed_total", "Broadcasts made on this node and sent to other nodes.")
	descBroadcastFrames    = clusterDesc("broadcast_frames_total", "Frames that carried this node's broadcasts, one per peer up.")
	descBroadcastsReceived = clusterDesc("broadcasts_received_total", "Broadcasts from other nodes delivered here.")
	descFramesSent         = clusterDesc("frames_sent_total", "Frames sent to other nodes: broadcasts, heartbeats, presence.")
	descFramesReceived     = clusterDesc("frames_received_total", "Frames received from other nodes.")
	descFramesDropped      = clusterDesc("frames_dropped_total", "Frames received and dropped as malformed.")
	descStreamsRefused     = clusterDesc("streams_refused_total", "Connections from peers refused: without the cluster secret, or sending what no node sends.")
)

func clusterDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("phx_cluster_"+name, help, labels, nil)
}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPeers, descBroadcastsRelayed, descBroadcastFrames, descBroadcastsReceived,
		descFramesSent, descFramesReceived, descFramesDropped, descStreamsRefused} {
		ch <- d
	}
}

func (x collector) Collect(ch chan<- prometheus.Metric) {
	up, down := 0, 0
	for _, p := range x.c.Peers() {
		if p.Up {
			up++
		} else {
			down++
		}
	}
	ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(up), "up")
	ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(down), "down")
	s := x.c.Stats()
	for _, m := range []struct {
		d *prometheus.Desc
		v uint64
	}{
		{descBroadcastsRelayed, s.BroadcastsRelayed},
		{descBroadcastFrames, s.BroadcastFrames},
		{descBroadcastsReceived, s.BroadcastsReceived},
		{descFramesSent, s.FramesSent},
		{descFramesReceived, s.FramesReceived},
		{descFramesDropped, s.FramesDropped},
		{descStreamsRefused, s.StreamsRefused},
	} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v))
	}
}
