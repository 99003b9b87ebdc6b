package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// streamsResult is what one server kind scored as a pair on the streams
// adapter with connection state recovery.
type streamsResult struct {
	DeliveriesPerSec      float64
	CPUSecPerMillion      float64
	RedisCPUSecPerMillion float64
	ServerCPUPercent      float64
	GeneratorCPUPercent   float64
	P50, P99              time.Duration
	LatencySamples        int
	// The recovery of cfg.recoveryClients clients after a drain of server
	// A: time from the drain request to the last reconnect to B (and to
	// the median one), how many reconnected, with recovered === true, and
	// the failed reconnection attempts.
	RecoveryTime, RecoveryMedian     time.Duration
	Reconnected, Recovered, Failures int
	// RecoveryCPUms is the CPU time of both servers from the drain request
	// to the last reconnect, per client, in milliseconds.
	RecoveryCPUms float64
	// SessionsLeft counts the sessions still stored in Redis once every
	// client has reconnected: stored too late for their client's restore.
	SessionsLeft int
}

// benchStreams runs two servers of one kind (A and B) on one redis-server
// with the streams adapter and connection state recovery. One protocol
// client of A publishes; cfg.streamsClients protocol clients of the runner
// on B receive (cheap clients, as in the other sections, so that the
// servers are the limit):
//   - a burst of broadcasts measures cross-server deliveries per second and
//     the CPU time of both servers (and of Redis) per million deliveries;
//   - a steady rate of broadcasts carrying their send time measures the
//     latency from the publish on A to the receipt on B;
//   - then cfg.recoveryClients official socket.io-client sockets (in
//     cfg.clientProcs Node processes: recovery is the official client's
//     behaviour) connect to A through a
//     loopback proxy, A is drained (POST /drain: the Go runtime's drainer;
//     on Node the sessions' transports closed), the proxy sends the
//     reconnects to B, and the time until every client has reconnected is
//     measured, with how many were recovered.
func benchStreams(cfg config, name string) (streamsResult, error) {
	var r streamsResult
	p, err := startPair(cfg, name, adapterStreams)
	if err != nil {
		return r, err
	}
	defer p.stop()
	a, b := p.servers[0], p.servers[1]
	rdb := redis.NewClient(&redis.Options{Addr: p.redis.Addr})
	defer rdb.Close()

	log.Printf("%s streams: %d protocol clients on B", name, cfg.streamsClients)
	received := new(atomic.Int64)
	receivers, err := connectMany(context.Background(), b.addr, cfg.streamsClients, received, nil)
	closeReceivers := func() {
		for _, c := range receivers {
			// A Socket.IO DISCONNECT first: a transport close would store
			// a session for recovery, counted in the recovery's figures.
			_ = c.write([]byte("41"))
			c.close()
		}
		receivers = nil
	}
	defer closeReceivers()
	if err != nil {
		return r, err
	}
	publisher, err := dialClient(context.Background(), a.addr, new(atomic.Int64), nil)
	if err != nil {
		return r, err
	}
	defer publisher.close()
	time.Sleep(2 * time.Second)

	log.Printf("%s streams: broadcasts", name)
	want := int64(cfg.streamsClients * cfg.streamsBroadcasts)
	deliveries := float64(want)
	var rates, cpus, redisCPUs, serverPcts, genPcts []float64
	for range cfg.rounds {
		received.Store(0)
		cpu0, redis0, gen0, t0 := p.cpu(), redisCPUSeconds(rdb), selfCPUSeconds(), time.Now()
		if err := publisher.emitWithAck("blast", fmt.Sprintf(`{"count":%d,"payload":{"type":"tick","n":42,"text":"hello"}}`, cfg.streamsBroadcasts)); err != nil {
			return r, err
		}
		deadline := time.Now().Add(5 * time.Minute)
		for received.Load() < want {
			if time.Now().After(deadline) {
				return r, fmt.Errorf("streams broadcast: %d of %d deliveries", received.Load(), want)
			}
			time.Sleep(2 * time.Millisecond)
		}
		elapsed, cpu := time.Since(t0).Seconds(), p.cpu()-cpu0
		rates = append(rates, deliveries/elapsed)
		cpus = append(cpus, cpu/(deliveries/1e6))
		redisCPUs = append(redisCPUs, (redisCPUSeconds(rdb)-redis0)/(deliveries/1e6))
		serverPcts = append(serverPcts, 100*cpu/elapsed)
		genPcts = append(genPcts, 100*(selfCPUSeconds()-gen0)/elapsed)
		time.Sleep(time.Second)
	}
	r.DeliveriesPerSec, r.CPUSecPerMillion = median(rates), median(cpus)
	r.RedisCPUSecPerMillion, r.ServerCPUPercent, r.GeneratorCPUPercent = median(redisCPUs), median(serverPcts), median(genPcts)

	log.Printf("%s streams: broadcast latency", name)
	latencies := make(chan time.Duration, 1<<20)
	for _, c := range receivers {
		c.latencies = latencies
	}
	if r.P50, r.P99, r.LatencySamples, err = broadcastLatency(cfg, publisher, latencies, cfg.streamsRate); err != nil {
		return r, err
	}
	closeReceivers()
	time.Sleep(time.Second)

	clients, err := startClientFleet(cfg)
	if err != nil {
		return r, err
	}
	defer clients.stop()

	log.Printf("%s streams: recovery of %d clients after a drain", name, cfg.recoveryClients)
	err = recoverAfterDrain(cfg, &r, p, rdb, clients, publisher)
	return r, err
}

// expect waits until every process has received n broadcasts a socket
// since the last reset, and returns when the last one arrived.
func (f clientFleet) expect(n int, timeout time.Duration) (time.Time, error) {
	at := make([]float64, len(f))
	err := f.each(func(i int, c *nodeClients) error {
		var reply struct{ T float64 }
		err := c.call(map[string]any{"cmd": "expect", "n": n * c.sockets}, timeout, &reply)
		at[i] = reply.T
		return err
	})
	return msTime(slices.Max(at)), err
}

// recoverAfterDrain connects cfg.recoveryClients official clients to A
// through a proxy, gives each an offset (one broadcast), points the proxy at
// B, asks A to drain and waits for every client to reconnect.
func recoverAfterDrain(cfg config, r *streamsResult, p *pair, rdb *redis.Client, clients clientFleet, publisher *loadClient) error {
	a, b := p.servers[0].addr, p.servers[1].addr
	px, err := startProxy(a)
	if err != nil {
		return err
	}
	defer px.stop()
	if err := clients.connect("http://"+px.addr(), cfg.recoveryClients); err != nil {
		return err
	}
	// A client recovers only with an offset: the id of a broadcast it got.
	if err := clients.all(map[string]any{"cmd": "reset"}, 0); err != nil {
		return err
	}
	if err := publisher.emitWithAck("blast", `{"count":1,"payload":{"type":"offset"}}`); err != nil {
		return err
	}
	if _, err := clients.expect(1, 30*time.Second); err != nil {
		return err
	}
	// The publisher leaves with a Socket.IO DISCONNECT: no session of its own is stored.
	if err := publisher.write([]byte("41")); err != nil {
		return err
	}
	px.retarget(b)
	cpu0, t0 := p.cpu(), time.Now()
	resp, err := http.Post("http://"+a+"/drain", "text/plain", nil)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST /drain: HTTP %d", resp.StatusCode)
	}
	type reconnects struct {
		Times             []float64
		Recovered, Errors int
	}
	replies := make([]reconnects, len(clients))
	if err := clients.each(func(i int, c *nodeClients) error {
		return c.call(map[string]any{"cmd": "reconnects", "n": c.sockets}, cfg.recoveryTimeout, &replies[i])
	}); err != nil {
		return err
	}
	r.RecoveryCPUms = 1000 * (p.cpu() - cpu0) / float64(cfg.recoveryClients)
	// Before the proxy stops: closing the clients would store their sessions again.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	left, err := rdb.Keys(ctx, "sio:session:*").Result()
	if err != nil {
		return err
	}
	r.SessionsLeft = len(left)
	var times []time.Duration
	for _, reply := range replies {
		for _, t := range reply.Times {
			times = append(times, msTime(t).Sub(t0))
		}
		r.Recovered += reply.Recovered
		r.Failures += reply.Errors
	}
	r.Reconnected = len(times)
	if len(times) == 0 {
		return fmt.Errorf("no client reconnected within %s", cfg.recoveryTimeout)
	}
	if r.Reconnected < cfg.recoveryClients {
		log.Printf("only %d of %d clients reconnected within %s: the recovery times are those of the reconnected ones", r.Reconnected, cfg.recoveryClients, cfg.recoveryTimeout)
	}
	slices.Sort(times)
	r.RecoveryTime, r.RecoveryMedian = times[len(times)-1], times[len(times)/2]
	return nil
}

// msTime is a wall-clock time in milliseconds since the epoch (Node's
// performance.timeOrigin + performance.now()).
func msTime(ms float64) time.Time { return time.Unix(0, int64(ms*1e6)) }

// redisCPUSeconds is the CPU time of redis-server so far (INFO cpu).
func redisCPUSeconds(rdb *redis.Client) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var s float64
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			s += f
		}
	}
	return s
}

// streamsReport writes the streams section's table; row writes one measure.
func streamsReport(b *strings.Builder, cfg config, node, gosrv streamsResult, row func(name, unit string, n, g float64, better string)) {
	fmt.Fprintf(b, "\n### Two servers on one Redis with the Streams adapter and connection state recovery (Node: @socket.io/redis-streams-adapter 0.3; Go: runtime/redisadapter `NewStreams`, i.e. `redis.adapter: streams`, same wire format)\n\n")
	fmt.Fprintf(b, "Servers A and B, both with connection state recovery (2 minutes) and the adapters' default options. One protocol client of A publishes (`blast`). Deliveries per second, CPU and latency: %d protocol clients of the runner (the Go load generator of the other sections, which costs far less per message than the official client, so that the servers are the limit) are connected to B and count what they receive. Recovery: official socket.io-client sockets (in %d Node processes), since restoring a session is the official client's behaviour.\n\n",
		cfg.streamsClients, cfg.clientProcs)
	fmt.Fprintf(b, "| measure | 2 × Node | 2 × Go | Go / Node |\n|---|---:|---:|---:|\n")
	row(fmt.Sprintf("cross-server deliveries per second (published on A, %d protocol clients on B, %d messages, median of %d)", cfg.streamsClients, cfg.streamsBroadcasts, cfg.rounds), "/s", node.DeliveriesPerSec, gosrv.DeliveriesPerSec, "higher")
	row("CPU seconds of both servers per million deliveries", "s", node.CPUSecPerMillion, gosrv.CPUSecPerMillion, "lower")
	row(fmt.Sprintf("broadcast latency p50, publish on A to receipt on B (%d broadcasts/s for %s)", cfg.streamsRate, cfg.duration), "ms", ms(node.P50), ms(gosrv.P50), "lower")
	row("broadcast latency p99", "ms", ms(node.P99), ms(gosrv.P99), "lower")
	row(fmt.Sprintf("recovery after a drain of A: time until the last of %d clients reconnected to B", cfg.recoveryClients), "ms", ms(node.RecoveryTime), ms(gosrv.RecoveryTime), "lower")
	row("recovery after a drain of A: median client", "ms", ms(node.RecoveryMedian), ms(gosrv.RecoveryMedian), "lower")
	row("recovery: CPU of both servers from the drain request to the last reconnect, per client", "ms", node.RecoveryCPUms, gosrv.RecoveryCPUms, "lower")
	fmt.Fprintf(b, "| clients recovered (`socket.recovered === true` on B) | %d of %d | %d of %d | |\n", node.Recovered, cfg.recoveryClients, gosrv.Recovered, cfg.recoveryClients)
	fmt.Fprintf(b, "\nRecovery: %d official clients (reconnectionDelay %s ±50%%) connect to A through a loopback TCP proxy standing for the load balancer and receive one broadcast (a client recovers only with an offset); the proxy then sends new connections to B, and A is drained with `POST /drain` — Go: the runtime's drainer (runtime/drain, as SIGTERM and the admin `POST /drain`) with a %s window; Node: `close()` on every Engine.IO session, the session part of `io.engine.close()`, which socket.io reports as `forced close`, a recoverable reason. Times run from the drain request to the client's `connect`.\n",
		cfg.recoveryClients, cfg.reconnectionDelay, cfg.drainWindow)
}

// streamsRaw writes the streams section's raw rows.
func streamsRaw(b *strings.Builder, node, gosrv streamsResult) {
	fmt.Fprintf(b, "| streams: Redis CPU seconds per million deliveries | %.2f | %.2f |\n", node.RedisCPUSecPerMillion, gosrv.RedisCPUSecPerMillion)
	fmt.Fprintf(b, "| streams: both servers' CPU during the broadcasts (%% of one core) | %.0f | %.0f |\n", node.ServerCPUPercent, gosrv.ServerCPUPercent)
	fmt.Fprintf(b, "| streams: load generator's CPU during the broadcasts (%% of one core) | %.0f | %.0f |\n", node.GeneratorCPUPercent, gosrv.GeneratorCPUPercent)
	fmt.Fprintf(b, "| streams: latency samples | %d | %d |\n", node.LatencySamples, gosrv.LatencySamples)
	fmt.Fprintf(b, "| streams recovery: clients reconnected / failed reconnection attempts | %d / %d | %d / %d |\n", node.Reconnected, node.Failures, gosrv.Reconnected, gosrv.Failures)
	fmt.Fprintf(b, "| streams recovery: sessions still in Redis after the reconnects (stored after their client tried to restore) | %d | %d |\n", node.SessionsLeft, gosrv.SessionsLeft)
}
