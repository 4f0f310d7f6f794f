package transport_test

// Origin checks as pure functions (docs/protocol.md §1.5). The transport
// calls a check only when the request has an Origin header; the end-to-end
// cases (no header, unparsable header) are in websocket_test.go.

import (
	"crypto/tls"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/phxgo/phx/transport"
)

type originCase struct {
	origin string
	want   bool
}

// runOrigins applies check to each origin, for a request to host.
func runOrigins(t *testing.T, check transport.OriginCheck, host string, tls *tls.ConnectionState, cases []originCase) {
	t.Helper()
	for _, tc := range cases {
		u, err := url.Parse(tc.origin)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", tc.origin, err)
		}
		r := httptest.NewRequest("GET", "/socket/websocket", nil)
		r.Host = host
		r.TLS = tls
		if got := check(u, r); got != tc.want {
			t.Errorf("origin %q, host %q: got %v, want %v", tc.origin, host, got, tc.want)
		}
	}
}

// Origins with no host: a sandboxed iframe or a local file. They are never
// the page's own, whatever the check.
var hostless = []originCase{{"null", false}, {"file://", false}, {"file:///home/x/index.html", false}, {"", false}}

func TestSameHost(t *testing.T) {
	runOrigins(t, transport.SameHost, "example.com:4000", nil, append([]originCase{
		{"https://example.com", true}, // scheme and port are ignored
		{"http://example.com:8080", true},
		{"http://EXAMPLE.com", true},
		{"https://www.example.com", false}, // a subdomain is another host
		{"https://example.com.evil.com", false},
		{"https://evil.com", false},
	}, hostless...))
	runOrigins(t, transport.SameHost, "example.com", nil, []originCase{
		{"http://example.com:4000", true},
	})
	runOrigins(t, transport.SameHost, "[::1]:4000", nil, []originCase{
		{"http://[::1]", true},
		{"http://[::2]", false},
	})
}

func TestSameOrigin(t *testing.T) {
	runOrigins(t, transport.SameOrigin, "example.com", nil, append([]originCase{
		{"http://example.com", true},
		{"http://example.com:80", true}, // the default port, spelt out
		{"https://example.com", false},  // the request came over plain HTTP
		{"http://example.com:8080", false},
		{"http://other.com", false},
	}, hostless...))
	runOrigins(t, transport.SameOrigin, "example.com:8080", nil, []originCase{
		{"http://example.com:8080", true},
		{"http://example.com", false},
	})
	runOrigins(t, transport.SameOrigin, "example.com", &tls.ConnectionState{}, []originCase{
		{"https://example.com", true},
		{"https://example.com:443", true},
		{"http://example.com", false},
	})
}

func TestAnyOrigin(t *testing.T) {
	runOrigins(t, transport.AnyOrigin, "example.com", nil, []originCase{
		{"https://evil.com", true},
		{"null", true}, // AnyOrigin means any
	})
}

func TestAllowOrigins(t *testing.T) {
	for _, tc := range []struct {
		name  string
		allow []string
		cases []originCase
	}{
		{
			// A scheme implies its default port.
			name:  "scheme and host",
			allow: []string{"https://example.com"},
			cases: []originCase{
				{"https://example.com", true},
				{"https://example.com:443", true},
				{"HTTPS://Example.COM", true},
				{"http://example.com", false},
				{"https://example.com:8443", false},
				{"https://www.example.com", false},
			},
		},
		{
			name:  "http implies port 80",
			allow: []string{"http://scheme.com"},
			cases: []originCase{
				{"http://scheme.com", true},
				{"http://scheme.com:80", true},
				{"http://scheme.com:8080", false},
			},
		},
		{
			// No scheme: any scheme, but the port is fixed.
			name:  "host and port",
			allow: []string{"//another.com:888"},
			cases: []originCase{
				{"http://another.com:888", true},
				{"https://another.com:888", true},
				{"http://another.com", false},
				{"https://another.com", false},
				{"http://another.com:889", false},
			},
		},
		{
			name:  "host only",
			allow: []string{"//example.com"},
			cases: []originCase{
				{"https://example.com", true},
				{"http://example.com:1234", true},
				{"http://notallowed.com", false},
			},
		},
		{
			// *.other.com is other.com and its subdomains, nothing that
			// merely ends in the same letters.
			name:  "wildcard host",
			allow: []string{"//*.other.com"},
			cases: []originCase{
				{"https://other.com", true},
				{"https://a.other.com", true},
				{"http://a.b.other.com:4000", true},
				{"https://prefix-other.com", false},
				{"https://other.com.evil.com", false},
				{"https://xother.com", false},
			},
		},
		{
			name:  "Phoenix's documented list",
			allow: []string{"https://example.com", "//another.com:888", "//*.other.com"},
			cases: append([]originCase{
				{"https://example.com", true},
				{"http://another.com:888", true},
				{"https://sub.other.com", true},
				{"http://example.com", false},
				{"https://another.com", false},
				{"https://evil.com", false},
			}, hostless...),
		},
		{
			name:  "no entries",
			allow: nil,
			cases: []originCase{{"https://example.com", false}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The request's own host plays no part in a list check.
			runOrigins(t, transport.AllowOrigins(tc.allow...), "example.com", nil, tc.cases)
		})
	}
}

// An entry without a host ("example.com" parses as a path, "https://" has
// none) must not become a rule that matches every host. Phoenix refuses
// such an entry at startup; failing closed would do as well, so a panic
// from AllowOrigins passes this test.
func TestAllowOriginsEntryWithoutHost(t *testing.T) {
	for _, entry := range []string{"example.com", "https://", "//"} {
		t.Run(entry, func(t *testing.T) {
			defer func() { _ = recover() }() // refusing the entry outright is fine
			check := transport.AllowOrigins(entry)
			runOrigins(t, check, "example.com", nil, []originCase{{"https://evil.com", false}})
		})
	}
}

// AllowHosts looks at the origin's host only: the request's own Host,
// which a page reached through DNS rebinding sets to its name, counts for
// nothing.
func TestAllowHosts(t *testing.T) {
	check := transport.AllowHosts("localhost", "127.0.0.1", "[::1]", "*.example.com")
	for _, host := range []string{"127.0.0.1:4000", "evil.example:4000"} {
		runOrigins(t, check, host, nil, append([]originCase{
			{"http://127.0.0.1:4000", true}, // any scheme and port
			{"https://LOCALHOST", true},
			{"http://[::1]:4000", true},
			{"https://example.com", true},
			{"https://chat.example.com", true},
			{"http://evil.example:4000", false},
			{"http://127.0.0.1.evil.example", false},
			{"https://notexample.com", false},
		}, hostless...))
	}
	defer func() {
		if recover() == nil {
			t.Error("AllowHosts(\"\") did not panic")
		}
	}()
	transport.AllowHosts("")
}
