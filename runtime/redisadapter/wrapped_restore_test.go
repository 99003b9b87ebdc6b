package redisadapter

import (
	"testing"

	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// wrappedAdapter wraps an adapter as the runtime's metrics do
// (metrics.CountBroadcasts): it embeds the socketio.Adapter interface, so
// it hides the optional interfaces of the adapter it wraps, and says what
// it wraps with Unwrap.
type wrappedAdapter struct{ socketio.Adapter }

func (w *wrappedAdapter) Unwrap() socketio.Adapter { return w.Adapter }

// TestWrappedAdapterCatchesUp: with the streams adapter behind a wrapper
// (the runtime counts broadcasts that way), a broadcast added between the
// restore's read and the restored socket joining its rooms still reaches
// it: the namespace finds the adapter's SessionCatchUp through Unwrap. It
// used to be lost: one tick missed around a recovered move in the fleet.
func TestWrappedAdapterCatchesUp(t *testing.T) {
	st := newRestoreSetup(t, func(a socketio.Adapter) socketio.Adapter { return &wrappedAdapter{Adapter: a} })
	// Between the restore's read and the join: tick 2, delivered on B by its
	// stream reader before the restored socket is in its room.
	var tick2 string
	st.hook.after = func() {
		if err := st.a.srv.Of("/").To("red").Emit("tick", 2); err != nil {
			t.Error(err)
		}
		tick2 = offsetOf(t, next(t, st.observer))
	}
	c2 := st.reconnect(t)
	c2.Expect(t, `42["tick",2,"`+tick2+`"]`)
	if err := st.a.srv.Of("/").To("red").Emit("tick", 3); err != nil {
		t.Fatal(err)
	}
	tick3 := offsetOf(t, next(t, st.observer))
	c2.Expect(t, `42["tick",3,"`+tick3+`"]`)
}
