package engineio

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// readPoller watches many WebSocket connections with one epoll instance, so
// that a quiet connection costs no goroutine and no stack. A WebSocket
// connection is registered edge-triggered: the poller's goroutine reads it
// itself when it has bytes and handles a lone heartbeat pong there (the
// only thing an idle client sends), with no system call to re-arm it and
// no goroutine; anything else goes on to a short-lived reader goroutine
// (wsConn.pollEvent). A parked long-polling connection is registered
// one-shot and read on a goroutine (parkedConn.pollEvent).
type readPoller struct {
	epfd int
	wake int // eventfd that stops the wait loop

	mu sync.Mutex
	// conns holds the pollees by file descriptor: descriptors are small
	// and dense, and a slot of a slice costs less than a map entry.
	conns  []pollee
	nextID uint32 // registration ids tell a reused descriptor apart
	closed bool

	readers sync.WaitGroup // the wait loop and the readers it started
}

// pollEvents are the events of a one-shot registration (parked
// connections): after an event it stays disarmed until rearmReg.
const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// wsPollEvents are the events of a WebSocket connection: edge-triggered, an
// event for every arrival of bytes, never re-armed (wsConn.readState keeps
// one reader at a time).
const wsPollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET

// pollBufferSize is the size of the poller's own read buffer: what one read
// on the poller's goroutine takes before it hands a connection on to a
// reader goroutine.
const pollBufferSize = 4096

// newReadPoller starts a poller.
func newReadPoller() (*readPoller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("engineio: epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("engineio: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wake)
		return nil, fmt.Errorf("engineio: epoll add eventfd: %w", err)
	}
	p := &readPoller{epfd: epfd, wake: wake}
	p.readers.Add(1)
	go p.wait()
	return p, nil
}

// pollee is what the poller watches: a WebSocket connection or a parked
// long-polling connection (park.go).
type pollee interface {
	// pollEvent runs on the poller's goroutine when the socket has bytes
	// (or was closed by the peer). It must not wait: work that may is
	// done on a goroutine counted in p.readers. buf is the poller's read
	// buffer, not to be retained.
	pollEvent(p *readPoller, buf []byte)
	// pollKey is the registration id given by register.
	pollKey() uint32
}

// pollEvent reads a parked connection on a goroutine of its own.
func (pc *parkedConn) pollEvent(p *readPoller, _ []byte) {
	p.readers.Add(1)
	go func() {
		defer p.readers.Done()
		pc.readReady(p)
	}()
}

// pollReg is the registration of a pollee.
type pollReg struct {
	rc     syscall.RawConn
	fd     int32
	pollID uint32
}

func (r *pollReg) pollKey() uint32 { return r.pollID }

// register arms raw's socket for pl, after set has stored the registration
// (a reader may start as soon as it is armed). It reports false when raw
// cannot be watched (it is not a socket of this process, or the poller is
// closed).
func (p *readPoller) register(raw any, pl pollee, set func(pollReg)) bool {
	return p.registerEvents(raw, pl, pollEvents, set)
}

// registerEvents is register with the given epoll events.
func (p *readPoller) registerEvents(raw any, pl pollee, events uint32, set func(pollReg)) bool {
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	registered := false
	err = rc.Control(func(fd uintptr) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			return
		}
		p.nextID++
		reg := pollReg{rc: rc, fd: int32(fd), pollID: p.nextID}
		set(reg)
		ev := unix.EpollEvent{Events: events, Fd: reg.fd, Pad: int32(reg.pollID)}
		if unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev) != nil {
			return
		}
		if int(reg.fd) >= len(p.conns) {
			p.conns = append(p.conns, make([]pollee, int(reg.fd)+1-len(p.conns))...)
		}
		p.conns[reg.fd] = pl
		registered = true
	})
	return err == nil && registered
}

// watch registers c and sets c.polled. It reports false when c cannot be
// watched (it is not a socket of this process, or the poller is closed).
func (p *readPoller) watch(c *wsConn) bool {
	ok := p.registerEvents(c.raw, c, wsPollEvents, func(reg pollReg) {
		// Set before the descriptor is armed: a reader may start (and close
		// c, which needs c.polled) as soon as p.mu is released.
		c.rc, c.fd, c.pollID, c.polled = reg.rc, reg.fd, reg.pollID, true
		c.directWrite = canWriteDirectly(c.raw)
	})
	if !ok {
		c.polled = false
	}
	return ok
}

// rearmReg asks for the next event of a registration, unless the poller is
// closed (it reports false then).
func (p *readPoller) rearmReg(reg *pollReg) bool {
	armed := false
	_ = reg.rc.Control(func(fd uintptr) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			return
		}
		ev := unix.EpollEvent{Events: pollEvents, Fd: reg.fd, Pad: int32(reg.pollID)}
		armed = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev) == nil
	})
	return armed
}

// unregister removes a registration whose socket stays open (a parked
// connection given back to the HTTP server).
func (p *readPoller) unregister(reg *pollReg, pl pollee) {
	_ = reg.rc.Control(func(fd uintptr) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.lookup(reg.fd) == pl {
			p.conns[reg.fd] = nil
		}
		if !p.closed {
			_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		}
	})
}

// canWriteDirectly reports whether a connection's writes may bypass its
// Write: a plain TCP or Unix socket, or a wrapper that counts the bytes
// written past Write.
func canWriteDirectly(conn net.Conn) bool {
	if raceEnabled {
		return false
	}
	switch conn.(type) {
	case *net.TCPConn, *net.UnixConn, WriteCounter:
		return true
	}
	return false
}

// lookup returns the pollee registered for fd, or nil. p.mu is held.
func (p *readPoller) lookup(fd int32) pollee {
	if fd < 0 || int(fd) >= len(p.conns) {
		return nil
	}
	return p.conns[fd]
}

// forget drops c before its descriptor is closed; closing removes it from
// the epoll set.
func (p *readPoller) forget(c *wsConn) {
	p.mu.Lock()
	if p.lookup(c.fd) == pollee(c) {
		p.conns[c.fd] = nil
	}
	p.mu.Unlock()
}

// watching returns the number of registered WebSocket connections.
func (p *readPoller) watching() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.conns {
		if _, ok := c.(*wsConn); ok {
			n++
		}
	}
	return n
}

// wait dispatches events until the poller is closed.
func (p *readPoller) wait() {
	defer p.readers.Done()
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, pollBufferSize)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(p.wake) {
				return
			}
			p.mu.Lock()
			c := p.lookup(ev.Fd)
			p.mu.Unlock()
			if c == nil || c.pollKey() != uint32(ev.Pad) {
				continue // closed meanwhile
			}
			c.pollEvent(p, buf)
		}
	}
}

// close stops the wait loop and waits for the readers it started. It
// reports false when the poller was already closed.
func (p *readPoller) close() bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	p.closed = true
	p.mu.Unlock()
	var one [8]byte
	one[0] = 1 // eventfd counters are host-endian; any non-zero value wakes
	_, _ = unix.Write(p.wake, one[:])
	p.readers.Wait()
	_ = unix.Close(p.epfd)
	_ = unix.Close(p.wake)
	// Parked connections go back to their HTTP server (or are closed).
	p.mu.Lock()
	var parked []*parkedConn
	for fd, c := range p.conns {
		if pc, ok := c.(*parkedConn); ok {
			parked = append(parked, pc)
			p.conns[fd] = nil
		}
	}
	p.mu.Unlock()
	for _, pc := range parked {
		pc.pollerClosed()
	}
	return true
}

// readNow reads what the socket holds without waiting. It returns
// errWouldBlock when there is nothing.
func (c *wsConn) readNow(buf []byte) (int, error) {
	n, err := readRawNow(c.rc, buf)
	if n > 0 {
		if rc, ok := c.raw.(ReadCounter); ok {
			rc.CountRead(n)
		}
	}
	return n, err
}

// readRawNow reads what the socket of rc holds without waiting. It returns
// errWouldBlock when there is nothing, errPeerClosed at the end of the
// stream.
func readRawNow(rc syscall.RawConn, buf []byte) (int, error) {
	var n int
	var rerr error
	err := rc.Read(func(fd uintptr) bool {
		n, rerr = unix.Read(int(fd), buf)
		return true // never park: the poller says when to come back
	})
	switch {
	case err != nil:
		return 0, err
	case errors.Is(rerr, unix.EAGAIN):
		return 0, errWouldBlock
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, errPeerClosed
	}
	return n, nil
}

// pollEvent runs on the poller's goroutine when c has bytes. Unless a reader
// goroutine has c (which then reads again), the poller reads the socket
// itself: a lone heartbeat pong, what an idle client sends every
// pingInterval, is handled right there; anything else (messages, a close, an
// error, more than the buffer holds) goes on to a reader goroutine with the
// bytes read.
func (c *wsConn) pollEvent(p *readPoller, buf []byte) {
	for {
		switch c.readState.Load() {
		case readIdle:
			if !c.readState.CompareAndSwap(readIdle, readBusy) {
				continue
			}
		case readBusy:
			if !c.readState.CompareAndSwap(readBusy, readAgain) {
				continue
			}
			return
		default: // readAgain
			return
		}
		break
	}
	n, err := c.readNow(buf)
	switch {
	case errors.Is(err, errWouldBlock):
		c.endRead(p)
		return
	case err == nil && n < len(buf) && c.isLonePong(buf[:n]):
		c.sess.receive(incoming{typ: packetPong})
		c.endRead(p)
		return
	}
	data := append([]byte(nil), buf[:n]...)
	more := err == nil && n == len(buf)
	p.readers.Add(1)
	go func() {
		defer p.readers.Done()
		c.readOn(data, err, more)
	}()
}

// isLonePong reports whether b is exactly one masked text frame holding an
// Engine.IO pong ("3") with no partial frame or message before it: the
// poller handles it without a reader goroutine.
func (c *wsConn) isLonePong(b []byte) bool {
	return len(b) == 7 && b[0] == 0x80|opText && b[1] == 0x80|1 && b[6]^b[2] == packetPong &&
		!c.probing && c.frames.idle()
}

// endRead gives c back to the poller, or, when bytes arrived meanwhile,
// reads them on a reader goroutine.
func (c *wsConn) endRead(p *readPoller) {
	if c.readState.CompareAndSwap(readBusy, readIdle) {
		return
	}
	p.readers.Add(1)
	go func() {
		defer p.readers.Done()
		c.readOn(nil, nil, true)
	}()
}

func (c *wsConn) pollKey() uint32 { return c.pollID }

// writeNow writes what the socket takes without waiting: it returns how
// much of b was written, and errWouldBlock when the socket buffer is full
// (or a deadline of an earlier write has passed: the caller's deadline
// write takes over). Only for connections with directWrite.
func (c *wsConn) writeNow(b []byte) (int, error) {
	dw := directWrites.Get().(*directWrite)
	dw.b = b
	err := c.rc.Write(dw.fn)
	n, werr := dw.n, dw.err
	*dw = directWrite{fn: dw.fn}
	directWrites.Put(dw)
	if n < 0 {
		n = 0
	}
	if n > 0 {
		if wc, ok := c.raw.(WriteCounter); ok {
			wc.CountWrite(n)
		}
	}
	switch {
	case err != nil, errors.Is(werr, unix.EAGAIN):
		return n, errWouldBlock
	case werr != nil:
		return n, werr
	}
	return n, nil
}

// directWrite is one write system call for RawConn.Write, kept in a pool
// with its callback bound once, so that a write allocates nothing.
type directWrite struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

var directWrites = sync.Pool{New: func() any {
	dw := &directWrite{}
	dw.fn = dw.write
	return dw
}}

// write never parks: the caller waits with a deadline when needed.
func (dw *directWrite) write(fd uintptr) bool {
	dw.n, dw.err = unix.Write(int(fd), dw.b)
	return true
}
