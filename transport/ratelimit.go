package transport

import (
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/phxgo/phx/internal/lograte"
	"github.com/phxgo/phx/internal/ratelimit"
)

// Rate is a rate limit: PerSecond events a second on average, and up to
// Burst at once after a quiet spell (a token bucket). The zero Rate is no
// limit.
type Rate struct {
	// PerSecond is the rate allowed on average; zero or negative means no
	// limit.
	PerSecond float64
	// Burst is how many events may come at once. Zero means PerSecond
	// rounded up (at least 1).
	Burst int
}

// Limited reports whether r limits anything.
func (r Rate) Limited() bool { return r.PerSecond > 0 }

// burst is Burst, or its default.
func (r Rate) burst() int {
	if r.Burst > 0 {
		return r.Burst
	}
	return max(1, int(math.Ceil(r.PerSecond)))
}

// WithDefaults returns r with its Burst filled in.
func (r Rate) WithDefaults() Rate {
	if r.Limited() {
		r.Burst = r.burst()
	}
	return r
}

// RefusedRate: the client address went past its ConnectLimiter's rate.
const RefusedRate = "rate"

// ConnectLimit configures a ConnectLimiter.
type ConnectLimit struct {
	// Rate is how many connects one client address may make. The zero
	// Rate limits nothing.
	Rate Rate
	// Exempt, when set, names the addresses never limited: loopback, say,
	// where a local proxy or load tool connects for many clients. Nil
	// exempts none.
	Exempt func(netip.Addr) bool
	// MaxAddrs bounds the addresses tracked at once; past it, the one
	// seen longest ago is forgotten. Zero means 65,536 (a few MB).
	MaxAddrs int
}

const defaultMaxAddrs = 1 << 16

// ConnectLimiter refuses the connects of a client address past its rate,
// with 429 and Retry-After, before any upgrade or Connect. Give the same
// one to a socket's WebSocket and LongPoll transports, so that a client
// switching transports draws on one budget.
//
// An address is the connection's peer address (http.Request.RemoteAddr,
// ConnectInfo.PeerAddr): IPv4 addresses one by one (IPv4-mapped IPv6 as
// IPv4), IPv6 by /64, the block one host or home is given, so that a host
// cannot pass the limit by drawing on its 2^64 addresses. A peer that is
// not IP (a Unix socket) is not limited, and Exempt sees the address
// itself, not its /64. Behind a proxy,
// every client has the proxy's address: exempt it, or limit at the
// proxy.
//
// The table of addresses is bounded by MaxAddrs: the address seen longest
// ago goes first. An address silent for Burst/PerSecond seconds has a full
// bucket again, so forgetting it then loses nothing.
type ConnectLimiter struct {
	rate   Rate
	exempt func(netip.Addr) bool
	max    int
	// now reads the clock in nanoseconds; tests replace it to step time.
	now func() int64

	mu    sync.Mutex
	addrs map[netip.Addr]*addrBucket // guarded by mu
	// newest and oldest end the list of addrs by last use, newest first;
	// guarded by mu.
	newest, oldest *addrBucket
}

// addrBucket is one address's bucket, in the list of addresses by use.
type addrBucket struct {
	addr         netip.Addr
	b            ratelimit.Bucket
	newer, older *addrBucket
}

// NewConnectLimiter returns a limiter of connects per client address.
func NewConnectLimiter(cfg ConnectLimit) *ConnectLimiter {
	if cfg.MaxAddrs <= 0 {
		cfg.MaxAddrs = defaultMaxAddrs
	}
	start := time.Now()
	return &ConnectLimiter{
		rate: cfg.Rate.WithDefaults(), exempt: cfg.Exempt, max: cfg.MaxAddrs,
		now:   func() int64 { return int64(time.Since(start)) },
		addrs: make(map[netip.Addr]*addrBucket),
	}
}

// Len reports how many addresses the limiter tracks.
func (l *ConnectLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.addrs)
}

// peerAddr is the IP address of remoteAddr, without zone, IPv4-mapped
// IPv6 as IPv4; ok is false for one that is not IP (a Unix socket).
func peerAddr(remoteAddr string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remoteAddr)
	addr := ap.Addr()
	if err != nil {
		if addr, err = netip.ParseAddr(remoteAddr); err != nil {
			return netip.Addr{}, false
		}
	}
	return addr.WithZone("").Unmap(), true
}

// clientKey is what addr is limited by: itself, or its /64 for IPv6.
func clientKey(addr netip.Addr) netip.Addr {
	if addr.Is6() {
		return netip.PrefixFrom(addr, 64).Masked().Addr()
	}
	return addr
}

// allow takes a connect of remoteAddr's budget; when there is none left,
// it reports how long until there is.
func (l *ConnectLimiter) allow(remoteAddr string) (bool, time.Duration) {
	if l == nil || !l.rate.Limited() {
		return true, 0
	}
	addr, ok := peerAddr(remoteAddr)
	if !ok || l.exempt != nil && l.exempt(addr) {
		return true, 0
	}
	key := clientKey(addr)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.addrs[key]
	if a == nil {
		if len(l.addrs) >= l.max {
			l.forget(l.oldest)
		}
		a = &addrBucket{addr: key, b: ratelimit.Full(l.rate.Burst, now)}
		l.addrs[key] = a
	} else {
		l.unlink(a)
	}
	l.pushNewest(a)
	if a.b.Allow(l.rate.PerSecond, l.rate.Burst, now) {
		return true, 0
	}
	return false, a.b.Wait(l.rate.PerSecond)
}

func (l *ConnectLimiter) forget(a *addrBucket) {
	l.unlink(a)
	delete(l.addrs, a.addr)
}

func (l *ConnectLimiter) unlink(a *addrBucket) {
	if a.newer != nil {
		a.newer.older = a.older
	} else {
		l.newest = a.older
	}
	if a.older != nil {
		a.older.newer = a.newer
	} else {
		l.oldest = a.newer
	}
	a.newer, a.older = nil, nil
}

func (l *ConnectLimiter) pushNewest(a *addrBucket) {
	a.older = l.newest
	if l.newest != nil {
		l.newest.newer = a
	}
	l.newest = a
	if l.oldest == nil {
		l.oldest = a
	}
}

// newRateLog logs the first connect of an interval refused for its
// address's rate and sums the rest: a client hammering reconnects must
// not fill the log.
func newRateLog(transport string, log *slog.Logger) *lograte.Limiter {
	return &lograte.Limiter{Burst: 1, Interval: 10 * time.Second,
		Report: func(events, _ uint64, d time.Duration) {
			log.Warn(fmt.Sprintf("transport: %d %s connects refused for their address's rate in the last %s", events, transport, d),
				"transport", transport, "refused", events)
		}}
}

// refuseRate answers a connect past its address's rate: 429 at once,
// with Retry-After in whole seconds (at least 1), counted and logged.
func refuseRate(w http.ResponseWriter, r *http.Request, retry time.Duration, c *counters, rateLog *lograte.Limiter, transport string, log *slog.Logger) {
	c.refused(RefusedRate)
	if rateLog.Allow() {
		log.Warn("transport: connects of one address past its rate, refusing", "transport", transport, "peer", r.RemoteAddr)
	}
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(retry.Seconds())))))
	http.Error(w, "too many connects, try again later", http.StatusTooManyRequests)
}
