package keyshard

import (
	"hash/fnv"
	"testing"
)

// Of agrees with the standard library's FNV-1a, and spreads keys over
// every shard.
func TestOf(t *testing.T) {
	const n = 8
	seen := make([]int, n)
	for i := range 1000 {
		key := "room:" + string(rune('a'+i%26)) + string(rune('0'+i%10)) + string(rune(i))
		h := fnv.New32a()
		_, _ = h.Write([]byte(key))
		want := int(h.Sum32() % n)
		if got := Of(key, n); got != want {
			t.Fatalf("Of(%q) = %d, want %d", key, got, want)
		}
		seen[want]++
	}
	for i, c := range seen {
		if c == 0 {
			t.Errorf("no key in shard %d of %d", i, n)
		}
	}
}
