// Package cluster joins endpoints on several machines (nodes) into one:
// a broadcast made on any node reaches the subscribers of every node, the
// socket-id "disconnect" broadcast closes a user's sockets wherever they
// are, and presence lists and diffs cover every node that is up. It runs
// on Proto.Actor remote (gRPC streams between nodes) with membership of
// its own.
//
//	ep := actors.NewEndpoint(actors.Config{})
//	tracker := presence.New(ep, presence.Config{Node: "node1"})
//	c, err := cluster.Start(ep, cluster.Config{
//		Node:          "node1",
//		ListenAddr:    "0.0.0.0:7000",
//		AdvertiseAddr: os.Getenv("POD_IP"),
//		Seeds:         []string{"phx-headless.default.svc:7000"},
//		Secret:        os.Getenv("CLUSTER_SECRET"),
//		Presence:      tracker,
//	})
//
// Serve readiness from Ready: a node answers ready once it has met the
// nodes it was told of.
//
// # Meeting
//
// A node says hello to each address it is given (seeds, resolved again
// every ResolveInterval, and the peers its peers gossip) once a TCP probe
// finds a listener there. Whoever answers replies with a heartbeat bound
// to the greeter's run; from then on every frame between the two names
// both nodes and both runs (incarnations, UUIDs), and travels to the
// receiver's own advertised address alone. A seed reached under another
// name (a VIP, a proxy, a DNS name where the node advertises an IP) is
// recognised by the answer and greeted no more while its node is up, so
// a peer's frames never come two ways. Each node must be reachable by
// every other at the address it advertises.
//
// A peer is up once a frame of its current run bound to this node's
// current run has arrived: the two have heard each other, so frames flow
// both ways. Only then do broadcasts and presence go to it, and each frame
// then says so (it is linked). Ready waits for every node it was told of
// to answer (or to have no listener) and for every peer up to be linked,
// so that a broadcast made anywhere after Ready reaches this node's
// clients and one made here reaches every node up; after
// Config.ReadyAfter it is ready anyway, unless it is refused: for its
// name, or for its secret while it has no peer up.
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
// once, as in Phoenix: frames are numbered per link (one sender's run to
// one receiver's run) and a receiver takes each number once. What is not
// sent is counted, by reason (Stats, Peers): to a peer down, to a peer
// whose connection was lost until its listener answers again (a probe is
// made at once), to a peer that cannot keep up.
//
// # Histories
//
// A topic whose route keeps a history (actors.WithHistory) has the same
// positions on every node: one node numbers it, the one of the nodes up
// whose name scores highest with the topic (rendezvous hashing, so every
// node that sees the same peers up picks the same, and a node's coming
// or going moves only the topics it wins or held). A broadcast of such a
// topic made on another node is forwarded there (one remote message),
// numbered, delivered, and sent to every node up with its position and
// the one before it (one remote message per peer); its own node delivers
// it, skipping a BroadcastFrom's sender, when it comes back. A node that
// finds a gap before a position drops what it kept of the topic, and one
// that takes a topic over numbers it in an epoch of its own after the
// last position it had, so that two nodes never give one position to two
// broadcasts: a client recovers on any node from any position that node
// still holds, and is refused (recovered: false), never half served,
// otherwise. Broadcasts forwarded to a numbering node that dies before
// it is declared down are lost with it.
//
// # Flow
//
// A peer acknowledges what it takes, in every frame it sends and every 256
// frames at least. What a peer has not acknowledged, by weight (its bytes
// and 128 more for what remote and gRPC hold beside them), is bounded at 8
// MiB: past it, broadcasts and presence frames for that peer are skipped
// (queue_full) and the peer is shown slow, never queued without bound.
// A peer that acknowledges nothing for DownAfter heartbeat intervals while
// frames wait is declared down. Remote's writer starts its queue at 256
// slots per peer (a million by default, 15 MB of heap each).
//
// # Failure
//
// Nodes send heartbeats (Config.HeartbeatInterval, 1 s) and declare a
// peer down when it has been silent for Config.DownAfter intervals (3):
// a killed or frozen node. Its presences then leave every other node's
// view (clients get the presence_diff), and nothing but hellos are sent
// to it until it answers. A node that comes back with the same run (a
// healed partition) is resynced with its full state; a new run of it
// drops what the last one held at once. A node that shuts down tells its
// peers, which drop its entries at once.
//
// Messages in flight when a peer dies are lost. When a peer freezes
// (SIGSTOP, a stalled VM) or its link drops packets, what was sent before
// it was declared down waits in TCP and gRPC buffers (at most the 8 MiB
// window) and reaches it when it resumes, late, and in order; nothing
// made while it is down is sent to it.
//
// # Names
//
// Names are unique. A node that says hello under a name whose current run
// is live (heard within the down period) at another address is refused:
// the live node is never evicted, every node that refuses it logs an
// error (once a minute) and counts it, and the refused node logs why,
// counts it, and stays out of the cluster (not Ready) until the name is
// free, when the live run is down or has said goodbye. A new run at the
// same address is a restart, taken at once.
//
// # Trust
//
// Nodes talk over mutual TLS 1.3 with a key pair derived from the cluster
// secret (HKDF-SHA256 to an Ed25519 key): a node without the secret fails
// the handshake, and both sides log and count it (a wrong secret is an
// error on the node that has it); any other failed handshake (a stranger,
// a recorded connection played again) is counted and logged as refused
// too. Frames exist only inside TLS
// connections, so frames recorded off the wire can be neither read nor
// played into another connection; and each frame is bound to one run of
// its receiver and numbered per link, so a node never takes a frame meant
// for an earlier run of itself, nor any frame twice. Proto.Actor remote's
// receiver would crash on a message of an unknown type and obey any
// message addressed to any actor, and logs a line for each of its other
// messages it cannot use, so a guard in front of it lets through only a
// stream's connect request and frames for the relay. The listener binds to loopback unless told
// otherwise, and a listener beyond loopback requires a secret.
//
// # The door
//
// Whoever reaches the cluster port can make a node do no more than this
// before proving the secret. A connection past Config.MaxConnections
// (256) connections at once, handshakes included, is closed before any
// byte of it is read; one that has not finished its TLS handshake (and
// gRPC's preface) within Config.HandshakeTimeout (5 s) is closed, sending
// nothing or half a handshake alike; bytes that are not a TLS client of
// this cluster end the connection at the first record, which TLS bounds
// at 16 KiB and some. Nothing reaches gRPC's message parser before the
// handshake: past it, a gRPC message from a peer is bounded at 16 MiB
// (the relay's 8 MiB window, one broadcast more and room for the small
// frames), a stream's headers at 16 KiB, a connection's streams at 4, and
// what a node reads from the peers it dials at 64 KiB. Every refusal is
// counted by reason (Stats.Refused: secret, handshake,
// handshake_timeout, too_many_connections, foreign, name_in_use) and
// logged at most once a minute per reason and host, and at most 8 lines
// a minute in all, the rest summed up in one line; a connect-and-close
// that sends nothing (the nodes' own probes) is neither. Stats.Handshaking
// and Stats.Connections are the connections now before and past their
// handshake. Connections already open are untouched by a flood of
// strangers; a node that dials in while one fills the cap is refused
// until a place frees, within HandshakeTimeout of the strangers'
// connects.
package cluster
