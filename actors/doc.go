// Package actors is the programming model of Phoenix Channels on Proto.Actor
// actors: what applications write against.
//
// An Endpoint owns an actor system. A SocketHandler, made by
// Endpoint.Socket from the application's Connector, authenticates
// connections and routes topics ("room:*") to producers of Channel values.
// Every connection is a socket actor; every joined topic is a channel actor,
// supervised by its socket, built fresh for each join; a topic registry of
// shard actors owns subscriptions and delivers broadcasts.
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
// A panic in a callback ends that channel alone: its client receives
// phx_error and rejoins, the socket and its other channels carry on.
package actors
