package procstat

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"18065 (cat) R 18063 18063 12558 0 -1 4194304 99 0 0 0 7 3 0 0 20 0 1 0 432362 3133440 362 18446744073709551615", 100 * time.Millisecond},
		// A command name with spaces and a ')' of its own.
		{"42 (a b) c)) S 1 1 1 0 -1 0 0 0 0 0 1234 566 0 0 20 0 9 0 1 1 1", 18 * time.Second},
	}
	for _, tt := range tests {
		got, err := ParseStat([]byte(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("ParseStat(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "1 (x) R 2 3", "1 (x) R 1 1 1 0 -1 0 0 0 0 0 a 1 0"} {
		if _, err := ParseStat([]byte(in)); err == nil {
			t.Errorf("ParseStat(%q) succeeded", in)
		}
	}
}

func TestParseStatusRSS(t *testing.T) {
	status := "Name:\tsample\nVmPeak:\t  999 kB\nVmRSS:\t    1992 kB\nThreads:\t1\n"
	if got, err := ParseStatusRSS([]byte(status)); err != nil || got != 1992<<10 {
		t.Errorf("ParseStatusRSS = %d, %v", got, err)
	}
	if got, err := ParseStatusRSS([]byte("Name:\tkthreadd\n")); err != nil || got != 0 {
		t.Errorf("ParseStatusRSS without VmRSS = %d, %v", got, err)
	}
	if _, err := ParseStatusRSS([]byte("VmRSS:\t12 MB\n")); err == nil {
		t.Error("ParseStatusRSS accepted another unit")
	}
}

func TestReadSelf(t *testing.T) {
	u, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSS <= 0 || u.CPU < 0 {
		t.Errorf("Read(self) = %+v", u)
	}
	if s := Self(); s.CPU <= 0 || s.RSS <= 0 {
		t.Errorf("Self() = %+v", s)
	}
}
