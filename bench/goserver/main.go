// Command goserver is the Go side of the benchmark: the same application as
// bench/node/server.mjs, on runtime/socketio with the in-memory adapter.
//
//	"echo"  (args..., ack)     acks with the same arguments
//	"blast" ({count,payload})  emits "m" payload to room "all" count times, then acks
//
// Every socket joins room "all" on connection. With -redis the server joins
// a cluster through runtime/redisadapter: the classic protocol, with
// -adapter sharded the sharded Pub/Sub one (Node's createShardedAdapter),
// or with -adapter streams the streams adapter (@socket.io/redis-streams-adapter
// 0.3) with connection state recovery on (runtime/config's
// redis.adapter: streams with connectionStateRecovery.enabled). Then
// POST /drain closes every session at the transport level with the
// runtime's drainer (runtime/drain, the mechanism of the runtime's SIGTERM
// and admin POST /drain) over -drain-window, which keeps the sessions
// recoverable on another server.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketfleet/socketfleet/runtime/drain"
	"github.com/socketfleet/socketfleet/runtime/redisadapter"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until SIGTERM")
	memProfile := flag.String("memprofile", "", "write a heap profile to this file at SIGTERM, and at each SIGUSR1 to this file with the suffix .N (N counting from 1) and the runtime's memory statistics to .N.txt")
	redisAddr := flag.String("redis", "", "join a cluster through the Redis adapter at this host:port")
	adapter := flag.String("adapter", "classic", "with -redis: classic, sharded, or streams (with connection state recovery)")
	drainWindow := flag.Duration("drain-window", 100*time.Millisecond, "window of the drain started by POST /drain")
	flag.Parse()
	if *memProfile != "" {
		// Every 4 KiB allocated is sampled (the default is 512 KiB): the heap
		// profiles of a few thousand clients name what each of them holds.
		runtime.MemProfileRate = 4 << 10
	}
	if *cpuProfile != "" || *memProfile != "" {
		stop := profile(*cpuProfile, *memProfile)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		go func() {
			<-sig
			stop()
			os.Exit(0)
		}()
	}
	if *memProfile != "" {
		go snapshots(*memProfile)
	}

	opts := socketio.Options{}
	switch {
	case *redisAddr == "":
	case *adapter == "streams":
		// The runtime's defaults: runtime/config's connectionStateRecovery
		// block and redis.streams block left empty.
		cluster := redisadapter.NewStreams(redis.NewClient(&redis.Options{Addr: *redisAddr}), redisadapter.StreamsOptions{})
		opts.Adapter = cluster.Adapter
		opts.Recovery = &socketio.RecoveryOptions{MaxDisconnectionDuration: 2 * time.Minute, SkipMiddlewares: true}
	case *adapter == "classic":
		cluster := redisadapter.New(redis.NewClient(&redis.Options{Addr: *redisAddr}), redisadapter.Options{})
		opts.Adapter = cluster.Adapter
	case *adapter == "sharded":
		cluster := redisadapter.NewSharded(redis.NewClient(&redis.Options{Addr: *redisAddr}), redisadapter.ShardedOptions{})
		opts.Adapter = cluster.Adapter
	default:
		log.Fatalf("unknown -adapter %q", *adapter)
	}
	srv := socketio.NewServer(opts)
	nsp := srv.Of("/")
	nsp.OnConnection(func(s *socketio.Socket) {
		s.Join("all")
		s.On("echo", func(_ context.Context, ev *socketio.Event) {
			args := make([]any, len(ev.Args()))
			for i, a := range ev.Args() {
				args[i] = a
			}
			_ = ev.Ack(args...)
		})
		s.On("blast", func(_ context.Context, ev *socketio.Event) {
			var req struct {
				Count   int             `json:"count"`
				Payload json.RawMessage `json:"payload"`
			}
			if err := ev.Bind(&req); err != nil {
				_ = ev.Ack(err.Error())
				return
			}
			for range req.Count {
				_ = nsp.To("all").Emit("m", req.Payload)
			}
			_ = ev.Ack("done")
		})
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// As the runtime serves its public port (runtime/app): the requests of a
	// polling session in arrival order, which also lets the engine park
	// waiting and idle long-polling connections with no goroutine.
	hs := &http.Server{Handler: withDrain(srv, *drainWindow), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	ln = srv.Engine().OrderRequests(hs, ln)
	log.Printf("listening %s", ln.Addr())
	log.Fatal(hs.Serve(ln))
}

// withDrain answers POST /drain by starting a drain of srv's sessions with
// the runtime's drainer (as runtime/app does), and serves everything else
// with srv.
func withDrain(srv *socketio.Server, window time.Duration) http.Handler {
	list := func() (out []drain.Session) {
		for _, s := range srv.Engine().Sessions() {
			out = append(out, s)
		}
		return out
	}
	drainer := drain.New(list, drain.Options{Window: window})
	mux := http.NewServeMux()
	mux.Handle("/", srv)
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, _ *http.Request) {
		drainer.Start()
		w.WriteHeader(http.StatusAccepted)
	})
	return mux
}

// snapshots writes a heap profile to memFile.N at the N-th SIGUSR1 (the
// runner's measure point), and where the process's memory is to
// memFile.N.txt.
func snapshots(memFile string) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	for n := 1; ; n++ {
		<-sig
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		stats := fmt.Sprintf("goroutines %d, heap in use %d KiB (allocated %d KiB, next GC at %d KiB), heap idle %d KiB (released %d KiB), stacks %d KiB, spans %d KiB, GC metadata %d KiB, other %d KiB, sys %d KiB\n",
			runtime.NumGoroutine(), m.HeapInuse>>10, m.HeapAlloc>>10, m.NextGC>>10, m.HeapIdle>>10, m.HeapReleased>>10,
			m.StackInuse>>10, m.MSpanInuse>>10, m.GCSys>>10, m.OtherSys>>10, m.Sys>>10)
		f, err := os.Create(fmt.Sprintf("%s.%d", memFile, n))
		if err != nil {
			log.Printf("heap profile: %v", err)
			continue
		}
		runtime.GC()
		runtime.ReadMemStats(&m)
		stats += fmt.Sprintf("after a GC: heap allocated %d KiB, heap in use %d KiB, stacks %d KiB\n", m.HeapAlloc>>10, m.HeapInuse>>10, m.StackInuse>>10)
		if err := pprof.WriteHeapProfile(f); err != nil {
			log.Printf("heap profile: %v", err)
		}
		_ = f.Close()
		if err := os.WriteFile(fmt.Sprintf("%s.%d.txt", memFile, n), []byte(stats), 0o644); err != nil {
			log.Printf("memory statistics: %v", err)
		}
	}
}

// profile starts the requested profiles and returns the function that
// writes them.
func profile(cpuFile, memFile string) (stop func()) {
	var cpu *os.File
	if cpuFile != "" {
		f, err := os.Create(cpuFile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		cpu = f
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if memFile != "" {
			f, err := os.Create(memFile)
			if err != nil {
				log.Fatal(err)
			}
			runtime.GC()
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
}
