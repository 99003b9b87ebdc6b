package engineio

import (
	"errors"
	"testing"
)

// FuzzDecodePayload feeds the long-polling body decoder: arbitrary bytes
// give packets or an invalid-packet error, never a panic, and each packet
// decoded from text holds no more bytes than its part of the body.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{"4hello", "4a\x1e4b\x1e2", "bAQID", "b!!", "\x1e", "", "6", "4é\x1ebAAAA\x1e1", "9"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		packets, err := decodePayload(body)
		if err != nil {
			var bad errPacket
			if !errors.As(err, &bad) {
				t.Fatalf("error %v is not an invalid-packet error", err)
			}
			return
		}
		total := 0
		for _, p := range packets {
			total += len(p.data)
		}
		if total > len(body) {
			t.Fatalf("%d payload bytes decoded from a %d-byte body", total, len(body))
		}
	})
}
