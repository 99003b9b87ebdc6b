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

// flushPool writes the queues of WebSocket sessions with a few long-lived
// workers instead of a goroutine per send. A session waits in the pool's
// queue while its messages accumulate, so a broadcast storm turns into one
// system call per session carrying many frames, and an idle session costs
// no goroutine. A client that does not read fast enough is moved off the
// pool to a goroutine of its own, so it cannot stall the others.
type flushPool struct {
	queue chan *Session
	done  chan struct{}
	wg    *sync.WaitGroup

	startOnce sync.Once
	stopOnce  sync.Once
}

func newFlushPool(wg *sync.WaitGroup) *flushPool {
	return &flushPool{queue: make(chan *Session, 1<<16), done: make(chan struct{}), wg: wg}
}

// schedule queues s for writing. s.mu is held and s.flushing was just set.
func (p *flushPool) schedule(s *Session) {
	if s.ws.gorilla != nil {
		p.wg.Add(1)
		go s.flushAlone()
		return
	}
	p.startOnce.Do(p.start)
	select {
	case p.queue <- s:
	default: // the pool is swamped: this session gets its own writer
		p.wg.Add(1)
		go s.flushAlone()
	}
}

func (p *flushPool) start() {
	for range max(2, runtime.GOMAXPROCS(0)) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				select {
				case s := <-p.queue:
					s.flushStep()
				case <-p.done:
					return
				}
			}
		}()
	}
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
