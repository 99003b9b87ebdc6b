package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// pollingResult is what one server scored with long-polling clients.
type pollingResult struct {
	// RSSPerClientKB[i] is the RSS per idle polling client with
	// cfg.pollingClients[i] clients; BaseRSSKB and LoadedRSSKB its raw
	// figures.
	RSSPerClientKB []float64
	BaseRSSKB      []int64
	LoadedRSSKB    []int64
	// RequestsPerSec counts the HTTP requests answered per second while
	// cfg.pollingActive clients emit "echo" with an ack over polling as fast
	// as their acks come back; RequestsPerCoreSec divides them by the
	// server's CPU seconds (requests per second of one core).
	RequestsPerSec     float64
	RequestsPerCoreSec float64
	ServerCPUPercent   float64
}

// benchPolling measures one server with long-polling clients that never
// upgrade (the fallback of networks that block WebSocket): the RSS of idle
// polling clients at each count of cfg.pollingClients (a fresh server for
// each), then request throughput with cfg.pollingActive active clients.
func benchPolling(cfg config, name string) (pollingResult, error) {
	var r pollingResult
	for _, n := range cfg.pollingClients {
		base, loaded, err := pollingIdleRSS(cfg, name, n)
		if err != nil {
			return r, err
		}
		r.BaseRSSKB, r.LoadedRSSKB = append(r.BaseRSSKB, base), append(r.LoadedRSSKB, loaded)
		r.RSSPerClientKB = append(r.RSSPerClientKB, float64(loaded-base)/float64(n))
	}
	srv, err := startServer(cfg, name, "", "")
	if err != nil {
		return r, err
	}
	defer srv.stop()
	log.Printf("%s: %d active polling clients for %s", name, cfg.pollingActive, cfg.duration)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clients, err := openPollingClients(ctx, srv.addr, cfg.pollingActive)
	defer closePollingClients(clients)
	if err != nil {
		return r, err
	}
	var requests atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	pid := srv.cmd.Process.Pid
	cpu0, t0 := cpuSeconds(pid), time.Now()
	stop := t0.Add(cfg.duration)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				n, err := c.echo()
				requests.Add(int64(n))
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(t0).Seconds(), cpuSeconds(pid)-cpu0
	if firstErr != nil {
		return r, fmt.Errorf("active polling clients: %w", firstErr)
	}
	r.RequestsPerSec = float64(requests.Load()) / elapsed
	if cpu > 0 {
		r.RequestsPerCoreSec = float64(requests.Load()) / cpu
	}
	r.ServerCPUPercent = 100 * cpu / elapsed
	return r, nil
}

// pollingIdleRSS starts a server, connects n polling clients that wait on
// their GET (answering pings), and returns the server's RSS before and with
// them.
func pollingIdleRSS(cfg config, name string, n int) (base, loaded int64, err error) {
	srv, err := startServer(cfg, name, "", "")
	if err != nil {
		return 0, 0, err
	}
	defer srv.stop()
	pid := srv.cmd.Process.Pid
	time.Sleep(time.Second)
	base = rssKB(pid)
	if cfg.profileDir != "" && name == "go" {
		// Heap profiles (-profile-dir) before the clients and with them: the
		// Go server writes one at each SIGUSR1.
		_ = srv.cmd.Process.Signal(syscall.SIGUSR1)
		time.Sleep(time.Second)
	}
	log.Printf("%s: %d idle polling clients", name, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clients, err := openPollingClients(ctx, srv.addr, n)
	defer closePollingClients(clients)
	if err != nil {
		return 0, 0, err
	}
	errs := make(chan error, n)
	for _, c := range clients {
		go func() { errs <- c.idle() }()
	}
	// Past a heartbeat of every session (pingInterval 25 s): the figure
	// includes what a ping and its pong leave behind. The median of samples
	// between 35 s and 45 s (before the next heartbeat), so that one burst
	// still being handled on a busy machine does not decide it.
	var samples []float64
	next := time.After(35 * time.Second)
	for len(samples) < 11 {
		select {
		case err := <-errs:
			return 0, 0, fmt.Errorf("idle polling client: %w", err)
		case <-next:
			samples = append(samples, float64(rssKB(pid)))
			next = time.After(time.Second)
		}
	}
	if cfg.profileDir != "" && name == "go" {
		_ = srv.cmd.Process.Signal(syscall.SIGUSR1)
		time.Sleep(2 * time.Second)
	}
	return base, int64(median(samples)), nil
}

// openPollingClients opens n polling clients, 32 at a time; it returns the
// first error with the clients that opened.
func openPollingClients(ctx context.Context, addr string, n int) ([]*pollClient, error) {
	clients := make([]*pollClient, n)
	errs := make(chan error, n)
	slots := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range clients {
		if ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			c, err := openPollClient(addr)
			if err != nil {
				errs <- fmt.Errorf("polling client %d: %w", i, err)
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	return clients, <-errs // nil when every client opened
}

func closePollingClients(clients []*pollClient) {
	for _, c := range clients {
		if c != nil {
			c.close()
		}
	}
}

// pollClient is a minimal long-polling Engine.IO client, as a browser
// without WebSocket behaves: the GET on one keep-alive connection, the
// POSTs on another.
type pollClient struct {
	addr, path string
	get, post  *httpConn
	ackID      int
	mu         sync.Mutex // serializes POSTs
}

// httpConn is one keep-alive HTTP/1.1 connection, dialled again (as a
// browser does) when the server closed it while it was idle: Node's HTTP
// server closes idle keep-alive connections after 5 s.
type httpConn struct {
	addr   string
	c      net.Conn
	br     *bufio.Reader
	reused bool
}

func dialHTTP(addr string) (*httpConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &httpConn{addr: addr, c: c, br: bufio.NewReaderSize(c, 1024)}, nil
}

// do sends one request and returns the body of its 200 answer.
func (h *httpConn) do(host, method, path, body string) ([]byte, error) {
	b, err := h.roundTrip(host, method, path, body)
	if err != nil && h.reused && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		h.c.Close()
		c, derr := net.Dial("tcp", h.addr)
		if derr != nil {
			return nil, derr
		}
		h.c, h.br, h.reused = c, bufio.NewReaderSize(c, 1024), false
		b, err = h.roundTrip(host, method, path, body)
	}
	return b, err
}

func (h *httpConn) roundTrip(host, method, path, body string) ([]byte, error) {
	defer func() { h.reused = true }()
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
	if method == http.MethodPost {
		fmt.Fprintf(&req, "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n")
	req.WriteString(body)
	if _, err := io.WriteString(h.c, req.String()); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(h.br, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: HTTP %d %s", method, resp.StatusCode, b)
	}
	if err == nil && resp.Close {
		err = errors.New("server closed the keep-alive connection")
	}
	return b, err
}

// openPollClient opens a session and connects to "/".
func openPollClient(addr string) (*pollClient, error) {
	c := &pollClient{addr: addr, path: "/socket.io/?EIO=4&transport=polling"}
	var err error
	if c.get, err = dialHTTP(addr); err != nil {
		return nil, err
	}
	if c.post, err = dialHTTP(addr); err != nil {
		c.get.c.Close()
		return nil, err
	}
	body, err := c.get.do(addr, http.MethodGet, c.path, "")
	if err != nil || !bytes.HasPrefix(body, []byte("0{")) || !bytes.Contains(body, []byte(`"sid":"`)) {
		c.close()
		return nil, fmt.Errorf("polling open: %q %v", body, err)
	}
	sid := body[bytes.Index(body, []byte(`"sid":"`))+7:]
	sid = sid[:bytes.IndexByte(sid, '"')]
	c.path += "&sid=" + string(sid)
	if err := c.send("40"); err != nil {
		c.close()
		return nil, err
	}
	if _, err := c.poll(func(p []byte) bool { return bytes.HasPrefix(p, []byte("40{")) }); err != nil {
		c.close()
		return nil, fmt.Errorf("polling connect: %w", err)
	}
	return c, nil
}

func (c *pollClient) send(payload string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	body, err := c.post.do(c.addr, http.MethodPost, c.path, payload)
	if err == nil && string(body) != "ok" {
		err = fmt.Errorf("POST answered %q", body)
	}
	return err
}

// poll sends GETs until a packet satisfies want, answering pings; it
// returns the number of requests made.
func (c *pollClient) poll(want func([]byte) bool) (int, error) {
	requests := 0
	for {
		body, err := c.get.do(c.addr, http.MethodGet, c.path, "")
		requests++
		if err != nil {
			return requests, err
		}
		found := false
		for p := range bytes.SplitSeq(body, []byte{0x1e}) {
			switch {
			case string(p) == "2":
				if err := c.send("3"); err != nil {
					return requests, err
				}
				requests++
			case string(p) == "1":
				return requests, errors.New("session closed by the server")
			case want != nil && want(p):
				found = true
			}
		}
		if found {
			return requests, nil
		}
	}
}

// idle polls until the connection fails or is closed.
func (c *pollClient) idle() error {
	_, err := c.poll(nil)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// echo emits "echo" with an ack and polls until the ack comes; it returns
// the number of requests made.
func (c *pollClient) echo() (int, error) {
	c.ackID++
	id := strconv.Itoa(c.ackID)
	if err := c.send("42" + id + `["echo","hello"]`); err != nil {
		return 1, err
	}
	n, err := c.poll(func(p []byte) bool { return bytes.HasPrefix(p, []byte("43"+id+"[")) })
	return n + 1, err
}

func (c *pollClient) close() {
	c.get.c.Close()
	c.post.c.Close()
}

// pollingReport writes the polling section's table.
func pollingReport(b *strings.Builder, cfg config, node, gosrv pollingResult, row func(name, unit string, n, g float64, better string)) {
	if len(node.RSSPerClientKB) != len(cfg.pollingClients) || len(gosrv.RSSPerClientKB) != len(cfg.pollingClients) {
		return
	}
	fmt.Fprintf(b, "\n### Long-polling clients (no upgrade)\n\n")
	fmt.Fprintf(b, "Each client is a minimal Engine.IO client of the runner that never upgrades, as a browser on a network without WebSocket: its GET waits on one keep-alive connection, its POSTs (the Socket.IO connect, pongs, emits) go over a second one; idle clients are measured between 35 s and 45 s after they connected (every session had a heartbeat; the median of 11 samples). Each count runs on a fresh server; RSS is the server's growth from before the clients.\n\n")
	fmt.Fprintf(b, "| measure | Node socket.io | Go runtime | Go / Node |\n|---|---:|---:|---:|\n")
	for i, n := range cfg.pollingClients {
		row(fmt.Sprintf("RSS per idle polling client (%d clients)", n), "KiB", node.RSSPerClientKB[i], gosrv.RSSPerClientKB[i], "lower")
	}
	row(fmt.Sprintf("polling requests per second (%d clients emitting echo with ack for %s)", cfg.pollingActive, cfg.duration), "/s", node.RequestsPerSec, gosrv.RequestsPerSec, "higher")
	row("polling requests per second per server core (requests / server CPU seconds)", "/s", node.RequestsPerCoreSec, gosrv.RequestsPerCoreSec, "higher")
}

// pollingAnalysis explains the polling section; it is part of every report.
const pollingAnalysis = `- **Memory per idle polling client**: a polling client keeps two keep-alive connections, its waiting GET and the
  one its POSTs (pongs, emits) go over. Served by net/http, each holds a goroutine with its stack, a 4 KiB read and
  a 4 KiB write buffer (and a 2 KiB response buffer while a request is served). The runtime takes such
  connections out of the HTTP server and parks them in its epoll poller: a GET until it has packets to answer,
  and a connection between requests (after a POST's "ok", or a GET answered with the handshake, a ping or a noop,
  whose client sends its POSTs first; after an answer carrying messages too once 256 connections already wait
  idle in the HTTP server) until the client's next request arrives; then it is given back to the HTTP server, at
  most 128 at a time, the others waiting their turn in the listener's queue with their bytes in the kernel. One sweep per listener closes those idle for the
  HTTP server's idle timeout, not a timer each. Heap profiles and memory statistics at the measure point
  (` + "`bench/runner -sections polling -only go -profile-dir DIR`" + `) put the live heap at about 3 KiB per client
  (session, socket, two parked connections and their sockets); the rest of the RSS was the garbage collector's
  headroom over the peak of requests in flight when thousands of clients poll at once (after the opening, at
  each heartbeat): up to 2,500 goroutines at a heartbeat with 2,000 clients, most of them net/http goroutines
  waiting for the next request of a connection handed back after its GET's answer, and 6,000 requests served at
  once, each with its buffers, when 6,000 parked clients polled together. Parking connections between requests
  took 2,000 clients from 16–31 KiB to 11.7–12.6 KiB per client in runs on the shared machine (6,000: 12.3 →
  10–11.7 KiB); serving at most 128 given-back connections at a time then took 6,000 clients to 9.1 KiB
  (2,000: 10.9–14.4 KiB, within the noise of a machine shared with other jobs). Parking every connection after
  every answer cost a poller event per request (16,200 → 12,800 polling requests per server core back to back);
  handing a connection answered with messages straight back, while fewer than 256 wait in the HTTP server, keeps
  the active clients' requests on the short path (16,800–23,400 per core in later runs; the last: 18,000 per
  core, 12.2 KiB per client at 2,000 and 9.2 KiB at 6,000).
`

// pollingRaw writes the polling section's raw rows.
func pollingRaw(b *strings.Builder, cfg config, node, gosrv pollingResult) {
	if len(node.RSSPerClientKB) != len(cfg.pollingClients) || len(gosrv.RSSPerClientKB) != len(cfg.pollingClients) {
		return
	}
	for i, n := range cfg.pollingClients {
		fmt.Fprintf(b, "| polling: RSS before / with %d clients (KiB) | %d / %d | %d / %d |\n", n, node.BaseRSSKB[i], node.LoadedRSSKB[i], gosrv.BaseRSSKB[i], gosrv.LoadedRSSKB[i])
	}
	fmt.Fprintf(b, "| polling: server CPU with active clients (%% of one core) | %.0f | %.0f |\n", node.ServerCPUPercent, gosrv.ServerCPUPercent)
}

// intList parses a comma-separated list of positive integers (a flag).
type intList []int

func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out intList
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("not a positive integer: %q", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}
