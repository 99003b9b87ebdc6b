package app_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/socketfleet/socketfleet/internal/waitfor"
	"github.com/socketfleet/socketfleet/runtime/app"
)

// TestParserSetting: with parser msgpack a default-parser client is refused
// with a log line naming the parsers, and counted in
// socketfleet_parser_mismatch_total; /stats says which parser serves.
func TestParserSetting(t *testing.T) {
	tests := []struct {
		name, yaml, wantStats string
		wantMismatch          bool
	}{
		{"default", "", `"parser": "default"`, false},
		{"msgpack", "parser: msgpack", `"parser": "msgpack"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs lockedBuffer
			r := start(t, tt.yaml, func(o *app.Options) {
				o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
			})
			c, err := tryConnect(r.public, "/", nil) // the default parser
			if tt.wantMismatch == (err == nil) {
				t.Fatalf("connect with the default parser: %v", err)
			}
			if c != nil {
				c.Close()
			}
			if _, _, body := get(t, r.admin+"/stats"); !strings.Contains(body, tt.wantStats) {
				t.Errorf("/stats lacks %s: %s", tt.wantStats, body)
			}
			want := "socketfleet_parser_mismatch_total 0"
			if tt.wantMismatch {
				want = "socketfleet_parser_mismatch_total 1"
				waitfor.True(t, "the mismatch log line", func() bool {
					return strings.Contains(logs.String(), `"msg":"socketio: client speaks a different Socket.IO parser`) &&
						strings.Contains(logs.String(), `"parser":"msgpack"`)
				})
			}
			if _, _, body := get(t, r.admin+"/metrics"); !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q:\n%s", want, grep(body, "socketfleet_parser"))
			}
		})
	}
}
