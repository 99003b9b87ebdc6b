package main

import (
	"context"
	"fmt"
	"log"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/socketfleet/socketfleet/internal/redisserver"
)

// clusterResult is what one server kind scored as a two-server cluster on
// one Redis.
type clusterResult struct {
	DeliveriesPerSec float64
	CPUSecPerMillion float64
	P50, P99         time.Duration
	LatencySamples   int
}

// benchCluster runs two servers of one kind on one redis-server with the
// Pub/Sub adapter (classic or sharded) and cfg.clusterClients protocol
// clients of the runner split between them: a burst of broadcasts from a
// client of the first server measures cross-server deliveries per second;
// then a steady rate of single broadcasts carrying their send time measures
// delivery latency at every client.
func benchCluster(cfg config, name, adapter string) (clusterResult, error) {
	var r clusterResult
	p, err := startPair(cfg, name, adapter)
	if err != nil {
		return r, err
	}
	defer p.stop()
	servers := p.servers[:]

	ctx := context.Background()
	received := new(atomic.Int64)
	latencies := make(chan time.Duration, 1<<20)
	var clients []*loadClient
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	for _, s := range servers {
		cs, err := connectMany(ctx, s.addr, cfg.clusterClients/2, received, nil)
		clients = append(clients, cs...)
		if err != nil {
			return r, err
		}
	}
	for _, c := range clients {
		c.latencies = latencies
	}
	time.Sleep(2 * time.Second)

	log.Printf("%s cluster (%s): broadcasts", name, adapter)
	want := int64(len(clients) * cfg.clusterBroadcasts)
	cpu := p.cpu
	var rates, cpus []float64
	for range cfg.rounds {
		received.Store(0)
		cpu0, t0 := cpu(), time.Now()
		if err := clients[0].emitWithAck("blast", fmt.Sprintf(`{"count":%d,"payload":{"type":"tick","n":42,"text":"hello"}}`, cfg.clusterBroadcasts)); err != nil {
			return r, err
		}
		deadline := time.Now().Add(5 * time.Minute)
		for received.Load() < want {
			if time.Now().After(deadline) {
				return r, fmt.Errorf("cluster broadcast: %d of %d deliveries", received.Load(), want)
			}
			time.Sleep(2 * time.Millisecond)
		}
		elapsed := time.Since(t0).Seconds()
		rates = append(rates, float64(want)/elapsed)
		cpus = append(cpus, (cpu()-cpu0)/(float64(want)/1e6))
		time.Sleep(time.Second)
	}
	r.DeliveriesPerSec, r.CPUSecPerMillion = median(rates), median(cpus)

	log.Printf("%s cluster (%s): broadcast latency", name, adapter)
	r.P50, r.P99, r.LatencySamples, err = broadcastLatency(cfg, clients[0], latencies, cfg.clusterRate)
	return r, err
}

// broadcastLatency has publisher send rate single broadcasts a second,
// each carrying its send time, for cfg.duration, and returns the p50 and
// p99 of what the protocol clients reported to latencies.
func broadcastLatency(cfg config, publisher *loadClient, latencies chan time.Duration, rate int) (p50, p99 time.Duration, n int, err error) {
	for len(latencies) > 0 {
		<-latencies
	}
	interval := time.Second / time.Duration(rate)
	for end := time.Now().Add(cfg.duration); time.Now().Before(end); time.Sleep(interval) {
		payload := fmt.Sprintf(`{"count":1,"payload":{"t":%d}}`, time.Now().UnixNano())
		if err := publisher.emitWithAck("blast", payload); err != nil {
			return 0, 0, 0, err
		}
	}
	time.Sleep(2 * time.Second)
	samples := make([]time.Duration, 0, len(latencies))
	for len(latencies) > 0 {
		samples = append(samples, <-latencies)
	}
	if len(samples) == 0 {
		return 0, 0, 0, fmt.Errorf("no latency sample")
	}
	slices.Sort(samples)
	return samples[len(samples)/2], samples[len(samples)*99/100], len(samples), nil
}

// pair is two servers of one kind on one redis-server of their own.
type pair struct {
	redis   *redisserver.Server
	servers [2]*server
}

// startPair starts redis-server and two servers on it with adapter (one of
// the adapter modes).
func startPair(cfg config, name, adapter string) (*pair, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	rs, err := redisserver.Run(ctx, redisserver.Options{})
	cancel()
	if err != nil {
		return nil, err
	}
	p := &pair{redis: rs}
	for i := range p.servers {
		if p.servers[i], err = startServer(cfg, name, rs.Addr, adapter); err != nil {
			p.stop()
			return nil, err
		}
	}
	time.Sleep(time.Second) // subscriptions and stream readers settle
	return p, nil
}

// stop stops the servers, then redis-server.
func (p *pair) stop() {
	for _, s := range p.servers {
		if s != nil {
			s.stop()
		}
	}
	p.redis.Stop()
}

// cpu is the CPU time of both servers so far, in seconds.
func (p *pair) cpu() float64 {
	return cpuSeconds(p.servers[0].cmd.Process.Pid) + cpuSeconds(p.servers[1].cmd.Process.Pid)
}

// clusterReport writes the tables of the classic and the sharded Pub/Sub
// adapter; row writes one measure.
func clusterReport(b *strings.Builder, cfg config, node, gosrv result, row func(name, unit string, n, g float64, better string)) {
	for _, mode := range []struct {
		title       string
		node, gosrv clusterResult
	}{
		{"Two servers on one Redis (Node: @socket.io/redis-adapter 8.3; Go: runtime/redisadapter, same wire protocol)", node.Cluster, gosrv.Cluster},
		{"Two servers on one Redis with sharded Pub/Sub (Node: @socket.io/redis-adapter 8.3 `createShardedAdapter`; Go: runtime/redisadapter `NewSharded`, i.e. `redis.adapter: sharded`)", node.Sharded, gosrv.Sharded},
	} {
		fmt.Fprintf(b, "\n### %s\n\n", mode.title)
		fmt.Fprintf(b, "%d protocol clients of the runner (the Go load generator, as in the single-server section), half on each server; one client of the first server publishes (`blast`).\n\n", cfg.clusterClients)
		fmt.Fprintf(b, "| measure | 2 × Node | 2 × Go | Go / Node |\n|---|---:|---:|---:|\n")
		row(fmt.Sprintf("cross-server broadcast deliveries per second (%d clients on 2 servers, %d messages, median of %d)", cfg.clusterClients, cfg.clusterBroadcasts, cfg.rounds), "/s", mode.node.DeliveriesPerSec, mode.gosrv.DeliveriesPerSec, "higher")
		row("CPU seconds of both servers per million deliveries", "s", mode.node.CPUSecPerMillion, mode.gosrv.CPUSecPerMillion, "lower")
		row(fmt.Sprintf("broadcast latency p50, sender to every client (%d broadcasts/s for %s)", cfg.clusterRate, cfg.duration), "ms", ms(mode.node.P50), ms(mode.gosrv.P50), "lower")
		row("broadcast latency p99", "ms", ms(mode.node.P99), ms(mode.gosrv.P99), "lower")
	}
}
