package ratelimit_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/ratelimit"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := ratelimit.New(3, time.Minute)
	steps := []struct {
		name string
		key  string
		at   time.Duration
		ok   bool
		wait time.Duration
	}{
		{"first", "a", 0, true, 0},
		{"second", "a", time.Second, true, 0},
		{"third", "a", 2 * time.Second, true, 0},
		{"fourth refused", "a", 10 * time.Second, false, 50 * time.Second},
		{"other key unaffected", "b", 10 * time.Second, true, 0},
		{"next window", "a", time.Minute, true, 0},
		{"clock went back: new window", "a", 30 * time.Second, true, 0},
	}
	for _, s := range steps {
		ok, wait := l.Allow(s.key, t0.Add(s.at))
		if ok != s.ok || wait != s.wait {
			t.Errorf("%s: Allow(%q, +%v) = %v, %v; want %v, %v", s.name, s.key, s.at, ok, wait, s.ok, s.wait)
		}
	}
}

func TestLimiter_BoundsKeys(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := ratelimit.New(1, time.Minute)
	for i := range 10000 {
		if ok, _ := l.Allow(fmt.Sprint(i), t0); !ok {
			t.Fatalf("key %d refused below the bound", i)
		}
	}
	if ok, _ := l.Allow("one too many", t0); ok {
		t.Error("a new key was tracked beyond the bound while every window is open")
	}
	if ok, _ := l.Allow("after the windows", t0.Add(time.Minute)); !ok {
		t.Error("finished windows were not swept")
	}
}
