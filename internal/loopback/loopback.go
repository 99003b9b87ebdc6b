// Package loopback gives tests loopback ports to configure before a server
// starts (a forwarding pod's advertised admin address, an address nothing
// listens on).
package loopback

import (
	"net"
	"testing"
)

// FreePort returns a loopback port that was free a moment ago: it listens on
// 127.0.0.1:0, notes the port and closes the listener. Another process may
// take the port before the caller does; tests that start several servers
// take one port each.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick a loopback port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatalf("pick a loopback port: close the listener: %v", err)
	}
	return port
}
