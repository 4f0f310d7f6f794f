package transport

import (
	"net/http"
	"net/url"
	"strings"
)

// lastValues flattens a query string the way Plug does for flat keys: a
// repeated key keeps its last value. url.Values.Get returns the first, which
// would, for example, pick the application's token over a long-poll session
// token appended after it.
func lastValues(q url.Values) map[string]string {
	params := make(map[string]string, len(q))
	for k, vs := range q {
		if len(vs) > 0 {
			params[k] = vs[len(vs)-1]
		}
	}
	return params
}

// exposedHeaders copies the request headers Phoenix's connect_info can see.
func exposedHeaders(h http.Header) http.Header {
	out := make(http.Header)
	for k, vs := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-") || strings.HasPrefix(lk, "sec-websocket-") ||
			lk == "traceparent" || lk == "tracestate" || lk == "user-agent" {
			out[k] = append([]string(nil), vs...)
		}
	}
	return out
}

// requestURI rebuilds the full URI of r.
func requestURI(r *http.Request, secureScheme, plainScheme string) *url.URL {
	u := *r.URL
	u.Host = r.Host
	u.Scheme = plainScheme
	if r.TLS != nil {
		u.Scheme = secureScheme
	}
	return &u
}

// addPathParams merges the wildcards of the ServeMux pattern that routed r
// ("/custom/{socket_var}/{path_var}/path") into params, as Phoenix merges a
// socket path's variables into the connect params.
func addPathParams(r *http.Request, params map[string]string) {
	pattern := r.Pattern
	for {
		i := strings.IndexByte(pattern, '{')
		if i < 0 {
			return
		}
		j := strings.IndexByte(pattern[i:], '}')
		if j < 0 {
			return
		}
		name := strings.TrimSuffix(pattern[i+1:i+j], "...")
		pattern = pattern[i+j+1:]
		if name == "" || name == "$" {
			continue
		}
		params[name] = r.PathValue(name)
	}
}
