// Package msgpackcheck bounds msgpack input from untrusted peers before it is
// decoded: Check walks one value without allocating and fails unless every
// length prefix is backed by the bytes that follow it and nesting stays
// within MaxNesting. The Redis adapters and the msgpack Socket.IO parser run
// it before decoding.
package msgpackcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxNesting bounds how deep arrays and maps may nest in a message from
// another process. It is encoding/json's own bound, so whatever a client may
// send as JSON can cross Redis as msgpack too.
const MaxNesting = 10000

// ErrMalformed is wrapped by every error of Check.
var ErrMalformed = errors.New("malformed msgpack")

// Check walks one msgpack value and fails unless data holds exactly
// that value. It allocates nothing: every length prefix is checked against
// the bytes that follow it (an array of n elements needs at least n more
// bytes, a map of n entries 2n) and nesting is bounded, so a decoder that
// runs after it allocates in proportion to the input only. The msgpack
// library sizes its slices and maps from the length prefix alone; without
// this check a 63-byte message claiming 0xdddddddd elements allocates
// gigabytes, which no recover can catch.
func Check(data []byte) error {
	rest, err := skip(data, 0)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	return nil
}

// skip returns what follows the value at the start of b.
func skip(b []byte, depth int) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: truncated", ErrMalformed)
	}
	c := b[0]
	b = b[1:]
	var size, items uint64 // payload bytes, nested values
	var err error
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return b, nil // fixint, nil, bool
	case c&0xf0 == 0x80:
		items = 2 * uint64(c&0x0f) // fixmap
	case c&0xf0 == 0x90:
		items = uint64(c & 0x0f) // fixarray
	case c&0xe0 == 0xa0:
		size = uint64(c & 0x1f) // fixstr
	case c == 0xcc || c == 0xd0:
		size = 1
	case c == 0xcd || c == 0xd1:
		size = 2
	case c == 0xca || c == 0xce || c == 0xd2:
		size = 4
	case c == 0xcb || c == 0xcf || c == 0xd3:
		size = 8
	case c >= 0xd4 && c <= 0xd8:
		size = 1 + 1<<(c-0xd4) // fixext: type byte + 1..16 bytes
	case c == 0xc4 || c == 0xd9: // bin8, str8
		size, b, err = readLength(b, 1)
	case c == 0xc5 || c == 0xda: // bin16, str16
		size, b, err = readLength(b, 2)
	case c == 0xc6 || c == 0xdb: // bin32, str32
		size, b, err = readLength(b, 4)
	case c >= 0xc7 && c <= 0xc9: // ext8/16/32: length, type byte, data
		size, b, err = readLength(b, 1<<(c-0xc7))
		size++
	case c == 0xdc || c == 0xdd: // array16/32
		items, b, err = readLength(b, 2<<(c-0xdc))
	case c == 0xde || c == 0xdf: // map16/32
		items, b, err = readLength(b, 2<<(c-0xde))
		items *= 2
	default:
		return nil, fmt.Errorf("%w: reserved byte 0x%02x", ErrMalformed, c)
	}
	if err != nil {
		return nil, err
	}
	if size > uint64(len(b)) {
		return nil, fmt.Errorf("%w: 0x%02x announces %d bytes, %d follow", ErrMalformed, c, size, len(b))
	}
	b = b[size:]
	if items == 0 {
		return b, nil
	}
	if items > uint64(len(b)) {
		return nil, fmt.Errorf("%w: 0x%02x announces %d values, %d bytes follow", ErrMalformed, c, items, len(b))
	}
	if depth >= MaxNesting {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrMalformed, MaxNesting)
	}
	for ; items > 0; items-- {
		if b, err = skip(b, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// readLength reads a big-endian length of n bytes (1, 2 or 4).
func readLength(b []byte, n int) (uint64, []byte, error) {
	if len(b) < n {
		return 0, nil, fmt.Errorf("%w: truncated length", ErrMalformed)
	}
	var v uint64
	switch n {
	case 1:
		v = uint64(b[0])
	case 2:
		v = uint64(binary.BigEndian.Uint16(b))
	default:
		v = uint64(binary.BigEndian.Uint32(b))
	}
	return v, b[n:], nil
}

// Skip returns what follows the msgpack value at the start of b, with the
// same checks as Check.
func Skip(b []byte) ([]byte, error) { return skip(b, 0) }
