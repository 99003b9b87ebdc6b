// Package waitfor polls a condition in a test until it holds, failing the
// test when a guard timeout passes first. The timeout is a failure guard,
// never a speed assertion: a condition that holds returns at the next poll.
package waitfor

import (
	"testing"
	"time"
)

// The defaults of the zero Poll.
const (
	DefaultTimeout  = 10 * time.Second
	DefaultInterval = 10 * time.Millisecond
)

// Poll is how to poll: Timeout is the failure guard and Interval the pause
// between checks; zero fields take the defaults.
type Poll struct {
	Timeout  time.Duration
	Interval time.Duration
}

func (p Poll) timeout() time.Duration {
	if p.Timeout <= 0 {
		return DefaultTimeout
	}
	return p.Timeout
}

func (p Poll) interval() time.Duration {
	if p.Interval <= 0 {
		return DefaultInterval
	}
	return p.Interval
}

// True polls cond until it returns true, or fails the test with
// "timed out waiting for <what>".
func (p Poll) True(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(p.timeout())
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(p.interval())
	}
}

// NoError polls check until it returns nil, or fails the test with what
// and check's last error.
func (p Poll) NoError(t testing.TB, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(p.timeout())
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, p.timeout(), err)
		}
		time.Sleep(p.interval())
	}
}

// True is Poll{}.True: cond polled every DefaultInterval for up to
// DefaultTimeout.
func True(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Poll{}.True(t, what, cond)
}

// NoError is Poll{}.NoError: check polled every DefaultInterval for up to
// DefaultTimeout.
func NoError(t testing.TB, what string, check func() error) {
	t.Helper()
	Poll{}.NoError(t, what, check)
}
