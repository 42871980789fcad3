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
		then := at.Add(time.Hour)
		now := func() time.Time { return then }
		if got := Of(fixed(at), now).Now(); !got.Equal(at) {
			t.Errorf("Clock and Now set: Now() = %v, want the Clock's %v", got, at)
		}
		if got := Of(nil, now).Now(); !got.Equal(then) {
			t.Errorf("only Now set: Now() = %v, want %v", got, then)
		}
		if got := Of(nil, nil).Now(); !got.Equal(time.Now()) {
			t.Errorf("neither set: Now() = %v, want the time package's %v", got, time.Now())
		}
		for _, c := range []any{Of(nil, now), Of(nil, nil)} {
			start := time.Now()
			<-c.(interface {
				After(time.Duration) <-chan time.Time
			}).After(time.Minute)
			if waited := time.Since(start); waited != time.Minute {
				t.Errorf("%T: After(1m) fired after %v", c, waited)
			}
		}
	})
}
