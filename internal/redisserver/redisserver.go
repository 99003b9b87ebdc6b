// Package redisserver starts real redis-server processes for tests and
// benchmarks (Debian's redis-server, installed by hack/install-deps.sh):
// loopback only, no persistence, killed with the process that started them.
// A server can be a replica of another, and StartSentinel runs redis-server
// in Sentinel mode, so that tests can fail a primary over.
package redisserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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
	// TLS, when its files are set, serves TLS only on the port (no plaintext
	// port) and replicates over TLS.
	TLS TLSFiles
}

// TLSFiles are the PEM files of a server that serves TLS: its certificate
// and key, and the CA it verifies its primary (or a Sentinel its servers)
// with. Clients are not asked for certificates.
type TLSFiles struct {
	Cert, Key, CA string
}

// directives are the redis-server configuration lines that serve port:
// plaintext, or TLS only when the files are set.
func (f TLSFiles) directives(port string) []string {
	if f.Cert == "" {
		return []string{"port " + port}
	}
	return []string{"port 0", "tls-port " + port, "tls-cert-file " + f.Cert, "tls-key-file " + f.Key,
		"tls-ca-cert-file " + f.CA, "tls-auth-clients no", "tls-replication yes"}
}

// Server is a redis-server process on a loopback port.
type Server struct {
	// Addr is host:port.
	Addr     string
	password string
	cmd      *exec.Cmd
	dir      string // removed by Stop ("" for a Sentinel, whose directory the caller owns)
}

// Run starts redis-server and waits until it accepts connections or ctx
// ends. The caller stops it with Stop.
func Run(ctx context.Context, opts Options) (*Server, error) {
	port, err := freePort(opts.Port)
	if err != nil {
		return nil, err
	}
	// A directory of its own: a replica writes the primary's snapshot there.
	dir, err := os.MkdirTemp("", "redisserver-")
	if err != nil {
		return nil, err
	}
	var args []string
	for _, d := range opts.TLS.directives(port) {
		name, value, _ := strings.Cut(d, " ")
		args = append(args, "--"+name, value)
	}
	args = append(args, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if opts.Password != "" {
		args = append(args, "--requirepass", opts.Password, "--masterauth", opts.Password)
	}
	if opts.ReplicaOf != "" {
		host, masterPort, err := net.SplitHostPort(opts.ReplicaOf)
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("replica of %q: %w", opts.ReplicaOf, err)
		}
		args = append(args, "--replicaof", host, masterPort)
	}
	s, err := run(ctx, port, opts.Password, append(args, opts.Args...))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s.dir = dir
	return s, nil
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
	// TLS serves the Sentinel over TLS only and makes it reach the servers
	// over TLS.
	TLS TLSFiles
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
	conf := fmt.Sprintf("%s\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s %d\n"+
		"sentinel down-after-milliseconds %s %d\nsentinel failover-timeout %s %d\nsentinel parallel-syncs %s 1\n",
		strings.Join(opts.TLS.directives(port), "\n"), opts.Dir, opts.MasterName, host, masterPort, opts.Quorum,
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

// Client returns a client of the server at addr, over TLS verified with the
// PEM CA file ca when it is not empty; the caller closes it.
func Client(addr, password, ca string) *redis.Client {
	opts := &redis.Options{Addr: addr, Password: password}
	if ca != "" {
		pool := x509.NewCertPool()
		if pem, err := os.ReadFile(ca); err == nil {
			pool.AppendCertsFromPEM(pem)
		}
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: "localhost"}
	}
	return redis.NewClient(opts)
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

// Pause stops the process without closing its connections (SIGSTOP): a
// Redis that no longer answers, as a stalled or partitioned primary.
func (s *Server) Pause() error { return s.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused process (SIGCONT).
func (s *Server) Resume() error { return s.cmd.Process.Signal(syscall.SIGCONT) }

// Stop kills the process (SIGKILL; idempotent) and removes its directory.
func (s *Server) Stop() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// Failover is a primary with one replica and three Sentinels (quorum 2)
// monitoring it, all with one password: what a test needs to kill the
// primary and watch the Sentinels promote the replica.
type Failover struct {
	Primary, Replica *Server
	// Sentinels are the Sentinels' host:port addresses.
	Sentinels []string
	// MasterName is the name the Sentinels monitor the primary under.
	MasterName string
	password   string
}

// StartFailover starts a Failover for a test, with the Sentinels'
// down-after-milliseconds set to downAfter, and returns once each Sentinel
// knows the two others and the replica (a failover needs both; Sentinels
// meet through the primary every 2 s). Everything stops when the test ends.
func StartFailover(t testing.TB, masterName, password string, downAfter time.Duration) *Failover {
	t.Helper()
	f := &Failover{MasterName: masterName, password: password}
	f.Primary = StartWith(t, Options{Password: password})
	f.Replica = StartWith(t, Options{Password: password, ReplicaOf: f.Primary.Addr})
	dir := t.TempDir()
	for range 3 {
		s := StartSentinel(t, SentinelOptions{Dir: dir, Password: password, MasterName: masterName,
			Master: f.Primary.Addr, Quorum: 2, DownAfter: downAfter, FailoverTimeout: 10 * time.Second})
		f.Sentinels = append(f.Sentinels, s.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), failoverSetupGuard)
	defer cancel()
	for _, addr := range f.Sentinels {
		s := redis.NewSentinelClient(&redis.Options{Addr: addr, Password: password})
		for {
			others, err := s.Sentinels(ctx, masterName).Result()
			replicas, rerr := s.Replicas(ctx, masterName).Result()
			if err == nil && rerr == nil && len(others) == 2 && len(replicas) == 1 {
				break
			}
			if ctx.Err() != nil {
				_ = s.Close()
				t.Fatalf("Sentinel %s does not know the two others and the replica after %v", addr, failoverSetupGuard)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = s.Close()
	}
	return f
}

// failoverSetupGuard bounds StartFailover's wait for the Sentinels to meet;
// a failure guard, not a speed assertion.
const failoverSetupGuard = 60 * time.Second

// Client returns a client of one server of f; the caller closes it.
func (f *Failover) Client(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Password: f.password})
}

// Replicated waits until the replica acknowledged everything the primary
// wrote so far (WAIT 1), so that a failover keeps it.
func (f *Failover) Replicated(t testing.TB) {
	t.Helper()
	p := f.Client(f.Primary.Addr)
	defer p.Close()
	n, err := p.Do(context.Background(), "WAIT", 1, failoverSetupGuard.Milliseconds()).Int()
	if err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v: the replica did not acknowledge the writes", n, err)
	}
}

// Promoted reports whether the replica is the primary now.
func (f *Failover) Promoted() bool {
	r := f.Client(f.Replica.Addr)
	defer r.Close()
	info, err := r.Info(context.Background(), "replication").Result()
	return err == nil && strings.Contains(info, "role:master")
}
