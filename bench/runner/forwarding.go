package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// The forwarding overhead (section "forwarding", Go only: Node has no
// equivalent): two socketfleet-runtime processes with cluster.forwarding on
// loopback, a polling session owned by A, and the same requests sent to A
// directly and through B, which forwards them to A's admin port.

// forwardingResult is what the forwarding section measured.
type forwardingResult struct {
	Requests               int
	DirectP50, DirectP99   time.Duration
	ForwardP50, ForwardP99 time.Duration
	MB                     float64
	// ForwarderCPUPerMB is B's CPU seconds per MB it forwarded to A;
	// OwnerCPUPerMB is A's for the same bytes (what serving them costs
	// anyway), OwnerDirectCPUPerMB A's when they come directly.
	ForwarderCPUPerMB, OwnerCPUPerMB, OwnerDirectCPUPerMB float64
}

var sidPattern = regexp.MustCompile(`"sid":"([^"]+)"`)

// runtimeProc is a socketfleet-runtime process of the forwarding section.
type runtimeProc struct {
	cmd           *exec.Cmd
	public, admin string
}

func startRuntime(binary, tokenFile string) (*runtimeProc, error) {
	pub, err := freeAddr()
	if err != nil {
		return nil, err
	}
	adm, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, pubPort, _ := net.SplitHostPort(pub)
	_, admPort, _ := net.SplitHostPort(adm)
	cmd := exec.Command(binary, "--host", "127.0.0.1", "--port", pubPort, "--admin-port", admPort,
		"--log-level", "warn", "--drain-window", "100ms", "--admin-token-file", tokenFile, "--cluster-forwarding-enabled",
		"--cluster-forwarding-advertise-address", adm, "--cluster-forwarding-max-in-flight", "10000")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	p := &runtimeProc{cmd: cmd, public: "http://" + pub, admin: "http://" + adm}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(p.admin + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("socketfleet-runtime on %s not ready: %v", pub, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *runtimeProc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// pollingSession opens an Engine.IO polling session on base and joins the
// main namespace; it returns the sid.
func pollingSession(c *http.Client, base string) (string, error) {
	body, err := pollRequest(c, "GET", base, "", nil)
	if err != nil {
		return "", err
	}
	m := sidPattern.FindSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("handshake answer %q", body)
	}
	sid := string(m[1])
	if _, err := pollRequest(c, "POST", base, sid, []byte("40")); err != nil {
		return "", err
	}
	if body, err := pollRequest(c, "GET", base, sid, nil); err != nil || !bytes.HasPrefix(body, []byte("40")) {
		return "", fmt.Errorf("connect answer %q: %w", body, err)
	}
	return sid, nil
}

func pollRequest(c *http.Client, method, base, sid string, body []byte) ([]byte, error) {
	url := base + "/socket.io/?EIO=4&transport=polling"
	if sid != "" {
		url += "&sid=" + sid
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, out)
	}
	return out, err
}

// benchForwarding runs the forwarding section.
func benchForwarding(cfg config) (forwardingResult, error) {
	var r forwardingResult
	dir, err := os.MkdirTemp("", "socketfleet-bench-forwarding")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("bench-forwarding-token\n"), 0o600); err != nil {
		return r, err
	}
	a, err := startRuntime(cfg.runtimeBinary, tokenFile)
	if err != nil {
		return r, err
	}
	defer a.stop()
	b, err := startRuntime(cfg.runtimeBinary, tokenFile)
	if err != nil {
		return r, err
	}
	defer b.stop()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()

	// Latency: one session of A, the same small POST sent alternately to A
	// and through B, one at a time.
	sid, err := pollingSession(client, a.public)
	if err != nil {
		return r, err
	}
	msg := []byte(`42["bench",1]`)
	var direct, forwarded []time.Duration
	for i := range 2 * cfg.forwardRequests {
		base := a.public
		if i%2 == 1 {
			base = b.public
		}
		start := time.Now()
		if _, err := pollRequest(client, "POST", base, sid, msg); err != nil {
			return r, err
		}
		d := time.Since(start)
		if i%2 == 1 {
			forwarded = append(forwarded, d)
		} else {
			direct = append(direct, d)
		}
	}
	r.Requests = cfg.forwardRequests
	r.DirectP50, r.DirectP99 = percentile(direct, 50), percentile(direct, 99)
	r.ForwardP50, r.ForwardP99 = percentile(forwarded, 50), percentile(forwarded, 99)

	// CPU per MB: 64 KiB messages posted by 8 sessions of A, first through B,
	// then directly.
	const chunk, workers = 64 << 10, 8
	payload := []byte(`42["bench","` + strings.Repeat("x", chunk-16) + `"]`)
	posts := int(cfg.forwardMB * (1 << 20) / float64(len(payload)))
	r.MB = float64(posts*len(payload)) / (1 << 20)
	sids := make([]string, workers)
	for i := range sids {
		if sids[i], err = pollingSession(client, a.public); err != nil {
			return r, err
		}
	}
	push := func(base string) (ownerCPU, frontCPU float64, err error) {
		a0, b0 := cpuSeconds(a.cmd.Process.Pid), cpuSeconds(b.cmd.Process.Pid)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := w; i < posts && ctx.Err() == nil; i += workers {
					if _, err := pollRequest(client, "POST", base, sids[w], payload); err != nil {
						errs <- err
						cancel()
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := errors.Join(slices.Collect(chanValues(errs))...); err != nil {
			return 0, 0, err
		}
		return cpuSeconds(a.cmd.Process.Pid) - a0, cpuSeconds(b.cmd.Process.Pid) - b0, nil
	}
	log.Printf("forwarding: %.0f MB through B", r.MB)
	ownerCPU, frontCPU, err := push(b.public)
	if err != nil {
		return r, err
	}
	r.ForwarderCPUPerMB, r.OwnerCPUPerMB = frontCPU/r.MB, ownerCPU/r.MB
	log.Printf("forwarding: %.0f MB directly", r.MB)
	ownerCPU, _, err = push(a.public)
	if err != nil {
		return r, err
	}
	r.OwnerDirectCPUPerMB = ownerCPU / r.MB
	return r, nil
}

func chanValues[T any](c <-chan T) func(func(T) bool) {
	return func(yield func(T) bool) {
		for v := range c {
			if !yield(v) {
				return
			}
		}
	}
}

// percentile returns the p-th percentile of d (sorted in place).
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, len(d)*p/100)]
}

// forwardingReport is the forwarding section of the results file.
func forwardingReport(b *strings.Builder, f forwardingResult) {
	fmt.Fprintf(b, "\n### Session forwarding overhead (Go only: `cluster.forwarding`, two socketfleet-runtime processes on loopback)\n\n")
	fmt.Fprintf(b, "A polling session owned by A; the same request sent to A directly and to B, which forwards it to A's admin port ([docs/forwarding.md](../docs/forwarding.md)).\n\n")
	fmt.Fprintf(b, "| measure | direct to the owner | through another pod | added by forwarding |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(b, "| small POST round trip p50 (%d requests each, one at a time) | %.3f ms | %.3f ms | %.3f ms |\n",
		f.Requests, ms(f.DirectP50), ms(f.ForwardP50), ms(f.ForwardP50-f.DirectP50))
	fmt.Fprintf(b, "| small POST round trip p99 | %.3f ms | %.3f ms | %.3f ms |\n", ms(f.DirectP99), ms(f.ForwardP99), ms(f.ForwardP99-f.DirectP99))
	fmt.Fprintf(b, "| CPU seconds per MB posted (%.0f MB in 64 KiB messages, 8 sessions): the owner | %.4f s | %.4f s | |\n",
		f.MB, f.OwnerDirectCPUPerMB, f.OwnerCPUPerMB)
	fmt.Fprintf(b, "| CPU seconds per MB posted: the forwarding pod | — | %.4f s | %.4f s |\n", f.ForwarderCPUPerMB, f.ForwarderCPUPerMB)
}
