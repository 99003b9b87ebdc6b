// Package redisserver starts real redis-server processes for tests and
// benchmarks (Debian's redis-server, installed by hack/install-deps.sh):
// loopback only, no persistence, killed with the process that started them.
// A server can be a replica of another, and StartSentinel runs redis-server
// in Sentinel mode, so that tests can fail a primary over.
package redisserver

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// startGuard bounds how long Start waits for the server to accept
// connections; a failure guard, not a speed assertion.
const startGuard = 10 * time.Second

// Options configures a redis-server. The zero value is a server on a free
// port without a password.
type Options struct {
	// Port is the port to listen on (a free one when empty), e.g. to restart
	// a stopped server on its old port.
	Port string
	// Password sets requirepass: clients must AUTH with it.
	Password string
	// Args are extra redis-server arguments (e.g. "--notify-keyspace-events", "KEA").
	Args []string
	// ReplicaOf makes the server a replica of this host:port, authenticating
	// to it with Password.
	ReplicaOf string
}

// Server is a redis-server process on a loopback port.
type Server struct {
	// Addr is host:port.
	Addr     string
	password string
	cmd      *exec.Cmd
}

// Run starts redis-server and waits until it accepts connections or ctx
// ends. The caller stops it with Stop.
func Run(ctx context.Context, opts Options) (*Server, error) {
	port, err := freePort(opts.Port)
	if err != nil {
		return nil, err
	}
	args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	if opts.Password != "" {
		args = append(args, "--requirepass", opts.Password, "--masterauth", opts.Password)
	}
	if opts.ReplicaOf != "" {
		host, masterPort, err := net.SplitHostPort(opts.ReplicaOf)
		if err != nil {
			return nil, fmt.Errorf("replica of %q: %w", opts.ReplicaOf, err)
		}
		args = append(args, "--replicaof", host, masterPort)
	}
	return run(ctx, port, opts.Password, append(args, opts.Args...))
}

// freePort returns port, or a free one when it is empty.
func freePort(port string) (string, error) {
	if port != "" {
		return port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	_, port, _ = net.SplitHostPort(l.Addr().String())
	_ = l.Close()
	return port, nil
}

// run starts redis-server with args and waits until it accepts connections
// on port or ctx ends.
func run(ctx context.Context, port, password string, args []string) (*Server, error) {
	cmd := exec.Command("redis-server", args...)
	// Dies with the process that started it even when that one is killed
	// before its cleanups run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server (installed by hack/install-deps.sh): %w", err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", port), password: password, cmd: cmd}
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", s.Addr)
		if err == nil {
			_ = c.Close()
			return s, nil
		}
		select {
		case <-ctx.Done():
			s.Stop()
			return nil, fmt.Errorf("redis-server on %s did not start: %w", s.Addr, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// SentinelOptions configures a Sentinel (redis-server --sentinel).
type SentinelOptions struct {
	// Dir holds the configuration file, which Sentinel rewrites (e.g.
	// t.TempDir()).
	Dir string
	// Password is the Sentinel's own requirepass and the password it
	// authenticates to the monitored servers with.
	Password string
	// MasterName and Master (host:port) are the primary to monitor.
	MasterName, Master string
	// Quorum is the number of Sentinels that must agree the primary is down.
	Quorum int
	// DownAfter and FailoverTimeout are down-after-milliseconds and
	// failover-timeout.
	DownAfter, FailoverTimeout time.Duration
}

// StartSentinel runs a Sentinel on a free port for a test, fails the test
// if it does not start, and stops it when the test ends.
func StartSentinel(t testing.TB, opts SentinelOptions) *Server {
	t.Helper()
	return startFor(t, func(ctx context.Context) (*Server, error) { return RunSentinel(ctx, opts) })
}

// startFor runs a server with run for a test, bounded by startGuard, fails
// the test if it does not start, and stops it when the test ends.
func startFor(t testing.TB, run func(context.Context) (*Server, error)) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startGuard)
	defer cancel()
	s, err := run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// RunSentinel starts a Sentinel on a free port and waits until it accepts
// connections or ctx ends. The caller stops it with Stop.
func RunSentinel(ctx context.Context, opts SentinelOptions) (*Server, error) {
	port, err := freePort("")
	if err != nil {
		return nil, err
	}
	host, masterPort, err := net.SplitHostPort(opts.Master)
	if err != nil {
		return nil, fmt.Errorf("master %q: %w", opts.Master, err)
	}
	conf := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s %d\n"+
		"sentinel down-after-milliseconds %s %d\nsentinel failover-timeout %s %d\nsentinel parallel-syncs %s 1\n",
		port, opts.Dir, opts.MasterName, host, masterPort, opts.Quorum,
		opts.MasterName, opts.DownAfter.Milliseconds(), opts.MasterName, opts.FailoverTimeout.Milliseconds(), opts.MasterName)
	if opts.Password != "" {
		conf += fmt.Sprintf("requirepass %q\nsentinel auth-pass %s %q\n", opts.Password, opts.MasterName, opts.Password)
	}
	file := filepath.Join(opts.Dir, "sentinel-"+port+".conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("write sentinel config: %w", err)
	}
	return run(ctx, port, opts.Password, []string{file, "--sentinel"})
}

// Start runs redis-server on port (a free one when empty) for a test, fails
// the test if it does not start, and stops it when the test ends.
func Start(t testing.TB, port string) *Server {
	t.Helper()
	return StartWith(t, Options{Port: port})
}

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	return startFor(t, func(ctx context.Context) (*Server, error) { return Run(ctx, opts) })
}

// Port returns the port of Addr.
func (s *Server) Port() string {
	_, port, _ := net.SplitHostPort(s.Addr)
	return port
}

// URL returns the redis:// URL of database 0, with the password if one is
// set.
func (s *Server) URL() string {
	u := url.URL{Scheme: "redis", Host: s.Addr, Path: "/0"}
	if s.password != "" {
		u.User = url.UserPassword("", s.password)
	}
	return u.String()
}

// Stop kills the process (idempotent).
func (s *Server) Stop() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}
