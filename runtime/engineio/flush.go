package engineio

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"time"
)

// fastWriteWait is how long a pool worker waits on one client's socket
// before handing the rest of the write to a goroutine of its own.
const fastWriteWait = 20 * time.Millisecond

// queueStartCap is the capacity a session's empty send queue starts with.
const queueStartCap = 16

// flushPool writes the queues of WebSocket sessions with a few long-lived
// workers instead of a goroutine per send. A session waits in the pool's
// ready list while its messages accumulate, so a broadcast storm turns into
// one system call per session carrying many frames, and an idle session
// costs no goroutine. A client that does not read fast enough is moved off
// the pool to a goroutine of its own, so it cannot stall the others.
//
// The ready list is a slice under one mutex: scheduling a session is an
// append, a worker takes up to flushGrab sessions per lock, and a worker is
// woken only when it is idle (a broadcast to thousands of sessions wakes
// each idle worker once, not once per session).
type flushPool struct {
	mu    sync.Mutex
	ready []*Session // sessions waiting for a worker, from head on
	head  int
	idle  int           // workers waiting for a token of wake
	wake  chan struct{} // buffered: one token per worker at most
	done  chan struct{}
	wg    *sync.WaitGroup

	startOnce sync.Once
	stopOnce  sync.Once
}

const (
	// maxReady bounds the ready list; a session scheduled beyond it gets a
	// writer goroutine of its own.
	maxReady = 1 << 16
	// flushGrab is how many ready sessions a worker takes at a time.
	flushGrab = 16
	// keptReady is the largest ready list capacity kept while the list
	// is empty.
	keptReady = 4096
)

func newFlushPool(wg *sync.WaitGroup) *flushPool {
	return &flushPool{done: make(chan struct{}), wg: wg}
}

// schedule queues s for writing. s.mu is held and s.flushing was just set.
func (p *flushPool) schedule(s *Session) {
	if s.schedulesAlone() {
		p.wg.Add(1)
		go s.flushAlone()
		return
	}
	p.scheduleAll([]*Session{s})
}

// scheduleAll queues sessions for writing under one lock of the ready
// list. Each was just given s.flushing and writes through the pool
// (schedulesAlone is false); their s.mu need not be held.
func (p *flushPool) scheduleAll(sessions []*Session) {
	if len(sessions) == 0 {
		return
	}
	p.startOnce.Do(p.start)
	p.mu.Lock()
	for _, s := range sessions {
		if len(p.ready)-p.head >= maxReady {
			// The pool is swamped: this session gets its own writer.
			p.wg.Add(1)
			go s.flushAlone()
			continue
		}
		p.ready = append(p.ready, s)
		if p.idle > 0 {
			p.idle--
			p.wake <- struct{}{} // never blocks: a token per idle worker
		}
	}
	p.mu.Unlock()
}

// schedulesAlone reports whether schedule gives s a writer goroutine of
// its own instead of the pool's. s.mu is held.
func (s *Session) schedulesAlone() bool { return s.ws.gorilla != nil }

// start starts the workers: one per core but one, which is left to the
// goroutines that fan broadcasts out and read the clients. Writers on
// every core would take the fan-out's core in turns and write each
// session sooner, with fewer frames per system call: more CPU per message
// for the same messages.
func (p *flushPool) start() {
	n := max(1, runtime.GOMAXPROCS(0)-1)
	p.wake = make(chan struct{}, n)
	for range n {
		p.wg.Add(1)
		go p.work()
	}
}

// work is one worker: it writes the ready sessions until the pool stops.
func (p *flushPool) work() {
	defer p.wg.Done()
	batch := make([]*Session, 0, flushGrab)
	for {
		var ok bool
		if batch, ok = p.take(batch[:0]); !ok {
			return
		}
		for i, s := range batch {
			s.flushStep()
			batch[i] = nil
		}
	}
}

// take appends up to flushGrab ready sessions to batch, waiting for one if
// there is none; it returns false when the pool stops.
func (p *flushPool) take(batch []*Session) ([]*Session, bool) {
	p.mu.Lock()
	for p.head == len(p.ready) {
		if cap(p.ready) > keptReady {
			p.ready = nil
		} else {
			p.ready = p.ready[:0]
		}
		p.head = 0
		p.idle++
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-p.done:
			return batch, false
		}
		p.mu.Lock()
	}
	end := min(p.head+flushGrab, len(p.ready))
	batch = append(batch, p.ready[p.head:end]...)
	clear(p.ready[p.head:end])
	p.head = end
	if p.head >= keptReady && 2*p.head >= len(p.ready) {
		// Move the rest to the front, so that a list that never empties
		// during a long storm does not grow.
		n := copy(p.ready, p.ready[p.head:])
		clear(p.ready[n:])
		p.ready = p.ready[:n]
		p.head = 0
	}
	p.mu.Unlock()
	return batch, true
}

// stop ends the workers (the server is closing; its sessions are closed).
func (p *flushPool) stop() { p.stopOnce.Do(func() { close(p.done) }) }

// takeBatch returns the queued messages and the connection to write them
// to, or clears s.flushing (closing the session if a graceful close is done)
// and returns nil.
func (s *Session) takeBatch() ([]*Message, *wsConn) {
	s.mu.Lock()
	batch := s.takeQueueLocked()
	if len(batch) > 0 && s.state != stateClosed {
		conn := s.ws
		s.mu.Unlock()
		return batch, conn
	}
	s.flushing = false
	closing, reason := s.state == stateClosing, s.closeReason
	s.mu.Unlock()
	if closing {
		s.finish(reason)
	}
	return nil, nil
}

// flushStep is one pool worker's turn on s: write what is queued, then put s
// back in the pool's queue if more arrived meanwhile.
func (s *Session) flushStep() {
	batch, conn := s.takeBatch()
	if batch == nil {
		return
	}
	s.afterFlushWrite(conn.writeBatch(batch, fastWriteWait))
}

// afterFlushWrite ends a pool worker's write for s (err is its result): a
// write the client was too slow for goes on on a goroutine of its own, a
// failed one ends the session, and otherwise s goes back to the pool's queue
// if more arrived meanwhile.
func (s *Session) afterFlushWrite(err error) {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.srv.wg.Add(1)
		go s.flushAlone()
		return
	case err != nil:
		s.writeFailed()
		return
	}
	s.mu.Lock()
	if len(s.queue) > 0 || s.state == stateClosing {
		s.srv.flushers.schedule(s)
	} else {
		s.flushing = false
	}
	s.mu.Unlock()
}

// flushAlone writes the rest of an interrupted write, then the queue until
// it is empty, on its own goroutine: the path of slow clients.
func (s *Session) flushAlone() {
	defer s.srv.wg.Done()
	s.mu.Lock()
	conn := s.ws
	s.mu.Unlock()
	if err := conn.flushPending(writeWait); err != nil {
		s.writeFailed()
		return
	}
	for {
		batch, conn := s.takeBatch()
		if batch == nil {
			return
		}
		if err := conn.writeBatch(batch, writeWait); err != nil {
			s.writeFailed()
			return
		}
	}
}

func (s *Session) writeFailed() {
	s.mu.Lock()
	s.flushing = false
	s.mu.Unlock()
	s.finish(ReasonTransportError)
}
