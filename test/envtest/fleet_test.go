package envtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
	"github.com/socketfleet/socketfleet/controllers/specs"
	"github.com/socketfleet/socketfleet/internal/loopback"
)

// fakeRuntime is a real HTTP server on loopback that serves a runtime's admin endpoints (/stats with a
// settable connection count, POST /shed recording the counts asked for).
type fakeRuntime struct {
	srv      *httptest.Server
	clients  atomic.Int64
	draining atomic.Bool
	shed     atomic.Int64
	// shedTo is the to parameter of the last POST /shed (the peers that take the pod's handshakes).
	shedTo atomic.Pointer[string]
	// token, when set, is the bearer token every request must carry (401 otherwise, like the runtime with
	// admin.protectReads); unauthorized counts the requests refused.
	token        atomic.Pointer[string]
	unauthorized atomic.Int64
}

func startFakeRuntime(t *testing.T, clients int64) *fakeRuntime {
	t.Helper()
	f := &fakeRuntime{}
	f.clients.Store(clients)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// Nine in ten clients on WebSocket, the rest on long-polling.
		n := f.clients.Load()
		fmt.Fprintf(w, `{"draining":%v,"connectedClients":{"total":%d,"byTransport":{"websocket":%d,"polling":%d}},"drain":{"shedPending":0}}`,
			f.draining.Load(), n, n-n/10, n/10)
	})
	mux.HandleFunc("POST /shed", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("count"), 10, 64)
		if err != nil || n < 1 {
			http.Error(w, `{"error":"bad count"}`, http.StatusBadRequest)
			return
		}
		f.shed.Add(n)
		to := r.URL.Query().Get("to")
		f.shedTo.Store(&to)
		fmt.Fprintf(w, `{"pending":%d}`, n)
	})
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, _ *http.Request) {
		f.draining.Store(true)
		fmt.Fprint(w, `{"draining":true}`)
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if want := f.token.Load(); want != nil && r.Header.Get("Authorization") != "Bearer "+*want {
			f.unauthorized.Add(1)
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// lastShedTo is the to parameter of the last POST /shed ("" when none came or it named no peer).
func (f *fakeRuntime) lastShedTo() string {
	if p := f.shedTo.Load(); p != nil {
		return *p
	}
	return ""
}

// port is the server's loopback port.
func (f *fakeRuntime) port(t *testing.T) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return int32(n)
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int32 {
	t.Helper()
	return int32(loopback.FreePort(t)) //nolint:gosec // a port fits
}

// createRuntimePod plays the ReplicaSet controller and kubelet: it creates a runtime pod of cluster
// whose admin port is adminPort, then marks it Running and Ready at 127.0.0.1.
func createRuntimePod(t *testing.T, ns, cluster, name string, adminPort int32) *corev1.Pod {
	t.Helper()
	rc := &realtimev1alpha1.RealtimeCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster, Namespace: ns}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: specs.ObjectLabels(rc, specs.ComponentRuntime)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "runtime",
			Image: testImage,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 3000}, {Name: "admin", ContainerPort: adminPort}},
		}}},
	}
	if err := k8s.Create(context.Background(), pod); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	pod.Status = corev1.PodStatus{
		Phase:  corev1.PodRunning,
		PodIP:  "127.0.0.1",
		PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}},
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()},
		},
	}
	if err := k8s.Status().Update(context.Background(), pod); err != nil {
		t.Fatalf("set status of pod %s: %v", name, err)
	}
	return pod
}

func fleetPods(rc *realtimev1alpha1.RealtimeCluster) string {
	if rc.Status.Fleet == nil {
		return "<no fleet status>"
	}
	var parts []string
	for _, p := range rc.Status.Fleet.Pods {
		s := fmt.Sprintf("%s=%d", p.Name, p.ConnectedClients)
		if p.Error != "" {
			s += "(err)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

// TestFleetViewReportsConnections serves /stats from real HTTP servers for three ready pods, leaves a fourth
// pod unreachable, and expects total, per-pod counts, imbalance, the FleetObserved condition and a warning
// event in the status; then a count change shows up at the next poll.
func TestFleetViewReportsConnections(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "replicas: 4\n")
	a, b, c := startFakeRuntime(t, 100), startFakeRuntime(t, 300), startFakeRuntime(t, 200)
	createRuntimePod(t, ns, "chat", "chat-a", a.port(t))
	createRuntimePod(t, ns, "chat", "chat-b", b.port(t))
	createRuntimePod(t, ns, "chat", "chat-c", c.port(t))
	createRuntimePod(t, ns, "chat", "chat-d", closedPort(t))

	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		f := rc.Status.Fleet
		if f == nil || rc.Status.ConnectedClients != 600 || f.ReportingPods != 3 || f.UnreachablePods != 1 || len(f.Pods) != 4 {
			return fmt.Errorf("connected %d, pods %s", rc.Status.ConnectedClients, fleetPods(rc))
		}
		if f.ImbalancePercent != 50 { // mean 200, pod b at 300
			return fmt.Errorf("imbalance %d, want 50", f.ImbalancePercent)
		}
		want := []realtimev1alpha1.PodConnections{{Name: "chat-a", ConnectedClients: 100, WebSocket: 90, Polling: 10},
			{Name: "chat-b", ConnectedClients: 300, WebSocket: 270, Polling: 30}, {Name: "chat-c", ConnectedClients: 200, WebSocket: 180, Polling: 20}}
		if !slices.Equal(f.Pods[:3], want) {
			return fmt.Errorf("pods %+v", f.Pods)
		}
		if f.WebSocketClients != 540 || f.PollingClients != 60 {
			return fmt.Errorf("transports: websocket %d, polling %d, want 540, 60", f.WebSocketClients, f.PollingClients)
		}
		if f.Pods[3].Name != "chat-d" || f.Pods[3].Error == "" {
			return fmt.Errorf("unreachable pod reported as %+v", f.Pods[3])
		}
		cond := meta.FindStatusCondition(rc.Status.Conditions, realtimev1alpha1.ConditionFleetObserved)
		if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != controllers.ReasonPodsUnreachable ||
			!strings.Contains(cond.Message, "chat-d") {
			return fmt.Errorf("FleetObserved condition %+v", cond)
		}
		return nil
	})
	apiPoll().NoError(t, "StatsUnreachable event", func() error {
		list := &eventsv1.EventList{}
		if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Reason == controllers.EventStatsUnreachable && e.Type == corev1.EventTypeWarning && strings.Contains(e.Note, "chat-d") {
				return nil
			}
		}
		return fmt.Errorf("no StatsUnreachable warning among %d events", len(list.Items))
	})

	// Load changes are picked up at the next poll; deleting the unreachable pod clears the condition.
	a.clients.Store(250)
	b.clients.Store(250)
	c.clients.Store(250)
	if err := k8s.Delete(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "chat-d", Namespace: ns}}); err != nil {
		t.Fatalf("delete pod: %v", err)
	}
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		f := rc.Status.Fleet
		if f == nil || rc.Status.ConnectedClients != 750 || f.UnreachablePods != 0 || f.ImbalancePercent != 0 || len(f.Pods) != 3 {
			return fmt.Errorf("connected %d, pods %s", rc.Status.ConnectedClients, fleetPods(rc))
		}
		return conditionIs(rc, realtimev1alpha1.ConditionFleetObserved, metav1.ConditionTrue, controllers.ReasonAllPodsReported)
	})
}
