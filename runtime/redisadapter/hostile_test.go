package redisadapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/runtime/msgpackcheck"
)

// issue11Message is the 63-byte broadcast a fuzzer found: an array header
// claiming 0xdddddddd elements made the decoder allocate about 60 GB.
const issue11Message = "\x93\xa6000000\x83\xa400000\xa4data\x940\xdd\xdd\xdd\xdd\xdd0\xa5000&&0\xa30000\x83\xa5000000\xa60000000\xa500000\x80"

// nested returns n arrays of one element nested in each other around nil.
func nested(n int) []byte {
	return append(bytes.Repeat([]byte{0x91}, n), 0xc0)
}

func TestCheckMsgpack(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		want  string // "" for accepted, else a part of the error
	}{
		{"Node broadcast", mustHex(t, goldenBroadcastAll), ""},
		{"Node binary broadcast", mustHex(t, goldenBroadcastBin), ""},
		{"Node acknowledged broadcast", mustHex(t, goldenAckRequest), ""},
		{"Node sharded envelope", mustHex(t, goldenShardedBinary), ""},
		{"every scalar", []byte{0x95, 0xcc, 1, 0xd1, 0, 2, 0xca, 0, 0, 0, 0, 0xd4, 1, 2, 0xc7, 1, 5, 9}, ""},
		{"nesting at the bound", nested(msgpackcheck.MaxNesting), ""},
		{"the 63-byte message", []byte(issue11Message), "announces 3722304989 values"},
		{"array32 of 4G", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}, "announces 4294967295 values, 1 bytes follow"},
		{"map32 of 4G", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0}, "announces 8589934590 values"},
		{"map16 short by one value", []byte{0xde, 0, 2, 1, 2, 3}, "announces 4 values, 3 bytes follow"},
		{"array short by one value", []byte{0x92, 0xa1, 0x61}, "truncated"},
		{"str32 of 4G", []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, "announces 4294967295 bytes, 1 follow"},
		{"bin32 of 4G", []byte{0xc6, 0xff, 0xff, 0xff, 0xff}, "announces 4294967295 bytes, 0 follow"},
		{"ext32 of 4G", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 1}, "bytes, 1 follow"},
		{"truncated length", []byte{0xdb, 0xff}, "truncated length"},
		{"truncated float", []byte{0xcb, 0, 0}, "announces 8 bytes, 2 follow"},
		{"reserved byte", []byte{0x91, 0xc1}, "reserved byte 0xc1"},
		{"nested too deep", nested(msgpackcheck.MaxNesting + 1), "nested deeper than 10000"},
		{"trailing bytes", []byte{0xc0, 0xc0}, "1 trailing bytes"},
		{"empty", nil, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := msgpackcheck.Check(tt.input)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, msgpackcheck.ErrMalformed)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestHostileMessagesAreDropped feeds the decoders of every message kind
// with the input of issue 11 and other hostile bytes: each is refused with
// an error, quickly and without a large allocation.
func TestHostileMessagesAreDropped(t *testing.T) {
	inputs := map[string][]byte{
		"issue 11":       []byte(issue11Message),
		"map of 4G":      {0xdf, 0xff, 0xff, 0xff, 0xff},
		"deep":           nested(msgpackcheck.MaxNesting + 1),
		"bad JSON":       []byte(`{"type":`),
		"deep JSON":      []byte(`{"type":9,"data":{"packet":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`),
		"truncated pack": mustHex(t, goldenBroadcastAll)[:20],
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			if in[0] != '{' {
				var m broadcastMessage
				if err := unmarshalMsgpack(in, &m); err == nil {
					t.Error("broadcast accepted")
				}
				var r ackBroadcastRequest
				if err := unmarshalMsgpack(in, &r); err == nil {
					t.Error("acknowledged broadcast accepted")
				}
			}
			if _, err := decodeEnvelope(in); err == nil {
				t.Error("sharded envelope accepted")
			}
		})
	}
}

func TestDroppedMessagesLogOncePerInterval(t *testing.T) {
	var logs bytes.Buffer
	d := droppedMessages{log: slog.New(slog.NewJSONHandler(&logs, nil))}
	for range 1000 {
		d.record("socket.io#/#", msgpackcheck.ErrMalformed)
	}
	if d.count() != 1000 {
		t.Fatalf("count %d", d.count())
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines for a burst, want 1:\n%s", len(lines), logs.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec["channel"] != "socket.io#/#" || rec["droppedTotal"] != 1.0 {
		t.Fatalf("log line %s (%v)", lines[0], err)
	}
	// The next interval's first drop is logged with the count it stood for.
	later := time.Now().Add(dropLogInterval)
	d.now = func() time.Time { return later }
	d.record("socket.io-request#/#", msgpackcheck.ErrMalformed)
	lines = strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"droppedSinceLastLog":999`) {
		t.Fatalf("second interval logged %q", lines[len(lines)-1])
	}
}
