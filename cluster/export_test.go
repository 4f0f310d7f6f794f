package cluster

// Crash stops c as a killed process would look to its peers: no goodbye,
// its listener and relay gone at once.
func Crash(c *Cluster) { c.stopOnce.Do(c.halt) }

// Seal signs b with c's secret, as a frame of c's would be.
func Seal(c *Cluster, b []byte) []byte { return seal(c.key, b) }

// Isolate cuts c off from its peers (on) or back (off), as a network
// partition would, keeping its incarnation.
func Isolate(c *Cluster, on bool) { c.ep.ActorSystem().Root.Send(c.relay, isolate{on}) }
