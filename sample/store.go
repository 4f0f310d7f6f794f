package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver
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

// Store keeps the rooms' messages in an SQLite file.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// OpenStore opens (creating if needed) the database at path.
func OpenStore(path string) (*Store, error) {
	// WAL with synchronous=NORMAL: a write costs tens of microseconds, so
	// channels can store a message inside their callback.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	// One connection: SQLite has one writer anyway, and this keeps the
	// order of inserts the order of calls.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS messages (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		room TEXT NOT NULL,
		body TEXT NOT NULL,
		user_id TEXT NOT NULL,
		inserted_at TEXT NOT NULL
	);
	CREATE INDEX IF NOT EXISTS messages_room_id ON messages (room, id);`); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating schema in %s: %w", path, err)
	}
	return &Store{db: db, now: time.Now}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Insert stores a message in room and returns it with its id and time.
func (s *Store) Insert(ctx context.Context, room, userID, body string) (Message, error) {
	m := Message{Body: body, UserID: userID, InsertedAt: s.now().UTC().Format("2006-01-02T15:04:05.000Z")}
	res, err := s.db.ExecContext(ctx, `INSERT INTO messages (room, body, user_id, inserted_at) VALUES (?, ?, ?, ?)`,
		room, body, userID, m.InsertedAt)
	if err != nil {
		return Message{}, err
	}
	m.ID, err = res.LastInsertId()
	return m, err
}

// History returns the last historySize messages of room, oldest first.
func (s *Store) History(ctx context.Context, room string) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, body, user_id, inserted_at FROM
		(SELECT id, body, user_id, inserted_at FROM messages WHERE room = ? ORDER BY id DESC LIMIT ?)
		ORDER BY id`, room, historySize)
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
