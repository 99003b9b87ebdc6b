package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeKind is what a probe's result does.
type probeKind int

const (
	startupProbe   probeKind = iota // success ends it; failure kills the process
	readinessProbe                  // results set the Ready condition; never ends
	livenessProbe                   // failure kills the process
)

// probe runs the container's startup probe until it passes, then its readiness and liveness probes, until
// ctx is done (the process exited or the pod stops). A killed process is restarted by supervise.
func (c *container) probe(ctx context.Context) {
	if p := c.spec.StartupProbe; p != nil && !c.probeLoop(ctx, p, startupProbe) {
		return
	}
	c.mu.Lock()
	c.started = true
	if c.spec.ReadinessProbe == nil {
		c.ready = c.running
	}
	c.mu.Unlock()
	c.r.markDirty()
	if p := c.spec.ReadinessProbe; p != nil {
		go c.probeLoop(ctx, p, readinessProbe)
	}
	if p := c.spec.LivenessProbe; p != nil {
		c.probeLoop(ctx, p, livenessProbe)
	}
}

// probeLoop runs p every period; a result settles after successThreshold successes or failureThreshold
// failures. It returns true when a startup probe succeeded, false when ctx ended or the process was killed.
func (c *container) probeLoop(ctx context.Context, p *corev1.Probe, kind probeKind) bool {
	period := time.Duration(max(p.PeriodSeconds, 1)) * time.Second
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	failures, successes := 0, 0
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Duration(p.InitialDelaySeconds) * time.Second):
	}
	for {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := c.runProbe(pctx, p.ProbeHandler)
		cancel()
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			failures, successes = 0, successes+1
		} else {
			successes, failures = 0, failures+1
		}
		settledOK := err == nil && successes >= int(max(p.SuccessThreshold, 1))
		settledFail := err != nil && failures >= int(max(p.FailureThreshold, 1))
		switch {
		case kind == startupProbe && settledOK:
			return true
		case kind == readinessProbe && (settledOK || settledFail):
			c.setReady(settledOK)
		case kind != readinessProbe && settledFail:
			c.r.log.Warn("probe failed: restarting container", "container", c.spec.Name, "err", err)
			c.kill()
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(period):
		}
	}
}

func (c *container) setReady(ok bool) {
	c.mu.Lock()
	ok = ok && c.running
	changed := c.ready != ok
	c.ready = ok
	c.mu.Unlock()
	if changed {
		c.r.markDirty()
	}
}

func (c *container) kill() {
	c.mu.Lock()
	proc := c.proc
	c.mu.Unlock()
	if proc != nil {
		_ = proc.Kill()
	}
}

func (c *container) runProbe(ctx context.Context, h corev1.ProbeHandler) error {
	switch {
	case h.HTTPGet != nil:
		return c.httpGet(ctx, h.HTTPGet)
	case h.TCPSocket != nil:
		port, err := c.port(h.TCPSocket.Port)
		if err != nil {
			return err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(c.host(h.TCPSocket.Host), strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case h.Exec != nil:
		cmd := h.Exec.Command
		if c.adapter.probeCommand != nil {
			cmd = c.adapter.probeCommand(c.r.ip.String(), cmd)
		}
		return c.execIn(ctx, cmd)
	}
	return fmt.Errorf("unsupported probe handler")
}

// execIn runs a command in the container (its environment, volumes and hosts file; the network is the
// host's, which the pod's processes share).
func (c *container) execIn(ctx context.Context, argv []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("empty command")
	}
	cmd, err := c.inContainer(ctx, argv)
	if err != nil {
		return err
	}
	cmd.Dir = c.r.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %w: %s", argv, err, out)
	}
	return nil
}

func (c *container) httpGet(ctx context.Context, g *corev1.HTTPGetAction) error {
	port, err := c.port(g.Port)
	if err != nil {
		return err
	}
	scheme := "http"
	if g.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(c.host(g.Host), strconv.Itoa(port)), g.Path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for _, h := range g.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return nil
}

func (c *container) host(h string) string {
	if h != "" {
		return h
	}
	return c.r.ip.String()
}

// port resolves a probe port: a number, or the name of one of the container's ports.
func (c *container) port(p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.spec.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("no port named %q", p.StrVal)
}
