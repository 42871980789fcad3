package coord_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

type wrongLead struct{}

func (wrongLead) Lead(ctx context.Context) error { return nil } // no Term

type pointerLead struct{}

func (*pointerLead) Lead(ctx context.Context, _ plugin.Term) error { return nil }

type zeroInterval struct{}

func (zeroInterval) Interval() int { return 0 }

type noInterval struct{}

func (noInterval) Interval() (d0 int64) { return }

// TestUseRejectsWhatIsNoPlugin: a value coord could do nothing with, or
// one with a method named like an ability but of another signature, is an
// error from Use naming what it expected; nothing is registered.
func TestUseRejectsWhatIsNoPlugin(t *testing.T) {
	h, err := coord.NewHub(mem.New(mem.Options{}), coord.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	var nilFunc *plugin.Func
	for _, tc := range []struct {
		name    string
		p       plugin.Plugin
		mention string
	}{
		{"nil", nil, "nil"},
		{"nil-pointer", nilFunc, "nil"},
		{"empty-func", plugin.Func{}, "no field set"},
		{"empty-func-pointer", &plugin.Func{}, "no field set"},
		{"every-without-tick", plugin.Func{Every: 5}, "no field set"},
		{"struct", struct{ X int }{}, "want Lead(context.Context, plugin.Term) error"},
		{"wrong-signature", wrongLead{}, "method Lead of type func(context.Context) error"},
		{"value-of-pointer-methods", pointerLead{}, "pass a pointer"},
		{"wrong-interval", zeroInterval{}, "method Interval of type func() int"},
		{"wrong-interval-2", noInterval{}, "method Interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := h.Use(t.Context(), "p", tc.p, coord.UseOptions{})
			if !errors.Is(err, plugin.ErrNoAbilities) || sub != nil || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("Use: %v, %v; want plugin.ErrNoAbilities mentioning %q", sub, err, tc.mention)
			}
		})
	}
	if n := len(h.Coordinators()); n != 0 {
		t.Errorf("%d coordinators after rejected Use calls", n)
	}
	// The right ones are accepted: a pointer with pointer methods, a
	// Func with a field set, by value or by pointer.
	for i, p := range []plugin.Plugin{&pointerLead{}, plugin.Func{OnLead: plugin.Idle}, &plugin.Func{OnChange: func(plugin.Change) {}}} {
		if _, err := h.Use(context.Background(), "ok"+string(rune('a'+i)), p, coord.UseOptions{}); err != nil {
			t.Errorf("Use(%T): %v", p, err)
		}
	}
}
