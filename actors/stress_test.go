package actors_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phx/actors"
	"github.com/phxgo/phx/internal/phxclient"
)

// Many clients joining, leaving, rejoining, crashing and broadcasting on
// shared topics at once leave nothing behind: once they are gone, no topic
// holds a subscription, and Shutdown (at cleanup) finds every actor gone.
func TestChurnLeavesNothingBehind(t *testing.T) {
	ts := newServer(t, serverOpts{})
	const clients, ops, topics = 12, 150, 4
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		c := ts.dial(t, "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := churn(c, rand.New(rand.NewPCG(uint64(i), 7)), ops, topics); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
			c.Close()
			<-c.Done()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	deadline := time.Now().Add(wait)
	for k := range topics {
		topic := fmt.Sprintf("room:s%d", k)
		for actors.Subscribers(ts.ep, topic) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s still has %d subscriptions", topic, actors.Subscribers(ts.ep, topic))
			}
			time.Sleep(5 * time.Millisecond) // polling a count: there is no event to wait on
		}
	}
}

// churn runs random operations, each waiting for its reply.
func churn(c *phxclient.Client, r *rand.Rand, ops, topics int) error {
	joinRefs := map[string]string{} // topic → join_ref of the current join
	for n := range ops {
		ref := fmt.Sprint(n + 1)
		topic := fmt.Sprintf("room:s%d", r.IntN(topics))
		jr, joined := joinRefs[topic]
		const (
			opJoin = iota
			opLeave
			opCrash
			opBroadcast
			opEcho
		)
		op := r.IntN(6)
		if !joined {
			op = opJoin
		}
		var frame string
		switch op {
		case opJoin:
			jr = ref
			frame = fmt.Sprintf(`["%s","%s","%s","phx_join",{}]`, jr, ref, topic)
		case opLeave:
			frame = fmt.Sprintf(`["%s","%s","%s","phx_leave",{}]`, jr, ref, topic)
		case opCrash:
			frame = fmt.Sprintf(`["%s","%s","%s","boom",{}]`, jr, ref, topic)
		case opBroadcast:
			frame = fmt.Sprintf(`["%s","%s","%s","broadcast_from",{"n":%d}]`, jr, ref, topic, n)
		default:
			frame = fmt.Sprintf(`["%s","%s","%s","echo",{"n":%d}]`, jr, ref, topic, n)
		}
		if err := c.Send(frame); err != nil {
			return err
		}
		status, err := awaitReply(c, ref, jr)
		if err != nil {
			return fmt.Errorf("%s: %w", frame, err)
		}
		switch {
		case op == opJoin && status == "ok":
			joinRefs[topic] = jr
		case op == opJoin, op == opLeave:
			delete(joinRefs, topic)
		case status == "phx_error", status == "error" && op != opCrash:
			// The channel ended (its restart budget ran out).
			delete(joinRefs, topic)
		}
	}
	for topic, jr := range joinRefs {
		if err := c.Send(fmt.Sprintf(`["%s","leave-%s","%s","phx_leave",{}]`, jr, topic, topic)); err != nil {
			return err
		}
		if _, err := awaitReply(c, "leave-"+topic, jr); err != nil {
			return err
		}
	}
	return nil
}

// awaitReply reads frames up to the reply to ref, and returns its status,
// or "phx_error" when the channel joined with joinRef ends instead: a crash
// past the restart budget is not answered. Other frames are skipped.
func awaitReply(c *phxclient.Client, ref, joinRef string) (string, error) {
	for {
		m, err := c.Next(wait)
		if err != nil {
			return "", err
		}
		if m.Event == "phx_error" && m.JoinRef == `"`+joinRef+`"` {
			return "phx_error", nil
		}
		if m.Event != "phx_reply" || m.Ref != `"`+ref+`"` { // refs are raw JSON
			continue
		}
		var reply struct{ Status string }
		if err := json.Unmarshal(m.Payload, &reply); err != nil {
			return "", err
		}
		return reply.Status, nil
	}
}
