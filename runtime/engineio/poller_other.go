//go:build !linux

package engineio

import (
	"errors"
	"syscall"
)

// readPoller is Linux only (epoll); elsewhere every WebSocket connection
// has a reading goroutine of its own.
type readPoller struct{}

func newReadPoller() (*readPoller, error) {
	return nil, errors.New("engineio: no read poller on this system")
}

func (p *readPoller) watch(*wsConn) bool { return false }
func (p *readPoller) forget(*wsConn)     {}
func (p *readPoller) close() bool        { return false }
func (p *readPoller) watching() int      { return 0 }

func (c *wsConn) readNow([]byte) (int, error) { return 0, errWouldBlock }

func (p *readPoller) register(any, pollee, func(pollReg)) bool { return false }
func (p *readPoller) rearmReg(*pollReg) bool                   { return false }
func (p *readPoller) unregister(*pollReg, pollee)              {}

// pollee is what the poller watches (Linux only).
type pollee interface{ pollKey() uint32 }

// pollReg is a poller registration (Linux only).
type pollReg struct {
	rc     syscall.RawConn
	fd     int32
	pollID uint32
}

func (r *pollReg) pollKey() uint32 { return r.pollID }

func readRawNow(syscall.RawConn, []byte) (int, error) { return 0, errWouldBlock }
func (c *wsConn) writeNow([]byte) (int, error)        { return 0, errWouldBlock }
