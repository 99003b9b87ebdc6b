package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketfleet/socketfleet/internal/redisserver"
	"github.com/socketfleet/socketfleet/internal/waitfor"
)

// TestPublishSkipsWhileTheLinkIsDown: after a failed publish, the next
// ones within publishRetryAfter fail at once without touching Redis; then
// one tests the link again, and a success or a Ping answer reopens it.
func TestPublishSkipsWhileTheLinkIsDown(t *testing.T) {
	l := newLink[*Adapter](nil, slog.New(slog.DiscardHandler), time.Second, OutboxOptions{}, 0)
	ctx := context.Background()
	down := errors.New("connection refused")
	calls := 0
	send := func(err error) func(context.Context) error {
		return func(context.Context) error { calls++; return err }
	}
	steps := []struct {
		name      string
		before    func()
		send      error
		wantErr   error // nil: success
		wantCalls int
	}{
		{"first failure reaches Redis", nil, down, down, 1},
		{"skipped right after", nil, nil, ErrLinkDown, 1},
		{"skipped again", nil, nil, ErrLinkDown, 1},
		{"one try after the window, failing", func() { l.failedAt.Add(-int64(publishRetryAfter)) }, down, down, 2},
		{"skipped after that try", nil, nil, ErrLinkDown, 2},
		{"a try after the window succeeds", func() { l.failedAt.Add(-int64(publishRetryAfter)) }, nil, nil, 3},
		{"open again", nil, nil, nil, 4},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		err := l.publish(ctx, "socket.io#/#", send(s.send))
		if (s.wantErr == nil) != (err == nil) || (s.wantErr != nil && !errors.Is(err, s.wantErr)) {
			t.Fatalf("%s: error %v, want %v", s.name, err, s.wantErr)
		}
		if calls != s.wantCalls {
			t.Fatalf("%s: Redis called %d times, want %d", s.name, calls, s.wantCalls)
		}
	}
}

// TestBroadcastsWaitForRedis: broadcasts sent while Redis is away reach the
// local clients at once, and the other server's clients once Redis is back,
// in order, each once (the outbox); later broadcasts come after them.
func TestBroadcastsWaitForRedis(t *testing.T) {
	for _, v := range variants {
		t.Run(v, func(t *testing.T) { testBroadcastsWaitForRedis(t, v) })
	}
}

func testBroadcastsWaitForRedis(t *testing.T, variant string) {
	r, a, _, onA, onB := twoLinkedNodes(t, variant)
	tick := func(n int) string { return fmt.Sprintf(`42["tick",%d]`, n) }

	r.Stop()
	for n := 1; n <= 3; n++ {
		if err := a.srv.Of("/").Emit("tick", n); err != nil {
			t.Fatal(err)
		}
		onA.Expect(t, tick(n))
	}
	onB.ExpectNothing(t)
	// The emits returned before their publishes failed: they reach the
	// outbox once the publisher has tried.
	waitfor.True(t, "3 broadcasts in the outbox", func() bool { return a.cluster.Outbox().Waiting == 3 })
	if got := a.cluster.Outbox(); got.Dropped != 0 {
		t.Fatalf("outbox while Redis is away: %+v, want none dropped", got)
	}

	redisserver.Start(t, r.Port())
	for n := 1; n <= 3; n++ {
		onB.Expect(t, tick(n))
	}
	if err := a.srv.Of("/").Emit("tick", 4); err != nil {
		t.Fatal(err)
	}
	onA.Expect(t, tick(4))
	onB.Expect(t, tick(4))
	onA.ExpectNothing(t)
	onB.ExpectNothing(t)
	// Tick 4 may have waited behind the last of them too.
	if got := a.cluster.Outbox(); got.Waiting != 0 || got.Dropped != 0 || got.Forwarded < 3 {
		t.Fatalf("outbox after Redis came back: %+v, want 3 or 4 forwarded, none waiting or dropped", got)
	}
}

// TestPingChecksTheSubscription: Ping fails with ErrNotSubscribed while
// Redis answers but has no subscriber on the link's probe channel (as after
// a failover, until go-redis has subscribed again on the new primary), and
// succeeds once the subscription is there.
func TestPingChecksTheSubscription(t *testing.T) {
	r := redisserver.Start(t, "")
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	for _, sharded := range []bool{false, true} {
		l := newLink[*Adapter](rdb, slog.New(slog.DiscardHandler), time.Second, OutboxOptions{}, 0)
		l.probe, l.shardedProbe = probePrefix+newID(), sharded
		if err := l.Ping(ctx); !errors.Is(err, ErrNotSubscribed) {
			t.Fatalf("sharded=%v: Ping without the subscription = %v, want ErrNotSubscribed", sharded, err)
		}
		var sub *redis.PubSub
		if sharded {
			sub = rdb.SSubscribe(ctx, l.probe)
		} else {
			sub = rdb.Subscribe(ctx, l.probe)
		}
		if err := l.Ping(ctx); err != nil {
			t.Fatalf("sharded=%v: Ping with the subscription = %v", sharded, err)
		}
		_ = sub.Close()
	}
	r.Stop()
	if err := (&link[*Adapter]{client: rdb}).Ping(ctx); err == nil {
		t.Fatal("Ping succeeds with Redis down")
	}
}

// TestBroadcastsAndRequestsInOrder: a server's broadcasts do not wait for
// Redis, yet the other servers see them and its requests in the order it
// made them: the sockets that leave a room after a burst of broadcasts to
// it get the whole burst, and nothing sent to the room after they left.
func TestBroadcastsAndRequestsInOrder(t *testing.T) {
	for _, v := range []string{"classic", "sharded"} {
		t.Run(v, func(t *testing.T) {
			_, a, b, _, onB := twoLinkedNodes(t, v)
			b.srv.Of("/").Local().SocketsJoin("r")
			const burst = 500
			for n := 1; n <= burst; n++ {
				if err := a.srv.Of("/").To("r").Emit("tick", n); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.srv.Of("/").SocketsLeave("r"); err != nil {
				t.Fatal(err)
			}
			if err := a.srv.Of("/").To("r").Emit("tick", burst+1); err != nil {
				t.Fatal(err)
			}
			for n := 1; n <= burst; n++ {
				onB.Expect(t, fmt.Sprintf(`42["tick",%d]`, n))
			}
			onB.ExpectNothing(t)
		})
	}
}
