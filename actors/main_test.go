package actors_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/phxgo/phx/actors"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func actorsConfigUnlimited() actors.Config { return actors.Config{MaxChannels: -1} }
