package redisadapter

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketfleet/socketfleet/internal/redisserver"
	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/internal/waitfor"
	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// wrappedAdapter wraps an adapter as the runtime's metrics do
// (metrics.CountBroadcasts): it embeds the socketio.Adapter interface, so
// it hides the optional interfaces of the adapter it wraps, and says what
// it wraps with Unwrap.
type wrappedAdapter struct{ socketio.Adapter }

func (w *wrappedAdapter) Unwrap() socketio.Adapter { return w.Adapter }

// hookAfterRestore runs after a successful RestoreSession of the wrapped
// streams adapter (before the socket joins its rooms).
type hookAfterRestore struct {
	*StreamsAdapter
	after func()
}

func (h *hookAfterRestore) RestoreSession(ctx context.Context, pid, offset string) (*socketio.SessionState, []*parser.Packet, error) {
	st, pkts, err := h.StreamsAdapter.RestoreSession(ctx, pid, offset)
	if st != nil && h.after != nil {
		h.after()
		h.after = nil
	}
	return st, pkts, err
}

// TestWrappedAdapterCatchesUp: with the streams adapter behind a wrapper
// (the runtime counts broadcasts that way), a broadcast added between the
// restore's read and the restored socket joining its rooms still reaches
// it: the namespace finds the adapter's SessionCatchUp through Unwrap. It
// used to be lost: one tick missed around a recovered move in the fleet.
func TestWrappedAdapterCatchesUp(t *testing.T) {
	r := redisserver.Start(t, "")
	a := recoveryNode(t, r.Addr)
	ctx := context.Background()

	rdb := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: 1, DialTimeout: time.Second})
	cluster := NewStreams(rdb, StreamsOptions{RequestsTimeout: 2 * time.Second})
	var hook *hookAfterRestore
	opts := recovery
	opts.Adapter = func(nsp *socketio.Namespace) socketio.Adapter {
		hook = &hookAfterRestore{StreamsAdapter: cluster.Adapter(nsp).(*StreamsAdapter)}
		return &wrappedAdapter{Adapter: hook}
	}
	bsrv := socketio.NewServer(opts)
	bsrv.Of("/").OnConnection(func(s *socketio.Socket) {
		if room := s.Handshake().Query.Get("room"); room != "" && !s.Recovered() {
			s.Join(room)
		}
	})
	bhttp := httptest.NewServer(bsrv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		_ = bsrv.Close(ctx)
		bhttp.Close()
		_ = cluster.Close()
		_ = rdb.Close()
	})
	waitfor.True(t, "both servers subscribed", func() bool {
		n, err := a.srv.Of("/").Adapter().ServerCount(ctx)
		return err == nil && n == 2
	})

	c1, err := sioclient.ConnectContext(ctx, a.http.URL, sioclient.Options{Query: "room=red"})
	if err != nil {
		t.Fatal(err)
	}
	observer := sioclient.Connect(t, bhttp.URL, "room=red")
	if err := a.srv.Of("/").To("red").Emit("tick", 1); err != nil {
		t.Fatal(err)
	}
	offset := offsetOf(t, next(t, c1))
	next(t, observer)
	c1.Close()
	waitfor.True(t, "session persisted", func() bool {
		n, err := rdb.Exists(ctx, "sio:session:"+c1.PID).Result()
		return err == nil && n == 1
	})
	// Between the restore's read and the join: tick 2, delivered on B by its
	// stream reader before the restored socket is in its room.
	var tick2 string
	hook.after = func() {
		if err := a.srv.Of("/").To("red").Emit("tick", 2); err != nil {
			t.Error(err)
		}
		tick2 = offsetOf(t, next(t, observer))
	}
	c2, err := sioclient.ConnectContext(ctx, bhttp.URL, sioclient.Options{Auth: map[string]string{"pid": c1.PID, "offset": offset}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.ID != c1.ID {
		t.Fatal("not recovered")
	}
	c2.Expect(t, `42["tick",2,"`+tick2+`"]`)
	if err := a.srv.Of("/").To("red").Emit("tick", 3); err != nil {
		t.Fatal(err)
	}
	tick3 := offsetOf(t, next(t, observer))
	c2.Expect(t, `42["tick",3,"`+tick3+`"]`)
}
