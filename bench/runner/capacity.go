package main

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/socketfleet/socketfleet/api/v1alpha1"
)

// kernelKiBPerClient is the kernel memory of one idle TCP socket (its
// tcp_sock, inode, file and epoll entry), charged to the pod's memory
// cgroup but not to the process's RSS: an estimate from the slab object
// sizes (docs/capacity.md), not measured here.
const kernelKiBPerClient = 3.5

// capacityReport writes the capacity of one runtime pod as this run's Go
// figures put it (docs/capacity.md explains the model): idle clients per
// memory size, what limits the pod first, and how the operator's defaults
// compare with them.
func capacityReport(b *strings.Builder, g result) {
	idle := g.Idle
	if len(idle.RSSPerClientKB) == 0 || g.CPUSecPerMillion == 0 || g.WSHandshakesPerSec == 0 {
		return // a partial run (-sections) measured too little
	}
	perClientKiB := idle.RSSPerClientKB[len(idle.RSSPerClientKB)-1] + kernelKiBPerClient
	baseKiB := float64(idle.BaseRSSKB)
	limit := resource.MustParse(v1alpha1.DefaultRuntimeMemoryLimit)
	target := int(v1alpha1.DefaultTargetConnectionsPerPod)
	fmt.Fprintf(b, "\n### Capacity of one runtime pod, from this run (docs/capacity.md)\n\n")
	fmt.Fprintf(b, "An idle WebSocket client costs the pod %.1f KiB: %.1f KiB of runtime RSS at %d clients plus about %.1f KiB of kernel socket memory (an estimate, charged to the pod's memory cgroup); the process's base is %.0f MiB. Heartbeats cost %.3f core per 100,000 clients, a broadcast %.2f CPU-seconds per million deliveries, a WebSocket handshake 1/%.0f of a second on this 2-core machine shared with the load generator.\n\n",
		perClientKiB, idle.RSSPerClientKB[len(idle.RSSPerClientKB)-1], idle.Clients[len(idle.Clients)-1], kernelKiBPerClient, baseKiB/1024,
		idle.HeartbeatCoresPer100k, g.CPUSecPerMillion, g.WSHandshakesPerSec)
	fmt.Fprintf(b, "| pod | idle clients by memory | their heartbeats | one broadcast to all of them | all of them reconnecting (handshakes at this run's rate) |\n|---|---:|---:|---:|---:|\n")
	for _, gib := range []float64{1, 2} {
		clients := (gib*1024*1024 - baseKiB) / perClientKiB
		fmt.Fprintf(b, "| 2 CPU, %.0f GiB | %.0f | %.3f core | %.2f CPU-s | %.0f s |\n",
			gib, clients, idle.HeartbeatCoresPer100k*clients/1e5, g.CPUSecPerMillion*clients/1e6, clients/g.WSHandshakesPerSec)
	}
	fmt.Fprintf(b, "\nMemory is the first hard limit at both sizes: the idle clients' heartbeats use a fraction of one core. What CPU bounds is how fast a pod takes its clients back: the larger the pod, the longer a reconnect storm of all of them (the handshake rate here includes the load generator's share of the same two cores).\n")
	held := (float64(limit.Value())/1024 - baseKiB) / perClientKiB
	fmt.Fprintf(b, "\nThe operator's defaults: memory limit %s (%.0f clients by this run's figures) and `targetConnectionsPerPod` %d, %.0f%% of them: when one of two pods drains, the other takes its clients within its limit.\n",
		v1alpha1.DefaultRuntimeMemoryLimit, held, target, 100*float64(target)/held)
}
