package netns

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// enterNetns moves the calling thread into the network namespace bound
// at path.
func enterNetns(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

// flock takes an exclusive flock on f without waiting: false if another
// holds it.
func flock(f *os.File) (bool, error) {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// kill sends pid SIGKILL.
func kill(pid int) { _ = unix.Kill(pid, unix.SIGKILL) }
