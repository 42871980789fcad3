package clock

import (
	"testing"
	"testing/synctest"
	"time"
)

type fixed time.Time

func (f fixed) Now() time.Time                       { return time.Time(f) }
func (fixed) After(d time.Duration) <-chan time.Time { return time.After(d) }

func TestOf(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		if got := Of(fixed(at)).Now(); !got.Equal(at) {
			t.Errorf("Clock set: Now() = %v, want the Clock's %v", got, at)
		}
		c := Of(nil)
		if got := c.Now(); !got.Equal(time.Now()) {
			t.Errorf("nil: Now() = %v, want the time package's %v", got, time.Now())
		}
		start := time.Now()
		<-c.After(time.Minute)
		if waited := time.Since(start); waited != time.Minute {
			t.Errorf("After(1m) fired after %v", waited)
		}
	})
}
