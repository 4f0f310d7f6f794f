package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenStore(filepath.Join(t.TempDir(), "chat.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// Inserts from many rooms at once are all stored, each room's in the
// order its channel made them, and read back as history.
func TestStoreConcurrentInserts(t *testing.T) {
	s := openTestStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				if _, err := s.Insert(ctx, fmt.Sprintf("room:%d", r), "ann", fmt.Sprint(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for r := range 8 {
		h, err := s.History(ctx, fmt.Sprintf("room:%d", r))
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 40 || h[0].Body != "0" || h[39].Body != "39" {
			t.Fatalf("room:%d history: %d messages, %v … %v", r, len(h), h[0], h[len(h)-1])
		}
	}
}

// Writes do not wait for reads: with every read connection held by a
// query still open, an insert is stored at once.
func TestStoreWritesDoNotQueueBehindReads(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if _, err := s.Insert(ctx, "room:a", "ann", "first"); err != nil {
		t.Fatal(err)
	}
	for range readConns {
		rows, err := s.read.QueryContext(ctx, `SELECT id FROM messages`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	m, err := s.Insert(short, "room:b", "bob", "while every reader is busy")
	if err != nil || m.ID != 2 {
		t.Fatalf("insert with the readers busy: %+v, %v", m, err)
	}
}

// openerRounds is how many fresh databases the concurrent-open tests
// start a crowd of openers on. One round alone seldom catches the race:
// before the fix about one round in fifty failed with goroutines, one in
// ten with processes; TestStoreOpenWaitsForAnotherNodesSetup shows the
// cause every time.
const openerRounds = 40

// Many nodes started at once on one fresh database file (a cluster on
// one machine sharing chat.db) each open their own store, that is their
// own connections: none fails with SQLITE_BUSY switching the file to WAL
// or creating the schema, and every one can then store a message.
func TestStoreConcurrentOpenFreshFile(t *testing.T) {
	const openers = 16
	for round := range openerRounds {
		path := filepath.Join(t.TempDir(), "chat.db")
		start := make(chan struct{})
		errs := make(chan error, openers)
		var wg sync.WaitGroup
		for range openers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs <- openInsertClose(path)
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d of %d: %v", round+1, openerRounds, err)
			}
		}
	}
}

func openInsertClose(path string) error {
	s, err := OpenStore(path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mode string
	if err = s.write.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err == nil && mode != "wal" {
		err = fmt.Errorf("journal_mode %q, not wal", mode)
	}
	if err == nil {
		_, err = s.Insert(ctx, "room:a", "ann", "hi")
	}
	return errors.Join(err, s.Close())
}

// holdWriteLock opens path as a bare SQLite file (no WAL, no busy
// timeout) and holds its write lock, as a node does midway through
// switching a fresh file to WAL, until the returned func is called.
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if _, err := c.ExecContext(context.Background(), `ROLLBACK`); err != nil {
				t.Error(err)
			}
			c.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// Opening a fresh file while another node holds its write lock (it is
// switching the file to WAL) waits for that node, as busy_timeout
// promises, rather than failing at once with SQLITE_BUSY (SQLite does
// not call the busy handler for this upgrade).
func TestStoreOpenWaitsForAnotherNodesSetup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	release := holdWriteLock(t, path)
	time.AfterFunc(200*time.Millisecond, release)
	if err := openInsertClose(path); err != nil {
		t.Fatal(err)
	}
}

// A database that stays busy fails the open with an error that says so,
// soon after the timeout: the open never hangs.
func TestStoreOpenGivesUpOnBusyDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	holdWriteLock(t, path)
	start := time.Now()
	s, err := openStore(path, 300*time.Millisecond)
	took := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatal("opened a database another connection holds locked")
	}
	if !isBusy(err) || !strings.Contains(err.Error(), "still busy after 300ms") {
		t.Errorf("error %q: want SQLITE_BUSY, saying how long it tried", err)
	}
	if took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("gave up after %v, want soon after 300ms", took)
	}
}

// storeOpenerEnv makes the test binary a child node for
// TestStoreConcurrentOpenProcesses: it says it is ready, waits for its
// go (stdin closed), opens the store at the path the variable names,
// stores a message and exits, non-zero with the error on stderr if any
// of that failed.
const storeOpenerEnv = "PHX_STORE_OPENER"

func TestStoreOpenerChild(t *testing.T) {
	path := os.Getenv(storeOpenerEnv)
	if path == "" {
		t.Skip("a child node of TestStoreConcurrentOpenProcesses")
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin) // wait for the go
	if err := openInsertClose(path); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// As TestStoreConcurrentOpenFreshFile, with each node its own process,
// as the sample's cluster runs: SQLite's file locks are then the
// operating system's, between processes.
func TestStoreConcurrentOpenProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts many processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const nodes = 8
	rounds := openerRounds / 4
	for round := range rounds {
		path := filepath.Join(t.TempDir(), "chat.db")
		cmds := make([]*exec.Cmd, nodes)
		gos := make([]io.Closer, nodes)
		readies := make([]io.Reader, nodes)
		outs := make([]*strings.Builder, nodes)
		for i := range cmds {
			cmd := exec.Command(exe, "-test.run=^TestStoreOpenerChild$")
			cmd.Env = append(os.Environ(), storeOpenerEnv+"="+path,
				// A -race child otherwise sleeps a second as it exits.
				"GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
			outs[i] = new(strings.Builder)
			cmd.Stderr = outs[i]
			if gos[i], err = cmd.StdinPipe(); err != nil {
				t.Fatal(err)
			}
			if readies[i], err = cmd.StdoutPipe(); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds[i] = cmd
			t.Cleanup(func() { cmd.Process.Kill() }) // if the test stops early
		}
		// Wait for every node to be ready, then start them all at once.
		for i, r := range readies {
			line, err := bufio.NewReader(r).ReadString('\n')
			if line != "ready\n" {
				t.Fatalf("node %d: %q, %v", i, line, err)
			}
		}
		for _, g := range gos {
			g.Close()
		}
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Errorf("round %d of %d, node %d: %v: %s", round+1, rounds, i, err, outs[i])
			}
		}
		if t.Failed() {
			return
		}
	}
}

// The joins of a crowd share the reads of their room's history: callers
// that come while a query runs wait for one more, not one each.
func TestStoreHistoryReadsCoalesce(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if _, err := s.Insert(ctx, "room:a", "ann", "hello"); err != nil {
		t.Fatal(err)
	}
	// Every read connection held: the first query waits for one, and
	// the callers after it queue behind it.
	held := make([]*sql.Rows, 0, readConns)
	for range readConns {
		rows, err := s.read.QueryContext(ctx, `SELECT id FROM messages`)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, rows)
	}
	const callers = 200
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := s.History(ctx, "room:a")
			if err == nil && (len(h) != 1 || h[0].Body != "hello") {
				err = fmt.Errorf("history %+v", h)
			}
			errs <- err
		}()
	}
	// Once the first query is waiting, the others have had time to queue;
	// whether they did or not, the count below holds.
	for s.historyQueries.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for _, rows := range held {
		rows.Close()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := s.historyQueries.Load(); n >= callers/2 {
		t.Fatalf("%d callers made %d queries", callers, n)
	}
}

// A shared read never answers a caller with what was read before it
// asked: each caller finds the message it stored just before, while
// others store and read the same room.
func TestStoreHistorySeesWhatWasStoredBefore(t *testing.T) {
	s := openTestStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				m, err := s.Insert(ctx, "room:busy", "ann", fmt.Sprintf("%d-%d", w, i))
				if err != nil {
					errs <- err
					return
				}
				h, err := s.History(ctx, "room:busy")
				if err != nil {
					errs <- err
					return
				}
				if !slices.ContainsFunc(h, func(got Message) bool { return got.ID == m.ID }) {
					errs <- fmt.Errorf("message %d (%q) stored, then not in the history read after it", m.ID, m.Body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestStoreHistoryAfterClose(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "chat.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.History(context.Background(), "room:a"); !errors.Is(err, ErrClosed) {
		t.Fatalf("History after Close: %v, want ErrClosed", err)
	}
}
