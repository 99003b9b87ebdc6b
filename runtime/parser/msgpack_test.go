package parser

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// msgpackVector is one entry of testdata/msgpack/vectors.json, produced by
// the real socket.io-msgpack-parser 3.0.2 (testdata/msgpack/vectors.mjs).
type msgpackVector struct {
	Name      string `json:"name"`
	Roundtrip bool   `json:"roundtrip"`
	Invalid   bool   `json:"invalid"`
	Wire      string `json:"wire"`
	Expect    struct {
		Type        int      `json:"type"`
		Nsp         string   `json:"nsp"`
		ID          *uint64  `json:"id"`
		Data        *string  `json:"data"`
		Attachments []string `json:"attachments"`
	} `json:"expect"`
}

func loadMsgpackVectors(t testing.TB) []msgpackVector {
	t.Helper()
	raw, err := os.ReadFile("testdata/msgpack/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Generator string          `json:"generator"`
		Vectors   []msgpackVector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(file.Generator, "socket.io-msgpack-parser 3.") || len(file.Vectors) < 20 {
		t.Fatalf("unexpected vectors file: %q, %d vectors", file.Generator, len(file.Vectors))
	}
	return file.Vectors
}

func mustDecodeHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMsgpackVectors decodes every packet the npm parser wrote and, for the
// roundtrip vectors, checks the Go encoder writes the same bytes.
func TestMsgpackVectors(t *testing.T) {
	for _, v := range loadMsgpackVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			wire := mustDecodeHex(t, v.Wire)
			p, err := Msgpack.NewDecoder(0).Decode(wire, true)
			if v.Invalid {
				if err == nil || !errors.Is(err, ErrInvalidPacket) {
					t.Fatalf("decoded %+v, %v; want an error wrapping ErrInvalidPacket", p, err)
				}
				if errors.Is(err, ErrParserMismatch) {
					t.Fatalf("a malformed msgpack packet is no parser mismatch: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			want := &Packet{Type: Type(v.Expect.Type), Namespace: v.Expect.Nsp}
			if v.Expect.ID != nil {
				want.ID, want.HasID = *v.Expect.ID, true
			}
			if v.Expect.Data != nil {
				want.Data = json.RawMessage(*v.Expect.Data)
			}
			for _, a := range v.Expect.Attachments {
				want.Attachments = append(want.Attachments, mustDecodeHex(t, a))
			}
			if p.Type != want.Type || p.Namespace != want.Namespace || p.HasID != want.HasID || p.ID != want.ID {
				t.Fatalf("header %v %q %v %d, want %v %q %v %d", p.Type, p.Namespace, p.HasID, p.ID,
					want.Type, want.Namespace, want.HasID, want.ID)
			}
			if !bytes.Equal(p.Data, want.Data) || (p.Data == nil) != (want.Data == nil) {
				t.Fatalf("data %s, want %s", p.Data, want.Data)
			}
			if len(p.Attachments) != len(want.Attachments) {
				t.Fatalf("%d attachments, want %d", len(p.Attachments), len(want.Attachments))
			}
			for i := range want.Attachments {
				if !bytes.Equal(p.Attachments[i], want.Attachments[i]) {
					t.Fatalf("attachment %d: %x, want %x", i, p.Attachments[i], want.Attachments[i])
				}
			}
			if !v.Roundtrip {
				return
			}
			frames, err := Msgpack.Encode(want)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if len(frames) != 1 || !frames[0].Binary {
				t.Fatalf("encoded into %d frames (binary %v), want one binary frame", len(frames), len(frames) > 0 && frames[0].Binary)
			}
			if !bytes.Equal(frames[0].Data, wire) {
				t.Fatalf("encoded\n%x\nwant (npm)\n%x", frames[0].Data, wire)
			}
		})
	}
}

func TestMsgpackDecodeErrors(t *testing.T) {
	tests := []struct {
		name     string
		data     []byte
		binary   bool
		want     string
		mismatch bool
	}{
		{"text message (default parser)", []byte(`0{"token":"x"}`), false, "text message at a msgpack parser", true},
		{"empty", nil, true, "truncated", false},
		{"map32 of 4G entries", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0}, true, "announces", false},
		{"trailing bytes", mustDecodeHex(t, "82a474797065a16ea36e7370a12fc0"), true, "trailing", false},
		{"reserved byte", []byte{0x81, 0xa1, 'a', 0xc1}, true, "reserved byte", false},
		{"negative ack id", mustDecodeHex(t, "84a47479706502a46461746191a161a36e7370a12fa26964ff"), true, "invalid packet id", false},
		{"reserved event name", mustDecodeHex(t, "83a47479706502a46461746191aa646973636f6e6e656374a36e7370a12f"), true, "reserved event name", false},
		{"event without a name", mustDecodeHex(t, "83a47479706502a46461746190a36e7370a12f"), true, "needs an event name", false},
		{"map key an array", mustDecodeHex(t, "83a47479706502a46461746192a16181"+"90"+"01"+"a36e7370a12f"), true, "map key", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Msgpack.NewDecoder(0).Decode(tt.data, tt.binary)
			if err == nil || !errors.Is(err, ErrInvalidPacket) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("decoded %+v, %v; want an error containing %q", p, err, tt.want)
			}
			if errors.Is(err, ErrParserMismatch) != tt.mismatch {
				t.Fatalf("error %v: mismatch %v, want %v", err, errors.Is(err, ErrParserMismatch), tt.mismatch)
			}
		})
	}
}

// TestMsgpackDecodeIgnoresOtherKeys: keys that are no packet field, of any
// msgpack type, are skipped with their values.
func TestMsgpackDecodeIgnoresOtherKeys(t *testing.T) {
	// {1: "type", "type": 2, "data": ["a"], nil: 5, "nsp": "/"}
	wire := mustDecodeHex(t, "8501a474797065a47479706502a46461746191a161c005a36e7370a12f")
	p, err := Msgpack.NewDecoder(0).Decode(wire, true)
	if err != nil || p.Type != Event || p.Namespace != "/" || string(p.Data) != `["a"]` {
		t.Fatalf("decoded %+v, %v", p, err)
	}
}

// TestDefaultDecoderMismatch: a msgpack packet at a default-parser server is
// a binary message outside a binary packet, reported as a mismatch.
func TestDefaultDecoderMismatch(t *testing.T) {
	wire := mustDecodeHex(t, "83a47479706500a464617461d40000a36e7370a12f") // the msgpack client's CONNECT
	_, err := Default.NewDecoder(0).Decode(wire, true)
	if !errors.Is(err, ErrParserMismatch) || !errors.Is(err, ErrInvalidPacket) {
		t.Fatalf("error %v, want ErrParserMismatch and ErrInvalidPacket", err)
	}
	// An attachment of a binary packet is no mismatch.
	d := Default.NewDecoder(0)
	if p, err := d.Decode([]byte(`51-["b",{"_placeholder":true,"num":0}]`), false); p != nil || err != nil {
		t.Fatalf("header: %v, %v", p, err)
	}
	if p, err := d.Decode(wire, true); err != nil || p == nil || !bytes.Equal(p.Attachments[0], wire) {
		t.Fatalf("attachment: %+v, %v", p, err)
	}
}

// TestMsgpackEncode covers what the vectors cannot: packets built in Go.
func TestMsgpackEncode(t *testing.T) {
	data, attachments, err := EncodeArgs("e", []byte{1, 2}, map[string]any{"n": 1.0, "big": uint64(1) << 63, "b": []byte{3}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		p    *Packet
		want string // hex
	}{
		{"binary event becomes event", &Packet{Type: BinaryEvent, Namespace: "/", Data: data, Attachments: attachments},
			"83a47479706502a46461746193a165c402010283a162c40103a3626967cf8000000000000000a16e01a36e7370a12f"},
		{"empty namespace is the main one", &Packet{Type: Disconnect}, "82a47479706501a36e7370a12f"},
		{"ack with id", &Packet{Type: Ack, Namespace: "/", ID: 300, HasID: true, Data: json.RawMessage(`[ 1.0 , -0, 1e3 ]`)},
			"84a47479706503a464617461930100cd03e8a36e7370a12fa26964cd012c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frames, err := Msgpack.Encode(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(frames[0].Data); got != tt.want {
				t.Fatalf("encoded %s, want %s", got, tt.want)
			}
			back, err := Msgpack.NewDecoder(0).Decode(frames[0].Data, true)
			if err != nil {
				t.Fatalf("decode own encoding: %v", err)
			}
			if len(back.Attachments) != len(tt.p.Attachments) {
				t.Fatalf("%d attachments back, want %d", len(back.Attachments), len(tt.p.Attachments))
			}
		})
	}
	if _, err := Msgpack.Encode(&Packet{Type: Event, Data: json.RawMessage(`["x",{"_placeholder":true,"num":3}]`)}); err == nil {
		t.Fatal("a placeholder without its attachment was encoded")
	}
}

func TestByName(t *testing.T) {
	for name, want := range map[string]Codec{"": Default, "default": Default, "msgpack": Msgpack} {
		if got, err := ByName(name); err != nil || got != want {
			t.Fatalf("ByName(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := ByName("json"); err == nil || !strings.Contains(err.Error(), `unknown parser "json"`) {
		t.Fatalf("ByName(json): %v", err)
	}
}

// BenchmarkEncode compares the codecs on a chat-like event with a binary
// argument: go test -run XXX -bench "^Benchmark(Encode|Decode)$" ./runtime/parser.
func BenchmarkEncode(b *testing.B) {
	data, attachments, err := EncodeArgs("message", map[string]any{"room": "chat:1", "user": "ana", "text": strings.Repeat("hello ", 20), "ts": 1733130000000}, make([]byte, 1024))
	if err != nil {
		b.Fatal(err)
	}
	p := &Packet{Type: Event, Namespace: "/", Data: data, Attachments: attachments}
	for _, codec := range []Codec{Default, Msgpack} {
		b.Run(codec.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := codec.Encode(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecode decodes the same event as each codec writes it.
func BenchmarkDecode(b *testing.B) {
	data, attachments, err := EncodeArgs("message", map[string]any{"room": "chat:1", "user": "ana", "text": strings.Repeat("hello ", 20), "ts": 1733130000000}, make([]byte, 1024))
	if err != nil {
		b.Fatal(err)
	}
	p := &Packet{Type: Event, Namespace: "/", Data: data, Attachments: attachments}
	for _, codec := range []Codec{Default, Msgpack} {
		frames, err := codec.Encode(p)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(codec.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d := codec.NewDecoder(0)
				for _, f := range frames {
					if _, err := d.Decode(f.Data, f.Binary); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
