package actors

import (
	"context"
	"sync"
)

// Context returns a context that is cancelled as soon as this instance of
// the channel is ending: the client left or was disconnected, its
// connection closed, the channel stopped itself or crashed (a restarted
// channel gets a new one), or the endpoint shut down. Pass it to the work
// a callback starts, an HTTP call or a query, so that the work stops when
// nobody is left to answer. It is done before Terminate runs.
func (s *Socket) Context() context.Context { return s.st.ctx.get() }

// instanceContext is the context of a channel's current instance, made
// when first asked for: most channels never do, and a context costs each
// of them its allocations. The socket actor cancels it when it ends the
// channel, the channel actor when it ends itself; both may, so it is
// guarded.
type instanceContext struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	ended  bool // a context asked for from now on is born cancelled
}

func (c *instanceContext) get() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		c.ctx, c.cancel = context.WithCancel(context.Background())
		if c.ended {
			c.cancel()
		}
	}
	return c.ctx
}

// end cancels the context of the instance that is ending.
func (c *instanceContext) end() {
	c.mu.Lock()
	c.ended = true
	if c.cancel != nil {
		c.cancel()
	}
	c.mu.Unlock()
}

// renew starts the context of a restarted instance: the old one stays
// cancelled, for the work the crashed instance started.
func (c *instanceContext) renew() {
	c.mu.Lock()
	c.ctx, c.cancel, c.ended = nil, nil, false
	c.mu.Unlock()
}
