package main

import (
	"context"
	"fmt"
	"path/filepath"
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
