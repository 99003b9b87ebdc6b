package parser

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		p    Packet
		want string
		n    int
	}{
		{"connect main", Packet{Type: Connect, Namespace: "/"}, "0", 0},
		{"connect nsp with auth", Packet{Type: Connect, Namespace: "/admin", Data: json.RawMessage(`{"token":"x"}`)}, `0/admin,{"token":"x"}`, 0},
		{"disconnect nsp", Packet{Type: Disconnect, Namespace: "/chat"}, "1/chat,", 0},
		{"event", Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["hi",1]`)}, `2["hi",1]`, 0},
		{"event with id", Packet{Type: Event, Namespace: "/x", ID: 12, HasID: true, Data: json.RawMessage(`["a"]`)}, `2/x,12["a"]`, 0},
		{"ack", Packet{Type: Ack, ID: 3, HasID: true, Data: json.RawMessage(`[]`)}, `33[]`, 0},
		{"binary event", Packet{Type: Event, Data: json.RawMessage(`["b",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1}}}, `51-["b",{"_placeholder":true,"num":0}]`, 1},
		{"binary ack", Packet{Type: Ack, Namespace: "/n", ID: 7, HasID: true, Data: json.RawMessage(`[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), Attachments: [][]byte{{1}, {2}}}, `62-/n,7[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, 2},
		{"binary type without attachments", Packet{Type: BinaryEvent, Data: json.RawMessage(`["x"]`)}, `2["x"]`, 0},
		{"connect error", Packet{Type: ConnectError, Namespace: "/a", Data: json.RawMessage(`{"message":"no"}`)}, `4/a,{"message":"no"}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, att := tt.p.Encode()
			if string(text) != tt.want || len(att) != tt.n {
				t.Fatalf("Encode() = %q, %d attachments; want %q, %d", text, len(att), tt.want, tt.n)
			}
		})
	}
}

func TestDecodeValid(t *testing.T) {
	tests := []struct {
		in    string
		typ   Type
		nsp   string
		id    uint64
		hasID bool
		data  string
	}{
		{"0", Connect, "/", 0, false, ""},
		{`0{"token":"abc"}`, Connect, "/", 0, false, `{"token":"abc"}`},
		{`0/admin,{"a":1}`, Connect, "/admin", 0, false, `{"a":1}`},
		{"0/admin,", Connect, "/admin", 0, false, ""},
		{"0/admin", Connect, "/admin", 0, false, ""},
		{"1", Disconnect, "/", 0, false, ""},
		{"1/chat,", Disconnect, "/chat", 0, false, ""},
		{`2["message","hi"]`, Event, "/", 0, false, `["message","hi"]`},
		{`2[1,2]`, Event, "/", 0, false, `[1,2]`},
		{`2/chat,42["m"]`, Event, "/chat", 42, true, `["m"]`},
		{`212["m"]`, Event, "/", 12, true, `["m"]`},
		{`3/chat,5[]`, Ack, "/chat", 5, true, `[]`},
		{`35`, Ack, "/", 5, true, ``},
		{`4{"message":"x"}`, ConnectError, "/", 0, false, `{"message":"x"}`},
		{`4"x"`, ConnectError, "/", 0, false, `"x"`},
		{`2[" connect"]`, Event, "/", 0, false, `[" connect"]`},
		{`2["conn\u0065ctx"]`, Event, "/", 0, false, `["conn\u0065ctx"]`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d Decoder
			p, err := d.Decode([]byte(tt.in), false)
			if err != nil {
				t.Fatalf("Decode(%q): %v", tt.in, err)
			}
			if p.Type != tt.typ || p.Namespace != tt.nsp || p.ID != tt.id || p.HasID != tt.hasID || string(p.Data) != tt.data {
				t.Fatalf("Decode(%q) = %+v", tt.in, p)
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	tests := []string{
		"",
		"7",
		"a",
		`2`,
		`2{}`,
		`2[]`,
		`2[{}]`,
		`2[null]`,
		`2["connect"]`,
		`2["disconnect","x"]`,
		`2["conn\u0065ct"]`,
		`2["newListener"]`,
		`2["x"`,
		`2["x"]garbage`,
		`0[]`,
		`0"x"`,
		`1{}`,
		`4[]`,
		`3{}`,
		`5["x",{"_placeholder":true,"num":0}]`,
		`5x-["x"]`,
		`511-["x"]`,
		`599999999999-["x"]`,
		`2/chat,99999999999999999999999["x"]`,
	}
	for _, in := range tests {
		t.Run(in, func(t *testing.T) {
			var d Decoder
			p, err := d.Decode([]byte(in), false)
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("Decode(%q) = %+v, %v; want ErrInvalidPacket", in, p, err)
			}
		})
	}
}

func TestDecodeBinary(t *testing.T) {
	var d Decoder
	p, err := d.Decode([]byte(`52-/b,9["up",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`), false)
	if p != nil || err != nil {
		t.Fatalf("header: %v %v", p, err)
	}
	if p, err = d.Decode([]byte{1, 2}, true); p != nil || err != nil {
		t.Fatalf("first attachment: %v %v", p, err)
	}
	if p, err = d.Decode([]byte{3}, true); err != nil || p == nil {
		t.Fatalf("second attachment: %v %v", p, err)
	}
	if p.Type != BinaryEvent || p.Namespace != "/b" || p.ID != 9 || len(p.Attachments) != 2 {
		t.Fatalf("packet = %+v", p)
	}
	args, err := Args(p.Data, p.Attachments)
	if err != nil {
		t.Fatal(err)
	}
	var a, b []byte
	if err := json.Unmarshal(args[1], &a); err != nil || !bytes.Equal(a, []byte{3}) {
		t.Fatalf("arg 1 = %s (%v)", args[1], err)
	}
	if err := json.Unmarshal(args[2], &b); err != nil || !bytes.Equal(b, []byte{1, 2}) {
		t.Fatalf("arg 2 = %s (%v)", args[2], err)
	}
}

func TestDecodeBinaryErrors(t *testing.T) {
	var d Decoder
	if _, err := d.Decode([]byte{1}, true); !errors.Is(err, ErrInvalidPacket) {
		t.Fatalf("stray binary: %v", err)
	}
	if _, err := d.Decode([]byte(`51-["x",{"_placeholder":true,"num":0}]`), false); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode([]byte(`2["x"]`), false); !errors.Is(err, ErrInvalidPacket) {
		t.Fatalf("text while awaiting attachment: %v", err)
	}
	// The decoder is usable again after an error.
	if p, err := d.Decode([]byte(`2["x"]`), false); err != nil || p == nil {
		t.Fatalf("after reset: %v %v", p, err)
	}
	if _, err := d.Decode([]byte(`51-["x",{"_placeholder":true,"num":4}]`), false); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode([]byte{0}, true); !errors.Is(err, ErrInvalidPacket) {
		t.Fatalf("placeholder out of range: %v", err)
	}
	d = Decoder{MaxAttachments: 2}
	if _, err := d.Decode([]byte(`53-["x"]`), false); !errors.Is(err, ErrInvalidPacket) {
		t.Fatalf("attachment cap: %v", err)
	}
}

func TestEncodeArgsRoundTrip(t *testing.T) {
	data, att, err := EncodeArgs("file", []byte("abc"), map[string]any{"n": 1, "blob": []byte{0xff}}, []any{[]byte{1}, "s"}, json.RawMessage(`{"raw":true}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(att) != 3 {
		t.Fatalf("attachments = %d, want 3", len(att))
	}
	text, _ := (&Packet{Type: Event, Namespace: "/", Data: data, Attachments: att}).Encode()
	var d Decoder
	if p, err := d.Decode(text, false); p != nil || err != nil {
		t.Fatalf("header: %v %v", p, err)
	}
	var p *Packet
	for _, a := range att {
		if p, err = d.Decode(a, true); err != nil {
			t.Fatal(err)
		}
	}
	args, err := Args(p.Data, p.Attachments)
	if err != nil {
		t.Fatal(err)
	}
	if len(args) != 6 || string(args[0]) != `"file"` || string(args[4]) != `{"raw":true}` || string(args[5]) != "null" {
		t.Fatalf("args = %q", args)
	}
	var obj struct {
		N    int    `json:"n"`
		Blob []byte `json:"blob"`
	}
	if err := json.Unmarshal(args[2], &obj); err != nil || obj.N != 1 || !bytes.Equal(obj.Blob, []byte{0xff}) {
		t.Fatalf("object arg = %s (%v)", args[2], err)
	}
	var list []any
	if err := json.Unmarshal(args[3], &list); err != nil || list[1] != "s" {
		t.Fatalf("list arg = %s (%v)", args[3], err)
	}
}

func TestArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`[]`, nil},
		{` [ "a" , 1,true,null, {"k":["]"]}, "\"]" ] `, []string{`"a"`, `1`, `true`, `null`, `{"k":["]"]}`, `"\"]"`}},
		{`[-1.5e3]`, []string{`-1.5e3`}},
	}
	for _, tt := range tests {
		got, err := Args(json.RawMessage(tt.in), nil)
		if err != nil {
			t.Fatalf("Args(%s): %v", tt.in, err)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("Args(%s) = %q, want %q", tt.in, got, tt.want)
		}
		for i := range got {
			if string(got[i]) != tt.want[i] {
				t.Fatalf("Args(%s)[%d] = %s, want %s", tt.in, i, got[i], tt.want[i])
			}
		}
	}
	if _, err := Args(json.RawMessage(`{}`), nil); !errors.Is(err, ErrInvalidPacket) {
		t.Fatalf("Args(object): %v", err)
	}
}

// FuzzDecode checks that no input panics the decoder and that every packet it
// accepts survives an encode/decode round trip.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"0", `0/a,{"x":1}`, `2["m",1]`, `3/a,1[]`, `51-["b",{"_placeholder":true,"num":0}]`, `4{"message":"x"}`, "1/x,", `2["\u0000"]`, `2[1e999]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var d Decoder
		p, err := d.Decode(in, false)
		if err != nil {
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("error %v does not wrap ErrInvalidPacket", err)
			}
			return
		}
		if p == nil {
			if p, err = d.Decode([]byte{1}, true); err != nil || p == nil {
				return // placeholders may not match one attachment
			}
		}
		if p.Type == Event || p.Type == Ack {
			if _, err := Args(p.Data, p.Attachments); err != nil && p.Data != nil {
				t.Fatalf("Args of accepted packet %q: %v", in, err)
			}
		}
		text, att := p.Encode()
		var d2 Decoder
		q, err := d2.Decode(text, false)
		for _, a := range att {
			if err != nil {
				break
			}
			q, err = d2.Decode(a, true)
		}
		if err != nil || q == nil || wireType(q) != wireType(p) || q.Namespace != p.Namespace || q.ID != p.ID || !bytes.Equal(q.Data, p.Data) {
			t.Fatalf("round trip of %q: %q -> %+v, %v", in, text, q, err)
		}
	})
}

// wireType is the type a packet is written with: the binary types only when
// there are attachments.
func wireType(p *Packet) Type {
	text, _ := p.Encode()
	return Type(text[0] - '0')
}
