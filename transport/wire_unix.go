//go:build unix

package transport

import "golang.org/x/sys/unix"

const canTry = true

// writev writes iov with one writev(2) on a non-blocking socket: it
// returns at once, with what the socket took.
func writev(fd uintptr, iov [][]byte) (int, error) {
	return unix.Writev(int(fd), iov)
}
