package socketio

import (
	"context"
	"sync"
	"time"
)

// SessionStore keeps the sessions of disconnected sockets for connection
// state recovery, keyed by their private id (pid). The in-memory adapter
// persists and restores sessions through the server's SessionStore; a store
// shared by several servers (Redis) lets a client recover on another server
// when the adapter can also replay the missed packets there.
type SessionStore interface {
	// Save stores the session for ttl.
	Save(ctx context.Context, session *SessionState, ttl time.Duration) error
	// Take returns and removes the session pid; (nil, nil) when it does not
	// exist or has expired. A session can be taken once.
	Take(ctx context.Context, pid string) (*SessionState, error)
}

// MemorySessionStore is the in-process SessionStore, used by default when
// recovery is enabled. Expired sessions are dropped lazily on Save and Take;
// no timer or goroutine is involved.
type MemorySessionStore struct {
	now func() time.Time

	mu       sync.Mutex
	sessions map[string]storedSession
	order    []expiry // by insertion; pruned from the head
	head     int
}

type storedSession struct {
	session *SessionState
	expires time.Time
}

type expiry struct {
	pid     string
	expires time.Time
}

// NewMemorySessionStore returns an empty in-memory session store.
func NewMemorySessionStore() *MemorySessionStore {
	return &MemorySessionStore{now: time.Now, sessions: make(map[string]storedSession)}
}

// Save stores the session for ttl.
func (m *MemorySessionStore) Save(_ context.Context, session *SessionState, ttl time.Duration) error {
	now := m.now()
	expires := now.Add(ttl)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pruneLocked(now)
	m.sessions[session.PID] = storedSession{session: session, expires: expires}
	m.order = append(m.order, expiry{pid: session.PID, expires: expires})
	return nil
}

// Take returns and removes the session pid, or nil when it is unknown or
// expired.
func (m *MemorySessionStore) Take(_ context.Context, pid string) (*SessionState, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pruneLocked(now)
	stored, ok := m.sessions[pid]
	if !ok {
		return nil, nil
	}
	delete(m.sessions, pid)
	if !now.Before(stored.expires) {
		return nil, nil
	}
	return stored.session, nil
}

// Len returns the number of stored sessions, expired ones not yet pruned
// included.
func (m *MemorySessionStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

func (m *MemorySessionStore) pruneLocked(now time.Time) {
	for m.head < len(m.order) && !now.Before(m.order[m.head].expires) {
		e := m.order[m.head]
		m.order[m.head] = expiry{}
		m.head++
		if s, ok := m.sessions[e.pid]; ok && s.expires.Equal(e.expires) {
			delete(m.sessions, e.pid)
		}
	}
	if m.head > 64 && m.head*2 > len(m.order) {
		n := copy(m.order, m.order[m.head:])
		clear(m.order[n:])
		m.order = m.order[:n]
		m.head = 0
	}
}
