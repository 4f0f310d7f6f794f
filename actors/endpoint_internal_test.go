package actors

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

// The endpoint's registry of fewer shards still holds what the actor
// system registered before it was swapped in.
func TestCompactRegistryKeepsSystemProcesses(t *testing.T) {
	ep := NewEndpoint(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer func() { _ = ep.Shutdown(context.Background()) }()
	if n := len(ep.system.ProcessRegistry.LocalPIDs.LocalPIDs); n != registryMaps {
		t.Fatalf("registry of %d maps, want %d", n, registryMaps)
	}
	for _, id := range []string{"deadletter", "eventstream"} {
		if _, ok := ep.system.ProcessRegistry.GetLocal(id); !ok {
			t.Errorf("%s is not in the registry", id)
		}
	}
}
