package loopback

import (
	"fmt"
	"net"
	"testing"
)

// TestFreePortIsFree checks that the port is in range and can be listened on
// at once.
func TestFreePortIsFree(t *testing.T) {
	port := FreePort(t)
	if port <= 0 || port > 65535 {
		t.Fatalf("port %d out of range", port)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("listen on the free port %d: %v", port, err)
	}
	_ = ln.Close()
}
