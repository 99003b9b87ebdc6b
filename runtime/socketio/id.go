package socketio

import (
	"crypto/rand"
	"encoding/base64"
	"sync/atomic"
)

// idGenerator makes socket ids and recovery session ids in the format of
// Node's base64id: 20 characters of base64url over 12 random bytes followed
// by the low 3 bytes of a counter. The Redis sharded adapter relies on the
// length 20 to recognise socket id rooms.
type idGenerator struct {
	counter atomic.Uint32
}

func (g *idGenerator) next() string {
	var b [15]byte
	_, _ = rand.Read(b[:12]) // crypto/rand.Read never fails on supported platforms
	n := g.counter.Add(1) - 1
	b[12] = byte(n >> 16)
	b[13] = byte(n >> 8)
	b[14] = byte(n)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
