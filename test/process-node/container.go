package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// container runs one container of a pod as a process, restarting it per the pod's restartPolicy.
type container struct {
	r       *podRunner
	spec    corev1.Container
	binary  string
	argv    []string
	env     []string
	adapter imageAdapter
	logPath string

	mu        sync.Mutex
	proc      *os.Process
	exited    chan struct{} // closed when the current process exits
	running   bool
	started   bool // startup probe passed
	ready     bool
	restarts  int32
	startedAt metav1.Time
	last      *corev1.ContainerStateTerminated
	stopping  bool
}

// imageAdapter makes an image's binary fit a process on a pod IP.
type imageAdapter struct {
	// env is added to the container's environment.
	env func(podIP string) []string
	// args are appended to the command line.
	args func(podIP string) []string
	// probeCommand rewrites an exec probe's command.
	probeCommand func(podIP string, cmd []string) []string
	// shims are the wrapper scripts (name -> content) put first on the PATH of a container that runs its own
	// command (a shell script of the image) rather than the image's binary: they make the image's tools bind
	// or talk to the pod IP when the script runs them.
	shims func(podIP, binary string) map[string]string
}

// adapterFor returns the adapter of a binary: socketfleet-runtime listens on SOCKETFLEET_HOST; redis-server
// binds the pod IP, and its exec probes' redis-cli talks to the pod IP instead of localhost.
func adapterFor(binary string) imageAdapter {
	switch filepath.Base(binary) {
	case "socketfleet-runtime":
		return imageAdapter{env: func(ip string) []string { return []string{"SOCKETFLEET_HOST=" + ip} }}
	case "redis-server":
		return imageAdapter{
			args: func(ip string) []string { return []string{"--bind", ip} },
			// A start script's redis-server (or redis-server --sentinel) binds the pod IP; its redis-cli talks
			// to the pod IP unless the script names a host (a later -h wins).
			shims: func(ip, binary string) map[string]string {
				dir := filepath.Dir(binary)
				return map[string]string{
					"redis-server": "#!/bin/sh\nexec " + binary + ` "$@" --bind ` + ip + "\n",
					"redis-cli":    "#!/bin/sh\nexec " + filepath.Join(dir, "redis-cli") + " -h " + ip + ` "$@"` + "\n",
				}
			},
			probeCommand: func(ip string, cmd []string) []string {
				out := make([]string, len(cmd))
				for i, s := range cmd {
					out[i] = strings.ReplaceAll(s, "redis-cli ", "redis-cli -h "+ip+" ")
				}
				return out
			},
		}
	}
	return imageAdapter{}
}

func newContainer(r *podRunner, spec corev1.Container) (*container, error) {
	binary, ok := r.a.opts.Images[imageRepo(spec.Image)]
	if !ok {
		return nil, fmt.Errorf("image %s is not mapped to a local binary (--image %s=...)", spec.Image, imageRepo(spec.Image))
	}
	env, err := r.resolveEnv(spec)
	if err != nil {
		return nil, fmt.Errorf("env of %s: %w", spec.Name, err)
	}
	c := &container{r: r, spec: spec, binary: binary, adapter: adapterFor(binary),
		logPath: filepath.Join(r.dir, spec.Name+".log"), exited: make(chan struct{})}
	close(c.exited) // no process yet
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	if len(spec.Command) > 0 && filepath.Base(spec.Command[0]) != filepath.Base(binary) {
		// The container runs a command of its own, e.g. `sh -c <script>` that ends by exec'ing the image's
		// binary: run it as it is (the host's sh, awk, timeout...), with the image's tools first on the PATH
		// through the adapter's shims.
		c.argv = append(expandAll(spec.Command, vars), expandAll(spec.Args, vars)...)
		if c.adapter.shims != nil {
			shimDir := filepath.Join(r.dir, "shims", spec.Name)
			if err := writeShims(shimDir, c.adapter.shims(r.ip.String(), binary)); err != nil {
				return nil, fmt.Errorf("shims of %s: %w", spec.Name, err)
			}
			env = prependPath(env, shimDir)
		}
	} else {
		c.argv = []string{binary}
		if len(spec.Command) > 1 {
			c.argv = append(c.argv, expandAll(spec.Command[1:], vars)...)
		}
		c.argv = append(c.argv, expandAll(spec.Args, vars)...)
		if c.adapter.args != nil {
			c.argv = append(c.argv, c.adapter.args(r.ip.String())...)
		}
	}
	if c.adapter.env != nil {
		env = append(env, c.adapter.env(r.ip.String())...)
	}
	c.env = env
	return c, nil
}

// writeShims writes each shim as an executable file of dir.
func writeShims(dir string, shims map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, content := range shims {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// prependPath puts dir first on the PATH of env.
func prependPath(env []string, dir string) []string {
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok && !found {
			kv, found = "PATH="+dir+":"+v, true
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, "PATH="+dir+":/usr/local/bin:/usr/bin:/bin")
	}
	return out
}

// expandAll expands $(VAR) references as the kubelet does ($$ escapes; unknown references stay as written).
func expandAll(in []string, vars map[string]string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		var b strings.Builder
		for j := 0; j < len(s); j++ {
			if s[j] == '$' && j+1 < len(s) && s[j+1] == '$' {
				b.WriteByte('$')
				j++
				continue
			}
			if s[j] == '$' && j+1 < len(s) && s[j+1] == '(' {
				if end := strings.IndexByte(s[j:], ')'); end > 0 {
					name := s[j+2 : j+end]
					if v, ok := vars[name]; ok {
						b.WriteString(v)
						j += end
						continue
					}
				}
			}
			b.WriteByte(s[j])
		}
		out[i] = b.String()
	}
	return out
}

// supervise starts the process and restarts it per restartPolicy (with the kubelet's doubling back-off)
// until the pod stops.
func (c *container) supervise(ctx context.Context) {
	backoff := time.Second
	for {
		if err := c.start(); err != nil {
			c.r.log.Error("start container", "container", c.spec.Name, "err", err)
		} else {
			probeCtx, cancel := context.WithCancel(ctx)
			go c.probe(probeCtx)
			began := time.Now()
			<-c.exited
			cancel()
			if time.Since(began) > 10*time.Second {
				backoff = time.Second
			}
		}
		c.r.markDirty()
		c.mu.Lock()
		stopping, last := c.stopping, c.last
		c.mu.Unlock()
		policy := c.r.pod.Spec.RestartPolicy
		if stopping || ctx.Err() != nil || policy == corev1.RestartPolicyNever ||
			(policy == corev1.RestartPolicyOnFailure && last != nil && last.ExitCode == 0) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-c.r.terminate:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
		c.mu.Lock()
		c.restarts++
		c.mu.Unlock()
	}
}

// start launches the process in its own mount namespace.
func (c *container) start() error {
	logf, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd, err := c.inContainer(context.Background(), c.argv)
	if err != nil {
		return err
	}
	cmd.Dir = c.spec.WorkingDir
	if cmd.Dir == "" {
		cmd.Dir = c.r.dir
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// The pod dies with the agent (no orphans after a crash or a CI timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.binary, err)
	}
	exited := make(chan struct{})
	c.mu.Lock()
	c.proc, c.exited, c.running, c.started, c.ready = cmd.Process, exited, true, false, false
	c.startedAt = metav1.Now()
	c.mu.Unlock()
	c.r.log.Info("container started", "container", c.spec.Name, "pid", cmd.Process.Pid, "argv", c.argv)
	go func() {
		err := cmd.Wait()
		code := int32(0)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = int32(ee.ExitCode())
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int32(ws.Signal())
			}
		}
		c.mu.Lock()
		c.running, c.ready = false, false
		c.last = &corev1.ContainerStateTerminated{ExitCode: code, StartedAt: c.startedAt, FinishedAt: metav1.Now(),
			Reason: map[bool]string{true: "Completed", false: "Error"}[code == 0]}
		c.mu.Unlock()
		c.r.log.Info("container exited", "container", c.spec.Name, "code", code)
		close(exited)
	}()
	return nil
}

// inContainer is the command that runs argv as a process of the container: in a private mount namespace of
// its own where run-container (runcontainer.go) bind-mounts the pod's hosts file and the container's volumes,
// then execs argv, with the container's environment. The container's processes and its exec probes and hooks
// see the same files, as in a real container.
func (c *container) inContainer(ctx context.Context, argv []string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the process-node binary: %w", err)
	}
	args := []string{"--mount", "--uts", "--propagation", "private", "--", self, runContainerCommand,
		"--hosts", filepath.Join(c.r.dir, "hosts"), "--hostname", c.r.hostname()}
	for _, m := range c.r.mounts(c.spec) {
		args = append(args, "--mount", m[0]+"="+m[1])
	}
	args = append(args, "--")
	if !strings.Contains(argv[0], "/") { // an exec probe's "sh": run-container opens a path
		path, err := lookPath(argv[0], c.env)
		if err != nil {
			return nil, err
		}
		argv = append([]string{path}, argv[1:]...)
	}
	args = append(args, argv...)
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Env = c.env
	return cmd, nil
}

// lookPath finds name on the PATH of env (the container's), else on the agent's.
func lookPath(name string, env []string) (string, error) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, dir := range filepath.SplitList(v) {
				p := filepath.Join(dir, name)
				if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
					return p, nil
				}
			}
		}
	}
	return exec.LookPath(name)
}

// stop sends SIGTERM, waits up to grace, then SIGKILL, and waits for the exit.
func (c *container) stop(grace time.Duration) {
	c.mu.Lock()
	c.stopping = true
	proc, exited, running := c.proc, c.exited, c.running
	c.mu.Unlock()
	if !running || proc == nil {
		return
	}
	_ = proc.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return
	case <-time.After(max(grace, 0)):
	}
	_ = syscall.Kill(-proc.Pid, syscall.SIGKILL)
	_ = proc.Kill()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
	}
}

// preStop runs the container's preStop hook (sleep, exec or httpGet), bounded by ctx.
func (c *container) preStop(ctx context.Context) {
	h := c.spec.Lifecycle
	if h == nil || h.PreStop == nil {
		return
	}
	p := h.PreStop
	switch {
	case p.Sleep != nil:
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(p.Sleep.Seconds) * time.Second):
		}
	case p.Exec != nil:
		if err := c.execIn(ctx, p.Exec.Command); err != nil {
			c.r.log.Warn("preStop exec", "container", c.spec.Name, "err", err)
		}
	case p.HTTPGet != nil:
		if err := c.httpGet(ctx, p.HTTPGet); err != nil {
			c.r.log.Warn("preStop httpGet", "container", c.spec.Name, "err", err)
		}
	}
}

// status reports the container as the kubelet does.
func (c *container) status() corev1.ContainerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := corev1.ContainerStatus{
		Name: c.spec.Name, Image: c.spec.Image, ImageID: "process-node://" + c.binary,
		Ready: c.ready, Started: ptr.To(c.started), RestartCount: c.restarts,
	}
	if c.proc != nil {
		cs.ContainerID = "process://" + strconv.Itoa(c.proc.Pid)
	}
	switch {
	case c.running:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: c.startedAt}
		if c.last != nil {
			cs.LastTerminationState.Terminated = c.last
		}
	case c.last != nil:
		cs.State.Terminated = c.last
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	}
	return cs
}
