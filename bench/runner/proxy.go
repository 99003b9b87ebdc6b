package main

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// proxy is a loopback TCP forwarder standing for the load balancer in front
// of two servers: each connection it accepts is forwarded to its current
// target, and retarget sends the next ones elsewhere (as a load balancer
// does with a draining pod's reconnecting clients).
type proxy struct {
	ln     net.Listener
	target atomic.Pointer[string]
	wg     sync.WaitGroup

	mu      sync.Mutex
	stopped bool
	conns   map[net.Conn]struct{}
}

func startProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, conns: map[net.Conn]struct{}{}}
	p.retarget(target)
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) retarget(addr string) { p.target.Store(&addr) }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

// forward copies both ways until either side closes, then closes both.
func (p *proxy) forward(c net.Conn) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", *p.target.Load(), 5*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(true, c, up) {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = up.Close()
	<-done
	p.track(false, c, up)
}

// track adds (or removes) connections to the set that stop closes; it
// closes them and reports false when the proxy is stopped.
func (p *proxy) track(add bool, conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		switch {
		case add && p.stopped:
			_ = c.Close()
		case add:
			p.conns[c] = struct{}{}
		default:
			delete(p.conns, c)
		}
	}
	return !p.stopped
}

// stop closes the listener and every connection, and waits for the
// forwarders.
func (p *proxy) stop() {
	_ = p.ln.Close()
	p.mu.Lock()
	p.stopped = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
