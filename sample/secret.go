package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// secretFileFor is where the token secret is kept when none is given: beside
// the database, so that whoever keeps the history keeps the sessions too.
func secretFileFor(dbPath string) string { return dbPath + ".secret" }

// loadOrCreateSecret returns the secret kept in path, creating the file
// (mode 0600, a random 32-byte key in hex) when it does not exist. With a
// random key made at each start, every open page was refused after a
// restart; kept in a file, tokens live as long as the file does.
func loadOrCreateSecret(path string) (secret string, created bool, err error) {
	if s, err := readSecret(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, false, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", false, err
	}
	secret = hex.EncodeToString(b)
	// Written whole under a temporary name and then linked into place, which
	// fails if the name exists: nodes of `make cluster` starting together on
	// one database never read a half-written file, and all end with the same
	// secret.
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return "", false, fmt.Errorf("creating the secret file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", false, err
	}
	if _, err := tmp.WriteString(secret + "\n"); err != nil {
		tmp.Close()
		return "", false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", false, err
	}
	if err := tmp.Close(); err != nil {
		return "", false, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			s, err := readSecret(path)
			return s, false, err
		}
		return "", false, fmt.Errorf("creating the secret file: %w", err)
	}
	return secret, true, nil
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 20 {
		return "", fmt.Errorf("%s holds %d bytes; a token secret needs at least 20 (delete the file to have a new one made)", path, len(s))
	}
	return s, nil
}
