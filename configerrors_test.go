package coord_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/s3coord/coord"
)

// TestConfigErrorsNameWhatWasSet: a broken timing names the fields the
// user set (and says which values are defaults or derived), with values
// rounded to the millisecond.
func TestConfigErrorsNameWhatWasSet(t *testing.T) {
	for _, tc := range []struct {
		cfg  coord.Config
		want []string
		not  []string
	}{
		{coord.Config{HeartbeatInterval: 10 * time.Second, LeaseTimeout: 5 * time.Second},
			[]string{"HeartbeatInterval 10s", "HeartbeatJitter 1s (default)", "RenewDeadline 3.333s (2/3 of LeaseTimeout 5s)", "lengthen LeaseTimeout"},
			[]string{"3.333333333s"}},
		{coord.Config{HeartbeatInterval: 5 * time.Second, RenewDeadline: 5 * time.Second},
			[]string{"HeartbeatInterval 5s", "RenewDeadline 5s", "lengthen RenewDeadline"}, []string{"2/3"}},
		{coord.Config{LeaseTimeout: 4 * time.Second, RenewDeadline: 5 * time.Second},
			[]string{"RenewDeadline: must be less than LeaseTimeout (5s >= 4s)"}, nil},
		{coord.Config{HeartbeatInterval: time.Second / 3, WorkerTimeout: time.Second / 2},
			[]string{"WorkerTimeout 500ms < 2 × HeartbeatInterval 333ms"}, []string{"333333"}},
		{coord.Config{HeartbeatInterval: 15 * time.Second, LeaseTimeout: time.Minute},
			[]string{"WorkerTimeout 20s (default)", "HeartbeatInterval 15s"}, nil},
	} {
		err := tc.cfg.Validate()
		if err == nil {
			t.Errorf("%+v: valid", tc.cfg)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %q does not say %q", tc.cfg, err, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(err.Error(), n) {
				t.Errorf("%+v: %q says %q", tc.cfg, err, n)
			}
		}
	}
}

// TestConfigNameErrorsSayCoordOnce: a bad WorkerID or WorkerMeta key is
// reported once, as the field and the name's rule, without a second
// "coord:" prefix, and errors.Is still finds ErrInvalidName.
func TestConfigNameErrorsSayCoordOnce(t *testing.T) {
	for _, tc := range []struct {
		cfg  coord.Config
		want string
	}{
		{coord.Config{WorkerID: "..x"}, `coord: invalid config: WorkerID: invalid worker id "..x": starts with '.'`},
		{coord.Config{WorkerMeta: map[string]string{"a..b": "v"}}, `coord: invalid config: WorkerMeta: invalid meta key "a..b": contains ".."`},
	} {
		err := tc.cfg.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("Validate() = %v, want %s", err, tc.want)
		}
		if !errors.Is(err, coord.ErrInvalidName) || !errors.Is(err, coord.ErrInvalidConfig) {
			t.Errorf("Validate() = %v: errors.Is(ErrInvalidName) and errors.Is(ErrInvalidConfig) must both hold", err)
		}
	}
}
