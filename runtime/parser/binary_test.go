package parser

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// decodeOne decodes a complete packet from its text and attachments.
func decodeOne(t *testing.T, text string, attachments ...[]byte) *Packet {
	t.Helper()
	var d Decoder
	p, err := d.Decode([]byte(text), false)
	for _, a := range attachments {
		if err != nil {
			break
		}
		p, err = d.Decode(a, true)
	}
	if err != nil || p == nil {
		t.Fatalf("decode %q: %v (packet %v)", text, err, p)
	}
	return p
}

// decodeArgs decodes a complete packet and splits its arguments.
func decodeArgs(t *testing.T, text string, attachments ...[]byte) ArgList {
	t.Helper()
	p := decodeOne(t, text, attachments...)
	args, err := SplitArgs(p.Data, p.Attachments)
	if err != nil {
		t.Fatal(err)
	}
	return args
}

func TestArgsReEncodeReproducesPacket(t *testing.T) {
	tests := []struct {
		name        string
		text        string
		attachments [][]byte
	}{
		{"text only", `2["ev",1,"a",{"b":[true,null]}]`, nil},
		{"top level binary", `51-["ev",{"_placeholder":true,"num":0}]`, [][]byte{{1, 2, 3, 255}}},
		{"nested binary", `52-["ev",{"z":1,"a":{"_placeholder":true,"num":0},"list":[{"_placeholder":true,"num":1}]}]`, [][]byte{{1}, {2, 2}}},
		{"placeholder key order and spaces", `52-["ev", {"num":1,"_placeholder":true} , {"x":{"num":0.0,"_placeholder":true}}]`, [][]byte{{9}, {8}}},
		{"binary and a marker-looking object", `51-["ev",{"$binary":"AQ=="},{"_placeholder":true,"num":0}]`, [][]byte{{7}}},
		{"big numbers kept", `51-["ev",12345678901234567890,{"_placeholder":true,"num":0}]`, [][]byte{{0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := decodeArgs(t, tt.text, tt.attachments...)
			data, atts, err := EncodeArgs(args.Any()...)
			if err != nil {
				t.Fatal(err)
			}
			out := &Packet{Type: Event, Namespace: "/", Data: data, Attachments: atts}
			text, _ := out.Encode()
			want := strings.ReplaceAll(strings.ReplaceAll(tt.text, ", ", ","), " , ", ",")
			if tt.name == "placeholder key order and spaces" {
				// The argument text is kept; placeholders are written in the canonical form.
				want = `52-["ev",{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}}]`
				if !reflect.DeepEqual(atts, [][]byte{{8}, {9}}) {
					t.Fatalf("attachments %v, want them renumbered in text order", atts)
				}
			} else if !reflect.DeepEqual(atts, tt.attachments) && (len(atts) != 0 || len(tt.attachments) != 0) {
				t.Fatalf("attachments %v, want %v", atts, tt.attachments)
			}
			if string(text) != want {
				t.Fatalf("re-encoded %s, want %s", text, want)
			}
		})
	}
}

func TestArgSubsetRenumbers(t *testing.T) {
	p := decodeOne(t, `53-["ev",{"_placeholder":true,"num":0},"x",{"_placeholder":true,"num":2},{"_placeholder":true,"num":1}]`, []byte{0}, []byte{1}, []byte{2})
	args, err := SplitArgs(p.Data, p.Attachments)
	if err != nil {
		t.Fatal(err)
	}
	data, atts, err := EncodeArgs(args[2:].Any()...)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]` || !reflect.DeepEqual(atts, [][]byte{{2}, {1}}) {
		t.Fatalf("got %s %v", data, atts)
	}
}

func TestArgDecode(t *testing.T) {
	p := decodeOne(t, `52-["ev",{"_placeholder":true,"num":0},{"name":"n","file":{"_placeholder":true,"num":1},"tags":["a"]}]`, []byte{1, 2, 3}, []byte{4, 5})
	args, err := SplitArgs(p.Data, p.Attachments)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	if err := args[1].Decode(&b); err != nil || !bytes.Equal(b, []byte{1, 2, 3}) {
		t.Fatalf("[]byte: %v %v", b, err)
	}
	if got, ok := args[1].Bytes(); !ok || !bytes.Equal(got, []byte{1, 2, 3}) {
		t.Fatalf("Bytes() = %v, %v", got, ok)
	}
	if _, ok := args[2].Bytes(); ok {
		t.Fatal("an object is not binary itself")
	}
	var s struct {
		Name string   `json:"name"`
		File []byte   `json:"file"`
		Tags []string `json:"tags"`
	}
	if err := args[2].Decode(&s); err != nil || s.Name != "n" || !bytes.Equal(s.File, []byte{4, 5}) || s.Tags[0] != "a" {
		t.Fatalf("struct: %+v %v", s, err)
	}
	var v any
	if err := args[2].Decode(&v); err != nil {
		t.Fatal(err)
	}
	if f, _ := v.(map[string]any)["file"].([]byte); !bytes.Equal(f, []byte{4, 5}) {
		t.Fatalf("any: %#v", v)
	}
	if !args[2].HasBinary() || args[0].HasBinary() {
		t.Fatal("HasBinary")
	}
	var name string
	if err := args[0].Decode(&name); err != nil || name != "ev" {
		t.Fatalf("name %q %v", name, err)
	}
	if err := args[0].Decode(&b); err == nil {
		t.Fatal("a string that is not base64 decoded into []byte")
	}
}

func TestBinaryJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name        string
		text        string
		attachments [][]byte
		json        string
	}{
		{"plain", `2["ev",{"a":1}]`, nil, `{"a":1}`},
		{"binary", `51-["ev",{"_placeholder":true,"num":0}]`, [][]byte{{1, 2, 3, 255}}, `{"$binary":"AQID/w=="}`},
		{"nested", `51-["ev",{"f":[{"_placeholder":true,"num":0}]}]`, [][]byte{{}}, `{"f":[{"$binary":""}]}`},
		{"data that looks like a marker", `2["ev",{"$binary":"AQ=="}]`, nil, `{"$literal":{"$binary":"AQ=="}}`},
		{"data that looks like an escape", `2["ev",{"$literal":{"$binary":"AQ=="}}]`, nil, `{"$literal":{"$literal":{"$literal":{"$binary":"AQ=="}}}}`},
		{"two members are data", `2["ev",{"$binary":"AQ==","x":1}]`, nil, `{"$binary":"AQ==","x":1}`},
		{"marker-looking object around binary", `51-["ev",{"$binary":{"_placeholder":true,"num":0}}]`, [][]byte{{5}}, `{"$literal":{"$binary":{"$binary":"BQ=="}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := decodeArgs(t, tt.text, tt.attachments...)
			got, err := json.Marshal(args[1])
			if err != nil || string(got) != tt.json {
				t.Fatalf("MarshalJSON = %s, %v; want %s", got, err, tt.json)
			}
			var back Arg
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			data, atts, err := EncodeArgs("ev", back)
			if err != nil {
				t.Fatal(err)
			}
			text, _ := (&Packet{Type: Event, Namespace: "/", Data: data, Attachments: atts}).Encode()
			if string(text) != tt.text || len(atts) != len(tt.attachments) {
				t.Fatalf("back: %s %v; want %s %v", text, atts, tt.text, tt.attachments)
			}
			for i := range atts {
				if !bytes.Equal(atts[i], tt.attachments[i]) {
					t.Fatalf("attachment %d = %v, want %v", i, atts[i], tt.attachments[i])
				}
			}
		})
	}
}

func TestParseBinaryJSONErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"not json", `{`, "not valid JSON"},
		{"not base64", `{"$binary":"%%"}`, "$binary"},
		{"not a string", `{"$binary":1}`, "base64 string"},
		{"literal of a non-object", `{"$literal":1}`, "needs an object"},
		{"placeholder next to binary", `[{"$binary":"AQ=="},{"_placeholder":true,"num":0}]`, "_placeholder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBinaryJSON([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestScanObjectsDeepNesting(t *testing.T) {
	deep := strings.Repeat(`{"a":[`, 20000) + `{"_placeholder":true,"num":0}` + strings.Repeat(`]}`, 20000)
	spans, err := placeholders([]byte(deep), 1)
	if err != nil || len(spans) != 1 || spans[0].start != 6*20000 {
		t.Fatalf("spans %v, %v", spans, err)
	}
}

func BenchmarkEncodeArgsBinaryArgs(b *testing.B) {
	var d Decoder
	d.Decode([]byte(`52-["ev",{"user":"u","text":"hello there","file":{"_placeholder":true,"num":0}},{"_placeholder":true,"num":1}]`), false)
	d.Decode(make([]byte, 1024), true)
	p, _ := d.Decode(make([]byte, 64), true)
	args, _ := SplitArgs(p.Data, p.Attachments)
	all := args.Any()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := EncodeArgs(all...); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeArgsPlain(b *testing.B) {
	args := []any{"ev", map[string]any{"user": "u", "text": "hello there"}, 42}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := EncodeArgs(args...); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEncodeArgsMapWithBinaryIsDeterministic(t *testing.T) {
	for range 20 {
		data, atts, err := EncodeArgs(map[string]any{"z": []byte{1}, "a": []byte{2}, "m": 3, "b": []any{[]byte{4}}})
		if err != nil {
			t.Fatal(err)
		}
		want := `[{"a":{"_placeholder":true,"num":0},"b":[{"_placeholder":true,"num":1}],"m":3,"z":{"_placeholder":true,"num":2}}]`
		if string(data) != want || !reflect.DeepEqual(atts, [][]byte{{2}, {4}, {1}}) {
			t.Fatalf("got %s %v, want %s", data, atts, want)
		}
	}
}

func BenchmarkEncodeArgsBinaryMap(b *testing.B) {
	args := []any{"ev", map[string]any{"user": "u", "file": make([]byte, 1024)}, make([]byte, 64)}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := EncodeArgs(args...); err != nil {
			b.Fatal(err)
		}
	}
}
