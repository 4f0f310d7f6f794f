package transport

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/phxgo/phx/internal/lograte"
)

// LongPollConfig configures a long-poll transport. The zero value is ready
// to use; each field's comment says what zero means.
type LongPollConfig struct {
	// CheckOrigin decides which browser origins may connect. Nil means
	// SameHost; AnyOrigin disables the check.
	CheckOrigin OriginCheck
	// Window is how long a GET waits for messages before answering 204,
	// and a session's idle time is 1.5 windows without a GET. Zero means
	// 10 s (Phoenix's window_ms).
	Window time.Duration
	// MaxLines bounds the lines of one POST that are read, empty ones
	// included; the rest are neither read nor handled, as Phoenix ignores
	// them. Zero means 100.
	MaxLines int
	// MaxBody bounds a POST body in bytes; a bigger one is answered 413,
	// at once when its Content-Length says so, else as soon as it is
	// read past the cap. Zero means 8 MB (Plug's default).
	MaxBody int64
	// MaxBodiesBytes bounds what the POST bodies being read hold
	// together, every session's: a POST that would take more is answered
	// 503 with Retry-After (the phoenix client then reconnects), so that
	// many slow or large POSTs at once cannot grow the node. Zero means
	// 64 MiB.
	MaxBodiesBytes int64
	// MaxFrameSize bounds one message of a POST (a line of an ndjson body,
	// or a whole other body), as WebSocketConfig.MaxFrameSize bounds a
	// frame: a POST holding a bigger one is answered 413 and none of its
	// messages is handled. Zero means 1 MiB, as for WebSocket.
	MaxFrameSize int
	// BufferSize bounds the bytes of messages waiting for a GET; a session
	// whose buffer overflows is closed. As a WebSocket outbox, it must hold
	// several of the largest messages. Zero means 4 × MaxFrameSize + 64 KiB.
	BufferSize int
	// Secret signs session tokens. Empty means a random key made at start:
	// sessions then belong to this process, which is what one node needs.
	Secret []byte
	// Session gives Connect the cookie session (ConnectInfo.Session).
	// Nil means none.
	Session *CookieSession
	// MaxSessions bounds the open sessions: a GET that would open one
	// more is answered 503 with Retry-After (which the phoenix client
	// retries). Each holds a file descriptor while it polls. Zero means
	// DefaultMaxConns(); negative means no limit.
	MaxSessions int
	// ConnectLimit bounds the sessions each client address opens: past
	// its rate, a GET that would open one is answered 429 with Retry-After
	// (which the phoenix client retries). Nil means no limit. Share one
	// with the socket's WebSocket.
	ConnectLimit *ConnectLimiter
	// Logger receives the transport's logs. Nil means slog.Default().
	Logger *slog.Logger
}

const (
	defaultWindow   = 10 * time.Second
	defaultMaxLines = 100
	defaultMaxBody  = 8_000_000
	// Eight of the largest bodies at once.
	defaultMaxBodiesBytes = 64 << 20
	tokenHeader           = "X-Phoenix-Longpoll-Token"
	authTokenHeader       = "X-Phoenix-Authtoken"
	sessionIDLen          = 16
)

// LongPoll is the Phoenix long-poll transport, an http.Handler to mount at
// the socket's path plus "/longpoll". Every answer is HTTP 200 with the
// outcome in the body's "status", as the phoenix client expects.
//
// Long-poll carries text frames only: a binary payload cannot reach a
// long-poll client (Phoenix does the same), and a channel that sends one
// gets an error from its push. Binary frames from clients (base64 lines)
// are accepted.
type LongPoll struct {
	handler Handler
	cfg     LongPollConfig
	log     *slog.Logger
	key     []byte
	limit   *connLimit
	bodies  bodyBudget
	rateLog *lograte.Limiter // sessions refused by cfg.ConnectLimit

	mu       sync.Mutex
	sessions map[string]*lpSession // guarded by mu
	shutdown bool                  // guarded by mu

	counters counters
}

// NewLongPoll returns a long-poll transport that hands sessions to h.
func NewLongPoll(h Handler, cfg LongPollConfig) *LongPoll {
	if cfg.CheckOrigin == nil {
		cfg.CheckOrigin = SameHost
	}
	if cfg.Window <= 0 {
		cfg.Window = defaultWindow
	}
	if cfg.MaxLines <= 0 {
		cfg.MaxLines = defaultMaxLines
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = defaultMaxBody
	}
	if cfg.MaxFrameSize <= 0 {
		cfg.MaxFrameSize = defaultMaxFrameSize
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = outboxFor(cfg.MaxFrameSize)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	key := cfg.Secret
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	if cfg.MaxBodiesBytes <= 0 {
		cfg.MaxBodiesBytes = defaultMaxBodiesBytes
	}
	return &LongPoll{handler: h, cfg: cfg, log: cfg.Logger, key: key, sessions: make(map[string]*lpSession),
		limit: newConnLimit(cfg.MaxSessions, "longpoll", cfg.Logger), bodies: bodyBudget{max: cfg.MaxBodiesBytes},
		rateLog: newRateLog("longpoll", cfg.Logger)}
}

func (lp *LongPoll) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if !checkOrigin(lp.cfg.CheckOrigin, r) {
		lp.log.Warn("transport: origin refused", "origin", r.Header.Get("Origin"))
		lp.counters.refused(RefusedOrigin)
		lp.status(w, http.StatusForbidden)
		return
	}
	switch r.Method {
	case http.MethodOptions:
		h.Set("Access-Control-Allow-Headers", r.Header.Get("Access-Control-Request-Headers"))
		h.Set("Access-Control-Allow-Methods", "get, post, options")
		h.Set("Access-Control-Max-Age", "3600")
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		lp.get(w, r)
	case http.MethodPost:
		lp.post(w, r)
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

// status writes {"status":N}, always with HTTP 200.
func (lp *LongPoll) status(w http.ResponseWriter, status int) {
	writeLongPoll(w, struct {
		Status int `json:"status"`
	}{status})
}

// messages writes {"status":N,"token":T,"messages":[…]}.
func (lp *LongPoll) messages(w http.ResponseWriter, status int, token string, msgs []string) {
	if msgs == nil {
		msgs = []string{}
	}
	writeLongPoll(w, struct {
		Status   int      `json:"status"`
		Token    string   `json:"token"`
		Messages []string `json:"messages"`
	}{status, token, msgs})
}

func writeLongPoll(w http.ResponseWriter, body any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(body)
}

// sessionToken returns the session token of r: the header if set, else the
// LAST token parameter (the client appends it after the application's own
// params, which may have a token of their own).
func sessionToken(r *http.Request) string {
	if t := r.Header.Get(tokenHeader); t != "" {
		return t
	}
	vs := r.URL.Query()["token"]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// sign makes the token of a session id: the id and its MAC, so that tokens
// can be neither forged nor guessed.
func (lp *LongPoll) sign(id []byte) string {
	mac := hmac.New(sha256.New, lp.key)
	mac.Write(id)
	return base64.RawURLEncoding.EncodeToString(append(append([]byte{}, id...), mac.Sum(nil)...))
}

// verify returns the session id a token carries, if this transport signed
// it.
func (lp *LongPoll) verify(token string) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != sessionIDLen+sha256.Size {
		return "", false
	}
	mac := hmac.New(sha256.New, lp.key)
	mac.Write(raw[:sessionIDLen])
	if !hmac.Equal(mac.Sum(nil), raw[sessionIDLen:]) {
		return "", false
	}
	return string(raw[:sessionIDLen]), true
}

// lookup returns the session a token names, or nil.
func (lp *LongPoll) lookup(token string) *lpSession {
	id, ok := lp.verify(token)
	if !ok {
		return nil
	}
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.sessions[id]
}

func (lp *LongPoll) get(w http.ResponseWriter, r *http.Request) {
	if s := lp.lookup(sessionToken(r)); s != nil {
		s.poll(w, r)
		return
	}
	lp.open(w, r)
}

// open makes a new session, the connect of this transport, within the
// limit of sessions.
func (lp *LongPoll) open(w http.ResponseWriter, r *http.Request) {
	if ok, retry := lp.cfg.ConnectLimit.allow(r.RemoteAddr); !ok {
		refuseRate(w, r, retry, &lp.counters, lp.rateLog, "longpoll", lp.log)
		return
	}
	if !lp.limit.take() {
		lp.limit.refuse(w, &lp.counters, "longpoll", lp.log)
		return
	}
	if !lp.openSession(w, r) {
		lp.limit.give()
	}
}

// openSession reports whether it made a session: its slot of the limit is
// then given back when it ends.
func (lp *LongPoll) openSession(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	ser, err := negotiate(q)
	if err != nil {
		lp.log.Warn("transport: "+err.Error(), "vsn", q.Get("vsn"))
		lp.counters.refused(RefusedConnect)
		lp.status(w, http.StatusForbidden)
		return false
	}
	lp.mu.Lock()
	closing := lp.shutdown
	lp.mu.Unlock()
	if closing {
		lp.counters.refused(RefusedShutdown)
		lp.status(w, http.StatusForbidden)
		return false
	}
	params := lastValues(q)
	if ts := q["token"]; len(ts) > 0 {
		if _, ours := lp.verify(ts[len(ts)-1]); ours {
			// The token of a session that is gone: the application's own
			// token param, if any, is the one before it.
			if len(ts) > 1 {
				params["token"] = ts[len(ts)-2]
			} else {
				delete(params, "token")
			}
		}
	}
	addPathParams(r, params)
	sess, err := lp.handler.Connect(&ConnectRequest{
		Transport:  "longpoll",
		Serializer: ser,
		Params:     params,
		Info: ConnectInfo{
			PeerAddr:  r.RemoteAddr,
			URI:       requestURI(r, "https", "http"),
			Header:    exposedHeaders(r.Header),
			AuthToken: r.Header.Get(authTokenHeader),
			Session:   lp.cfg.Session.session(r, params),
		},
	})
	if err != nil {
		lp.counters.refused(RefusedConnect)
		lp.status(w, http.StatusForbidden)
		return false
	}
	id := make([]byte, sessionIDLen)
	_, _ = rand.Read(id)
	// Busy from the start: an end that comes while Open runs (shutdown,
	// idle expiry) tells the Session only once Open has returned.
	s := &lpSession{lp: lp, id: string(id), token: lp.sign(id), session: sess, wake: make(chan struct{}), busy: true}
	lp.mu.Lock()
	if lp.shutdown {
		lp.mu.Unlock()
		sess.Closed(ErrClosed)
		lp.counters.refused(RefusedShutdown)
		lp.status(w, http.StatusForbidden)
		return false
	}
	lp.sessions[s.id] = s
	lp.mu.Unlock()
	s.touch()
	s.call(func() { sess.Open(s) })
	s.leave()
	lp.messages(w, http.StatusGone, s.token, nil)
	return true
}

func (lp *LongPoll) post(w http.ResponseWriter, r *http.Request) {
	s := lp.lookup(sessionToken(r))
	if s == nil {
		lp.status(w, http.StatusGone)
		return
	}
	if r.ContentLength > lp.cfg.MaxBody {
		lp.refusePost(w, errBodyTooLarge)
		return
	}
	br := lp.newBodyReader(w, r)
	defer br.release()
	var frames []Frame
	var err error
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-ndjson" {
		frames, err = br.frames()
	} else {
		frames, err = br.whole()
	}
	if err != nil {
		lp.refusePost(w, err)
		return
	}
	if !br.eof {
		// Lines past MaxLines are left unread: answer without waiting
		// for them, and close the connection rather than read them.
		w.Header().Set("Connection", "close")
	}
	if !s.receive(frames) {
		lp.status(w, http.StatusGone)
		return
	}
	lp.status(w, http.StatusOK)
}

// refusePost answers a POST whose body was refused while it was read. The
// connection is closed after the answer: the rest of the body is not
// read.
func (lp *LongPoll) refusePost(w http.ResponseWriter, err error) {
	w.Header().Set("Connection", "close")
	switch {
	case errors.Is(err, errBodyTooLarge):
		lp.counters.postRefused(RefusedTooLarge)
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
	case errors.Is(err, errBodyBudget):
		lp.counters.postRefused(RefusedBudget)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many request bodies being read; try again", http.StatusServiceUnavailable)
	case errors.Is(err, errNotAFrame):
		http.Error(w, "a line is neither a JSON array nor base64", http.StatusBadRequest)
	default:
		http.Error(w, "cannot read the body", http.StatusBadRequest)
	}
}

// Shutdown stops accepting sessions, closes every one (their channels
// terminate), answers every waiting GET, and waits for them, or for ctx.
func (lp *LongPoll) Shutdown(ctx context.Context) error {
	lp.mu.Lock()
	lp.shutdown = true
	sessions := make([]*lpSession, 0, len(lp.sessions))
	for _, s := range lp.sessions {
		sessions = append(sessions, s)
	}
	lp.mu.Unlock()
	for _, s := range sessions {
		s.end(nil)
	}
	lp.limit.refusals.Stop()
	lp.rateLog.Stop()
	done := make(chan struct{})
	go func() {
		for _, s := range sessions {
			s.polls.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		<-done // polls end within a window at most
		return ctx.Err()
	}
}

// Len reports the number of open sessions.
func (lp *LongPoll) Len() int {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return len(lp.sessions)
}

// lpSession is one long-poll session: the Conn its Session writes to.
type lpSession struct {
	lp      *LongPoll
	id      string
	token   string
	session Session

	recv  sync.Mutex     // serialises POSTs, as a read loop would
	polls sync.WaitGroup // GETs in progress

	mu      sync.Mutex
	buf     []string      // frames waiting for a GET, guarded by mu
	bytes   int           // guarded by mu
	wake    chan struct{} // closed when frames arrive or the session ends; guarded by mu
	poller  int           // which GET may answer with the buffer; guarded by mu
	ended   bool          // guarded by mu
	lastGET time.Time     // guarded by mu
	idle    *time.Timer   // guarded by mu
	// busy: Open or Receive is running; an end meanwhile leaves Closed
	// due, with its error, for when it returns. Guarded by mu.
	busy     bool
	closeDue bool
	closeErr error
}

// Send queues a text frame for the next GET.
func (s *lpSession) Send(frame []byte, binary bool) error {
	return s.SendBatch(Frame{Data: frame, Binary: binary})
}

// SendBatch queues text frames for the next GET, all or none of them.
func (s *lpSession) SendBatch(frames ...Frame) error {
	size := 0
	for _, f := range frames {
		if f.Binary {
			return ErrBinaryUnsupportedLongPoll
		}
		size += len(f.Data)
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.bytes+size > s.lp.cfg.BufferSize {
		s.mu.Unlock()
		s.lp.counters.overflows.Add(1)
		s.lp.log.Warn("transport: long-poll buffer overflow, closing the session")
		s.end(ErrOutboxFull)
		return ErrOutboxFull
	}
	for _, f := range frames {
		s.buf = append(s.buf, string(f.Data))
	}
	s.bytes += size
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
	return nil
}

// ErrBinaryUnsupportedLongPoll is returned by Send for a binary frame:
// long-poll answers carry text only.
var ErrBinaryUnsupportedLongPoll = errors.New("transport: long-poll cannot carry binary frames")

// Close ends the session; the client's next request finds it gone (410)
// and makes a new one.
func (s *lpSession) Close(int, string) { s.end(nil) }

// touch records a GET and re-arms the idle timer: a session nobody polls
// for 1.5 windows ends.
func (s *lpSession) touch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastGET = time.Now()
	if s.idle == nil && !s.ended {
		s.idle = time.AfterFunc(s.lp.cfg.Window*3/2, s.checkIdle)
	}
}

func (s *lpSession) checkIdle() {
	s.mu.Lock()
	left := s.lastGET.Add(s.lp.cfg.Window * 3 / 2).Sub(time.Now())
	if left > 0 && !s.ended {
		s.idle.Reset(left)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.end(nil)
}

// end closes the session once: it leaves the transport, its waiting GET is
// answered, and its Session is told, at once or, when one of the Session's
// callbacks is running (end may be called from inside it), as soon as that
// returns.
func (s *lpSession) end(err error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	if s.idle != nil {
		s.idle.Stop()
	}
	close(s.wake)
	busy := s.busy
	if busy {
		s.closeDue, s.closeErr = true, err
	}
	s.mu.Unlock()
	s.lp.mu.Lock()
	delete(s.lp.sessions, s.id)
	s.lp.mu.Unlock()
	s.lp.limit.give()
	if !busy {
		s.session.Closed(err)
	}
}

// enter marks a callback of the Session running, unless the session has
// ended.
func (s *lpSession) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	s.busy = true
	return true
}

// leave marks the callback done and delivers a Closed that came meanwhile.
func (s *lpSession) leave() {
	s.mu.Lock()
	s.busy = false
	due, err := s.closeDue, s.closeErr
	s.closeDue = false
	s.mu.Unlock()
	if due {
		s.session.Closed(err)
	}
}

// call runs a callback of the Session. A panic in it ends this session
// alone, as a crashed Phoenix long-poll session ends.
func (s *lpSession) call(f func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.lp.log.Error("transport: panic in a long-poll session", "panic", r, "stack", string(debug.Stack()))
			s.end(fmt.Errorf("transport: session panicked: %v", r))
			ok = false
		}
	}()
	f()
	return true
}

// receive hands POSTed frames to the Session in order; false if the
// session has ended.
func (s *lpSession) receive(frames []Frame) bool {
	s.recv.Lock() // one POST at a time: its lines stay together, in order
	defer s.recv.Unlock()
	if !s.enter() {
		return false
	}
	defer s.leave()
	for _, f := range frames {
		s.lp.counters.framesIn.Add(1)
		if !s.call(func() { s.session.Receive(f.Data, f.Binary) }) {
			return false
		}
	}
	return true
}

// poll answers a GET: at once with what is buffered, else with the first
// frames to arrive within the window, else 204. A newer GET takes over from
// an older one, which then answers 204.
func (s *lpSession) poll(w http.ResponseWriter, r *http.Request) {
	s.touch()
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		s.lp.status(w, http.StatusGone)
		return
	}
	// Counted under mu, which end holds to set ended: Shutdown's wait
	// never races a new poll.
	s.polls.Add(1)
	defer s.polls.Done()
	s.poller++
	me := s.poller
	s.mu.Unlock()
	timer := time.NewTimer(s.lp.cfg.Window)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.poller != me {
			s.mu.Unlock()
			s.lp.messages(w, http.StatusNoContent, s.token, nil)
			return
		}
		if len(s.buf) > 0 {
			msgs := s.buf
			s.buf, s.bytes = nil, 0
			s.mu.Unlock()
			s.lp.counters.framesOut.Add(uint64(len(msgs)))
			s.lp.messages(w, http.StatusOK, s.token, msgs)
			return
		}
		if s.ended {
			s.mu.Unlock()
			s.lp.status(w, http.StatusGone)
			return
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-timer.C:
			s.lp.messages(w, http.StatusNoContent, s.token, nil)
			return
		case <-r.Context().Done():
			return
		}
	}
}
