package presence

// CrashShard makes the shard of topic panic.
func CrashShard(t *Tracker, topic string) { t.send(topic, &crash{}) }
