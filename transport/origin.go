package transport

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// OriginCheck decides whether a request's Origin is allowed. It is only
// called when the request has an Origin header; origin is that header parsed.
// A request without Origin (a non-browser client) always passes, as in
// Phoenix.
type OriginCheck func(origin *url.URL, r *http.Request) bool

// SameHost allows an origin whose host equals the host the request was sent
// to; scheme and port are ignored. It is the default check, the counterpart
// of Phoenix's check_origin: true.
func SameHost(origin *url.URL, r *http.Request) bool {
	if origin.Hostname() == "" {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return strings.EqualFold(origin.Hostname(), host)
}

// AllowHosts allows an origin whose host is one of hosts, whatever its
// scheme and port: "example.com", "*.example.com" (the domain and every
// subdomain of it), "127.0.0.1", "::1". Unlike SameHost it does not trust
// the request's own Host header: a page of another site reached through
// DNS rebinding (its name made to resolve to this server) sends its own
// name as both Host and Origin, which SameHost lets through. AllowHosts
// panics on an empty host, rather than allow none or every origin.
func AllowHosts(hosts ...string) OriginCheck {
	patterns := make([]string, 0, len(hosts))
	for _, h := range hosts {
		h = strings.ToLower(strings.Trim(strings.TrimSpace(h), "[]"))
		if h == "" || h == "*." {
			panic(fmt.Sprintf("transport: AllowHosts(%q): a host is empty", hosts))
		}
		patterns = append(patterns, h)
	}
	return func(origin *url.URL, _ *http.Request) bool {
		host := strings.ToLower(origin.Hostname())
		if host == "" {
			return false
		}
		for _, p := range patterns {
			if hostMatches(p, host) {
				return true
			}
		}
		return false
	}
}

// SameOrigin allows an origin whose scheme, host and port all equal the
// request's own (Phoenix's check_origin: :conn).
func SameOrigin(origin *url.URL, r *http.Request) bool {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if !strings.EqualFold(origin.Scheme, scheme) {
		return false
	}
	return strings.EqualFold(hostPort(origin.Host, origin.Scheme), hostPort(r.Host, scheme))
}

// AnyOrigin allows every origin. Use it only when connections are
// authenticated by something a cross-site page cannot replay.
func AnyOrigin(*url.URL, *http.Request) bool { return true }

// AllowOrigins allows the listed origins, written as in Phoenix's
// check_origin list: "https://example.com", "//another.com:888",
// "//*.other.com". A missing scheme or port matches any, except that a
// scheme without a port implies its default port. A host "*.ex.com" matches
// ex.com and every subdomain of it, but not prefix-ex.com. Every entry must
// name a host: AllowOrigins panics on one that does not ("example.com"
// without "//" is a path), as Phoenix refuses to start with it, rather than
// let it allow every origin.
func AllowOrigins(origins ...string) OriginCheck {
	type rule struct{ scheme, host, port string }
	rules := make([]rule, 0, len(origins))
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || u.Hostname() == "" {
			panic(fmt.Sprintf("transport: origin %q names no host; write it as \"//host\" or \"scheme://host\"", o))
		}
		r := rule{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
		if r.port == "" && r.scheme != "" {
			r.port = defaultPort(r.scheme)
		}
		rules = append(rules, r)
	}
	return func(origin *url.URL, _ *http.Request) bool {
		host := strings.ToLower(origin.Hostname())
		if host == "" {
			return false
		}
		scheme := strings.ToLower(origin.Scheme)
		port := origin.Port()
		if port == "" {
			port = defaultPort(scheme)
		}
		for _, r := range rules {
			if r.scheme != "" && r.scheme != scheme {
				continue
			}
			if r.port != "" && r.port != port {
				continue
			}
			if r.host == "" || hostMatches(r.host, host) {
				return true
			}
		}
		return false
	}
}

func hostMatches(pattern, host string) bool {
	if base, ok := strings.CutPrefix(pattern, "*."); ok {
		return host == base || strings.HasSuffix(host, "."+base)
	}
	return pattern == host
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}

func hostPort(hostport, scheme string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	return net.JoinHostPort(strings.Trim(hostport, "[]"), defaultPort(scheme))
}

// checkOrigin applies check to r. A missing Origin passes; one that does not
// parse fails.
func checkOrigin(check OriginCheck, r *http.Request) bool {
	raw := r.Header.Get("Origin")
	if raw == "" {
		return true
	}
	origin, err := url.Parse(raw)
	if err != nil {
		return false
	}
	return check(origin, r)
}
