package engineio

import (
	"encoding/binary"
	"fmt"
)

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	opContinuation byte = 0x0
	opText         byte = 0x1
	opBinary       byte = 0x2
	opClose        byte = 0x8
	opPing         byte = 0x9
	opPong         byte = 0xa
)

// WebSocket close codes (RFC 6455 section 7.4.1).
const (
	closeNormal        = 1000
	closeProtocolError = 1002
	closeTooBig        = 1009
)

// maxControlPayload is the largest payload of a control frame.
const maxControlPayload = 125

// frameError is a violation of the WebSocket protocol by the client, with the
// close code the server answers it with.
type frameError struct {
	code int
	msg  string
}

func (e *frameError) Error() string { return fmt.Sprintf("websocket: %s (close %d)", e.msg, e.code) }

func protocolViolation(format string, args ...any) error {
	return &frameError{code: closeProtocolError, msg: fmt.Sprintf(format, args...)}
}

// frameReader assembles what a client sends over a WebSocket from bytes as
// they arrive, in whatever pieces the network delivers them. It never waits:
// the bytes of an incomplete frame stay in the reader until the rest comes,
// so a connection needs no goroutine blocked on a read while its client is
// quiet. An idle reader holds no buffer, and its state is one pointer (a
// server holds a reader per client).
type frameReader struct {
	limit int64       // the largest message payload accepted
	st    *frameState // nil when no frame or message is incomplete
}

// frameState is what a frameReader keeps between feeds while a frame or a
// fragmented message is incomplete.
type frameState struct {
	partial []byte // an incomplete frame left by the last feed
	msg     []byte // the payload of a fragmented message so far
	msgOp   byte   // the opcode of that message; 0 when none is in progress
}

// idle reports whether nothing is incomplete: the next byte fed starts a
// frame, and not one of a fragmented message.
func (r *frameReader) idle() bool { return r.st == nil }

// state returns r.st, creating it.
func (r *frameReader) state() *frameState {
	if r.st == nil {
		r.st = &frameState{}
	}
	return r.st
}

// msgOp returns the opcode of the fragmented message in progress (0: none).
func (r *frameReader) msgOp() byte {
	if r.st == nil {
		return 0
	}
	return r.st.msgOp
}

// settle drops r.st once nothing is incomplete.
func (r *frameReader) settle() {
	if st := r.st; st != nil && len(st.partial) == 0 && st.msgOp == 0 {
		r.st = nil
	}
}

// frameHandler receives a complete message (opText, opBinary) or a control
// frame (opClose, opPing, opPong). The payload belongs to the handler. An
// error stops the feed and is returned by it.
type frameHandler func(op byte, payload []byte) error

// feed parses data after whatever an earlier feed left incomplete and calls
// handle for every complete message and control frame, in order. data is
// not retained. A protocol violation or an oversized message returns a
// *frameError; the connection must then be closed.
func (r *frameReader) feed(data []byte, handle frameHandler) error {
	b := data
	var partial []byte // r's incomplete frame, when b starts with it
	if r.st != nil && len(r.st.partial) > 0 {
		partial = append(r.st.partial, data...)
		r.st.partial = nil
		b = partial
	}
	for {
		n, err := r.next(b, handle)
		if err != nil {
			r.st = nil
			return err
		}
		if n == 0 {
			break
		}
		b = b[n:]
	}
	switch {
	case len(b) == 0:
	case len(partial) > 0:
		// b is the tail of partial: move it to the front.
		r.state().partial = partial[:copy(partial, b)]
	default:
		r.state().partial = append([]byte(nil), b...)
	}
	r.settle()
	return nil
}

// next handles the frame at the start of b and returns its length, or 0 when
// b does not hold a whole frame yet.
func (r *frameReader) next(b []byte, handle frameHandler) (int, error) {
	if len(b) < 2 {
		return 0, nil
	}
	fin, rsv, op := b[0]&0x80 != 0, b[0]&0x70, b[0]&0x0f
	masked, size, header := b[1]&0x80 != 0, uint64(b[1]&0x7f), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return 0, nil
		}
		size, header = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil
		}
		size, header = binary.BigEndian.Uint64(b[2:]), 10
	}
	if err := r.check(fin, rsv, op, masked, size); err != nil {
		return 0, err
	}
	end := header + 4 + int(size)
	if len(b) < end {
		return 0, nil
	}
	mask, payload := b[header:header+4], b[header+4:end]
	switch {
	case op >= opClose: // control frames may come between fragments
		return end, handle(op, unmask(nil, payload, mask))
	case op == opContinuation:
		st := r.state()
		st.msg = unmask(st.msg, payload, mask)
		if !fin {
			return end, nil
		}
		msgOp, msg := st.msgOp, st.msg
		st.msgOp, st.msg = 0, nil
		return end, handle(msgOp, msg)
	}
	msg := unmask(make([]byte, 0, len(payload)), payload, mask)
	if !fin {
		st := r.state()
		st.msgOp, st.msg = op, msg
		return end, nil
	}
	return end, handle(op, msg)
}

// check validates a frame header before its payload is buffered, so that an
// oversized message is refused without reading it.
func (r *frameReader) check(fin bool, rsv, op byte, masked bool, size uint64) error {
	switch {
	case !masked:
		return protocolViolation("client frame not masked")
	case rsv != 0:
		return protocolViolation("reserved bits 0x%x set without an extension", rsv)
	}
	switch op {
	case opClose, opPing, opPong:
		if !fin || size > maxControlPayload {
			return protocolViolation("control frame 0x%x fragmented or longer than %d bytes", op, maxControlPayload)
		}
		return nil
	case opContinuation:
		if r.msgOp() == 0 {
			return protocolViolation("continuation frame without a message")
		}
	case opText, opBinary:
		if r.msgOp() != 0 {
			return protocolViolation("new message inside a fragmented one")
		}
	default:
		return protocolViolation("unknown opcode 0x%x", op)
	}
	var sofar int
	if r.st != nil {
		sofar = len(r.st.msg)
	}
	if size > uint64(r.limit) || uint64(sofar)+size > uint64(r.limit) {
		return &frameError{code: closeTooBig, msg: fmt.Sprintf("message larger than %d bytes", r.limit)}
	}
	return nil
}

// unmask appends payload unmasked with the client's key to dst.
func unmask(dst, payload, mask []byte) []byte {
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= mask[i&3]
	}
	return dst
}
