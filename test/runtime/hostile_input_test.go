package runtime_test

import (
	"bufio"
	be "encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hostileRSSCeiling bounds the runtime's resident memory during the hostile
// input suite. The runtime idles at about 15 MiB; the suite holds at most
// hostileConcurrency connections at once, each with at most one buffered body
// of maxHttpBufferSize (1 MB) — 32 MB — plus 2,000 half-open Engine.IO sessions
// of a few KiB each (under 20 MB). 128 MiB leaves more than a factor of 2 over
// that sum; a decoder that allocated what a length prefix announces (4 GiB)
// or a leak per connection would cross it.
const hostileRSSCeiling = 128 << 20

// hostileConcurrency bounds the connections the suite opens at once.
const hostileConcurrency = 32

var sidPattern = regexp.MustCompile(`"sid":"([^"]+)"`)

// vmRSS reads the process's resident set size from /proc.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read /proc status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// goroutines reads go_goroutines from the runtime's /metrics. It first
// closes the test's idle keep-alive connections, whose server goroutines
// would otherwise count.
func goroutines(t *testing.T, p *proc) int {
	t.Helper()
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond) // the server notices the closed connections
	_, _, metrics := httpGet(t, p.admin+"/metrics")
	m := regexp.MustCompile(`(?m)^go_goroutines (\d+)$`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatal("/metrics has no go_goroutines")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// pollingHandshake opens an Engine.IO long-polling session and returns its sid.
func pollingHandshake(t *testing.T, base string) string {
	t.Helper()
	code, _, body := httpGet(t, base+"/socket.io/?EIO=4&transport=polling")
	m := sidPattern.FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("handshake = %d %s", code, body)
	}
	return m[1]
}

// connectedSession opens a session and connects it to the main namespace.
func connectedSession(t *testing.T, base string) string {
	t.Helper()
	sid := pollingHandshake(t, base)
	u := base + "/socket.io/?EIO=4&transport=polling&sid=" + url.QueryEscape(sid)
	if code, _, body := httpDo(t, "POST", u, "", "40"); code != 200 || body != "ok" {
		t.Fatalf("CONNECT = %d %s", code, body)
	}
	if code, _, body := httpGet(t, u); code != 200 || !strings.HasPrefix(body, "40{") {
		t.Fatalf("CONNECT reply = %d %s", code, body)
	}
	return sid
}

// sessionClosed reports whether a session is gone or closing: its next poll
// gets the close packet or Node's "Session ID unknown" answer.
func sessionClosed(t *testing.T, base, sid string) bool {
	t.Helper()
	code, _, body := httpGet(t, base+"/socket.io/?EIO=4&transport=polling&sid="+url.QueryEscape(sid))
	return (code == 200 && strings.Contains(body, "1")) || (code == 400 && strings.Contains(body, `"Session ID unknown"`))
}

// rawRequest writes raw bytes on a new connection and returns the status
// line of the answer ("" when the server closed the connection without one).
func rawRequest(t *testing.T, addr string, req []byte) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	go func() { _, _ = conn.Write(req) }()
	line, _ := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line)
}

// wsFrame is one client frame: fin + opcode, the mask bit, the payload
// length field as sent and the payload.
func wsFrame(opcode byte, masked bool, length uint64, payload []byte) []byte {
	b := []byte{0x80 | opcode}
	maskBit := byte(0)
	if masked {
		maskBit = 0x80
	}
	switch {
	case length < 126:
		b = append(b, maskBit|byte(length))
	case length <= 0xffff:
		b = append(b, maskBit|126, byte(length>>8), byte(length))
	default:
		b = append(b, maskBit|127)
		b = be.BigEndian.AppendUint64(b, length)
	}
	if masked {
		key := []byte{1, 2, 3, 4}
		b = append(b, key...)
		for i, c := range payload {
			payload[i] = c ^ key[i%4]
		}
	}
	return append(b, payload...)
}

// wsAttack upgrades a new connection to WebSocket, sends frame and returns
// how the server ended it: the close code of its close frame, or -1 when it
// closed the connection without one.
func wsAttack(t *testing.T, addr string, frame []byte) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if _, err := conn.Write(frame); err != nil {
		return -1
	}
	for {
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(br, hdr); err != nil {
			return -1
		}
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126:
			ext := make([]byte, 2)
			if _, err := io.ReadFull(br, ext); err != nil {
				return -1
			}
			n = uint64(be.BigEndian.Uint16(ext))
		case 127:
			ext := make([]byte, 8)
			if _, err := io.ReadFull(br, ext); err != nil {
				return -1
			}
			n = be.BigEndian.Uint64(ext)
		}
		if n > 1<<20 {
			t.Fatalf("server frame of %d bytes", n)
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return -1
		}
		if hdr[0]&0x0f == 0x8 { // close
			if len(payload) < 2 {
				return 1005
			}
			return int(be.BigEndian.Uint16(payload))
		}
	}
}

// parallel runs fn n times on at most hostileConcurrency goroutines.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, hostileConcurrency)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}

// TestHostileInput drives one socketfleet-runtime process with hostile HTTP,
// Engine.IO, Socket.IO and WebSocket input. Each attack must get Node
// socket.io 4.8's answer or a clear error; the process's RSS stays under
// hostileRSSCeiling throughout, its goroutines come back to where they were
// once the sessions expire, and an official client still connects and gets
// an event afterwards. HOSTILE_RESULTS=<file> appends the figures to that
// file (bench/SECURITY.md).
func TestHostileInput(t *testing.T) {
	p := startRuntime(t, []string{"SOCKETFLEET_PUBLISH_TOKEN=s3cret"}, "--publish-enabled", "--relay-enabled",
		"--relay-rooms", "order:*", "--ping-interval", "2s", "--ping-timeout", "2s")
	pid := p.cmd.Process.Pid
	base := p.public
	addr := strings.TrimPrefix(base, "http://")

	// Warm up with one complete client and one WebSocket (the first one starts
	// the runtime's fixed pools of WebSocket flush and read-poll goroutines),
	// then take the baseline.
	connectedSession(t, base)
	wsAttack(t, addr, wsFrame(0x1, false, 2, []byte("2p")))
	time.Sleep(5 * time.Second) // that session expires (no pong)
	rssBefore := vmRSS(t, pid)
	goBefore := goroutines(t, p)

	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
				if err != nil {
					continue
				}
				if m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(data); m != nil {
					kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
					if kb<<10 > peak.Load() {
						peak.Store(kb << 10)
					}
				}
			}
		}
	}()

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"oversized headers: 431 like Node", func(t *testing.T) {
			req := "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n"
			if got := rawRequest(t, addr, []byte(req)); !strings.HasPrefix(got, "HTTP/1.1 431") {
				t.Errorf("2 MiB header answered %q, want 431", got)
			}
		}},
		{"oversized polling bodies: 413 like Node", func(t *testing.T) {
			parallel(20, func(int) {
				sid := connectedSession(t, base)
				code, _, body := httpDo(t, "POST", base+"/socket.io/?EIO=4&transport=polling&sid="+sid, "", "42"+strings.Repeat("x", 2_000_000))
				if code != http.StatusRequestEntityTooLarge {
					t.Errorf("2 MB polling body = %d %s, want 413", code, body)
				}
			})
		}},
		{"oversized publish body: 413", func(t *testing.T) {
			code, _, body := httpDo(t, "POST", base+"/v1/emit", "Bearer s3cret", `{"event":"x","args":["`+strings.Repeat("x", 2_000_000)+`"]}`)
			if code != http.StatusRequestEntityTooLarge {
				t.Errorf("2 MB publish body = %d %s, want 413", code, body)
			}
		}},
		{"slowloris headers: closed at the 10 s header timeout", func(t *testing.T) {
			var closed atomic.Int32
			parallel(hostileConcurrency, func(int) {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				start := time.Now()
				req := "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 1000)
				for i := 0; i < len(req) && time.Since(start) < 20*time.Second; i++ {
					if _, err := conn.Write([]byte{req[i]}); err != nil {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
				if _, err := io.ReadAll(conn); err == nil && time.Since(start) < 20*time.Second {
					closed.Add(1)
				}
			})
			if got := closed.Load(); got != hostileConcurrency {
				t.Errorf("%d of %d trickled requests closed by the server within 20 s", got, hostileConcurrency)
			}
		}},
		{"slowloris polling bodies: other clients served meanwhile, nothing left after", func(t *testing.T) {
			var wg sync.WaitGroup
			for range hostileConcurrency {
				sid := connectedSession(t, base)
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer conn.Close()
					fmt.Fprintf(conn, "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", sid)
					for i := 0; i < 40; i++ {
						if _, err := conn.Write([]byte("4")); err != nil {
							return
						}
						time.Sleep(50 * time.Millisecond)
					}
				}()
			}
			// While the bodies trickle in, a new client is served.
			connectedSession(t, base)
			wg.Wait()
		}},
		{"2,000 half-open handshakes", func(t *testing.T) {
			parallel(2000, func(int) {
				code, _, body := httpGet(t, base+"/socket.io/?EIO=4&transport=polling")
				if code != 200 || !sidPattern.MatchString(body) {
					t.Errorf("handshake = %d %s", code, body)
				}
			})
		}},
		{"invalid UTF-8 in an event payload: decoded like Node (U+FFFD), session kept", func(t *testing.T) {
			sid := connectedSession(t, base)
			code, _, body := httpDo(t, "POST", base+"/socket.io/?EIO=4&transport=polling&sid="+sid, "", "42[\"chat\",\"\xff\xfe\xc3\"]")
			if code != 200 || body != "ok" {
				t.Errorf("invalid UTF-8 event = %d %s", code, body)
			}
		}},
		{"deeply nested JSON in an event payload: session closed", func(t *testing.T) {
			sid := connectedSession(t, base)
			payload := "42[\"chat\"," + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "]"
			code, _, body := httpDo(t, "POST", base+"/socket.io/?EIO=4&transport=polling&sid="+sid, "", payload)
			if code != 200 && code != 400 {
				t.Errorf("nested event = %d %s", code, body)
			}
			if !sessionClosed(t, base, sid) {
				t.Error("the session that sent 100,000 nested arrays is still open")
			}
		}},
		{"attachment bomb: session closed", func(t *testing.T) {
			for _, n := range []string{"99999999", "11", "18446744073709551616"} {
				sid := connectedSession(t, base)
				payload := "45" + n + "-[\"chat\",{\"_placeholder\":true,\"num\":0}]"
				code, _, body := httpDo(t, "POST", base+"/socket.io/?EIO=4&transport=polling&sid="+sid, "", payload)
				if code != 200 && code != 400 {
					t.Errorf("%s attachments = %d %s", n, code, body)
				}
				if !sessionClosed(t, base, sid) {
					t.Errorf("the session that announced %s attachments is still open", n)
				}
			}
		}},
		{"WebSocket frames with bad masks, opcodes and lengths: closed like Node", func(t *testing.T) {
			// Node's ws library: a protocol error closes with 1002, a length over
			// maxPayload (or 2^53) with 1009.
			for _, tt := range []struct {
				name  string
				frame []byte
				code  int
			}{
				{"unmasked text frame", wsFrame(0x1, false, 2, []byte("2p")), 1002},
				{"reserved opcode 3", wsFrame(0x3, true, 1, []byte("x")), 1002},
				{"reserved opcode 0xB", wsFrame(0xB, true, 1, []byte("x")), 1002},
				{"2^63-byte length", wsFrame(0x1, true, 1<<63-1, nil), 1009},
				{"4 GiB length", wsFrame(0x2, true, 1<<32, nil), 1009},
				{"126-byte ping", wsFrame(0x9, true, 126, make([]byte, 126)), 1002},
				{"continuation without a start", wsFrame(0x0, true, 1, []byte("x")), 1002},
			} {
				if got := wsAttack(t, addr, tt.frame); got != tt.code {
					t.Errorf("%s: closed with %d, want %d (-1: no close frame)", tt.name, got, tt.code)
				}
			}
		}},
		{"unknown and recycled sids: 400 Session ID unknown like Node", func(t *testing.T) {
			sid := connectedSession(t, base)
			u := base + "/socket.io/?EIO=4&transport=polling&sid=" + sid
			if code, _, body := httpDo(t, "POST", u, "", "1"); code != 200 || body != "ok" {
				t.Fatalf("close = %d %s", code, body)
			}
			for _, s := range []string{"nope", sid, strings.Repeat("A", 20), "../../etc/passwd", "\x00"} {
				deadline := time.Now().Add(5 * time.Second)
				for {
					code, _, body := httpGet(t, base+"/socket.io/?EIO=4&transport=polling&sid="+url.QueryEscape(s))
					if code == 400 && strings.TrimSpace(body) == `{"code":1,"message":"Session ID unknown"}` {
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("sid %q = %d %s, want 400 Session ID unknown", s, code, body)
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
	close(stop)
	<-sampled

	// The half-open sessions expire after pingInterval + pingTimeout (4 s);
	// wait for the goroutines to come back (bounded).
	goAfter := goroutines(t, p)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && goAfter > goBefore; {
		time.Sleep(250 * time.Millisecond)
		goAfter = goroutines(t, p)
	}
	if goAfter > goBefore {
		t.Errorf("%d goroutines after the barrage, %d before", goAfter, goBefore)
	}
	rssAfter := vmRSS(t, pid)
	if peak.Load() > hostileRSSCeiling || rssAfter > hostileRSSCeiling {
		t.Errorf("RSS peak %d MiB, after %d MiB: over the %d MiB ceiling", peak.Load()>>20, rssAfter>>20, hostileRSSCeiling>>20)
	}

	// An official client still connects and gets an event.
	members := startNode(t, "clients.mjs", fmt.Sprintf(`{"url":%q,"count":1,"mode":"room","room":"order:1","event":"order:update","timeoutMs":30000}`, base))
	members.next(t, "ready", 30*time.Second)
	if code, _, resp := httpDo(t, "POST", base+"/v1/emit", "Bearer s3cret", `{"rooms":["order:1"],"event":"order:update","args":[1]}`); code != 200 {
		t.Fatalf("publish = %d %s", code, resp)
	}
	members.next(t, "event", 15*time.Second)

	summary := fmt.Sprintf("| %d MiB | %d MiB | %d MiB | %d MiB | %d | %d |\n",
		rssBefore>>20, peak.Load()>>20, rssAfter>>20, hostileRSSCeiling>>20, goBefore, goAfter)
	t.Logf("RSS before | peak | after | ceiling | goroutines before | after\n%s", summary)
	if f := os.Getenv("HOSTILE_RESULTS"); f != "" {
		if err := os.WriteFile(f, []byte(summary), 0o644); err != nil {
			t.Error(err)
		}
	}
}
