package engineio

// fanOutBatch is how many sessions SendEach holds locked at once.
const fanOutBatch = 16

// SendEach queues msgs on each of sessions, as Send does on one: a
// broadcast's fan-out. A session that is closing is skipped; one whose
// queue is full is closed. Sessions of another server are sent to one by
// one.
//
// A delivery costs little more than the cache misses on its session (a
// broadcast to thousands of sessions finds none of them in cache), and a
// locked instruction waits for every load and store before it: taking and
// releasing each session's lock in turn makes the misses wait one after
// the other. SendEach works through the sessions fanOutBatch at a time: it
// reads each one's server (a plain load: their misses overlap), takes the
// locks that are free without waiting (the lines are in cache by then),
// queues msgs on all of them, whose loads and stores overlap too, and only
// then releases the locks. A session another goroutine holds gets Send
// after. The sessions that need a writer go to the flush pool together.
func (srv *Server) SendEach(sessions []*Session, msgs ...*Message) {
	var own, held, later, full, flush [fanOutBatch]*Session
	for len(sessions) > 0 {
		batch := sessions[:min(len(sessions), fanOutBatch)]
		sessions = sessions[len(batch):]
		nOwn, nHeld, nLater, nFull, nFlush := 0, 0, 0, 0, 0
		for _, s := range batch {
			if s.srv == srv {
				own[nOwn] = s
				nOwn++
			} else {
				later[nLater] = s
				nLater++
			}
		}
		for _, s := range own[:nOwn] {
			if s.mu.TryLock() {
				held[nHeld] = s
				nHeld++
			} else {
				later[nLater] = s
				nLater++
			}
		}
		for _, s := range held[:nHeld] {
			switch err := s.queueLocked(msgs); {
			case err == ErrQueueFull:
				full[nFull] = s
				nFull++
			case err != nil, !s.wakeLocked():
			case s.schedulesAlone():
				srv.flushers.schedule(s)
			default:
				flush[nFlush] = s
				nFlush++
			}
		}
		for _, s := range held[:nHeld] {
			s.mu.Unlock()
		}
		srv.flushers.scheduleAll(flush[:nFlush])
		for _, s := range full[:nFull] {
			s.queueFull()
		}
		for _, s := range later[:nLater] {
			_ = s.Send(msgs...) // a closed session is skipped, a full one closed
		}
	}
}
