package metrics

import (
	"errors"
	"net"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// CountBytes wraps a listener so that the bytes read from and written to its
// connections (hijacked WebSocket connections included) are added to the
// socketfleet_received_bytes_total and socketfleet_sent_bytes_total series
// of the named listener.
func (m *Metrics) CountBytes(l net.Listener, name string) net.Listener {
	return &countingListener{Listener: l, in: m.BytesReceived.WithLabelValues(name), out: m.BytesSent.WithLabelValues(name)}
}

type countingListener struct {
	net.Listener
	in, out prometheus.Counter
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l *countingListener
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.l.in.Add(float64(n))
	}
	return n, err
}

// CountRead counts bytes read from the socket past Read (the WebSocket read
// poller reads the descriptor directly).
func (c *countingConn) CountRead(n int) { c.l.in.Add(float64(n)) }

// SyscallConn exposes the socket, so that the WebSocket read poller can
// watch it.
func (c *countingConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("metrics: connection has no file descriptor")
	}
	return sc.SyscallConn()
}

// CountWrite counts bytes written to the socket past Write (a WebSocket
// write that the socket buffer takes at once goes to the descriptor).
func (c *countingConn) CountWrite(n int) { c.l.out.Add(float64(n)) }

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.l.out.Add(float64(n))
	}
	return n, err
}
