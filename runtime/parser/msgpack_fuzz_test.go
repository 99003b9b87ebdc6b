package parser

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzMsgpackDecode feeds arbitrary binary messages to the msgpack decoder:
// it must never panic, only wrap ErrInvalidPacket, and whatever it accepts
// must encode and decode again to the same packet (same JSON text).
func FuzzMsgpackDecode(f *testing.F) {
	for _, v := range loadMsgpackVectors(f) {
		f.Add(mustDecodeHex(f, v.Wire))
	}
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	// {type: 2, data: ["n", -0.0], nsp: "/"}
	f.Add([]byte("\x83\xa4type\x02\xa4data\x92\xa1n\xcb\x80\x00\x00\x00\x00\x00\x00\x00\xa3nsp\xa1/"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Msgpack.NewDecoder(0).Decode(data, true)
		if err != nil {
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("error %v does not wrap ErrInvalidPacket", err)
			}
			return
		}
		frames, err := Msgpack.Encode(p)
		if err != nil {
			t.Fatalf("encode a decoded packet: %v", err)
		}
		back, err := Msgpack.NewDecoder(0).Decode(frames[0].Data, true)
		if err != nil {
			t.Fatalf("decode own encoding %x: %v", frames[0].Data, err)
		}
		if back.Type != p.Type || back.Namespace != p.Namespace || back.ID != p.ID || back.HasID != p.HasID ||
			len(back.Attachments) != len(p.Attachments) || !bytes.Equal(back.Data, p.Data) {
			t.Fatalf("roundtrip changed the packet: %+v -> %+v", p, back)
		}
		for i := range p.Attachments {
			if !bytes.Equal(back.Attachments[i], p.Attachments[i]) {
				t.Fatalf("attachment %d changed", i)
			}
		}
	})
}
