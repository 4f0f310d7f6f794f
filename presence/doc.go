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
// Presence state lives in shard actors (one topic, one shard), supervised as
// permanent: a crashed shard is restarted with its state intact. Every entry
// is owned by a node and its phx_ref carries the node's tag, so that state
// from several nodes can later be merged without conflicts.
package presence
