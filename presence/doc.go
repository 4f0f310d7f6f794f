// Package presence tracks who is in a topic, kept in sync on clients by
// presence_state and presence_diff exactly as Phoenix.Presence does, so the
// phoenix JavaScript client's Presence class works unchanged.
//
// A channel tracks a key (a user id) with a meta (a JSON object) for itself;
// one key holds one meta per tracking channel, so a user on two devices has
// two metas. Entries belong to the channel that tracked them and disappear
// with it, however it ends (leave, crash, close): no ghost users.
//
//	func (r *Room) HandleInfo(msg any, s *actors.Socket) error {
//		if err := r.presence.Track(s, r.user, map[string]any{"online_at": now}); err != nil {
//			return err
//		}
//		return s.Push("presence_state", r.presence.List(s.Topic()))
//	}
//
// Every change is broadcast on the topic as a presence_diff
// {"joins":…,"leaves":…}. With Config.BatchWindow, the changes of a topic
// within the window go out as one diff, so that a crowd joining a large
// room does not cost one message per member per join.
//
// A shard's diffs are written to the members' sockets by a publisher
// goroutine of the shard's, so that Track and Untrack never wait on them.
// A change made while the publisher is idle goes out at once, as a diff of
// its own, as Phoenix sends it; the changes of a topic made while it
// delivers merge into one diff, and after a long round of deliveries (200
// µs or more) it lets them gather four times that round, at most 500 ms,
// before the next. Under a storm of joins, members get a few large diffs
// instead of one per newcomer; at rest, nothing waits.
//
// Presence state lives in shard actors (one topic, one shard), supervised as
// permanent: a crashed shard is restarted with its state intact. Every entry
// is owned by a node and its phx_ref carries the node's tag, so that state
// from several nodes can later be merged without conflicts.
package presence
