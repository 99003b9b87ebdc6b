// Package redisserver starts real redis-server processes for tests
// (Debian's redis-server, installed by hack/install-deps.sh).
package redisserver

import (
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Server is a redis-server process on a loopback port.
type Server struct {
	// Addr is host:port.
	Addr string
	cmd  *exec.Cmd
}

// Start runs redis-server on port (a free one when empty) without
// persistence, waits until it accepts connections, and stops it when the
// test ends.
func Start(t testing.TB, port string) *Server {
	t.Helper()
	if port == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ = net.SplitHostPort(l.Addr().String())
		l.Close()
	}
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	// Dies with the test process even when the test binary is killed before
	// its cleanups run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server (installed by hack/install-deps.sh): %v", err)
	}
	s := &Server{Addr: "127.0.0.1:" + port, cmd: cmd}
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", s.Addr)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start: %v", s.Addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Port returns the port of Addr.
func (s *Server) Port() string {
	_, port, _ := net.SplitHostPort(s.Addr)
	return port
}

// Stop kills the process (idempotent).
func (s *Server) Stop() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}
