package parser

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/socketfleet/socketfleet/runtime/msgpackcheck"
)

// The msgpack parser (socket.io-msgpack-parser 3.x on notepack.io 2.2):
// one binary message per packet, a msgpack map {type, data, nsp, id}. Inside
// the runtime a packet keeps its usual form (JSON data with placeholders and
// attachments), so the decoder turns msgpack binary values into attachments
// and the encoder turns attachments back into msgpack bin values. The value
// mapping is documented in docs/parsers.md.

// jsMaxDate is the largest absolute millisecond timestamp of a valid
// JavaScript Date; larger ones serialize as null.
const jsMaxDate = 8.64e15

type msgpackCodec struct{}

func (msgpackCodec) Name() string { return NameMsgpack }

func (msgpackCodec) NewDecoder(int) PacketDecoder { return msgpackDecoder{} }

// msgpackDecoder decodes one packet per binary message; it keeps no state.
type msgpackDecoder struct{}

func (msgpackDecoder) Decode(data []byte, binary bool) (*Packet, error) {
	if !binary {
		return nil, fmt.Errorf("text message at a msgpack parser: %w: %w", ErrParserMismatch, ErrInvalidPacket)
	}
	if err := msgpackcheck.Check(data); err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrInvalidPacket)
	}
	n, b, ok := mapHeader(data)
	if !ok {
		return nil, fmt.Errorf("packet is not a msgpack map: %w", ErrInvalidPacket)
	}
	var typ, nsp, id, payload []byte // the values of the fields (last one wins, as in JavaScript)
	for ; n > 0; n-- {
		key, rest, isStr := readStr(b)
		if !isStr { // a key JavaScript would stringify: no packet field
			var err error
			if rest, err = msgpackcheck.Skip(b); err != nil {
				return nil, fmt.Errorf("%w: %w", err, ErrInvalidPacket)
			}
		}
		next, err := msgpackcheck.Skip(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrInvalidPacket)
		}
		value := rest[:len(rest)-len(next)]
		b = next
		if !isStr {
			continue
		}
		switch string(key) {
		case "type":
			typ = value
		case "nsp":
			nsp = value
		case "id":
			id = value
		case "data":
			payload = value
		}
	}
	t, ok := readInteger(typ)
	if !ok || t < int64(Connect) || t > int64(ConnectError) {
		return nil, fmt.Errorf("invalid packet type: %w", ErrInvalidPacket)
	}
	name, _, ok := readStr(nsp)
	if !ok {
		return nil, fmt.Errorf("invalid namespace: %w", ErrInvalidPacket)
	}
	p := &Packet{Type: Type(t), Namespace: string(name)}
	if id != nil && !isUndefined(id) {
		v, ok := readInteger(id)
		if !ok || v < 0 {
			return nil, fmt.Errorf("invalid packet id: %w", ErrInvalidPacket)
		}
		p.ID, p.HasID = uint64(v), true
	}
	if payload != nil && isUndefined(payload) {
		payload = nil
	}
	if err := checkMsgpackPayload(p.Type, payload); err != nil {
		return nil, err
	}
	if payload != nil {
		conv := toJSON{}
		out, _, _, err := conv.value(make([]byte, 0, 2*len(payload)), payload)
		if err != nil {
			return nil, err
		}
		p.Data, p.Attachments = out, conv.attachments
	}
	if err := checkPayload(p); err != nil {
		return nil, err
	}
	return p, nil
}

// checkMsgpackPayload applies socket.io-msgpack-parser's payload rules (on
// the msgpack value, before conversion: a binary value is no object).
func checkMsgpackPayload(t Type, payload []byte) error {
	isMap := payload != nil && (payload[0]&0xf0 == 0x80 || payload[0] == 0xde || payload[0] == 0xdf)
	isArray := payload != nil && (payload[0]&0xf0 == 0x90 || payload[0] == 0xdc || payload[0] == 0xdd)
	_, _, isString := readStr(payload)
	var ok bool
	switch t {
	case Connect:
		ok = payload == nil || isMap
	case Disconnect:
		ok = payload == nil
	case ConnectError:
		ok = isString || isMap
	default:
		ok = isArray
	}
	if !ok {
		return fmt.Errorf("invalid payload for %s: %w", t, ErrInvalidPacket)
	}
	return nil
}

// isUndefined reports whether b is notepack's undefined (fixext1 type 0).
func isUndefined(b []byte) bool { return len(b) >= 3 && b[0] == 0xd4 && b[1] == 0 }

// mapHeader reads a map header: the number of entries and what follows.
func mapHeader(b []byte) (uint64, []byte, bool) {
	switch {
	case len(b) >= 1 && b[0]&0xf0 == 0x80:
		return uint64(b[0] & 0x0f), b[1:], true
	case len(b) >= 3 && b[0] == 0xde:
		return uint64(binary.BigEndian.Uint16(b[1:])), b[3:], true
	case len(b) >= 5 && b[0] == 0xdf:
		return uint64(binary.BigEndian.Uint32(b[1:])), b[5:], true
	}
	return 0, b, false
}

// readStr reads a msgpack string: its bytes and what follows.
func readStr(b []byte) (str, rest []byte, ok bool) {
	var n, h int
	switch {
	case len(b) >= 1 && b[0]&0xe0 == 0xa0:
		n, h = int(b[0]&0x1f), 1
	case len(b) >= 2 && b[0] == 0xd9:
		n, h = int(b[1]), 2
	case len(b) >= 3 && b[0] == 0xda:
		n, h = int(binary.BigEndian.Uint16(b[1:])), 3
	case len(b) >= 5 && b[0] == 0xdb:
		n, h = int(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return nil, b, false
	}
	if n > len(b)-h {
		return nil, b, false
	}
	return b[h : h+n], b[h+n:], true
}

// readInteger reads a msgpack number holding an integer (JavaScript's
// Number.isInteger: an integral float counts).
func readInteger(b []byte) (int64, bool) {
	v, isFloat, ok := readNumber(b)
	if !ok {
		return 0, false
	}
	if isFloat {
		if v.f != math.Trunc(v.f) || math.Abs(v.f) > 1<<62 {
			return 0, false
		}
		return int64(v.f), true
	}
	if v.u > math.MaxInt64 {
		return 0, false
	}
	return v.i, true
}

// number is a decoded msgpack number: f for floats, i for signed integers
// (u too when not negative).
type number struct {
	f float64
	i int64
	u uint64
}

// readNumber reads a msgpack number of any width.
func readNumber(b []byte) (v number, isFloat, ok bool) {
	if len(b) == 0 {
		return v, false, false
	}
	c := b[0]
	signed := func(x int64) (number, bool, bool) { return number{i: x, u: uint64(max(x, 0))}, false, true }
	switch {
	case c <= 0x7f:
		return signed(int64(c))
	case c >= 0xe0:
		return signed(int64(int8(c)))
	case c == 0xcc && len(b) >= 2:
		return signed(int64(b[1]))
	case c == 0xcd && len(b) >= 3:
		return signed(int64(binary.BigEndian.Uint16(b[1:])))
	case c == 0xce && len(b) >= 5:
		return signed(int64(binary.BigEndian.Uint32(b[1:])))
	case c == 0xcf && len(b) >= 9:
		u := binary.BigEndian.Uint64(b[1:])
		return number{i: int64(u), u: u}, false, true
	case c == 0xd0 && len(b) >= 2:
		return signed(int64(int8(b[1])))
	case c == 0xd1 && len(b) >= 3:
		return signed(int64(int16(binary.BigEndian.Uint16(b[1:]))))
	case c == 0xd2 && len(b) >= 5:
		return signed(int64(int32(binary.BigEndian.Uint32(b[1:]))))
	case c == 0xd3 && len(b) >= 9:
		return signed(int64(binary.BigEndian.Uint64(b[1:])))
	case c == 0xca && len(b) >= 5:
		return number{f: float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:])))}, true, true
	case c == 0xcb && len(b) >= 9:
		return number{f: math.Float64frombits(binary.BigEndian.Uint64(b[1:]))}, true, true
	}
	return v, false, false
}

// toJSON converts msgpack values (checked by msgpackcheck.Check) to the
// JSON the runtime keeps, binary values as placeholders.
type toJSON struct {
	attachments [][]byte
}

// value appends the JSON form of the value at the start of b and returns
// what follows it; undefined reports notepack's undefined, which the caller
// drops (object member) or writes as null (array element).
func (c *toJSON) value(out, b []byte) (_, rest []byte, undefined bool, err error) {
	if str, rest, ok := readStr(b); ok {
		return appendJSONString(out, str), rest, false, nil
	}
	if v, isFloat, ok := readNumber(b); ok {
		rest := b[numberSize(b[0]):]
		switch {
		case isFloat && (math.IsNaN(v.f) || math.IsInf(v.f, 0)):
			return append(out, "null"...), rest, false, nil // as JSON.stringify
		case isFloat:
			return appendJSNumber(out, v.f), rest, false, nil
		case b[0] == 0xcf:
			return strconv.AppendUint(out, v.u, 10), rest, false, nil
		}
		return strconv.AppendInt(out, v.i, 10), rest, false, nil
	}
	if n, rest, ok := mapHeader(b); ok {
		return c.object(out, rest, n)
	}
	switch h := b[0]; {
	case h&0xf0 == 0x90:
		return c.array(out, b[1:], uint64(h&0x0f))
	case h == 0xdc:
		return c.array(out, b[3:], uint64(binary.BigEndian.Uint16(b[1:])))
	case h == 0xdd:
		return c.array(out, b[5:], uint64(binary.BigEndian.Uint32(b[1:])))
	case h == 0xc0:
		return append(out, "null"...), b[1:], false, nil
	case h == 0xc2:
		return append(out, "false"...), b[1:], false, nil
	case h == 0xc3:
		return append(out, "true"...), b[1:], false, nil
	case h >= 0xc4 && h <= 0xc6: // bin: a Node Buffer
		n, hdr := extLength(b, 1<<(h-0xc4))
		return c.binary(out, b[hdr:hdr+n]), b[hdr+n:], false, nil
	case h >= 0xc7 && h <= 0xc9: // ext: type 0 is an ArrayBuffer or typed array
		n, hdr := extLength(b, 1<<(h-0xc7))
		typ, data := int8(b[hdr]), b[hdr+1:hdr+1+n]
		if typ == 0 {
			return c.binary(out, data), b[hdr+1+n:], false, nil
		}
		return c.ext(out, typ, data), b[hdr+1+n:], false, nil
	case h >= 0xd4 && h <= 0xd8: // fixext
		n := 1 << (h - 0xd4)
		typ, data := int8(b[1]), b[2:2+n]
		switch {
		case typ == 0 && h == 0xd4:
			return out, b[2+n:], true, nil
		case typ == 0 && h == 0xd7: // a Date: its toJSON string
			ms := int64(binary.BigEndian.Uint64(data))
			if math.Abs(float64(ms)) > jsMaxDate {
				return append(out, "null"...), b[2+n:], false, nil
			}
			iso := time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
			return appendJSONString(out, []byte(iso)), b[2+n:], false, nil
		}
		return c.ext(out, typ, data), b[2+n:], false, nil
	}
	return nil, nil, false, fmt.Errorf("msgpack byte 0x%02x: %w", b[0], ErrInvalidPacket)
}

// appendJSNumber writes a finite float as JSON.stringify does: plain digits
// from 1e-7 up to 1e21, an exponent outside.
func appendJSNumber(out []byte, f float64) []byte {
	if f == 0 {
		return append(out, '0') // -0 too, as JSON.stringify
	}
	if a := math.Abs(f); a >= 1e-7 && a < 1e21 {
		return strconv.AppendFloat(out, f, 'f', -1, 64)
	}
	return strconv.AppendFloat(out, f, 'g', -1, 64)
}

// numberSize is the encoded size of a msgpack number starting with c.
func numberSize(c byte) int {
	switch c {
	case 0xcc, 0xd0:
		return 2
	case 0xcd, 0xd1:
		return 3
	case 0xce, 0xd2, 0xca:
		return 5
	case 0xcf, 0xd3, 0xcb:
		return 9
	}
	return 1
}

// extLength reads the n-byte length of a bin or ext value: the data length
// and the header length (its type byte excluded).
func extLength(b []byte, n int) (length, header int) {
	switch n {
	case 1:
		return int(b[1]), 2
	case 2:
		return int(binary.BigEndian.Uint16(b[1:])), 3
	}
	return int(binary.BigEndian.Uint32(b[1:])), 5
}

// binary appends a placeholder for a new attachment.
func (c *toJSON) binary(out, data []byte) []byte {
	c.attachments = append(c.attachments, data)
	out = append(out, `{"_placeholder":true,"num":`...)
	out = strconv.AppendInt(out, int64(len(c.attachments)-1), 10)
	return append(out, '}')
}

// ext appends an extension notepack does not know: [type, Buffer].
func (c *toJSON) ext(out []byte, typ int8, data []byte) []byte {
	out = append(out, '[')
	out = strconv.AppendInt(out, int64(typ), 10)
	out = append(out, ',')
	out = c.binary(out, data)
	return append(out, ']')
}

func (c *toJSON) array(out, b []byte, n uint64) ([]byte, []byte, bool, error) {
	out = append(out, '[')
	for i := uint64(0); i < n; i++ {
		if i > 0 {
			out = append(out, ',')
		}
		var undefined bool
		var err error
		if out, b, undefined, err = c.value(out, b); err != nil {
			return nil, nil, false, err
		}
		if undefined {
			out = append(out, "null"...)
		}
	}
	return append(out, ']'), b, false, nil
}

func (c *toJSON) object(out, b []byte, n uint64) ([]byte, []byte, bool, error) {
	out = append(out, '{')
	first := true
	for ; n > 0; n-- {
		key, rest, err := objectKey(b)
		if err != nil {
			return nil, nil, false, err
		}
		mark := len(out)
		if !first {
			out = append(out, ',')
		}
		out = appendJSONString(out, key)
		out = append(out, ':')
		var undefined bool
		if out, b, undefined, err = c.value(out, rest); err != nil {
			return nil, nil, false, err
		}
		if undefined || string(key) == "__proto__" {
			out = out[:mark] // dropped, as JSON.stringify and JavaScript objects do
			continue
		}
		first = false
	}
	return append(out, '}'), b, false, nil
}

// objectKey reads a map key as JavaScript names it: strings, integers,
// booleans and nil (as their text); anything else is refused.
func objectKey(b []byte) ([]byte, []byte, error) {
	if s, rest, ok := readStr(b); ok {
		return s, rest, nil
	}
	rest, err := msgpackcheck.Skip(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", err, ErrInvalidPacket)
	}
	if v, isFloat, ok := readNumber(b); ok && !isFloat {
		if b[0] == 0xcf {
			return strconv.AppendUint(nil, v.u, 10), rest, nil
		}
		return strconv.AppendInt(nil, v.i, 10), rest, nil
	}
	switch b[0] {
	case 0xc0:
		return []byte("null"), rest, nil
	case 0xc2:
		return []byte("false"), rest, nil
	case 0xc3:
		return []byte("true"), rest, nil
	}
	return nil, nil, fmt.Errorf("msgpack map key 0x%02x: %w", b[0], ErrInvalidPacket)
}

// appendJSONString appends s as a JSON string, escaped as JSON.stringify
// does; invalid UTF-8 becomes U+FFFD as in Node's Buffer.toString.
func appendJSONString(out, s []byte) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				out = append(out, '\\', c)
			case c == '\n':
				out = append(out, '\\', 'n')
			case c == '\r':
				out = append(out, '\\', 'r')
			case c == '\t':
				out = append(out, '\\', 't')
			case c == '\b':
				out = append(out, '\\', 'b')
			case c == '\f':
				out = append(out, '\\', 'f')
			case c < 0x20:
				out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				out = append(out, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, "\ufffd"...)
		} else {
			out = append(out, s[i:i+size]...)
		}
		i += size
	}
	return append(out, '"')
}

// Encode writes p as one binary message: {type, data, nsp, id}, data and id
// only when present, attachments as msgpack bin values in place of their
// placeholders.
func (msgpackCodec) Encode(p *Packet) ([]Frame, error) {
	t := p.Type
	switch t {
	case BinaryEvent:
		t = Event
	case BinaryAck:
		t = Ack
	}
	nsp := p.Namespace
	if nsp == "" {
		nsp = "/"
	}
	fields := 2
	if p.Data != nil {
		fields++
	}
	if p.HasID {
		fields++
	}
	out := make([]byte, 0, 16+len(nsp)+len(p.Data)+attachmentBytes(p.Attachments))
	out = append(out, 0x80|byte(fields))
	out = appendMsgpackString(out, "type")
	out = appendMsgpackInt(out, int64(t))
	if p.Data != nil {
		spans, err := placeholders(p.Data, len(p.Attachments))
		if err != nil {
			return nil, fmt.Errorf("encode %s packet: %w", t, err)
		}
		root, err := parseJSONTree(p.Data, spans)
		if err != nil {
			return nil, fmt.Errorf("encode %s packet: %w", t, err)
		}
		out = appendMsgpackString(out, "data")
		out = root.appendMsgpack(out, p.Attachments)
	}
	out = appendMsgpackString(out, "nsp")
	out = appendMsgpackString(out, nsp)
	if p.HasID {
		out = appendMsgpackString(out, "id")
		out = appendMsgpackUint(out, p.ID)
	}
	return []Frame{{Data: out, Binary: true}}, nil
}

func attachmentBytes(attachments [][]byte) int {
	n := 0
	for _, a := range attachments {
		n += len(a) + 5
	}
	return n
}

// jsonNode is a parsed JSON value: kind is one of "[{\"0tfnb" (array,
// object, string, number, true, false, null, binary attachment).
type jsonNode struct {
	kind byte
	raw  []byte // string (quoted) or number text
	num  int    // attachment index
	keys [][]byte
	kids []jsonNode
}

// parseJSONTree parses valid JSON whose placeholder objects are spans.
func parseJSONTree(data []byte, spans []span) (jsonNode, error) {
	p := jsonParser{data: data, spans: spans}
	p.space()
	n, err := p.value()
	if err != nil {
		return jsonNode{}, err
	}
	return n, nil
}

type jsonParser struct {
	data  []byte
	i     int
	spans []span
}

func (p *jsonParser) space() {
	for p.i < len(p.data) && isSpace(p.data[p.i]) {
		p.i++
	}
}

func (p *jsonParser) value() (jsonNode, error) {
	if p.i >= len(p.data) {
		return jsonNode{}, fmt.Errorf("truncated JSON: %w", ErrInvalidPacket)
	}
	if len(p.spans) > 0 && p.spans[0].start == p.i {
		s := p.spans[0]
		p.spans, p.i = p.spans[1:], s.end
		return jsonNode{kind: 'b', num: s.num}, nil
	}
	switch c := p.data[p.i]; c {
	case '[', '{':
		n := jsonNode{kind: c}
		p.i++
		p.space()
		closing := byte(']')
		if c == '{' {
			closing = '}'
		}
		for p.i < len(p.data) && p.data[p.i] != closing {
			if c == '{' {
				end := skipValue(p.data, p.i)
				if end == p.i {
					return jsonNode{}, fmt.Errorf("invalid JSON key: %w", ErrInvalidPacket)
				}
				n.keys = append(n.keys, p.data[p.i:end])
				p.i = end
				p.space()
				p.i++ // ':'
				p.space()
			}
			kid, err := p.value()
			if err != nil {
				return jsonNode{}, err
			}
			n.kids = append(n.kids, kid)
			p.space()
			if p.i < len(p.data) && p.data[p.i] == ',' {
				p.i++
				p.space()
			}
		}
		p.i++
		return n, nil
	case '"':
		end := skipValue(p.data, p.i)
		if end == p.i {
			return jsonNode{}, fmt.Errorf("invalid JSON string: %w", ErrInvalidPacket)
		}
		n := jsonNode{kind: '"', raw: p.data[p.i:end]}
		p.i = end
		return n, nil
	case 't', 'f', 'n':
		end := skipValue(p.data, p.i)
		p.i = end
		return jsonNode{kind: c}, nil
	}
	end := skipValue(p.data, p.i)
	if end == p.i {
		return jsonNode{}, fmt.Errorf("invalid JSON at %d: %w", p.i, ErrInvalidPacket)
	}
	n := jsonNode{kind: '0', raw: p.data[p.i:end]}
	p.i = end
	return n, nil
}

// appendMsgpack writes the node as notepack.io encodes the JavaScript value.
func (n jsonNode) appendMsgpack(out []byte, attachments [][]byte) []byte {
	switch n.kind {
	case '[':
		out = appendMsgpackHeader(out, len(n.kids), 0x90, 0xdc)
		for _, k := range n.kids {
			out = k.appendMsgpack(out, attachments)
		}
	case '{':
		out = appendMsgpackHeader(out, len(n.kids), 0x80, 0xde)
		for i, k := range n.kids {
			out = appendMsgpackString(out, unquote(n.keys[i]))
			out = k.appendMsgpack(out, attachments)
		}
	case '"':
		out = appendMsgpackString(out, unquote(n.raw))
	case 't':
		out = append(out, 0xc3)
	case 'f':
		out = append(out, 0xc2)
	case 'n':
		out = append(out, 0xc0)
	case 'b':
		out = appendMsgpackBin(out, attachments[n.num])
	default:
		out = appendMsgpackNumber(out, n.raw)
	}
	return out
}

// unquote decodes a JSON string literal.
func unquote(raw []byte) string {
	if len(raw) >= 2 && !containsByte(raw, '\\') && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s) // valid JSON: checked by the caller's source
	return s
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// appendMsgpackHeader writes an array (fix 0x90, 16-bit 0xdc) or map (0x80,
// 0xde) header; the 32-bit form follows the 16-bit one.
func appendMsgpackHeader(out []byte, n int, fix, b16 byte) []byte {
	switch {
	case n < 16:
		return append(out, fix|byte(n))
	case n < 1<<16:
		return append(out, b16, byte(n>>8), byte(n))
	}
	return append(out, b16+1, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendMsgpackString(out []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		out = append(out, 0xa0|byte(n))
	case n < 1<<8:
		out = append(out, 0xd9, byte(n))
	case n < 1<<16:
		out = append(out, 0xda, byte(n>>8), byte(n))
	default:
		out = append(out, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, s...)
}

func appendMsgpackBin(out, b []byte) []byte {
	n := len(b)
	switch {
	case n < 1<<8:
		out = append(out, 0xc4, byte(n))
	case n < 1<<16:
		out = append(out, 0xc5, byte(n>>8), byte(n))
	default:
		out = append(out, 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, b...)
}

// appendMsgpackNumber writes a JSON number: integers (also written as 1.0
// or 1e3) in the smallest integer format, others as float64, as notepack
// does for JavaScript numbers. Integer literals beyond 2^53 keep their
// exact value.
func appendMsgpackNumber(out, raw []byte) []byte {
	if i, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return appendMsgpackInt(out, i)
	}
	if u, err := strconv.ParseUint(string(raw), 10, 64); err == nil {
		return appendMsgpackUint(out, u)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !math.IsInf(f, 0) {
		return append(out, 0xc0)
	}
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return appendMsgpackInt(out, int64(f))
	}
	out = append(out, 0xcb)
	return binary.BigEndian.AppendUint64(out, math.Float64bits(f))
}

func appendMsgpackInt(out []byte, v int64) []byte {
	if v >= 0 {
		return appendMsgpackUint(out, uint64(v))
	}
	switch {
	case v >= -32:
		return append(out, byte(v))
	case v >= math.MinInt8:
		return append(out, 0xd0, byte(v))
	case v >= math.MinInt16:
		return append(out, 0xd1, byte(v>>8), byte(v))
	case v >= math.MinInt32:
		return append(out, 0xd2, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return binary.BigEndian.AppendUint64(append(out, 0xd3), uint64(v))
}

func appendMsgpackUint(out []byte, v uint64) []byte {
	switch {
	case v < 0x80:
		return append(out, byte(v))
	case v < 1<<8:
		return append(out, 0xcc, byte(v))
	case v < 1<<16:
		return append(out, 0xcd, byte(v>>8), byte(v))
	case v < 1<<32:
		return append(out, 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return binary.BigEndian.AppendUint64(append(out, 0xcf), v)
}
