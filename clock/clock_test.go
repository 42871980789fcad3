package clock_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/clock"
)

// Real is the time package's time, virtual inside a synctest bubble.
func TestReal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		if got := clock.Real.Now(); !got.Equal(time.Now()) {
			t.Errorf("Now() = %v, want %v", got, time.Now())
		}
		start := time.Now()
		<-clock.Real.After(time.Minute)
		if waited := time.Since(start); waited != time.Minute {
			t.Errorf("After(1m) fired after %v", waited)
		}
	})
}
