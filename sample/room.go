package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/presence"
)

// RoomChannel is a chat room, routed from "room:*".
type RoomChannel struct {
	actors.BaseChannel
	store    *Store
	presence *presence.Tracker
	userID   string
}

// adminUser is the one user room:admins takes; beyond loopback its token
// takes the admin secret (GET /api/token).
const adminUser = "admin"

// afterJoin is the message a room sends itself to push history right
// after the join reply, which a push from Join itself could not follow.
type afterJoin struct{}

const maxBody = 2000

// What a room's history keeps for recovery: its last roomHistorySize
// broadcasts, each for roomHistoryTTL.
const (
	roomHistorySize = 1000
	roomHistoryTTL  = 10 * time.Minute
)

var (
	unauthorized = map[string]string{"reason": "unauthorized"}
	invalidBody  = map[string]string{"reason": "invalid body"}
	unknownEvent = map[string]string{"reason": "unknown event"}
)

func (r *RoomChannel) Join(topic string, _ actors.Payload, s *actors.Socket) (any, error) {
	r.userID, _ = s.Get("user_id").(string)
	if topic == "room:admins" && r.userID != adminUser {
		return nil, actors.Refuse(unauthorized)
	}
	// The user's direct messages reach every room channel of theirs, on
	// every socket and node.
	if err := s.Subscribe(dmTopic(r.userID)); err != nil {
		return nil, err
	}
	s.Self().Send(afterJoin{})
	return nil, nil
}

// dmTopic is the topic of userID's direct messages.
func dmTopic(userID string) string { return "dm:" + userID }

// DirectMessage is the payload of "dm".
type DirectMessage struct {
	To   string `json:"to"`
	Body string `json:"body"`
}

// Validate checks the recipient's id and the body as new_msg does.
func (m DirectMessage) Validate() error {
	if !userIDPattern.MatchString(m.To) {
		return errInvalidRecipient
	}
	if strings.TrimSpace(m.Body) == "" || utf8.RuneCountInString(m.Body) > maxBody {
		return errInvalidBody
	}
	return nil
}

var (
	errInvalidRecipient = errors.New("invalid recipient")
	errInvalidBody      = errors.New("invalid body")
)

func (r *RoomChannel) HandleInfo(msg any, s *actors.Socket) error {
	switch msg := msg.(type) {
	case actors.Broadcast:
		if msg.Event == "dm" {
			return s.Push("dm", msg.Payload)
		}
	case afterJoin:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		history, err := r.store.History(ctx, s.Topic())
		if err != nil {
			return err
		}
		if err := s.Push("history", map[string]any{"messages": history}); err != nil {
			return err
		}
		if err := r.presence.Track(s, r.userID, map[string]int64{"online_at": time.Now().Unix()}); err != nil {
			return err
		}
		return r.presence.PushState(s)
	}
	return nil
}

func (r *RoomChannel) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	switch event {
	case "new_msg":
		var in struct {
			Body *json.RawMessage `json:"body"`
		}
		var body string
		if actors.Decode(p, &in) != nil || in.Body == nil || json.Unmarshal(*in.Body, &body) != nil ||
			strings.TrimSpace(body) == "" || utf8.RuneCountInString(body) > maxBody {
			return actors.ReplyError(invalidBody)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err := r.store.Insert(ctx, s.Topic(), r.userID, body)
		if err != nil {
			return actors.ReplyError(map[string]string{"reason": "not stored"})
		}
		_ = s.Broadcast("new_msg", m)
		return actors.NoReply()
	case "dm":
		return actors.WithPayload(p, func(m DirectMessage) actors.Reply {
			err := s.Endpoint().Broadcast(dmTopic(m.To), "dm", map[string]string{"from": r.userID, "body": m.Body})
			if err != nil {
				return actors.ReplyError(map[string]string{"reason": "not sent"})
			}
			return actors.ReplyOK(nil)
		})
	case "typing":
		_ = s.BroadcastFrom("user_typing", map[string]string{"user_id": r.userID})
		return actors.ReplyOK(nil)
	case "ping":
		return actors.ReplyOK(map[string]bool{"pong": true})
	case "boom":
		panic("boom: a crash on request, to watch supervision at work")
	}
	return actors.ReplyError(unknownEvent)
}

// BenchChannel measures the framework without storage in the way; routed
// from "bench:*".
type BenchChannel struct{ actors.BaseChannel }

func (BenchChannel) Join(string, actors.Payload, *actors.Socket) (any, error) { return nil, nil }

func (BenchChannel) HandleIn(event string, p actors.Payload, s *actors.Socket) actors.Reply {
	switch event {
	case "echo":
		return actors.ReplyOK(p)
	case "broadcast":
		if err := s.Broadcast("msg", p); err != nil {
			return actors.ReplyError(map[string]string{"reason": err.Error()})
		}
		return actors.NoReply()
	}
	return actors.ReplyError(unknownEvent)
}
