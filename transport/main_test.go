package transport_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine outlives the tests: the transport
// promises that every goroutine it starts has an owner that waits for it
// (read loops, outbox flushers), and Shutdown must leave nothing behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
