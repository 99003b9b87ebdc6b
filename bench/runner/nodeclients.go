package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// nodeClients is one Node process holding official socket.io-client sockets
// (bench/node/clients.mjs), driven by one JSON command a line.
type nodeClients struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	replies chan []byte
	sockets int // connected by connect, not yet closed
}

// replyGrace is added to a command's own timeout to bound the wait for its
// reply.
const replyGrace = 30 * time.Second

func startNodeClients(cfg config) (*nodeClients, error) {
	cmd := exec.Command("node", filepath.Join(cfg.nodeDir, "node", "clients.mjs"))
	cmd.Env = append(os.Environ(), fmt.Sprintf("RECONNECTION_DELAY=%d", cfg.reconnectionDelay.Milliseconds()))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node clients: %w", err)
	}
	c := &nodeClients{cmd: cmd, stdin: stdin, replies: make(chan []byte, 1)}
	go func() {
		defer close(c.replies)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return
			}
			c.replies <- line
		}
	}()
	return c, nil
}

// call sends a command and decodes its reply into reply (when not nil);
// timeout is the command's own (the reply is awaited replyGrace longer).
func (c *nodeClients) call(command map[string]any, timeout time.Duration, reply any) error {
	if timeout > 0 {
		command["timeoutMs"] = timeout.Milliseconds()
	}
	b, err := json.Marshal(command)
	if err != nil {
		return err
	}
	if _, err := c.stdin.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("node clients %v: %w", command["cmd"], err)
	}
	var line []byte
	select {
	case l, ok := <-c.replies:
		if !ok {
			return fmt.Errorf("node clients %v: the process exited", command["cmd"])
		}
		line = l
	case <-time.After(timeout + replyGrace):
		return fmt.Errorf("node clients %v: no reply", command["cmd"])
	}
	var e struct{ Error string }
	if err := json.Unmarshal(line, &e); err != nil {
		return fmt.Errorf("node clients %v: %w", command["cmd"], err)
	}
	if e.Error != "" {
		return fmt.Errorf("node clients %v: %s", command["cmd"], e.Error)
	}
	if reply == nil {
		return nil
	}
	return json.Unmarshal(line, reply)
}

// stop closes stdin (the process exits when it has read everything) and
// waits for the process.
func (c *nodeClients) stop() {
	_ = c.stdin.Close()
	waitOrKill(c.cmd)
}

// clientFleet is the Node client processes of a run, which share the
// sockets equally.
type clientFleet []*nodeClients

func startClientFleet(cfg config) (clientFleet, error) {
	var f clientFleet
	for range cfg.clientProcs {
		c, err := startNodeClients(cfg)
		if err != nil {
			f.stop()
			return nil, err
		}
		f = append(f, c)
	}
	return f, nil
}

func (f clientFleet) stop() {
	for _, c := range f {
		c.stop()
	}
}

// each runs fn on every process at once and returns the first error.
func (f clientFleet) each(fn func(i int, c *nodeClients) error) error {
	errs := make([]error, len(f))
	var wg sync.WaitGroup
	for i, c := range f {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i, c)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// all sends the same command to every process at once.
func (f clientFleet) all(command map[string]any, timeout time.Duration) error {
	return f.each(func(_ int, c *nodeClients) error { return c.call(maps.Clone(command), timeout, nil) })
}

// connect connects n sockets to url, shared between the processes.
func (f clientFleet) connect(url string, n int) error {
	return f.each(func(i int, c *nodeClients) error {
		share := n/len(f) + btoi(i < n%len(f))
		if err := c.call(map[string]any{"cmd": "connect", "url": url, "n": share}, 2*time.Minute, nil); err != nil {
			return err
		}
		c.sockets += share
		return nil
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
