package redisadapter

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketfleet/socketfleet/internal/redisserver"
	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/internal/waitfor"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// failoverGuard bounds the waits around a failover (detection after
// down-after, the Sentinels' election, the promotion, the reconnections);
// a failure guard, not a speed assertion.
const failoverGuard = 60 * time.Second

const (
	failoverPassword = "failover-secret"
	failoverMaster   = "mymaster"
)

// failoverClient is a failover client as the runtime builds it for
// redis.mode sentinel (cmd/runtime/redis.go): the primary found through the
// Sentinels.
func failoverClient(f *redisserver.Failover) redis.UniversalClient {
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: f.Sentinels, MasterName: f.MasterName,
		Password: failoverPassword, SentinelPassword: failoverPassword,
		MaxRetries: 1, DialTimeout: time.Second,
	})
}

// TestSentinelFailover: two servers on a primary with a replica and three
// Sentinels, each through a go-redis failover client, with a client on
// each. The primary is killed (SIGKILL); the Sentinels promote the replica,
// both servers reconnect by themselves (commands and subscription) and
// broadcasts cross servers again, in both directions. With the streams
// adapter, a session stored before the failover (and replicated) is
// recovered on the other server after it, with what it missed, and the
// broadcasts added while a server's stream reader was still reconnecting
// all reach it, in order.
func TestSentinelFailover(t *testing.T) {
	for _, v := range variants {
		t.Run(v, func(t *testing.T) { testSentinelFailover(t, v) })
	}
}

func testSentinelFailover(t *testing.T, variant string) {
	st := redisserver.StartFailover(t, failoverMaster, failoverPassword, time.Second)
	opts := socketio.Options{}
	if variant == "streams" {
		opts = recovery
	}
	a := startNodeOn(t, variant, failoverClient(st), opts, nil)
	b := startNodeOn(t, variant, failoverClient(st), opts, nil)
	ctx := context.Background()
	waitfor.True(t, "both servers subscribed", func() bool {
		n, err := a.srv.Of("/").Adapter().ServerCount(ctx)
		return err == nil && n == 2
	})
	onA := sioclient.Connect(t, a.http.URL, "room=a")
	onB := sioclient.Connect(t, b.http.URL, "room=b")
	// Broadcasts cross (the sharded adapter subscribes to a room's channel
	// asynchronously, as Node does).
	crossDelivery(t, a, "b", onB)
	crossDelivery(t, b, "a", onA)
	for _, n := range []*node{a, b} {
		if err := n.cluster.Ping(ctx); err != nil {
			t.Fatalf("Ping before the failover: %v", err)
		}
	}

	// With streams: a client of A in room red goes away; its session is
	// stored (on the primary) and replicated.
	var away *sioclient.Client
	var offset string
	if variant == "streams" {
		var err error
		away, err = sioclient.ConnectContext(ctx, a.http.URL, sioclient.Options{Query: "room=red"})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.srv.Of("/").To("red").Emit("news", 1); err != nil {
			t.Fatal(err)
		}
		offset = offsetOf(t, next(t, away))
		away.Close()
		p := st.Client(st.Primary.Addr)
		waitfor.True(t, "session stored", func() bool {
			n, err := p.Exists(ctx, "sio:session:"+away.PID).Result()
			return err == nil && n == 1
		})
		_ = p.Close()
	}
	st.Replicated(t)

	st.Primary.Stop() // SIGKILL
	killed := time.Now()
	ab := crossDelivery(t, a, "b", onB)
	ba := crossDelivery(t, b, "a", onA)
	t.Logf("%s: broadcasts crossed servers again %v (A to B) and %v (B to A) after the primary was killed",
		variant, ab.Sub(killed).Round(10*time.Millisecond), ba.Sub(killed).Round(10*time.Millisecond))

	// The replica is the primary now, and both links report up: Redis
	// answers and each subscription is registered on the new primary.
	if !st.Promoted() {
		t.Fatal("the replica was not promoted")
	}
	for _, n := range []*node{a, b} {
		waitfor.Poll{Timeout: failoverGuard}.NoError(t, "Ping after the failover", func() error { return n.cluster.Ping(ctx) })
	}

	if variant != "streams" {
		return
	}
	// Twenty broadcasts from A, each added to the stream: B's reader
	// delivers every one, in order, whether or not it had reconnected when
	// they were added.
	for i := range 20 {
		if err := a.srv.Of("/").To("b").Emit("seq", i); err != nil {
			t.Fatal(err)
		}
	}
	want := 0
	for want < 20 {
		ev := next(t, onB)
		if ev.Name != "seq" {
			continue // a late crossing probe
		}
		var got int
		if err := json.Unmarshal(ev.Args[0], &got); err != nil || got != want {
			t.Fatalf("B got %s, want seq %d", ev.Wire, want)
		}
		want++
	}

	// The session stored before the failover is recovered on B, with the
	// broadcast to its room that it missed.
	if err := b.srv.Of("/").To("red").Emit("missed", 2); err != nil {
		t.Fatal(err)
	}
	back, err := sioclient.ConnectContext(ctx, b.http.URL, sioclient.Options{Auth: map[string]string{"pid": away.PID, "offset": offset}})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if back.ID != away.ID {
		t.Fatalf("reconnected as %s, want %s: the session stored before the failover was not recovered", back.ID, away.ID)
	}
	if ev := next(t, back); ev.Name != "missed" {
		t.Fatalf("recovered client got %s, want the missed broadcast", ev.Wire)
	}
}

// crossDelivery emits a probe from one server to a room of the other every
// 200 ms until the client there receives one, and returns when it did. The
// probes sent while the link is down are lost (nothing is queued for the
// other servers), so only the first one that arrives counts.
func crossDelivery(t *testing.T, from *node, room string, to *sioclient.Client) time.Time {
	t.Helper()
	deadline := time.Now().Add(failoverGuard)
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no broadcast reached room %s of the other server %v after the failover", room, failoverGuard)
		}
		if err := from.srv.Of("/").To(room).Emit("probe", i); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		ev, err := to.Next(ctx)
		cancel()
		switch {
		case err == nil && ev.Name == "probe":
			return time.Now()
		case err == nil:
			t.Fatalf("unexpected event %s", ev.Wire)
		case !errors.Is(err, context.DeadlineExceeded):
			t.Fatalf("client: %v", err)
		}
	}
}
