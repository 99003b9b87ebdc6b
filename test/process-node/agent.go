package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Options configure the agent.
type Options struct {
	// NodeName is the Node the agent registers and runs the pods of.
	NodeName string
	// PodCIDR is the range pod IPs come from; ServiceCIDR the kube-apiserver's Service ClusterIP range. The agent
	// makes both local to this machine (a "local" route on lo), so every pod IP and ClusterIP is a loopback
	// address in effect while the Kubernetes API sees ordinary addresses (it refuses 127.0.0.0/8 endpoints).
	PodCIDR, ServiceCIDR string
	// StateDir holds one directory per pod (volumes, hosts file, logs).
	StateDir string
	// Images maps an image repository (without tag) to a local binary.
	Images map[string]string
}

// Agent is the node agent: Node registration, pods as processes, Service proxying.
type Agent struct {
	client kubernetes.Interface
	opts   Options
	log    *slog.Logger
	ips    *ipPool

	factory    informers.SharedInformerFactory
	podFactory informers.SharedInformerFactory
	services   *serviceTable

	localRanges []netip.Prefix

	mu   sync.Mutex
	pods map[types.UID]*podRunner
}

// NewAgent validates opts and prepares the agent.
func NewAgent(client kubernetes.Interface, opts Options, log *slog.Logger) (*Agent, error) {
	prefix, err := netip.ParsePrefix(opts.PodCIDR)
	if err != nil || !prefix.Addr().Is4() || prefix.Addr().IsLoopback() {
		return nil, fmt.Errorf("--pod-cidr %q must be an IPv4 range outside 127.0.0.0/8 (EndpointSlices refuse loopback addresses)", opts.PodCIDR)
	}
	svcPrefix, err := netip.ParsePrefix(opts.ServiceCIDR)
	if err != nil || !svcPrefix.Addr().Is4() {
		return nil, fmt.Errorf("--service-cidr %q must be an IPv4 range", opts.ServiceCIDR)
	}
	if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	a := &Agent{
		client: client, opts: opts, log: log, ips: newIPPool(prefix),
		pods:    map[types.UID]*podRunner{},
		factory: informers.NewSharedInformerFactory(client, 10*time.Minute),
		podFactory: informers.NewSharedInformerFactoryWithOptions(client, 10*time.Minute,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", opts.NodeName).String()
			})),
	}
	a.services = newServiceTable(log, svcPrefix.Masked(), a.refreshHosts)
	a.localRanges = []netip.Prefix{prefix.Masked(), svcPrefix.Masked()}
	return a, nil
}

// Run registers the node, starts the informers, the Service proxy and the pod handlers, and blocks until ctx
// is done; then it stops every pod process (SIGTERM, then SIGKILL after a few seconds).
func (a *Agent) Run(ctx context.Context) error {
	for _, p := range a.localRanges {
		if err := localRoute("replace", p); err != nil {
			return err
		}
		defer func() { _ = localRoute("del", p) }()
	}
	if err := a.registerNode(ctx); err != nil {
		return err
	}
	go a.heartbeat(ctx)

	svcInformer := a.factory.Core().V1().Services().Informer()
	sliceInformer := a.factory.Discovery().V1().EndpointSlices().Informer()
	if _, err := svcInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { a.services.upsertService(o.(*corev1.Service)) },
		UpdateFunc: func(_, o any) { a.services.upsertService(o.(*corev1.Service)) },
		DeleteFunc: func(o any) {
			if s, ok := tombstone[*corev1.Service](o); ok {
				a.services.deleteService(s)
			}
		},
	}); err != nil {
		return fmt.Errorf("watch services: %w", err)
	}
	if _, err := sliceInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { a.services.upsertSlice(o.(*discoveryv1.EndpointSlice)) },
		UpdateFunc: func(_, o any) { a.services.upsertSlice(o.(*discoveryv1.EndpointSlice)) },
		DeleteFunc: func(o any) {
			if s, ok := tombstone[*discoveryv1.EndpointSlice](o); ok {
				a.services.deleteSlice(s)
			}
		},
	}); err != nil {
		return fmt.Errorf("watch endpointslices: %w", err)
	}
	if err := a.watchLocalVolumes(ctx); err != nil {
		return err
	}
	a.factory.Start(ctx.Done())
	a.factory.WaitForCacheSync(ctx.Done())

	podInformer := a.podFactory.Core().V1().Pods().Informer()
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { a.syncPod(ctx, o.(*corev1.Pod)) },
		UpdateFunc: func(_, o any) { a.syncPod(ctx, o.(*corev1.Pod)) },
		DeleteFunc: func(o any) {
			if p, ok := tombstone[*corev1.Pod](o); ok {
				a.forgetPod(p)
			}
		},
	}); err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	a.podFactory.Start(ctx.Done())
	a.log.Info("node agent running", "node", a.opts.NodeName, "podCIDR", a.opts.PodCIDR)
	<-ctx.Done()

	a.services.close()
	a.mu.Lock()
	runners := make([]*podRunner, 0, len(a.pods))
	for _, r := range a.pods {
		runners = append(runners, r)
	}
	a.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Go(func() { r.stopProcesses(5 * time.Second) })
	}
	wg.Wait()
	return nil
}

// localRoute adds ("replace") or removes ("del") a route that makes every address of p local on lo.
func localRoute(op string, p netip.Prefix) error {
	if out, err := exec.Command("ip", "route", op, "local", p.String(), "dev", "lo").CombinedOutput(); err != nil {
		return fmt.Errorf("ip route %s local %s dev lo: %w: %s", op, p, err, out)
	}
	return nil
}

// tombstone unwraps an informer delete notification.
func tombstone[T any](o any) (T, bool) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	t, ok := o.(T)
	return t, ok
}

// syncPod starts a new pod's runner or starts the termination of a deleted one.
func (a *Agent) syncPod(ctx context.Context, pod *corev1.Pod) {
	if pod.Spec.NodeName != a.opts.NodeName {
		return
	}
	a.mu.Lock()
	r, ok := a.pods[pod.UID]
	if !ok {
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			a.mu.Unlock()
			if pod.DeletionTimestamp != nil {
				// Nothing runs for it here (e.g. after an agent restart): finish the deletion.
				a.deletePodObject(ctx, pod)
			}
			return
		}
		r = newPodRunner(a, pod)
		a.pods[pod.UID] = r
		a.mu.Unlock()
		go r.run(ctx)
		return
	}
	a.mu.Unlock()
	if pod.DeletionTimestamp != nil {
		r.requestTermination(pod)
	}
}

// forgetPod stops the processes of a pod whose object is gone (force deletion) and releases its IP.
func (a *Agent) forgetPod(pod *corev1.Pod) {
	a.mu.Lock()
	r, ok := a.pods[pod.UID]
	delete(a.pods, pod.UID)
	a.mu.Unlock()
	if ok {
		go r.stopProcesses(0)
	}
}

// releasePod forgets a runner that finished.
func (a *Agent) releasePod(uid types.UID) {
	a.mu.Lock()
	delete(a.pods, uid)
	a.mu.Unlock()
}

// refreshHosts rewrites every running pod's hosts file after a Service change.
func (a *Agent) refreshHosts() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.pods {
		r.writeHosts()
	}
}
