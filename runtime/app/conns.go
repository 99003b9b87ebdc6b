package app

import (
	"net"
	"net/http"
	"sync"
)

// givenBackConns finds, among the connections of an http.Server, the ones
// the Engine.IO server gave back after parking them (a long-polling GET it
// answered itself), so that a stop can close them like idle keep-alive
// connections.
//
// net/http counts a given-back connection as new (it comes from the
// listener's Accept), and http.Server.Shutdown waits up to 5 s for a new
// connection to send its first request; a client that keeps it pooled (a
// balancer, or a peer forwarding to this pod's admin listener) sends none,
// so every stop waited those 5 s. A given-back connection is not new: it is
// a keep-alive connection between two requests, which Shutdown closes at
// once. The tracker tells the two apart by the remote address of each
// connection the listener accepted (a connection's address is unique among
// the open ones): a connection entering http.StateNew that the wrapped
// listener did not just accept was given back. It holds one entry per
// connection in http.StateNew, so it stays as small as the server's
// connections.
type givenBackConns struct {
	mu       sync.Mutex
	accepted map[string]struct{}   // remote addresses accepted, not yet seen in StateNew
	waiting  map[net.Conn]struct{} // given back, no request read since
	stopping bool
}

func newGivenBackConns() *givenBackConns {
	return &givenBackConns{accepted: map[string]struct{}{}, waiting: map[net.Conn]struct{}{}}
}

// listen wraps ln (the listener under the Engine.IO server's OrderRequests)
// and hooks hs.ConnState (calling the one already set); call it before
// OrderRequests, which chains to it.
func (t *givenBackConns) listen(hs *http.Server, ln net.Listener) net.Listener {
	next := hs.ConnState
	hs.ConnState = func(c net.Conn, state http.ConnState) {
		t.observe(c, state)
		if next != nil {
			next(c, state)
		}
	}
	return &acceptNoting{Listener: ln, t: t}
}

// observe follows one connection's state.
func (t *givenBackConns) observe(c net.Conn, state http.ConnState) {
	t.mu.Lock()
	if state != http.StateNew {
		delete(t.waiting, c)
		t.mu.Unlock()
		return
	}
	addr := c.RemoteAddr().String()
	if _, ok := t.accepted[addr]; ok {
		delete(t.accepted, addr)
		t.mu.Unlock()
		return
	}
	if t.stopping {
		t.mu.Unlock()
		_ = c.Close() // net/http's read fails and it forgets the connection
		return
	}
	t.waiting[c] = struct{}{}
	t.mu.Unlock()
}

// stop closes the given-back connections that have not sent a request since,
// and those given back from now on. Call it once the Engine.IO server is
// closed: only Engine.IO requests are parked, and it would only refuse them.
func (t *givenBackConns) stop() {
	t.mu.Lock()
	t.stopping = true
	conns := make([]net.Conn, 0, len(t.waiting))
	for c := range t.waiting {
		conns = append(conns, c)
	}
	clear(t.waiting)
	t.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// acceptNoting notes the remote address of every connection it accepts.
type acceptNoting struct {
	net.Listener
	t *givenBackConns
}

func (l *acceptNoting) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.t.mu.Lock()
	l.t.accepted[c.RemoteAddr().String()] = struct{}{}
	l.t.mu.Unlock()
	return c, nil
}
