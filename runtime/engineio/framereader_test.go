package engineio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// clientFrame builds a frame as a client sends it: masked with a fixed key.
func clientFrame(fin bool, op byte, payload string) []byte {
	b := []byte{op}
	if fin {
		b[0] |= 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	mask := []byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, mask...)
	for i := range len(payload) {
		b = append(b, payload[i]^mask[i%4])
	}
	return b
}

type gotFrame struct {
	op      byte
	payload string
}

func TestFrameReaderAssemblesMessages(t *testing.T) {
	long := strings.Repeat("x", 300)
	huge := strings.Repeat("y", 70000)
	tests := []struct {
		name   string
		stream [][]byte
		want   []gotFrame
	}{
		{
			name:   "text and binary",
			stream: [][]byte{clientFrame(true, opText, "4hello"), clientFrame(true, opBinary, "\x01\x02")},
			want:   []gotFrame{{opText, "4hello"}, {opBinary, "\x01\x02"}},
		},
		{
			name:   "16-bit and 64-bit lengths",
			stream: [][]byte{clientFrame(true, opText, long), clientFrame(true, opBinary, huge)},
			want:   []gotFrame{{opText, long}, {opBinary, huge}},
		},
		{
			name: "fragmented message with a ping between the fragments",
			stream: [][]byte{
				clientFrame(false, opText, "4he"),
				clientFrame(true, opPing, "p"),
				clientFrame(false, opContinuation, "l"),
				clientFrame(true, opContinuation, "lo"),
			},
			want: []gotFrame{{opPing, "p"}, {opText, "4hello"}},
		},
		{
			name:   "empty message and close",
			stream: [][]byte{clientFrame(true, opText, ""), clientFrame(true, opClose, "\x03\xe8")},
			want:   []gotFrame{{opText, ""}, {opClose, "\x03\xe8"}},
		},
	}
	for _, tt := range tests {
		stream := bytes.Join(tt.stream, nil)
		// However the network cuts the stream, the same messages come out.
		for _, piece := range []int{len(stream), 1, 3, 7, 1000} {
			t.Run(fmt.Sprintf("%s/pieces of %d", tt.name, piece), func(t *testing.T) {
				r := &frameReader{limit: 100000}
				var got []gotFrame
				for rest := stream; len(rest) > 0; {
					n := min(piece, len(rest))
					err := r.feed(rest[:n], func(op byte, p []byte) error {
						got = append(got, gotFrame{op, string(p)})
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
					rest = rest[n:]
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Fatalf("got %.200v, want %.200v", got, tt.want)
				}
				if r.st != nil {
					t.Fatalf("an idle reader holds %d + %d bytes", len(r.st.partial), len(r.st.msg))
				}
			})
		}
	}
}

func TestFrameReaderRefusesViolations(t *testing.T) {
	unmasked := clientFrame(true, opText, "4x")
	unmasked[1] &^= 0x80
	tests := []struct {
		name   string
		stream [][]byte
		code   int
		msg    string
	}{
		{"unmasked", [][]byte{unmasked}, closeProtocolError, "not masked"},
		{"reserved bit", [][]byte{append([]byte{0xc1}, clientFrame(true, opText, "4x")[1:]...)}, closeProtocolError, "reserved bits"},
		{"unknown opcode", [][]byte{clientFrame(true, 0x3, "x")}, closeProtocolError, "unknown opcode"},
		{"fragmented ping", [][]byte{clientFrame(false, opPing, "x")}, closeProtocolError, "control frame"},
		{"long close", [][]byte{clientFrame(true, opClose, strings.Repeat("x", 126))}, closeProtocolError, "control frame"},
		{"stray continuation", [][]byte{clientFrame(true, opContinuation, "x")}, closeProtocolError, "continuation"},
		{"message inside a message", [][]byte{clientFrame(false, opText, "4"), clientFrame(true, opText, "4")}, closeProtocolError, "inside"},
		{"too big", [][]byte{clientFrame(true, opBinary, strings.Repeat("z", 101))}, closeTooBig, "larger than 100"},
		{"too big in fragments", [][]byte{clientFrame(false, opText, strings.Repeat("z", 60)), clientFrame(true, opContinuation, strings.Repeat("z", 60))}, closeTooBig, "larger than 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &frameReader{limit: 100}
			var delivered int
			err := r.feed(bytes.Join(tt.stream, nil), func(byte, []byte) error { delivered++; return nil })
			var fe *frameError
			if !errors.As(err, &fe) || fe.code != tt.code || !strings.Contains(fe.msg, tt.msg) {
				t.Fatalf("err = %v, want close %d with %q", err, tt.code, tt.msg)
			}
			if delivered != 0 {
				t.Fatalf("%d frames delivered before the violation", delivered)
			}
		})
	}
}

func TestFrameReaderRefusesOversizedFrameFromItsHeader(t *testing.T) {
	// Only the header of a 1 GB frame arrives: refused at once, nothing buffered.
	header := []byte{0x82, 0x80 | 127}
	header = binary.BigEndian.AppendUint64(header, 1<<30)
	r := &frameReader{limit: 1000}
	err := r.feed(header, func(byte, []byte) error { return nil })
	var fe *frameError
	if !errors.As(err, &fe) || fe.code != closeTooBig {
		t.Fatalf("err = %v, want close %d", err, closeTooBig)
	}
}

func TestFrameReaderStopsAtHandlerError(t *testing.T) {
	stop := errors.New("session closed")
	r := &frameReader{limit: 100}
	calls := 0
	err := r.feed(append(clientFrame(true, opText, "4a"), clientFrame(true, opText, "4b")...), func(byte, []byte) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err = %v after %d calls, want %v after 1", err, calls, stop)
	}
}

// FuzzFrameReader: whatever a client sends, the reader neither panics nor depends on how the network cut
// the bytes: fed whole or a byte at a time, it hands over the same frames and ends with the same error.
func FuzzFrameReader(f *testing.F) {
	f.Add(append(clientFrame(false, opText, "4a"), clientFrame(true, opContinuation, "b")...))
	f.Add(clientFrame(true, opBinary, strings.Repeat("z", 300)))
	f.Add([]byte{0x81, 0xfe, 0xff})
	f.Fuzz(func(t *testing.T, stream []byte) {
		run := func(piece int) (string, error) {
			r := &frameReader{limit: 1 << 16}
			var got strings.Builder
			for rest := stream; len(rest) > 0; {
				n := min(piece, len(rest))
				if err := r.feed(rest[:n], func(op byte, p []byte) error {
					fmt.Fprintf(&got, "%d:%q;", op, p)
					return nil
				}); err != nil {
					return got.String(), err
				}
				rest = rest[n:]
			}
			return got.String(), nil
		}
		whole, errWhole := run(len(stream) + 1)
		bytewise, errBytewise := run(1)
		if whole != bytewise || fmt.Sprint(errWhole) != fmt.Sprint(errBytewise) {
			t.Fatalf("whole: %q %v; byte by byte: %q %v", whole, errWhole, bytewise, errBytewise)
		}
	})
}
