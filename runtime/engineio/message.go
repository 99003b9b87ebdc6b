package engineio

import (
	"encoding/base64"

	"github.com/gorilla/websocket"
)

// Engine.IO packet types (the first character of a text packet).
const (
	packetOpen    = '0'
	packetClose   = '1'
	packetPing    = '2'
	packetPong    = '3'
	packetMessage = '4'
	packetUpgrade = '5'
	packetNoop    = '6'
)

// payloadSeparator separates packets in a long-polling payload.
const payloadSeparator = 0x1e

// Message is an immutable, pre-encoded Engine.IO packet that may be queued on
// many sessions: a broadcast is encoded once, and only its few WebSocket
// frame header bytes are written per session.
type Message struct {
	wire   []byte // text: type byte + data; binary: the raw bytes
	binary bool
}

// TextMessage returns a text message packet carrying data (a Socket.IO
// packet). data is copied.
func TextMessage(data []byte) *Message {
	return controlPacket(packetMessage, data)
}

// BinaryMessage returns a binary message packet. data is retained and must
// not be modified afterwards.
func BinaryMessage(data []byte) *Message {
	return &Message{wire: data, binary: true}
}

// controlPacket builds a text packet of type t.
func controlPacket(t byte, data []byte) *Message {
	wire := make([]byte, 1+len(data))
	wire[0] = t
	copy(wire[1:], data)
	return &Message{wire: wire}
}

// Shared control packets (immutable).
var (
	pingMessage  = controlPacket(packetPing, nil)
	noopMessage  = controlPacket(packetNoop, nil)
	closeMessage = controlPacket(packetClose, nil)
)

// frameType is the WebSocket message type that carries m.
func (m *Message) frameType() int {
	if m.binary {
		return websocket.BinaryMessage
	}
	return websocket.TextMessage
}

// appendFrame appends m as one unmasked server-to-client WebSocket frame
// (RFC 6455 section 5.2).
func (m *Message) appendFrame(buf []byte) []byte {
	buf = appendFrameHeader(buf, byte(m.frameType()), len(m.wire))
	return append(buf, m.wire...)
}

// appendFrameHeader appends the header of a final frame with opcode and an
// unmasked payload of n bytes.
func appendFrameHeader(buf []byte, opcode byte, n int) []byte {
	buf = append(buf, 0x80|opcode)
	switch {
	case n < 126:
		return append(buf, byte(n))
	case n <= 0xffff:
		return append(buf, 126, byte(n>>8), byte(n))
	default:
		return append(buf, 127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// appendPolling appends the message in long-polling payload form: text as is,
// binary as "b" + base64.
func (m *Message) appendPolling(buf []byte) []byte {
	if !m.binary {
		return append(buf, m.wire...)
	}
	buf = append(buf, 'b')
	return base64.StdEncoding.AppendEncode(buf, m.wire)
}

// encodePayload joins messages into one long-polling payload.
func encodePayload(msgs []*Message) []byte {
	size := 0
	for _, m := range msgs {
		size += 1 + len(m.wire)
		if m.binary {
			size += base64.StdEncoding.EncodedLen(len(m.wire))
		}
	}
	buf := make([]byte, 0, size)
	for i, m := range msgs {
		if i > 0 {
			buf = append(buf, payloadSeparator)
		}
		buf = m.appendPolling(buf)
	}
	return buf
}

// incoming is one packet received from a client.
type incoming struct {
	typ    byte
	data   []byte
	binary bool
}

// errPacket marks an undecodable packet.
type errPacket struct{ reason string }

func (e errPacket) Error() string { return "engineio: invalid packet: " + e.reason }

// decodeText decodes a text packet (a WebSocket text frame or one element
// of a polling payload, "b"-prefixed base64 included).
func decodeText(p []byte) (incoming, error) {
	if len(p) == 0 {
		return incoming{}, errPacket{"empty packet"}
	}
	if p[0] == 'b' {
		data, err := base64.StdEncoding.AppendDecode(nil, p[1:])
		if err != nil {
			return incoming{}, errPacket{"bad base64"}
		}
		return incoming{typ: packetMessage, data: data, binary: true}, nil
	}
	if p[0] < packetOpen || p[0] > packetNoop {
		return incoming{}, errPacket{"unknown type"}
	}
	return incoming{typ: p[0], data: p[1:]}, nil
}

// decodePayload splits a long-polling request body into packets.
func decodePayload(body []byte) ([]incoming, error) {
	var out []incoming
	for len(body) > 0 || out == nil {
		end := len(body)
		for i, c := range body {
			if c == payloadSeparator {
				end = i
				break
			}
		}
		pkt, err := decodeText(body[:end])
		if err != nil {
			return nil, err
		}
		out = append(out, pkt)
		if end == len(body) {
			break
		}
		body = body[end+1:]
	}
	return out, nil
}
