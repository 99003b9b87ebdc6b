package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// loadClient is a minimal Socket.IO client over WebSocket for generating
// load: it connects to the main namespace, answers pings, counts "m" events
// and times acknowledgements. Correctness against the official client is the
// compat suite's job, not this one's.
type loadClient struct {
	conn     *websocket.Conn
	writeMu  sync.Mutex
	received *atomic.Int64 // shared counter of "m" events

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]time.Time
	rtts    chan<- time.Duration

	// latencies, when set, receives now−t for every "m" event whose payload
	// carries a send time {"t":<unix nanoseconds>}.
	latencies chan<- time.Duration
}

// pongsSent counts the pongs every load client has sent.
var pongsSent atomic.Int64

var dialer = &websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 1024, HandshakeTimeout: 30 * time.Second}

// dialClient opens a WebSocket session and connects to namespace "/".
func dialClient(ctx context.Context, base string, received *atomic.Int64, rtts chan<- time.Duration) (*loadClient, error) {
	conn, _, err := dialer.DialContext(ctx, "ws://"+base+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, msg, err := conn.ReadMessage(); err != nil || len(msg) == 0 || msg[0] != '0' {
		conn.Close()
		return nil, fmt.Errorf("open packet: %q %v", msg, err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	if _, msg, err := conn.ReadMessage(); err != nil || !bytes.HasPrefix(msg, []byte("40{")) {
		conn.Close()
		return nil, fmt.Errorf("connect reply: %q %v", msg, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	c := &loadClient{conn: conn, received: received, pending: map[uint64]time.Time{}, rtts: rtts}
	go c.read()
	return c, nil
}

func (c *loadClient) write(msg []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.conn.WriteMessage(websocket.TextMessage, msg)
}

// read consumes frames until the connection closes, reusing one buffer.
func (c *loadClient) read() {
	buf := make([]byte, 512)
	for {
		_, r, err := c.conn.NextReader()
		if err != nil {
			return
		}
		n := 0
		for {
			m, err := r.Read(buf[n:])
			n += m
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			if n == len(buf) {
				buf = append(buf, make([]byte, len(buf))...)
			}
		}
		msg := buf[:n]
		switch {
		case bytes.HasPrefix(msg, []byte(`42["m"`)):
			c.received.Add(1)
			if c.latencies != nil {
				c.recordLatency(msg)
			}
		case len(msg) == 1 && msg[0] == '2':
			pongsSent.Add(1)
			_ = c.write([]byte("3"))
		case bytes.HasPrefix(msg, []byte("43")):
			c.onAck(msg[2:])
		}
	}
}

func (c *loadClient) recordLatency(msg []byte) {
	i := bytes.Index(msg, []byte(`"t":`))
	if i < 0 {
		return
	}
	j := i + 4
	for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
		j++
	}
	sent, err := strconv.ParseInt(string(msg[i+4:j]), 10, 64)
	if err != nil {
		return
	}
	select {
	case c.latencies <- time.Since(time.Unix(0, sent)):
	default:
	}
}

func (c *loadClient) onAck(rest []byte) {
	i := bytes.IndexByte(rest, '[')
	if i < 0 {
		return
	}
	id, err := strconv.ParseUint(string(rest[:i]), 10, 64)
	if err != nil {
		return
	}
	c.mu.Lock()
	sent, ok := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if ok && c.rtts != nil {
		c.rtts <- time.Since(sent)
	}
}

// emitWithAck sends event with a JSON argument list and times the ack.
func (c *loadClient) emitWithAck(event, args string) error {
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	c.pending[id] = time.Now()
	c.mu.Unlock()
	return c.write([]byte("42" + strconv.FormatUint(id, 10) + `["` + event + `",` + args + "]"))
}

func (c *loadClient) close() { c.conn.Close() }

// pollingHandshake opens a long-polling session, connects to "/" and closes
// the session, as a client that never upgrades does.
func pollingHandshake(ctx context.Context, hc *http.Client, base string) error {
	url := "http://" + base + "/socket.io/?EIO=4&transport=polling"
	body, err := httpDo(ctx, hc, "GET", url, "")
	if err != nil || len(body) < 10 || body[0] != '0' {
		return fmt.Errorf("polling open: %q %v", body, err)
	}
	sid := body[bytes.Index(body, []byte(`"sid":"`))+7:]
	sid = sid[:bytes.IndexByte(sid, '"')]
	url += "&sid=" + string(sid)
	if _, err := httpDo(ctx, hc, "POST", url, "40"); err != nil {
		return err
	}
	if body, err := httpDo(ctx, hc, "GET", url, ""); err != nil || !bytes.HasPrefix(body, []byte("40{")) {
		return fmt.Errorf("polling connect reply: %q %v", body, err)
	}
	_, err = httpDo(ctx, hc, "POST", url, "1")
	return err
}

func httpDo(ctx context.Context, hc *http.Client, method, url, body string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewBufferString(body))
	if err != nil {
		return nil, err
	}
	if method == "POST" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return b, fmt.Errorf("%s: HTTP %d %s", method, resp.StatusCode, b)
	}
	return b, err
}
