// Package actors is the programming model of Phoenix Channels on Proto.Actor
// actors: what applications write against.
//
// # Where to start
//
// NewEndpoint makes an Endpoint, which owns the actor system everything
// runs in. Endpoint.Socket takes the application's Connector (Phoenix's
// connect/3 and id/1) and returns a SocketHandler, on which
// SocketHandler.Channel routes topics ("room:*") to a producer of Channel
// values, the counterpart of a channel module. SocketHandler.WebSocket
// (and SocketHandler.LongPoll) make the http.Handler to mount at
// "/socket/websocket". A Channel embeds BaseChannel and writes Join and
// the callbacks it needs; its callbacks get a *Socket, through which
// they push, broadcast, reply and keep assigns.
//
// # Actors
//
// Every connection is a socket actor. Every join is a channel actor of its
// own, built fresh from the route's producer and supervised by its
// socket: two clients in "room:42" are two channel actors, each with its
// own state, and a client that leaves and joins again gets a new one. State
// the members of a topic share belongs outside the channels: in a
// broadcast (every member's channel sees it), in a store the channels
// read, or in a tracker such as package presence. A topic registry of
// shard actors holds the subscriptions and delivers broadcasts.
//
// # Concurrency
//
// The callbacks of one channel (Join, HandleIn, HandleInfo, HandleOut,
// Terminate) run one at a time, never concurrently, so channel state needs no
// locks. Callbacks must not block: slow work belongs on another goroutine,
// which reports back with ChannelRef.Send (arriving in HandleInfo) or answers
// the client with SocketRef.Reply. Different channels run in parallel.
//
// A *Socket is valid only inside its channel's callbacks. SocketRef,
// ChannelRef and Endpoint are safe to use from any goroutine.
//
// # Failure
//
// A panic in a callback ends that channel's instance alone; the socket and
// its other channels carry on. What follows is the route's supervision
// policy (WithPolicy, else Config.Policy). By default the channel is
// restarted in place: the message that crashed is answered
// {"reason":"channel_crash"}, a fresh instance runs Join again with the
// same params, and the client stays joined; what the crashed instance
// sent itself (ChannelRef.Send, SendAfter) is lost with it. Past three
// crashes within five seconds, or with supervision.Temporary (Phoenix's
// own behaviour), the channel stops: its client receives phx_error and
// rejoins.
package actors
