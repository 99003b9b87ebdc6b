package waitfor_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/internal/waitfor"
)

func TestTrueReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	waitfor.True(t, "three polls", func() bool { return n.Add(1) == 3 })
	if n.Load() != 3 {
		t.Fatalf("polled %d times", n.Load())
	}
}

func TestNoErrorReturnsOnceCheckPasses(t *testing.T) {
	var n atomic.Int32
	waitfor.NoError(t, "three polls", func() error {
		if n.Add(1) < 3 {
			return errors.New("not yet")
		}
		return nil
	})
}

// recorder is a testing.TB that records Fatalf instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = format
	panic(r)
}

func fails(t *testing.T, f func(testing.TB)) string {
	t.Helper()
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != any(r) {
				panic(p)
			}
		}()
		f(r)
	}()
	return r.failed
}

func TestTimeoutFailsTheTest(t *testing.T) {
	p := waitfor.Poll{Timeout: 20 * time.Millisecond, Interval: time.Millisecond}
	if got := fails(t, func(tb testing.TB) { p.True(tb, "never", func() bool { return false }) }); got == "" {
		t.Fatal("True did not fail")
	}
	if got := fails(t, func(tb testing.TB) { p.NoError(tb, "never", func() error { return errors.New("no") }) }); got == "" {
		t.Fatal("NoError did not fail")
	}
}
