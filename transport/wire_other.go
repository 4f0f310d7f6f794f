//go:build !unix

package transport

import "errors"

// Elsewhere every frame goes through the outbox's goroutine.
const canTry = false

func writev(uintptr, [][]byte) (int, error) {
	return 0, errors.New("transport: no writev on this system")
}
