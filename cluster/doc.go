// Package cluster joins endpoints on several machines (nodes) into one:
// a broadcast made on any node reaches the subscribers of every node, the
// socket-id "disconnect" broadcast closes a user's sockets wherever they
// are, and presence lists and diffs cover every node that is up. It runs
// on Proto.Actor remote (gRPC streams between nodes) with heartbeats of
// its own.
//
//	ep := actors.NewEndpoint(actors.Config{})
//	tracker := presence.New(ep, presence.Config{Node: "node1"})
//	c, err := cluster.Start(ep, cluster.Config{
//		Node:       "node1",
//		ListenAddr: "10.0.0.5:7000",
//		Seeds:      []string{"phx-headless.default.svc:7000"},
//		Secret:     os.Getenv("CLUSTER_SECRET"),
//		Presence:   tracker,
//	})
//
// # Broadcasts
//
// Each node runs one relay actor. A broadcast made on a node is delivered
// to its own subscribers by the publisher, as on a single node, and handed
// to the relay, which sends it once to every peer that is up: one remote
// message per peer node per broadcast, never one per subscriber. A peer
// delivers it to its own subscribers with the same encode-once fastlane,
// and never forwards it. BroadcastFrom skips only the sending channel:
// every subscriber on the other nodes gets it.
//
// Order: the broadcasts of one publisher reach every client, on every
// node, in the order they were made; broadcasts of different publishers,
// or of different nodes, have no order between them. Delivery is at most
// once, as in Phoenix: a broadcast in flight when a peer dies or its
// connection breaks is lost, never delivered twice. Every frame carries
// its sender's incarnation and a sequence number, and a receiver drops
// what it has already passed.
//
// # Presence
//
// Each node is the only writer of its own presence entries. A node sends
// a peer it meets all of its entries (full state), then versioned deltas
// of its changes; a receiver that sees a gap (a delta it cannot apply, or
// a heartbeat announcing a version it has not reached) asks for the full
// state again. Every node computes the presence_diff of each change it
// learns of and sends it to its own clients only, so each client gets
// each diff once.
//
// # Failure
//
// Nodes send heartbeats (Config.HeartbeatInterval, 1 s) and declare a
// peer down when it has been silent for Config.DownAfter intervals (3):
// a killed or frozen node. Its presences then leave every other node's
// view (clients get the presence_diff), and nothing but heartbeats is
// sent to it. A node that comes back with the same incarnation (a healed
// partition) is resynced with its full state; a restarted node has a new
// incarnation, whose arrival drops what its previous run held at once. A
// node that shuts down tells its peers, which drop its entries at once.
//
// # Trust
//
// Every frame is signed with the cluster secret (HMAC-SHA256); a peer
// without it is refused and logged. Proto.Actor remote's receiver would
// crash on a message of an unknown type and obey any message addressed to
// any actor, so a guard in front of it lets through only signed frames
// for the relay. The listener binds to loopback unless told otherwise,
// and a listener beyond loopback requires a secret.
package cluster
