package actors

import (
	"runtime"
	"sync"
)

// stackBufs hold the buffers panicStack formats a stack into, large
// enough for a callback's stack in one pass. debug.Stack starts at 1 KiB
// and formats the whole stack again each time it doubles: in a storm of
// crashes (hundreds of clients crashing their channels in a loop) its
// three or four passes per crash took a fifth of the server's CPU.
var stackBufs = sync.Pool{New: func() any {
	b := make([]byte, 16<<10)
	return &b
}}

// maxPooledStack is the largest buffer put back in stackBufs: a deep
// stack's buffer is not kept.
const maxPooledStack = 64 << 10

// panicStack returns the calling goroutine's stack, formatted as
// debug.Stack formats it.
func panicStack() []byte {
	bp := stackBufs.Get().(*[]byte)
	for {
		n := runtime.Stack(*bp, false)
		if n < len(*bp) {
			s := append([]byte(nil), (*bp)[:n]...)
			if len(*bp) <= maxPooledStack {
				stackBufs.Put(bp)
			}
			return s
		}
		*bp = make([]byte, 2*len(*bp))
	}
}
