package logthrottle

import (
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	th := &Throttle{}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at       time.Duration
		ok       bool
		heldBack uint64
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{9 * time.Second, false, 0},
		{10 * time.Second, true, 2},
		{11 * time.Second, false, 0},
		{25 * time.Second, true, 1},
	}
	for _, s := range steps {
		ok, held := th.Allow(t0.Add(s.at), 10*time.Second)
		if ok != s.ok || held != s.heldBack {
			t.Errorf("Allow at +%v = %v, %d; want %v, %d", s.at, ok, held, s.ok, s.heldBack)
		}
	}
}
