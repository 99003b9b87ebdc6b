// Command process-node is a node agent for tests and demos on a machine without a container runtime: it
// replaces the kubelet and kube-proxy (only those; the rest is the real control plane) by running each pod
// scheduled to its Node as local processes.
//
//   - It registers the Node, keeps it Ready and renews its Lease in kube-node-lease.
//   - Each pod gets an IP from --pod-cidr (reported in status.podIP), an address made local to this machine by
//     a "local" route on lo, like the Service ClusterIPs of --service-cidr; its containers run as processes
//     in their own mount namespace (unshare, then `process-node run-container`), where the pod's volumes (ConfigMap, Secret, emptyDir) are
//     bind-mounted at their mountPaths and /etc/hosts resolves the cluster's Services. Images map to local
//     binaries (--image repo=path); image adapters make a binary listen on the pod IP.
//   - Startup, readiness and liveness probes (httpGet, tcpSocket, exec) run as the kubelet runs them and set
//     the Ready condition; containers restart per restartPolicy.
//   - On deletion it does what the kubelet does: preStop hooks, SIGTERM, the rest of the grace period, SIGKILL,
//     then removes the pod object; readiness probes keep running meanwhile, so the pod stays Ready (its endpoint
//     serving and terminating) until its process fails them.
//   - Services: it listens on every ClusterIP:port and forwards connections to ready endpoints (kube-proxy's
//     job, in process).
//
// Usage: process-node --kubeconfig FILE --state-dir DIR --image socketfleet/runtime=/path/bin [--pod-cidr 10.244.0.0/24]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// imageFlag collects --image repo=binary mappings.
type imageFlag map[string]string

func (f imageFlag) String() string { return fmt.Sprint(map[string]string(f)) }

func (f imageFlag) Set(v string) error {
	repo, bin, ok := strings.Cut(v, "=")
	if !ok || repo == "" || bin == "" {
		return fmt.Errorf("want repo=binary, got %q", v)
	}
	f[repo] = bin
	return nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == runContainerCommand {
		err := runContainer(os.Args[2:])
		fmt.Fprintf(os.Stderr, "process-node %s: %v\n", runContainerCommand, err)
		os.Exit(127)
	}
	images := imageFlag{}
	var opts Options
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	flag.StringVar(&opts.NodeName, "node-name", "process-node", "name of the Node to register")
	flag.StringVar(&opts.PodCIDR, "pod-cidr", "10.244.0.0/24", "pod IPs are taken from this range (made local on lo)")
	flag.StringVar(&opts.ServiceCIDR, "service-cidr", "10.96.0.0/16", "the kube-apiserver's --service-cluster-ip-range (made local on lo)")
	flag.StringVar(&opts.StateDir, "state-dir", "", "directory for the pods' volumes, hosts files and logs (required)")
	flag.Var(images, "image", "repo=binary: run images of repo (any tag) as this local binary (repeatable)")
	flag.Parse()
	opts.Images = images
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if opts.StateDir == "" {
		log.Error("--state-dir is required")
		os.Exit(2)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Error("load kubeconfig", "err", err)
		os.Exit(1)
	}
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Error("create client", "err", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	agent, err := NewAgent(client, opts, log)
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(1)
	}
	if err := agent.Run(ctx); err != nil {
		log.Error("run", "err", err)
		os.Exit(1)
	}
}
