package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// podRunner runs one pod: its IP, volumes and hosts file, its containers, its status, its termination.
type podRunner struct {
	a   *Agent
	pod *corev1.Pod // as first seen; the spec of a pod does not change in ways that matter here
	log *slog.Logger
	dir string
	ip  netip.Addr

	containers []*container
	startTime  metav1.Time
	dirty      chan struct{} // a status update is due

	// claims maps a pod volume backed by a PersistentVolumeClaim to the directory of its volume.
	claims map[string]string

	mu        sync.Mutex
	deleting  *corev1.Pod // the pod as seen with its deletionTimestamp
	terminate chan struct{}
	phase     corev1.PodPhase
	waiting   string // why the containers have not started yet
}

func newPodRunner(a *Agent, pod *corev1.Pod) *podRunner {
	return &podRunner{
		a: a, pod: pod.DeepCopy(), log: a.log.With("pod", pod.Namespace+"/"+pod.Name),
		dir:       filepath.Join(a.opts.StateDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID)),
		dirty:     make(chan struct{}, 1),
		terminate: make(chan struct{}),
		phase:     corev1.PodPending,
		startTime: metav1.Now(),
		waiting:   "ContainerCreating",
	}
}

// requestTermination starts the kubelet's termination sequence (once).
func (r *podRunner) requestTermination(pod *corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.deleting != nil {
		return
	}
	r.deleting = pod.DeepCopy()
	close(r.terminate)
}

func (r *podRunner) markDirty() {
	select {
	case r.dirty <- struct{}{}:
	default:
	}
}

// run sets the pod up, starts its containers and supervises it until it is deleted.
func (r *podRunner) run(ctx context.Context) {
	ip, err := r.a.ips.allocate()
	if err != nil {
		r.log.Error("cannot run pod", "err", err)
		return
	}
	r.ip = ip
	statusCtx, stopStatus := context.WithCancel(ctx)
	statusDone := make(chan struct{})
	go func() { defer close(statusDone); r.statusLoop(statusCtx) }()
	r.markDirty()

	if err := r.prepare(ctx); err != nil {
		r.log.Error("prepare pod", "err", err)
	} else {
		r.mu.Lock()
		r.waiting = ""
		r.mu.Unlock()
		for _, spec := range r.pod.Spec.Containers {
			c, err := newContainer(r, spec)
			if err != nil {
				r.log.Error("container", "container", spec.Name, "err", err)
				r.mu.Lock()
				r.waiting = err.Error()
				r.mu.Unlock()
				continue
			}
			r.containers = append(r.containers, c)
		}
		r.mu.Lock()
		r.phase = corev1.PodRunning
		r.mu.Unlock()
		for _, c := range r.containers {
			go c.supervise(ctx)
		}
		r.markDirty()
	}

	select {
	case <-ctx.Done():
		stopStatus()
		<-statusDone
		return
	case <-r.terminate:
	}
	r.runTermination(ctx)
	stopStatus()
	<-statusDone
	r.a.deletePodObject(ctx, r.deleting)
	r.a.ips.release(r.ip)
	r.a.releasePod(r.pod.UID)
	_ = os.RemoveAll(r.dir)
}

// prepare writes the pod's volumes and hosts file, waiting (as the kubelet does) for the ConfigMaps and
// Secrets the pod needs to exist.
func (r *podRunner) prepare(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(r.dir, "volumes"), 0o755); err != nil {
		return err
	}
	r.writeHosts()
	for backoff := time.Second; ; backoff = min(backoff*2, 10*time.Second) {
		err := r.writeVolumes(ctx)
		if err == nil {
			return nil
		}
		r.mu.Lock()
		r.waiting = "ContainerCreating: " + err.Error()
		r.mu.Unlock()
		r.markDirty()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.terminate:
			return errors.New("deleted before it started")
		case <-time.After(backoff):
		}
	}
}

// writeHosts renders the pod's /etc/hosts (kept in place: the file is bind-mounted, so it is rewritten, not replaced).
func (r *podRunner) writeHosts() {
	if !r.ip.IsValid() {
		return
	}
	path := filepath.Join(r.dir, "hosts")
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		r.log.Warn("write hosts", "err", err)
		return
	}
	defer f.Close()
	_, _ = f.Write(r.a.services.hosts(r.ip.String(), r.hostname(), r.pod.Spec.Subdomain, r.pod.Namespace))
}

// writeVolumes materialises ConfigMap, Secret, emptyDir and projected volumes under dir/volumes/<name>, and
// finds the directories of PersistentVolumeClaims (localvolumes.go).
func (r *podRunner) writeVolumes(ctx context.Context) error {
	for _, v := range r.pod.Spec.Volumes {
		dst := filepath.Join(r.dir, "volumes", v.Name)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		switch {
		case v.ConfigMap != nil:
			cm, err := r.a.client.CoreV1().ConfigMaps(r.pod.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && ptr.Deref(v.ConfigMap.Optional, false) {
					continue
				}
				return fmt.Errorf("configmap %s: %w", v.ConfigMap.Name, err)
			}
			data := map[string][]byte{}
			for k, s := range cm.Data {
				data[k] = []byte(s)
			}
			for k, b := range cm.BinaryData {
				data[k] = b
			}
			if err := writeItems(dst, data, v.ConfigMap.Items); err != nil {
				return err
			}
		case v.Secret != nil:
			s, err := r.a.client.CoreV1().Secrets(r.pod.Namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && ptr.Deref(v.Secret.Optional, false) {
					continue
				}
				return fmt.Errorf("secret %s: %w", v.Secret.SecretName, err)
			}
			if err := writeItems(dst, s.Data, v.Secret.Items); err != nil {
				return err
			}
		case v.HostPath != nil:
			// Mounted from its host path directly (see mounts).
		case v.PersistentVolumeClaim != nil:
			path, err := r.claimPath(ctx, v.PersistentVolumeClaim.ClaimName)
			if err != nil {
				return err
			}
			if r.claims == nil {
				r.claims = map[string]string{}
			}
			r.claims[v.Name] = path
		default:
			// emptyDir, and kinds this agent does not fill (projected tokens, downward API): an empty directory.
		}
	}
	return nil
}

// writeItems writes data's keys (or only the listed items, at their paths) as files into dir.
func writeItems(dir string, data map[string][]byte, items []corev1.KeyToPath) error {
	if len(items) == 0 {
		for k := range data {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("key %q missing", it.Key)
		}
		p := filepath.Join(dir, filepath.Clean("/"+it.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// mounts lists the bind mounts of a container: host source, mountPath.
func (r *podRunner) mounts(spec corev1.Container) [][2]string {
	var out [][2]string
	for _, m := range spec.VolumeMounts {
		src := filepath.Join(r.dir, "volumes", m.Name)
		for _, v := range r.pod.Spec.Volumes {
			if v.Name == m.Name && v.HostPath != nil {
				src = v.HostPath.Path
			}
		}
		if p, ok := r.claims[m.Name]; ok {
			src = p
		}
		if m.SubPath != "" {
			src = filepath.Join(src, filepath.Clean("/"+m.SubPath))
		}
		out = append(out, [2]string{src, m.MountPath})
	}
	return out
}

// runTermination is the kubelet's sequence for a deleted pod: preStop hooks, SIGTERM, the rest of the grace
// period, SIGKILL. As with the kubelet, readiness probes keep running meanwhile: the pod stays Ready until its
// process fails them or exits, so its EndpointSlice endpoint is serving and terminating (ready: false) while it
// still answers, which is what ingress controllers use to keep a session's requests on a terminating pod.
func (r *podRunner) runTermination(ctx context.Context) {
	grace := time.Duration(ptr.Deref(r.deleting.DeletionGracePeriodSeconds,
		ptr.Deref(r.pod.Spec.TerminationGracePeriodSeconds, 30))) * time.Second
	deadline := time.Now().Add(grace)
	r.log.Info("terminating", "grace", grace)

	var wg sync.WaitGroup
	for _, c := range r.containers {
		wg.Go(func() {
			hookCtx, cancel := context.WithDeadline(ctx, deadline)
			defer cancel()
			c.preStop(hookCtx)
			c.stop(time.Until(deadline))
		})
	}
	wg.Wait()
	r.markDirty()
}

// stopProcesses stops the containers without the termination sequence (agent shutdown, forced deletion).
func (r *podRunner) stopProcesses(grace time.Duration) {
	var wg sync.WaitGroup
	for _, c := range r.containers {
		wg.Go(func() { c.stop(grace) })
	}
	wg.Wait()
	if r.ip.IsValid() {
		r.a.ips.release(r.ip)
	}
}

// statusLoop writes the pod status whenever it is marked dirty, coalescing bursts.
func (r *podRunner) statusLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.dirty:
		}
		if err := r.writeStatus(ctx); err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) {
			r.log.Warn("update pod status", "err", err)
			time.AfterFunc(time.Second, r.markDirty)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *podRunner) writeStatus(ctx context.Context) error {
	pods := r.a.client.CoreV1().Pods(r.pod.Namespace)
	for range 5 {
		cur, err := pods.Get(ctx, r.pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != r.pod.UID {
			return nil
		}
		cur.Status = r.status(cur.Status)
		_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			return err
		}
	}
	return errors.New("status update kept conflicting")
}

// status computes the pod status from the containers' state.
func (r *podRunner) status(prev corev1.PodStatus) corev1.PodStatus {
	r.mu.Lock()
	phase, waiting := r.phase, r.waiting
	r.mu.Unlock()
	st := corev1.PodStatus{
		Phase: phase, HostIP: "127.0.0.1", HostIPs: []corev1.HostIP{{IP: "127.0.0.1"}},
		PodIP: r.ip.String(), PodIPs: []corev1.PodIP{{IP: r.ip.String()}}, StartTime: &r.startTime,
		QOSClass: prev.QOSClass,
	}
	allReady := len(r.containers) == len(r.pod.Spec.Containers) && len(r.containers) > 0
	for _, c := range r.containers {
		cs := c.status()
		allReady = allReady && cs.Ready
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	if len(r.containers) == 0 {
		for _, spec := range r.pod.Spec.Containers {
			st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
				Name: spec.Name, Image: spec.Image,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: waiting}},
			})
		}
	}
	// A terminating pod stays Ready while its readiness probes pass (the kubelet stops only the liveness and
	// startup probes of a terminating pod); the EndpointSlice controller marks its endpoint terminating.
	ready := allReady
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		c := corev1.PodCondition{Type: t, Status: s, LastTransitionTime: metav1.Now()}
		for _, p := range prev.Conditions {
			if p.Type == t && p.Status == s {
				c.LastTransitionTime = p.LastTransitionTime
			}
		}
		return c
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodScheduled, true),
		cond(corev1.PodInitialized, true),
		cond(corev1.ContainersReady, ready),
		cond(corev1.PodReady, ready),
	}
	return st
}

// deletePodObject finishes a deletion: the kubelet removes the pod with grace 0 once its containers stopped.
func (a *Agent) deletePodObject(ctx context.Context, pod *corev1.Pod) {
	err := a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		a.log.Warn("delete pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
}

// hostname is the pod's hostname: spec.hostname (a StatefulSet's pods), else its name.
func (r *podRunner) hostname() string {
	if r.pod.Spec.Hostname != "" {
		return r.pod.Spec.Hostname
	}
	return r.pod.Name
}

// imageRepo strips the tag and digest of an image reference.
func imageRepo(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}
