// Package procstat reads what a load test needs to know about a process:
// its CPU time and resident memory, from Linux's /proc for another process
// and from getrusage for the calling one.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat. The kernel
// reports them in USER_HZ, which is 100 on every Linux architecture Go
// supports (sysconf(_SC_CLK_TCK) would need cgo to ask).
const userHZ = 100

// Usage is one reading of a process's resources.
type Usage struct {
	CPU time.Duration // user plus system time, every thread
	RSS int64         // resident memory, bytes; 0 when unknown
}

// ErrFormat is returned for /proc contents that cannot be parsed.
var ErrFormat = errors.New("procstat: unexpected /proc format")

// Read returns the usage of process pid.
func Read(pid int) (Usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Usage{}, err
	}
	cpu, err := ParseStat(stat)
	if err != nil {
		return Usage{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, err
	}
	rss, err := ParseStatusRSS(status)
	if err != nil {
		return Usage{}, err
	}
	return Usage{CPU: cpu, RSS: rss}, nil
}

// ParseStat returns utime + stime from the contents of /proc/<pid>/stat.
// The command name, field 2, is in parentheses and may hold spaces and
// parentheses itself, so the fields are counted from the last ')'.
func ParseStat(b []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, ErrFormat
	}
	// After the name: state (field 3), …, utime (14), stime (15).
	fields := bytes.Fields(b[end+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, ErrFormat
	}
	u, err1 := strconv.ParseUint(string(fields[utime]), 10, 64)
	s, err2 := strconv.ParseUint(string(fields[stime]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, ErrFormat
	}
	return time.Duration(u+s) * (time.Second / userHZ), nil
}

// ParseStatusRSS returns the VmRSS line of /proc/<pid>/status in bytes. A
// zombie or kernel thread has none, which gives 0.
func ParseStatusRSS(b []byte) (int64, error) {
	for line := range bytes.Lines(b) {
		v, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(v)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, ErrFormat
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, ErrFormat
		}
		return kb << 10, nil
	}
	return 0, nil
}

// Self returns the calling process's CPU time (getrusage, microsecond
// resolution) and its peak resident memory.
func Self() Usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return Usage{}
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return Usage{CPU: cpu, RSS: ru.Maxrss << 10} // Maxrss is in KiB on Linux
}
