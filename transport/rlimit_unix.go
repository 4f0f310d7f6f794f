//go:build unix

package transport

import "syscall"

// openFileLimit is the soft RLIMIT_NOFILE, or 0 if it cannot be read.
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur > 1<<31 {
		return 0
	}
	return int(rl.Cur)
}
