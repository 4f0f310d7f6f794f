package actors

import "github.com/phxgo/phx/internal/seam"

// setRelay makes r carry this endpoint's broadcasts to other nodes; nil
// makes the endpoint a single node again.
func (e *Endpoint) setRelay(r seam.Relay) {
	if r == nil {
		e.relay.Store(nil)
		return
	}
	e.relay.Store(&r)
}

func init() {
	seam.Of = func(ep any) *seam.Endpoint {
		e, _ := ep.(*Endpoint)
		if e == nil {
			return nil
		}
		return &seam.Endpoint{System: e.system, Dispatcher: e.pool, SetRelay: e.setRelay,
			Sequence: e.sequence, DeliverAt: e.deliverAt}
	}
}
