package transport

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
)

// CookieSession gives Connect the visitor's cookie session, as Phoenix's
// connect_info: [session: ...] does: a page served by the same application
// renders a CSRF token, the client sends it back as the _csrf_token connect
// param, and only a session the token is valid for reaches Connect
// (ConnectInfo.Session). Without it, a page of another site could open a
// socket with the visitor's cookies.
//
// The tokens are those of Plug.CSRFProtection: the session keeps an
// unmasked token (NewCSRFState) and pages get masked copies of it
// (MaskCSRFToken), so a Phoenix application sharing the session cookie and
// this runtime accept each other's tokens.
type CookieSession struct {
	// Load returns the session the request's cookies carry, or nil when
	// there is none or it does not verify. It runs on the request that
	// opens the connection (the first GET, for long-poll).
	Load func(r *http.Request) map[string]any
	// CSRFKey is the session key holding the unmasked token. Zero means
	// "_csrf_token", Plug's.
	CSRFKey string
	// SkipCSRF hands over the session without the token check (Phoenix's
	// check_csrf: false), for sockets that only same-site pages can reach.
	SkipCSRF bool
}

// csrfParam is the connect param that carries the masked token.
const csrfParam = "_csrf_token"

// session returns the request's session, or nil: no Load, no session, or a
// missing or invalid token.
func (c *CookieSession) session(r *http.Request, params map[string]string) map[string]any {
	if c == nil || c.Load == nil {
		return nil
	}
	s := c.Load(r)
	if s == nil || c.SkipCSRF {
		return s
	}
	key := c.CSRFKey
	if key == "" {
		key = csrfParam
	}
	state, _ := s[key].(string)
	if !ValidCSRFToken(state, params[csrfParam]) {
		return nil
	}
	return s
}

// Plug.CSRFProtection's sizes: 16 random bytes, URL-safe base64 with
// padding (24 characters); a masked token is the 24 bytes of the state
// masked, encoded again (32 characters), followed by the mask (24).
const (
	csrfRandomSize  = 16
	csrfStateSize   = 24
	csrfMaskedSize  = 32
	csrfTokenLength = csrfMaskedSize + csrfStateSize
)

// NewCSRFState returns a new unmasked token, to keep in the session under
// CookieSession.CSRFKey.
func NewCSRFState() string {
	b := make([]byte, csrfRandomSize)
	_, _ = rand.Read(b)
	return base64.URLEncoding.EncodeToString(b)
}

// MaskCSRFToken returns a token for a page to send as the _csrf_token param:
// state masked with a fresh random mask, so that no two pages carry the
// same bytes. It returns "" for a state not made by NewCSRFState (or by
// Plug).
func MaskCSRFToken(state string) string {
	if len(state) != csrfStateSize {
		return ""
	}
	mask := NewCSRFState()
	masked := make([]byte, csrfStateSize)
	for i := range masked {
		masked[i] = state[i] ^ mask[i]
	}
	return base64.URLEncoding.EncodeToString(masked) + mask
}

// ValidCSRFToken reports whether token is a masked copy of state, in
// constant time.
func ValidCSRFToken(state, token string) bool {
	if len(state) != csrfStateSize || len(token) != csrfTokenLength {
		return false
	}
	masked, err := base64.URLEncoding.DecodeString(token[:csrfMaskedSize])
	if err != nil {
		// Plug accepts the standard alphabet as well.
		if masked, err = base64.StdEncoding.DecodeString(token[:csrfMaskedSize]); err != nil {
			return false
		}
	}
	if len(masked) != csrfStateSize {
		return false
	}
	mask := token[csrfMaskedSize:]
	unmasked := make([]byte, csrfStateSize)
	for i := range unmasked {
		unmasked[i] = masked[i] ^ mask[i]
	}
	return subtle.ConstantTimeCompare(unmasked, []byte(state)) == 1
}
