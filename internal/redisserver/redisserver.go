// Package redisserver starts real redis-server processes for tests and
// benchmarks (Debian's redis-server, installed by hack/install-deps.sh):
// loopback only, no persistence, killed with the process that started them.
package redisserver

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os/exec"
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
	port := opts.Port
	if port == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		_, port, _ = net.SplitHostPort(l.Addr().String())
		_ = l.Close()
	}
	args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	if opts.Password != "" {
		args = append(args, "--requirepass", opts.Password)
	}
	cmd := exec.Command("redis-server", append(args, opts.Args...)...)
	// Dies with the process that started it even when that one is killed
	// before its cleanups run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server (installed by hack/install-deps.sh): %w", err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", port), password: opts.Password, cmd: cmd}
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

// Start runs redis-server on port (a free one when empty) for a test, fails
// the test if it does not start, and stops it when the test ends.
func Start(t testing.TB, port string) *Server {
	t.Helper()
	return StartWith(t, Options{Port: port})
}

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startGuard)
	defer cancel()
	s, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
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
