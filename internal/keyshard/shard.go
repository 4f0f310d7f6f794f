// Package keyshard picks which of n shards a key belongs to, the same way
// wherever keys are spread: the topic registry, the presence tracker and
// the channels' handoffs.
package keyshard

// Of returns key's shard among n, by the key's FNV-1a hash: computed
// inline, since hash/fnv's hasher would escape to the heap on every call.
func Of(key string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}
