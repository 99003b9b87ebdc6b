package runtime_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketfleet/socketfleet/internal/redisserver"
)

// hostileMessages are payloads no server of a cluster sends: the 63-byte
// broadcast that once took every runtime down (an array header claiming
// 0xdddddddd elements), lengths far beyond the message, nesting beyond any
// bound, truncated and mistyped messages, in msgpack and JSON.
var hostileMessages = map[string]string{
	"issue 11":         "\x93\xa6000000\x83\xa400000\xa4data\x940\xdd\xdd\xdd\xdd\xdd0\xa5000&&0\xa30000\x83\xa5000000\xa60000000\xa500000\x80",
	"map32 of 4G":      "\xdf\xff\xff\xff\xff\xc0",
	"str32 of 4G":      "\x93\xdb\xff\xff\xff\xffabc",
	"nested msgpack":   strings.Repeat("\x91", 50000) + "\xc0",
	"reserved byte":    "\x93\xc1\xc1\xc1",
	"wrong types":      "\x93\x01\x02\x03",
	"truncated":        "\x93\xa6LiFIQF\x83\xa4type\x02\xa4data\x94",
	"bad JSON":         `{"type":`,
	"nested JSON":      `{"uid":"x","type":6,"data":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
	"mistyped request": `{"uid":"x","requestId":"y","type":6,"data":"not a list"}`,
	"sharded mistyped": `{"type":3,"data":{"packet":{"data":{"x":1}}},"uid":"x","nsp":"/"}`,
}

// TestHostileRedisMessagesAreHarmless publishes hostile messages on every
// channel the runtimes listen on, in each adapter mode (and as entries of
// the streams adapter's stream), then a legitimate
// broadcast: the runtimes stay up and healthy, count and log what they
// dropped, and their clients receive the broadcast.
func TestHostileRedisMessagesAreHarmless(t *testing.T) {
	for _, mode := range []string{"classic", "sharded", "streams"} {
		t.Run(mode, func(t *testing.T) {
			url := redisserver.Start(t, "").URL()
			env := []string{"SOCKETFLEET_REDIS_URL=" + url, "SOCKETFLEET_REDIS_ADAPTER=" + mode, "SOCKETFLEET_PUBLISH_TOKEN=s3cret"}
			args := []string{"--publish-enabled", "--relay-enabled", "--relay-rooms", "order:*", "--drain-window", "1s"}
			a := startRuntime(t, env, args...)
			b := startRuntime(t, env, args...)
			clients := startNode(t, "clients.mjs", fmt.Sprintf(`{"url":%q,"count":3,"mode":"room","room":"order:9","event":"order:update","timeoutMs":60000}`, a.public))
			clients.next(t, "ready", 30*time.Second)

			opts, err := redis.ParseURL(url)
			if err != nil {
				t.Fatal(err)
			}
			rdb := redis.NewClient(opts)
			defer rdb.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			channels := listenedChannels(ctx, t, rdb, mode)
			sent := 0
			for _, ch := range channels {
				for name, payload := range hostileMessages {
					var err error
					if mode == "sharded" {
						err = rdb.SPublish(ctx, ch, payload).Err()
					} else {
						err = rdb.Publish(ctx, ch, payload).Err()
					}
					if err != nil {
						t.Fatalf("publish %s on %s: %v", name, ch, err)
					}
					sent++
				}
			}
			if mode == "streams" { // stream entries too, as Node writes them: uid, nsp, type, data
				for name, payload := range hostileMessages {
					for _, typ := range []string{"3", "4", "9", "x"} {
						entry := map[string]any{"uid": "x", "nsp": "/", "type": typ, "data": payload}
						if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "socket.io", Values: entry}).Err(); err != nil {
							t.Fatalf("XADD %s: %v", name, err)
						}
						sent++
					}
				}
			}
			t.Logf("%s: %d hostile messages on %d channels %v", mode, sent, len(channels), channels)

			code, _, resp := httpDo(t, "POST", b.public+"/v1/emit", "Bearer s3cret",
				`{"rooms":["order:9"],"event":"order:update","args":["after the hostile ones"]}`)
			if code != 200 {
				t.Fatalf("publish on b = %d %s", code, resp)
			}
			if sum := clients.next(t, "summary", 20*time.Second); sum["ok"] != true || sum["received"] != float64(3) {
				t.Errorf("clients of a after the hostile messages: %v", sum)
			}
			for name, p := range map[string]*proc{"a": a, "b": b} {
				select {
				case <-p.exited:
					t.Fatalf("runtime %s exited: %v", name, p.err)
				default:
				}
				if code, _, body := httpGet(t, p.admin+"/healthz"); code != 200 {
					t.Errorf("%s /healthz = %d %s", name, code, body)
				}
				if n := decodeErrors(t, p); n == 0 {
					t.Errorf("%s counted no decode error", name)
				}
				if !strings.Contains(p.logs(), "message dropped: cannot decode") {
					t.Errorf("%s logged no dropped message", name)
				}
			}
		})
	}
}

// listenedChannels returns the channels the runtimes subscribed to, plus
// the broadcast channels of the classic adapter's pattern subscription.
func listenedChannels(ctx context.Context, t *testing.T, rdb *redis.Client, mode string) []string {
	t.Helper()
	var channels []string
	var err error
	if mode == "sharded" {
		channels, err = rdb.PubSubShardChannels(ctx, "*").Result()
	} else {
		channels, err = rdb.PubSubChannels(ctx, "*").Result()
	}
	if mode == "classic" { // its broadcast channels are pattern-subscribed
		channels = append(channels, "socket.io#/#", "socket.io#/#order:9#")
	}
	if err != nil {
		t.Fatalf("list channels: %v", err)
	}
	if len(channels) < 3 {
		t.Fatalf("the runtimes listen on %v only", channels)
	}
	return channels
}

var decodeErrorsLine = regexp.MustCompile(`(?m)^socketfleet_adapter_decode_errors_total (\S+)$`)

// decodeErrors reads socketfleet_adapter_decode_errors_total of p.
func decodeErrors(t *testing.T, p *proc) float64 {
	t.Helper()
	_, _, metrics := httpGet(t, p.admin+"/metrics")
	m := decodeErrorsLine.FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("/metrics has no socketfleet_adapter_decode_errors_total")
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
