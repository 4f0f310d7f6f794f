package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite" // the pure-Go SQLite driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Message is one stored chat message, as clients see it.
type Message struct {
	ID         int64  `json:"id"`
	Body       string `json:"body"`
	UserID     string `json:"user_id"`
	InsertedAt string `json:"inserted_at"`
}

// historySize is how many messages a joiner gets.
const historySize = 50

// readConns is how many connections serve History. WAL lets them read
// while the writer writes.
const readConns = 4

// maxBatch bounds the inserts the writer commits in one transaction.
const maxBatch = 64

// Store keeps the rooms' messages in an SQLite file.
//
// Reads and writes do not share a connection. With one connection for
// both, a storm of joins elsewhere (each join reads a room's history, and
// a channel that crashes joins again) queued the inserts of healthy rooms
// behind its reads, and database/sql hands a freed connection to any
// waiter, not the first, so some inserts waited past their deadline.
// Reads go to a pool of readConns connections; inserts to one writer
// goroutine, in the order they were asked for, several to a transaction
// when they come faster than a commit.
type Store struct {
	read  *sql.DB
	write *sql.DB
	// history is History's query, prepared once: parsing it for every
	// join took a quarter of the server's CPU in a storm of crashes, each
	// followed by a join again.
	history *sql.Stmt
	now     func() time.Time

	inserts chan *insertReq
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once

	// reads coalesces History: at most one query per room runs, and the
	// callers that come meanwhile share the next one.
	readMu    sync.Mutex
	reads     map[string]*roomRead // guarded by readMu
	readsShut bool                 // guarded by readMu: Close has begun
	readers   sync.WaitGroup       // the goroutines running queries
	readCtx   context.Context      // ends at Close
	stopRead  context.CancelFunc
	// historyQueries counts the queries of a room's history run.
	historyQueries atomic.Int64
}

// roomRead is a room's history being read, and the read to follow it.
type roomRead struct {
	next *historyRead // the read the callers that came since the current one began wait for
}

// historyRead is one query of a room's history, shared by its callers.
type historyRead struct {
	done chan struct{} // closed once msgs and err are set
	msgs []Message
	err  error
}

type insertReq struct {
	ctx    context.Context
	m      Message
	room   string
	result chan error // buffered: the writer never waits for the caller
}

// ErrClosed is returned by Insert once the store is closed.
var ErrClosed = errors.New("store: closed")

func dsn(path string, pragmas ...string) string {
	d := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)"
	for _, p := range pragmas {
		d += "&_pragma=" + p
	}
	return d
}

// openTimeout bounds how long OpenStore keeps trying to set up a
// database that other nodes are setting up at the same moment.
const openTimeout = 30 * time.Second

const schema = `CREATE TABLE IF NOT EXISTS messages (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	room TEXT NOT NULL,
	body TEXT NOT NULL,
	user_id TEXT NOT NULL,
	inserted_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_room_id ON messages (room, id);`

// OpenStore opens (creating if needed) the database at path.
func OpenStore(path string) (*Store, error) {
	return openStore(path, openTimeout)
}

// openStore is OpenStore, giving up on a busy database after timeout.
func openStore(path string, timeout time.Duration) (*Store, error) {
	// WAL with synchronous=NORMAL: a write costs tens of microseconds, so
	// channels can store a message inside their callback.
	write, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, err
	}
	// One writer connection: SQLite has one writer anyway.
	write.SetMaxOpenConns(1)
	// Several nodes may start at once on one fresh file (a cluster on one
	// machine sharing chat.db), and busy_timeout does not cover all of
	// their setup. The first Exec opens the writer's connection, which
	// runs the DSN's pragmas: journal_mode(WAL) on a fresh file reads the
	// header under a shared lock and then takes the write lock to mark
	// the file WAL. If another node holds the write lock then (it is
	// making the same switch), SQLite returns SQLITE_BUSY at once instead
	// of waiting: waiting while holding the shared lock could deadlock
	// the two. The failed attempt has let go of its locks (database/sql
	// discards a connection whose pragmas failed), so trying again, a
	// little later, once the other node is done, succeeds: the switch is
	// then a no-op and the schema's IF NOT EXISTS skips what the other
	// made. So retry on SQLITE_BUSY/SQLITE_LOCKED, with a short jittered
	// backoff, until timeout; past it, fail with an error that says so.
	if err := retryBusy(timeout, func() error {
		_, err := write.Exec(schema)
		return err
	}); err != nil {
		write.Close()
		return nil, fmt.Errorf("creating schema in %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", dsn(path, "query_only(1)"))
	if err != nil {
		write.Close()
		return nil, err
	}
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)
	history, err := read.Prepare(historyQuery)
	if err != nil {
		read.Close()
		write.Close()
		return nil, err
	}
	s := &Store{
		read: read, write: write, history: history, now: time.Now,
		inserts: make(chan *insertReq, 1024), quit: make(chan struct{}), done: make(chan struct{}),
		reads: make(map[string]*roomRead),
	}
	s.readCtx, s.stopRead = context.WithCancel(context.Background())
	go s.writer()
	return s, nil
}

// retryBusy runs f until it returns anything but SQLITE_BUSY or
// SQLITE_LOCKED, or until timeout has passed: then it returns f's last
// error, saying how long it tried. An attempt can itself wait up to the
// DSN's busy_timeout, so it returns at most that long after timeout.
func retryBusy(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	backoff := time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f()
		if !isBusy(err) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("database still busy after %v (%d attempts): %w", timeout, attempt, err)
		}
		// Jitter, so nodes that collided do not collide again in step.
		time.Sleep(backoff/2 + rand.N(backoff/2+1))
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED
// (or one of their extended codes).
func isBusy(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	code := e.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

// Close stops the writer, once the inserts it has taken are done, and
// closes the database.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.quit) })
	<-s.done
	s.readMu.Lock()
	s.readsShut = true
	s.readMu.Unlock()
	s.stopRead()
	s.readers.Wait()
	return errors.Join(s.history.Close(), s.read.Close(), s.write.Close())
}

// Insert stores a message in room and returns it with its id and time.
func (s *Store) Insert(ctx context.Context, room, userID, body string) (Message, error) {
	req := &insertReq{
		ctx: ctx, room: room, result: make(chan error, 1),
		m: Message{Body: body, UserID: userID, InsertedAt: s.now().UTC().Format("2006-01-02T15:04:05.000Z")},
	}
	select {
	case s.inserts <- req:
	case <-s.quit:
		return Message{}, ErrClosed
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
	select {
	case err := <-req.result:
		return req.m, err
	case <-ctx.Done():
		// The writer may still store it; the caller is told it was not.
		return Message{}, ctx.Err()
	}
}

// writer runs the inserts in the order they were asked for, as many as
// are waiting in one transaction: one commit (one WAL sync) for a crowd.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*insertReq, 0, maxBatch)
	for {
		select {
		case r := <-s.inserts:
			batch = append(batch[:0], r)
		case <-s.quit:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-s.inserts:
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.commit(batch)
		clear(batch)
	}
}

func (s *Store) commit(batch []*insertReq) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.result <- err // its caller has given up: not stored
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	err := s.insertAll(live)
	for _, r := range live {
		r.result <- err
	}
}

func (s *Store) insertAll(batch []*insertReq) error {
	tx, err := s.write.Begin()
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.Prepare(`INSERT INTO messages (room, body, user_id, inserted_at) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, r := range batch {
		res, err := stmt.Exec(r.room, r.m.Body, r.m.UserID, r.m.InsertedAt)
		if err != nil {
			return err
		}
		if r.m.ID, err = res.LastInsertId(); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const historyQuery = `SELECT id, body, user_id, inserted_at FROM
	(SELECT id, body, user_id, inserted_at FROM messages WHERE room = ? ORDER BY id DESC LIMIT ?)
	ORDER BY id`

// History returns the last historySize messages of room, oldest first.
// The slice is shared with other callers: do not modify it.
//
// Each room has at most one query running. The callers that come while
// one runs wait for the next, which starts as soon as it ends and answers
// them all: its read begins after each of their calls, so none misses a
// message stored before it asked. A reconnect storm rejoins a room's
// members at once, and one query per member, on the few read connections,
// had the joins of a 19,000-client storm wait past their 5 s.
func (s *Store) History(ctx context.Context, room string) ([]Message, error) {
	s.readMu.Lock()
	if s.readsShut {
		s.readMu.Unlock()
		return nil, ErrClosed
	}
	r := s.reads[room]
	if r == nil {
		// No query of room is running: this caller starts one.
		h := &historyRead{done: make(chan struct{})}
		s.reads[room] = &roomRead{}
		s.readers.Add(1)
		go s.readHistory(room, h)
		s.readMu.Unlock()
		return h.wait(ctx)
	}
	if r.next == nil {
		r.next = &historyRead{done: make(chan struct{})}
	}
	h := r.next
	s.readMu.Unlock()
	return h.wait(ctx)
}

func (h *historyRead) wait(ctx context.Context) ([]Message, error) {
	select {
	case <-h.done:
		return h.msgs, h.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// readHistory runs h, then the reads that callers asked for meanwhile,
// until none is waiting.
func (s *Store) readHistory(room string, h *historyRead) {
	defer s.readers.Done()
	for {
		h.msgs, h.err = s.queryHistory(room)
		close(h.done)
		s.readMu.Lock()
		r := s.reads[room]
		h, r.next = r.next, nil
		if h == nil {
			delete(s.reads, room)
			s.readMu.Unlock()
			return
		}
		s.readMu.Unlock()
	}
}

// readTimeout bounds one query of a room's history.
const readTimeout = 5 * time.Second

func (s *Store) queryHistory(room string) ([]Message, error) {
	s.historyQueries.Add(1)
	ctx, cancel := context.WithTimeout(s.readCtx, readTimeout)
	defer cancel()
	rows, err := s.history.QueryContext(ctx, room, historySize)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	msgs := []Message{}
	for rows.Next() {
		var m Message
		if err := rows.Scan(&m.ID, &m.Body, &m.UserID, &m.InsertedAt); err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, rows.Err()
}
