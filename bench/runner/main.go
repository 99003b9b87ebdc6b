// Command runner is `make bench`: it runs the same load against the Go
// server (bench/goserver, on runtime/socketio) and the reference Node
// socket.io server (bench/node/server.mjs), one after the other on this
// machine, and writes bench/RESULTS.md with raw numbers and Go/Node ratios.
//
// Measurements, for each server:
//   - handshakes per second over WebSocket and over long-polling (open,
//     namespace connect, close), fixed count, fixed concurrency;
//   - RSS per idle WebSocket client with -clients connected;
//   - broadcast deliveries per second to -clients sockets in one room, and
//     the server's CPU seconds per million deliveries;
//   - emit→ack round trip p50/p99 with -active clients each emitting -rate
//     times per second;
//   - two servers on one redis-server with the classic and the sharded
//     Pub/Sub Redis adapter (cluster.go) and with the streams adapter and
//     connection state recovery (streams.go), the latter also with official
//     socket.io-client sockets and a drain whose clients recover on the
//     other server.
//
// The load generator is this process (a minimal protocol client in Go) and,
// for the recovery of the streams adapter, Node processes running the
// official client (bench/node/clients.mjs); the generator's CPU time is
// reported so that a saturated generator is visible.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	clients, broadcasts, rounds  int
	active, rate                 int
	duration                     time.Duration
	handshakes, handshakeWorkers int
	goServer, nodeDir, out, only string
	// The two-server Redis cluster test.
	clusterClients, clusterBroadcasts, clusterRate int
	// The streams adapter test (protocol clients of the runner; official
	// clients in clientProcs Node processes for the recovery).
	streamsClients, streamsBroadcasts, streamsRate  int
	recoveryClients, clientProcs                    int
	recoveryTimeout, reconnectionDelay, drainWindow time.Duration
	sections                                        string
	// The forwarding overhead (forwarding.go).
	runtimeBinary   string
	forwardRequests int
	forwardMB       float64
	// The long-polling test (polling.go).
	pollingClients intList
	pollingActive  int
	// The idle test: client counts to read RSS at, and the heartbeat
	// window.
	idleSteps  []int
	idleWindow time.Duration
	// profileDir, when set, receives the Go server's heap and CPU profiles
	// (one pair per server start).
	profileDir string
}

// result is what one server scored.
type result struct {
	Name                    string
	WSHandshakesPerSec      float64
	PollingHandshakesPerSec float64
	BaseRSSKB, LoadedRSSKB  int64
	RSSPerClientKB          float64
	DeliveriesPerSec        float64
	CPUSecPerMillion        float64
	ServerCPUPercent        float64
	GeneratorCPUPercent     float64
	// WritesPerClient is the server's write system calls during a
	// broadcast round per client (the round's messages reach each client
	// in this many writes).
	WritesPerClient float64
	P50, P99        time.Duration
	AckSamples      int
	Cluster         clusterResult // classic adapter
	Sharded         clusterResult // sharded Pub/Sub adapter
	Streams         streamsResult
	Polling         pollingResult
	Idle            idleResult
}

func main() {
	var cfg config
	flag.IntVar(&cfg.clients, "clients", 10000, "idle WebSocket clients (RSS and broadcast)")
	flag.IntVar(&cfg.broadcasts, "broadcasts", 100, "messages per broadcast round")
	flag.IntVar(&cfg.rounds, "rounds", 3, "broadcast rounds (the median is reported)")
	flag.IntVar(&cfg.active, "active", 1000, "clients in the ack round-trip test")
	flag.IntVar(&cfg.rate, "rate", 5, "emits per second per active client")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of the ack round-trip test")
	flag.IntVar(&cfg.handshakes, "handshakes", 2000, "handshakes per transport")
	flag.IntVar(&cfg.handshakeWorkers, "handshake-workers", 16, "concurrent handshakes")
	flag.IntVar(&cfg.clusterClients, "cluster-clients", 4000, "clients split over the two servers of the Redis cluster test")
	flag.IntVar(&cfg.clusterBroadcasts, "cluster-broadcasts", 200, "messages per cross-server broadcast round")
	flag.IntVar(&cfg.clusterRate, "cluster-rate", 20, "broadcasts per second in the cross-server latency test")
	flag.IntVar(&cfg.streamsClients, "streams-clients", 2000, "protocol clients on server B of the streams adapter test (deliveries, CPU, latency)")
	flag.IntVar(&cfg.streamsBroadcasts, "streams-broadcasts", 100, "messages per broadcast round of the streams adapter test")
	flag.IntVar(&cfg.streamsRate, "streams-rate", 10, "broadcasts per second in the streams adapter latency test")
	flag.IntVar(&cfg.recoveryClients, "recovery-clients", 1000, "official clients drained from server A to B with connection state recovery")
	flag.DurationVar(&cfg.recoveryTimeout, "recovery-timeout", time.Minute, "how long the recovered clients may take to reconnect")
	flag.DurationVar(&cfg.reconnectionDelay, "reconnection-delay", 100*time.Millisecond, "the official clients' reconnectionDelay (randomizationFactor 0.5)")
	flag.DurationVar(&cfg.drainWindow, "drain-window", 100*time.Millisecond, "window of the Go server's drain in the recovery test")
	flag.IntVar(&cfg.clientProcs, "client-procs", 2, "Node processes sharing the official clients")
	cfg.pollingClients = intList{2000, 6000}
	flag.Var(&cfg.pollingClients, "polling-clients", "idle long-polling client counts (RSS), comma-separated")
	flag.IntVar(&cfg.pollingActive, "polling-active", 200, "long-polling clients in the request throughput test")
	flag.StringVar(&cfg.sections, "sections", allSections, "sections to run (the results file is written only with all of them)")
	flag.StringVar(&cfg.goServer, "go-server", "bin/bench-goserver", "Go server binary")
	flag.StringVar(&cfg.nodeDir, "node-dir", "bench", "directory with node_modules and node/server.mjs")
	flag.StringVar(&cfg.out, "out", "bench/RESULTS.md", "results file")
	flag.StringVar(&cfg.only, "only", "", "run only this server (go or node)")
	flag.StringVar(&cfg.runtimeBinary, "runtime", "bin/socketfleet-runtime", "socketfleet-runtime binary (forwarding section)")
	flag.IntVar(&cfg.forwardRequests, "forward-requests", 2000, "requests sent directly and through the forwarding pod each (latency)")
	flag.Float64Var(&cfg.forwardMB, "forward-mb", 128, "MB posted through the forwarding pod, then directly (CPU per MB)")
	idleSteps := flag.String("idle-steps", "10000,18000", "idle WebSocket client counts to read RSS at (ascending; the per-process file limit bounds the last)")
	flag.DurationVar(&cfg.idleWindow, "idle-window", time.Minute, "idle time over which the heartbeats' CPU is measured")
	flag.StringVar(&cfg.profileDir, "profile-dir", "", "write the Go server's heap and CPU profiles into this directory")
	flag.Parse()
	for _, f := range strings.Split(*idleSteps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 || (len(cfg.idleSteps) > 0 && n <= cfg.idleSteps[len(cfg.idleSteps)-1]) {
			log.Fatalf("-idle-steps: %q is not an ascending list of positive counts", *idleSteps)
		}
		cfg.idleSteps = append(cfg.idleSteps, n)
	}

	var results []result
	for _, name := range []string{"node", "go"} {
		if cfg.only != "" && cfg.only != name {
			continue
		}
		r, err := benchServer(cfg, name)
		if err != nil {
			log.Fatalf("%s: %v", name, err)
		}
		log.Printf("%s: %+v", name, r)
		results = append(results, r)
	}
	var fwd forwardingResult
	if cfg.runs("forwarding") && cfg.only != "node" {
		var err error
		if fwd, err = benchForwarding(cfg); err != nil {
			log.Fatalf("forwarding: %v", err)
		}
		log.Printf("forwarding: %+v", fwd)
	}
	if len(results) != 2 || cfg.sections != allSections {
		return
	}
	out := report(cfg, results[0], results[1], fwd)
	// The fleet numbers come from test/fleet (`make fleet-results`), recorded next to the results file.
	if fleet, err := os.ReadFile(filepath.Join(filepath.Dir(cfg.out), "FLEET.md")); err == nil {
		out += "\n" + string(fleet)
	}
	// The microbenchmarks' benchstat comparison (bench/MICRO.md), recorded next to the results file.
	if micro, err := os.ReadFile(filepath.Join(filepath.Dir(cfg.out), "MICRO.md")); err == nil {
		out += "\n" + string(micro)
	}
	if err := os.WriteFile(cfg.out, []byte(out), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s", cfg.out)
}

// server is a benchmarked server process.
type server struct {
	cmd  *exec.Cmd
	addr string
}

// Adapter modes of a two-server cluster (startServer's adapter).
const (
	adapterClassic = "classic"
	adapterSharded = "sharded"
	adapterStreams = "streams"
)

// startServer starts a server of kind name (go or node), alone (redisAddr
// "") or in a cluster on the Redis at redisAddr with adapter (one of the
// adapter modes; streams comes with connection state recovery).
func startServer(cfg config, name, redisAddr, adapter string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	switch name {
	case "go":
		cmd = exec.Command(cfg.goServer, "-addr", addr)
		if cfg.profileDir != "" {
			stamp := time.Now().Format("150405.000")
			cmd.Args = append(cmd.Args, "-memprofile", filepath.Join(cfg.profileDir, "heap-"+stamp+".pprof"),
				"-cpuprofile", filepath.Join(cfg.profileDir, "cpu-"+stamp+".pprof"))
		}
		if redisAddr != "" {
			cmd.Args = append(cmd.Args, "-redis", redisAddr, "-adapter", adapter)
		}
		if adapter == adapterStreams {
			cmd.Args = append(cmd.Args, "-drain-window", cfg.drainWindow.String())
		}
	case "node":
		cmd = exec.Command("node", filepath.Join(cfg.nodeDir, "node", "server.mjs"))
		cmd.Env = append(os.Environ(), "ADDR="+addr)
		if redisAddr != "" {
			cmd.Env = append(cmd.Env, "REDIS_URL=redis://"+redisAddr, "ADAPTER="+adapter)
		}
	}
	cmd.Stderr = os.Stderr
	// Dies with the runner even when the runner is killed before its cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if name == "go" {
		// The Go server logs to stderr.
		cmd.Stderr = nil
		errPipe, err := cmd.StderrPipe()
		if err != nil {
			return nil, err
		}
		out = errPipe
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening") {
				ready <- true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("%s did not start", name)
	}
	return &server{cmd: cmd, addr: addr}, nil
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	waitOrKill(s.cmd)
}

// waitOrKill waits for a process asked to exit, and kills it if it has not
// exited within 5 seconds.
func waitOrKill(cmd *exec.Cmd) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// benchServer runs the sections of cfg.sections against one server kind.
func benchServer(cfg config, name string) (result, error) {
	r := result{Name: name}
	var err error
	if cfg.runs("single") {
		if err = benchSingle(cfg, &r); err != nil {
			return r, err
		}
	}
	if cfg.runs("cluster") {
		if r.Cluster, err = benchCluster(cfg, name, adapterClassic); err != nil {
			return r, err
		}
		if r.Sharded, err = benchCluster(cfg, name, adapterSharded); err != nil {
			return r, err
		}
	}
	if cfg.runs("streams") {
		if r.Streams, err = benchStreams(cfg, name); err != nil {
			return r, err
		}
	}
	if cfg.runs("idle") {
		if r.Idle, err = benchIdle(cfg, name); err != nil {
			return r, err
		}
	}
	if cfg.runs("polling") {
		r.Polling, err = benchPolling(cfg, name)
	}
	return r, err
}

// runs reports whether section is in cfg.sections.
func (cfg config) runs(section string) bool {
	return slices.Contains(strings.Split(cfg.sections, ","), section)
}

// allSections is the default of -sections: a results file needs them all.
const allSections = "single,cluster,streams,idle,forwarding,polling"

// benchSingle measures one server alone: handshakes, idle memory,
// broadcast fan-out and ack round trips.
func benchSingle(cfg config, r *result) error {
	name := r.Name
	srv, err := startServer(cfg, name, "", "")
	if err != nil {
		return err
	}
	defer srv.stop()
	pid := srv.cmd.Process.Pid
	ctx := context.Background()
	log.Printf("%s: handshakes", name)

	if r.WSHandshakesPerSec, err = handshakeRate(cfg, func() error {
		c, err := dialClient(ctx, srv.addr, new(atomic.Int64), nil)
		if err == nil {
			c.close()
		}
		return err
	}); err != nil {
		return fmt.Errorf("websocket handshakes: %w", err)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.handshakeWorkers * 2}}
	if r.PollingHandshakesPerSec, err = handshakeRate(cfg, func() error {
		return pollingHandshake(ctx, hc, srv.addr)
	}); err != nil {
		return fmt.Errorf("polling handshakes: %w", err)
	}
	hc.CloseIdleConnections()
	time.Sleep(2 * time.Second)

	log.Printf("%s: %d idle clients", name, cfg.clients)
	r.BaseRSSKB = rssKB(pid)
	received := new(atomic.Int64)
	clients, err := connectMany(ctx, srv.addr, cfg.clients, received, nil)
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	if err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	r.LoadedRSSKB = rssKB(pid)
	r.RSSPerClientKB = float64(r.LoadedRSSKB-r.BaseRSSKB) / float64(cfg.clients)

	log.Printf("%s: broadcasts", name)
	var rates, cpus, srvPct, genPct, writes []float64
	want := int64(cfg.clients * cfg.broadcasts)
	for range cfg.rounds {
		received.Store(0)
		cpu0, gen0, w0, t0 := cpuSeconds(pid), selfCPUSeconds(), writeSyscalls(pid), time.Now()
		if err := clients[0].emitWithAck("blast", fmt.Sprintf(`{"count":%d,"payload":{"type":"tick","n":42,"text":"hello"}}`, cfg.broadcasts)); err != nil {
			return err
		}
		deadline := time.Now().Add(5 * time.Minute)
		for received.Load() < want {
			if time.Now().After(deadline) {
				return fmt.Errorf("broadcast: %d of %d deliveries", received.Load(), want)
			}
			time.Sleep(2 * time.Millisecond)
		}
		elapsed := time.Since(t0).Seconds()
		cpu, gen := cpuSeconds(pid)-cpu0, selfCPUSeconds()-gen0
		rates = append(rates, float64(want)/elapsed)
		cpus = append(cpus, cpu/(float64(want)/1e6))
		srvPct = append(srvPct, 100*cpu/elapsed)
		genPct = append(genPct, 100*gen/elapsed)
		writes = append(writes, float64(writeSyscalls(pid)-w0)/float64(cfg.clients))
		time.Sleep(time.Second)
	}
	r.DeliveriesPerSec, r.CPUSecPerMillion = median(rates), median(cpus)
	r.ServerCPUPercent, r.GeneratorCPUPercent = median(srvPct), median(genPct)
	r.WritesPerClient = median(writes)
	for _, c := range clients {
		c.close()
	}
	clients = nil
	time.Sleep(3 * time.Second)

	log.Printf("%s: ack round trips", name)
	if r.P50, r.P99, r.AckSamples, err = ackLatency(ctx, cfg, srv.addr); err != nil {
		return err
	}
	return nil
}

// handshakeRate runs cfg.handshakes calls of one with cfg.handshakeWorkers
// workers and returns calls per second.
func handshakeRate(cfg config, one func() error) (float64, error) {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	t0 := time.Now()
	for range cfg.handshakeWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(cfg.handshakes) {
				if err := one(); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(cfg.handshakes) / time.Since(t0).Seconds(), firstErr
}

func connectMany(ctx context.Context, addr string, n int, received *atomic.Int64, rtts chan<- time.Duration) ([]*loadClient, error) {
	clients := make([]*loadClient, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				c, err := dialClient(ctx, addr, received, rtts)
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("client %d: %w", i, err) })
					return
				}
				clients[i] = c
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return slices.DeleteFunc(clients, func(c *loadClient) bool { return c == nil }), firstErr
	}
	return clients, nil
}

// ackLatency connects cfg.active clients that each emit "echo" with an ack
// cfg.rate times per second for cfg.duration, and returns the round trips'
// p50 and p99.
func ackLatency(ctx context.Context, cfg config, addr string) (p50, p99 time.Duration, n int, err error) {
	rtts := make(chan time.Duration, 1<<16)
	clients, err := connectMany(ctx, addr, cfg.active, new(atomic.Int64), rtts)
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	if err != nil {
		return 0, 0, 0, err
	}
	var samples []time.Duration
	collected := make(chan struct{})
	go func() {
		for d := range rtts {
			samples = append(samples, d)
		}
		close(collected)
	}()
	interval := time.Second / time.Duration(cfg.rate)
	var wg sync.WaitGroup
	end := time.Now().Add(cfg.duration)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the clients' emits evenly over the interval.
			time.Sleep(interval * time.Duration(i) / time.Duration(len(clients)))
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for time.Now().Before(end) {
				if c.emitWithAck("echo", `{"n":1,"text":"ping"}`) != nil {
					return
				}
				<-tick.C
			}
		}()
	}
	wg.Wait()
	time.Sleep(2 * time.Second) // let the last acks arrive
	for _, c := range clients {
		c.close()
	}
	clients = nil
	time.Sleep(100 * time.Millisecond)
	close(rtts)
	<-collected
	if len(samples) == 0 {
		return 0, 0, 0, fmt.Errorf("no ack received")
	}
	slices.Sort(samples)
	return samples[len(samples)/2], samples[len(samples)*99/100], len(samples), nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// rssKB reads VmRSS of a process.
func rssKB(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

// cpuSeconds reads utime+stime of a process (clock ticks of 1/100 s).
func cpuSeconds(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
}

// writeSyscalls reads the write system calls a process has made so far
// (syscw of /proc/PID/io).
func writeSyscalls(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

func selfCPUSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func ratio(goV, nodeV float64) string {
	if nodeV == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", goV/nodeV)
}

func report(cfg config, node, gosrv result, fwd forwardingResult) string {
	var b strings.Builder
	cpuModel := "unknown"
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(info), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpuModel = strings.TrimSpace(line[strings.IndexByte(line, ':')+1:])
				break
			}
		}
	}
	nodeVersion, _ := exec.Command("node", "--version").Output()
	fmt.Fprintf(&b, "# Benchmark results\n\nWritten by `make bench` (bench/runner) on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "## Machine\n\n- CPU: %s, %d logical cores (server, load generator and OS share them)\n- Go %s, Node %s- socket.io (Node) %s with its defaults: `ws` engine, in-memory adapter, no compression\n- @socket.io/redis-adapter %s, @socket.io/redis-streams-adapter %s, socket.io-client %s (Node)\n\n",
		cpuModel, runtime.NumCPU(), strings.TrimPrefix(runtime.Version(), "go"), string(nodeVersion), nodeModuleVersion(cfg, "socket.io"),
		nodeModuleVersion(cfg, "@socket.io/redis-adapter"), nodeModuleVersion(cfg, "@socket.io/redis-streams-adapter"), nodeModuleVersion(cfg, "socket.io-client"))
	fmt.Fprintf(&b, "## Commands\n\n```sh\nmake bench   # = go build -o bin/bench-goserver ./bench/goserver && go run ./bench/runner %s\n```\n\n", strings.Join(os.Args[1:], " "))
	fmt.Fprintf(&b, "Both servers run the same application (bench/goserver/main.go, bench/node/server.mjs): every socket joins room `all`; `echo` acks its arguments; `blast` emits `m` to room `all` `count` times. The load generator (bench/runner) is one Go process speaking the protocol over WebSocket; Node runs first, then Go, with the same parameters.\n\n")
	fmt.Fprintf(&b, "## Results\n\n| measure | Node socket.io | Go runtime | Go / Node |\n|---|---:|---:|---:|\n")
	row := func(name, unit string, n, g float64, better string) {
		fmt.Fprintf(&b, "| %s | %.1f %s | %.1f %s | %s (%s is better) |\n", name, n, unit, g, unit, ratio(g, n), better)
	}
	row(fmt.Sprintf("RSS per idle WebSocket client (%d clients)", cfg.clients), "KiB", node.RSSPerClientKB, gosrv.RSSPerClientKB, "lower")
	row(fmt.Sprintf("broadcast deliveries per second (%d clients, %d messages, median of %d)", cfg.clients, cfg.broadcasts, cfg.rounds), "/s", node.DeliveriesPerSec, gosrv.DeliveriesPerSec, "higher")
	row("server CPU seconds per million deliveries", "s", node.CPUSecPerMillion, gosrv.CPUSecPerMillion, "lower")
	row(fmt.Sprintf("emit→ack p50 (%d clients × %d/s for %s)", cfg.active, cfg.rate, cfg.duration), "ms", ms(node.P50), ms(gosrv.P50), "lower")
	row("emit→ack p99", "ms", ms(node.P99), ms(gosrv.P99), "lower")
	row(fmt.Sprintf("WebSocket handshakes per second (%d, %d concurrent)", cfg.handshakes, cfg.handshakeWorkers), "/s", node.WSHandshakesPerSec, gosrv.WSHandshakesPerSec, "higher")
	row("long-polling handshakes per second (open, connect, close)", "/s", node.PollingHandshakesPerSec, gosrv.PollingHandshakesPerSec, "higher")
	clusterReport(&b, cfg, node, gosrv, row)
	streamsReport(&b, cfg, node.Streams, gosrv.Streams, row)
	forwardingReport(&b, fwd)
	pollingReport(&b, cfg, node.Polling, gosrv.Polling, row)
	idleReport(&b, cfg, node.Idle, gosrv.Idle, row)
	capacityReport(&b, gosrv)
	fmt.Fprintf(&b, "\n## Raw numbers\n\n| | Node | Go |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| RSS before clients (KiB) | %d | %d |\n| RSS with clients (KiB) | %d | %d |\n", node.BaseRSSKB, gosrv.BaseRSSKB, node.LoadedRSSKB, gosrv.LoadedRSSKB)
	fmt.Fprintf(&b, "| server CPU during broadcast (%% of one core) | %.0f | %.0f |\n| load generator CPU during broadcast (%% of one core) | %.0f | %.0f |\n", node.ServerCPUPercent, gosrv.ServerCPUPercent, node.GeneratorCPUPercent, gosrv.GeneratorCPUPercent)
	fmt.Fprintf(&b, "| server write system calls per client during a broadcast round (%d messages) | %.1f | %.1f |\n", cfg.broadcasts, node.WritesPerClient, gosrv.WritesPerClient)
	fmt.Fprintf(&b, "| ack samples | %d | %d |\n", node.AckSamples, gosrv.AckSamples)
	fmt.Fprintf(&b, "| cross-server latency samples (classic / sharded) | %d / %d | %d / %d |\n", node.Cluster.LatencySamples, node.Sharded.LatencySamples, gosrv.Cluster.LatencySamples, gosrv.Sharded.LatencySamples)
	streamsRaw(&b, node.Streams, gosrv.Streams)
	pollingRaw(&b, cfg, node.Polling, gosrv.Polling)
	idleRaw(&b, node.Idle, gosrv.Idle)
	b.WriteString(analysis)
	b.WriteString(idleAnalysis)
	b.WriteString(pollingAnalysis)
	return b.String()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// nodeModuleVersion is the version of an installed npm package of the bench.
func nodeModuleVersion(cfg config, pkg string) string {
	b, err := os.ReadFile(filepath.Join(cfg.nodeDir, "node_modules", pkg, "package.json"))
	if err != nil {
		return "unknown"
	}
	s := string(b)
	i := strings.Index(s, `"version": "`)
	if i < 0 {
		return "unknown"
	}
	s = s[i+12:]
	return s[:strings.IndexByte(s, '"')]
}

// analysis explains the numbers that do not speak for themselves; it is part
// of every report.
const analysis = `
## Reading these numbers

- **Memory per idle WebSocket client**: an idle connection has no goroutine, no read buffer and no timer. The
  runtime parses client frames itself as bytes arrive, an epoll instance per server reads a socket only when it
  has bytes (a pong on the poller's own goroutine, a message on a short-lived reader), and one heartbeat wheel
  per server pings every session. A heap profile at 18,000
  clients (` + "`bench/runner -sections idle -only go -profile-dir DIR`" + `) went from 4.8 KiB of live heap per
  connection to 1.8 KiB with these changes (live heap per client, from the profiles before and after):
  the handshake kept as compact "Name: value" lines and the request URI, its header and query maps built only
  when ` + "`socket.Handshake()`" + ` is called (1.1 KiB → 0.14 KiB); event handlers in a slice instead of a map
  (0.65 → 0.06 KiB); the socket's context created on first use and its rarely set handler lists in a separate,
  lazily allocated struct (0.77 → 0.25 KiB); the own-id room implicit in the in-memory adapter (a flag on the
  socket's entry; ` + "`socket.Rooms()`" + ` still lists it) and a socket's rooms as a slice instead of a set
  (0.69 → 0.3 KiB); the per-session heartbeat timer replaced by the wheel (0.26 KiB → one 8-byte wheel entry);
  the client's namespace map replaced by a slice (0.17 KiB); the long-polling wake channel only for polling
  sessions. A second round took about 0.3 KiB more (to some 1.5 KiB; per client, from the structs' sizes in the
  allocator's size classes, finer than the sampled heap profile resolves):
  the accept wrapper that stamps HTTP requests (` + "`OrderRequests`" + `) dropped once a WebSocket has
  hijacked the connection (96 B); the WebSocket connection from 192 to 128 bytes, its frame reader's
  partial-frame state behind a pointer allocated only while a frame is incomplete (64 B); the poller's
  registrations in a slice indexed by descriptor instead of a map (about 30 B); the engine session from 192 to
  176 bytes and the Socket.IO socket from 208 to 176 (its creation time as Unix nanoseconds, its auth payload as
  a string) with their one-byte fields together (48 B); consecutive handshakes sharing an equal address and
  URL string (clients behind one proxy, or opening the same URL as the benchmark's do; 64 B here, nothing for a
  client with a query of its own). On the shared machine that took RSS per client from 4.1–4.6 KiB to
  3.7–4.05 KiB at 10,000 clients and from 3.9–4.1 KiB to 3.45–3.65 KiB at 18,000 (runs before and after).
  RSS is about twice the live heap (the GC lets the heap grow to
  twice what survived its last cycle before collecting; ` + "`GOGC`/`GOMEMLIMIT`" + ` trade CPU for it), plus the
  process's fixed buffers spread over the clients, which weigh more at 10,000 clients than at 18,000.
- **Broadcast fan-out** is encoded once, queued on every session, and a small pool of writers sends each session's
  accumulated frames in one system call, so a delivery costs a fraction of Node's CPU. What a delivery costs the
  Go server is mostly those system calls (a loopback write also does the receiver's TCP work), then the per-session
  queueing; the raw numbers give the write system calls per client for a round of messages. A broadcast to one large
  room (64 members or more) looks its members up once and keeps the list until a membership or a socket of the
  namespace changes, so a storm of broadcasts to a room walks a slice instead of two maps per message; a session's
  send queue starts at 16 entries instead of doubling from one; the writers take ready sessions 16 at a time from
  one list and only an idle writer is woken. Measured side by side with the server before these changes (the
  single-server section, Go only, interleaved runs on the shared machine): write system calls per client for 100
  messages 8.4, 8.8, 6.9 → 3.0, 2.9, 2.9, and server CPU per million deliveries 1.57, 1.84, 1.49 s → 0.45, 0.47,
  0.45 s. That figure moved with the machine (on 2026-12-03 the same server measured 0.97–1.30 s with 5.4–6.7
  writes per client): the writers, two on two cores, took the broadcasting handler's core in turns and caught up
  with it, each write carrying fewer frames. Two changes made it steadier. The flush pool runs one writer per core
  but one. And the fan-out works in batches: a broadcast to 10,000 sessions finds none of them in cache, and
  ` + "`perf`" + ` put 27% of the server's cycles on the lock and unlock of each session's queue, locked instructions
  that wait for every load and store before them, so each delivery's cache misses waited for the previous one's.
  The Socket.IO fan-out now reads 64 targets' sessions in a loop of plain loads and hands them to engineio's
  ` + "`Server.SendEach`" + `, which, 16 at a time, reads each session, takes the free locks without waiting, queues
  the messages on all of them and only then releases the locks, so the misses overlap; the fields a send touches
  come first in the structs. Go only, same machine, same hour: CPU per million deliveries 1.27–1.46 s → 1.05–1.16 s
  (one writer) → 0.42–0.60 s (batches too), writes per client for 100 messages 6.2–7.1 → 3.6–4.5 → 1.8–2.2.
- **Cross-server deliveries** (classic and sharded Pub/Sub): a loop of emits on A no longer waits for Redis
  between them. The Pub/Sub adapters queue each publish for one goroutine per process that sends whatever
  queued meanwhile in one pipeline, in order (requests wait for their own publish, behind the broadcasts before
  them), as Node's adapters send their publishes without waiting. Before, every broadcast waited for its
  ` + "`PUBLISH`" + ` to answer, so A's writers sent each message to A's clients on its own, one system call per
  message per client: the same runs, Go only, went from 0.8–1.1 M (classic) and 0.85–1.3 M (sharded) deliveries
  per second at 1.15–1.5 s of CPU per million to 1.65–1.94 M and 1.33–2.13 M at 0.5–0.85 s with 50 messages a
  round, and to 2.86–2.88 M and 2.15–2.57 M at 200. A round is now 200 messages: at 50, the Go pair finished a
  round in about 0.1 s, short enough for one scheduling delay to move the figure by a third.
- **Cross-server broadcast latency** is measured at a fixed offered load (cluster-rate broadcasts per second to
  every client of both servers). When that load is above what a pair of servers can deliver, the latency is the
  queueing delay of the backlog: at the defaults (20/s × 4,000 clients = 80,000 deliveries/s) the two Node servers,
  which deliver about 60,000/s, fall behind; the Go pair does not.
- **Streams adapter, what costs what**: a broadcast published on A is one ` + "`XADD`" + ` (A waits for the entry id, which
  becomes the packet's recovery offset, before it delivers locally: Node's ClusterAdapter and the Go adapter both
  do); B's reader gets up to 100 entries per ` + "`XREAD BLOCK`" + ` and fans each out to its own sockets with the
  offset appended. On A, Node's ` + "`emit`" + ` returns at once and the ` + "`XADD`" + `s of a loop of emits go out pipelined on
  one connection, where the Go adapter's broadcast returns once its ` + "`XADD`" + ` has answered: a handler emitting
  100 broadcasts waits 100 Redis round trips (and, a socket's handlers running one at a time, so does its client's
  next event). Redis works per broadcast, not per client (see its CPU in the raw numbers), so the cost per
  delivery is B's fan-out: both encode a packet once per broadcast, then Go queues it on every session and writes
  each session's accumulated frames in one system call, where Node's engine writes every frame to every socket on
  its own. The receivers of the deliveries and latency rows are the runner's protocol clients, as in the other
  sections: the official client costs more CPU per message than either server, and 2,000 of them in Node processes
  were the limit of an earlier version of this measure (their CPU near what the machine left them, the servers' far
  from it). The official clients remain where the measure needs them: the recovery after a drain.
- **Recovery after a drain** is, per client, a WebSocket handshake on B and a CONNECT carrying the private session
  id and offset, for which B takes the stored session from Redis (Node: ` + "`GETDEL`" + `; Go: ` + "`GET`+`DEL`" + ` in
  one transaction), checks the offset is still in the stream and reads the entries after it (` + "`XRANGE`" + `),
  then answers with the old socket id. With a short reconnection delay the reconnects come as one burst, and the
  time to the last one is set by whichever is slower to work through it: B, or the client processes, which share
  the cores and handle every close and reconnect of their sockets in one event loop each. The servers' CPU per
  client is the steadier comparison of the servers. Node closes the transport first and stores the session in
  Redis after (the client's close frame is on its way before the ` + "`SET`" + `), issuing the ` + "`SET`" + `s without
  waiting, from the one event-loop task that closes every session, so they reach Redis only after the whole loop;
  a client that reconnects to B sooner finds no session, connects as a new socket (` + "`recovered`" + ` false) and
  leaves its stored session to expire (the "sessions still in Redis" row). The Go runtime stores a session before
  it closes the transport (` + "`engineio.ClosingHandler`" + `), so no reconnect can come before it.
- **Latencies** are measured on a 2-core machine where the load generator shares the cores with the servers; a
  difference of a millisecond at p99 is within run-to-run noise.
`
