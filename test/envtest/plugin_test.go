package envtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
	"github.com/socketfleet/socketfleet/controllers/specs"
	"github.com/socketfleet/socketfleet/internal/kubectlplugin"
)

// writeKubeconfig writes a kubeconfig for the envtest API server (its admin user) whose default namespace is ns.
func writeKubeconfig(t *testing.T, ns string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: restConfig.Host, CertificateAuthorityData: restConfig.CAData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: restConfig.CertData, ClientKeyData: restConfig.KeyData, Token: restConfig.BearerToken}
	cfg.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: ns}
	cfg.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	return path
}

// runPlugin runs `kubectl socketfleet args...` against the envtest API server in namespace ns.
func runPlugin(t *testing.T, ns string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	all := append([]string{"--kubeconfig", writeKubeconfig(t, ns)}, args...)
	err := kubectlplugin.Run(context.Background(), all, &out, &errOut)
	t.Logf("kubectl socketfleet %s:\n%s%s(err: %v)", strings.Join(args, " "), out.String(), errOut.String(), err)
	return out.String(), err
}

// mustContain fails the test unless s contains every part.
func mustContain(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s does not contain %q:\n%s", what, p, s)
		}
	}
}

// guardAdminToken makes the fake runtimes require the cluster's admin token, as the runtime does on /drain and /shed.
func guardAdminToken(t *testing.T, ns, cluster string, fakes ...*fakeRuntime) {
	t.Helper()
	secret := waitFor(t, &corev1.Secret{}, ns, specs.NamesFor(&realtimev1alpha1.RealtimeCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster}}).AdminTokenSecret, nil)
	token := strings.TrimSpace(string(secret.Data[specs.AdminTokenKey]))
	for _, f := range fakes {
		f.token.Store(&token)
	}
}

// TestPluginStatus: `status` shows the fleet view the operator reported (table, JSON, YAML), for a named
// cluster and for every cluster of the namespace; bad arguments are refused.
func TestPluginStatus(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "replicas: 2\nrebalance:\n  enabled: false\n")
	waitFor(t, &appsv1.Deployment{}, ns, "chat", nil)
	a, b := startFakeRuntime(t, 900), startFakeRuntime(t, 100)
	createRuntimePod(t, ns, "chat", "chat-a", a.port(t))
	createRuntimePod(t, ns, "chat", "chat-b", b.port(t))
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Status.Fleet == nil || rc.Status.Fleet.ReportingPods != 2 {
			return fmt.Errorf("fleet view %s", fleetPods(rc))
		}
		return nil
	})

	out, err := runPlugin(t, ns, "status", "chat")
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	mustContain(t, "status", out, "RealtimeCluster:  "+ns+"/chat", "2 pods reporting, 0 unreachable", "imbalance 80%",
		"Transports:", "900 websocket, 100 polling", "Rebalance:", "no round yet", "POD     CLIENTS  WEBSOCKET  POLLING",
		"chat-a  900      810        90       serving", "chat-b  100      90         10       serving", "CONDITION", "FleetObserved")

	out, err = runPlugin(t, ns, "status", "chat", "-o", "json")
	if err != nil {
		t.Fatalf("status -o json: %v", err)
	}
	var doc struct {
		Name   string
		Status realtimev1alpha1.RealtimeClusterStatus
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("status -o json is not JSON: %v", err)
	}
	if doc.Name != "chat" || doc.Status.Fleet == nil || fmt.Sprint(doc.Status.Fleet.Pods) != "[{chat-a 900 810 90 false  <nil>} {chat-b 100 90 10 false  <nil>}]" {
		t.Errorf("status -o json: %+v", doc)
	}
	// The transports under their JSON names, per pod and in total.
	mustContain(t, "status -o json", out, `"websocket": 810`, `"polling": 90`, `"websocketClients": 900`, `"pollingClients": 100`)

	createCluster(t, ns, "other", "replicas: 1\n")
	out, err = runPlugin(t, ns, "status", "-o", "yaml")
	if err != nil {
		t.Fatalf("status -o yaml: %v", err)
	}
	var docs []struct{ Name string }
	if err := yaml.Unmarshal([]byte(out), &docs); err != nil {
		t.Fatalf("status -o yaml is not YAML: %v", err)
	}
	if fmt.Sprint(docs) != "[{chat} {other}]" {
		t.Errorf("status -o yaml of the namespace lists %v, want chat and other", docs)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "-o", "xml"}, "-o must be json or yaml"},
		{[]string{"status", "missing"}, "not found"},
		{[]string{"pause"}, "2 RealtimeClusters in namespace " + ns + " (chat, other): name one"},
		{[]string{"shed", "chat-a", "--count", "0"}, "--count must be from 1"},
		{[]string{"shed", "chat-a", "--count", "10000001"}, "--count must be from 1"},
		{[]string{"drain"}, "accepts 1 arg"},
		{[]string{"drain", "nosuchpod"}, "not found"},
	} {
		if _, err := runPlugin(t, ns, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// TestPluginDrainAndShed: `shed` and `drain` annotate the pod; the operator sends the admin calls with the
// admin token, removes the annotation and reports events that the plugin prints. A pod that is not a runtime
// pod is refused by the plugin; an unreachable pod and an expired request are reported as failures.
func TestPluginDrainAndShed(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "replicas: 3\nrebalance:\n  enabled: false\n")
	waitFor(t, &appsv1.Deployment{}, ns, "chat", nil)
	a, b := startFakeRuntime(t, 40), startFakeRuntime(t, 30)
	guardAdminToken(t, ns, "chat", a, b)
	createRuntimePod(t, ns, "chat", "chat-a", a.port(t))
	createRuntimePod(t, ns, "chat", "chat-b", b.port(t))
	createRuntimePod(t, ns, "chat", "chat-gone", closedPort(t))

	out, err := runPlugin(t, ns, "shed", "chat-a", "--count", "5")
	if err != nil {
		t.Fatalf("shed: %v", err)
	}
	mustContain(t, "shed", out, "Requested the shed of 5 sessions of pod chat-a", "ShedRequested: Pod chat-a is shedding 5 sessions")
	if got := a.shed.Load(); got != 5 {
		t.Errorf("pod chat-a was asked to shed %d sessions, want 5", got)
	}
	// Without stickiness (the default) the shed names the pod below the fair share (35; the unreachable pod
	// does not count), which takes chat-a's handshakes meanwhile.
	if got, want := a.lastShedTo(), fmt.Sprintf("127.0.0.1:%d", b.port(t)); got != want {
		t.Errorf("pod chat-a's shed named to=%q, want chat-b's admin address %q", got, want)
	}
	out, err = runPlugin(t, ns, "drain", "chat-b")
	if err != nil {
		t.Fatalf("drain: %v", err)
	}
	mustContain(t, "drain", out, "DrainRequested: Pod chat-b is draining")
	if !b.draining.Load() || a.draining.Load() {
		t.Errorf("draining a=%t b=%t, want only b", a.draining.Load(), b.draining.Load())
	}
	if a.unauthorized.Load()+b.unauthorized.Load() != 0 {
		t.Errorf("admin calls without the admin token: %d", a.unauthorized.Load()+b.unauthorized.Load())
	}
	for _, pod := range []string{"chat-a", "chat-b"} {
		p := &corev1.Pod{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: pod}, p); err != nil {
			t.Fatal(err)
		}
		for _, ann := range []string{realtimev1alpha1.AnnotationDrainRequested, realtimev1alpha1.AnnotationShedRequested} {
			if v, ok := p.Annotations[ann]; ok {
				t.Errorf("pod %s still has %s=%s", pod, ann, v)
			}
		}
	}
	apiPoll().NoError(t, "ShedRequested event on the cluster", func() error {
		return hasEvent(ns, controllers.EventShedRequested, "chat-a is shedding 5 sessions")
	})

	// An unreachable pod: the operator reports the failure, the plugin returns it.
	_, err = runPlugin(t, ns, "drain", "chat-gone")
	if err == nil || !strings.Contains(err.Error(), controllers.EventRequestFailed) || !strings.Contains(err.Error(), "chat-gone") {
		t.Errorf("drain of an unreachable pod: error %v, want a RequestFailed one", err)
	}

	// An expired request left on a pod is refused, not carried out.
	before := a.shed.Load()
	expired := realtimev1alpha1.FormatShedRequest(7, time.Now().Add(-time.Hour))
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, realtimev1alpha1.AnnotationShedRequested, expired)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chat-a"}}
	if err := k8s.Patch(context.Background(), pod, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
	apiPoll().NoError(t, "RequestRefused event", func() error {
		return hasEvent(ns, controllers.EventRequestRefused, "shed of 7 sessions", "chat-a", "ago")
	})
	if got := a.shed.Load(); got != before {
		t.Errorf("an expired shed request was carried out: %d sessions shed, want %d", got, before)
	}

	// A pod that is not a runtime pod of a RealtimeCluster is refused by the plugin, and left alone.
	other := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: testImage}}},
	}
	if err := k8s.Create(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	_, err = runPlugin(t, ns, "drain", "web")
	if err == nil || !strings.Contains(err.Error(), "pod "+ns+"/web is not a runtime pod of a RealtimeCluster") {
		t.Errorf("drain of a pod that is not a runtime pod: error %v", err)
	}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(other), other); err != nil {
		t.Fatal(err)
	}
	if len(other.Annotations) != 0 {
		t.Errorf("the refused pod was annotated: %v", other.Annotations)
	}
}

// TestPluginPauseResumeRebalance: `pause` and `resume` set spec.paused and wait for the Paused condition;
// `rebalance` is refused on a paused cluster and runs a round now on a running one, even with rebalancing
// disabled and again right after (no cooldown for a request).
func TestPluginPauseResumeRebalance(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "replicas: 3\nrebalance:\n  enabled: false\n  cooldown: 1h\n")
	waitFor(t, &appsv1.Deployment{}, ns, "chat", nil)
	a, b, c := startFakeRuntime(t, 900), startFakeRuntime(t, 901), startFakeRuntime(t, 0)
	guardAdminToken(t, ns, "chat", a, b, c)
	createRuntimePod(t, ns, "chat", "chat-a", a.port(t))
	createRuntimePod(t, ns, "chat", "chat-b", b.port(t))
	createRuntimePod(t, ns, "chat", "chat-c", c.port(t))

	out, err := runPlugin(t, ns, "pause")
	if err != nil {
		t.Fatalf("pause: %v", err)
	}
	mustContain(t, "pause", out, "spec.paused=true", "Condition Paused=True (Paused)")
	if !getCluster(t, ns, "chat").Spec.Paused {
		t.Errorf("spec.paused is false after pause")
	}
	if _, err := runPlugin(t, ns, "rebalance", "chat"); err == nil || !strings.Contains(err.Error(), "is paused") {
		t.Errorf("rebalance of a paused cluster: error %v", err)
	}
	out, err = runPlugin(t, ns, "resume", "chat")
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	mustContain(t, "resume", out, "spec.paused=false", "Condition Paused=False (Resumed)")
	apiPoll().NoError(t, "Resumed event", func() error { return hasEvent(ns, controllers.EventResumed) })

	if a.shed.Load()+b.shed.Load() != 0 {
		t.Fatalf("a round ran with rebalancing disabled: a=%d b=%d", a.shed.Load(), b.shed.Load())
	}
	// Fair share ceil(1801/3) = 601: a sheds 299, b 300.
	out, err = runPlugin(t, ns, "rebalance", "chat")
	if err != nil {
		t.Fatalf("rebalance: %v", err)
	}
	mustContain(t, "rebalance", out, "RebalanceRequested: Rebalance requested: round started at imbalance 100% (fair share 600): chat-b 300, chat-a 299")
	if a.shed.Load() != 299 || b.shed.Load() != 300 || c.shed.Load() != 0 {
		t.Errorf("shed a=%d b=%d c=%d, want 299 300 0", a.shed.Load(), b.shed.Load(), c.shed.Load())
	}
	// The fake pods keep their counts; a second request runs a second round despite the 1h cooldown.
	if _, err := runPlugin(t, ns, "rebalance", "chat"); err != nil {
		t.Fatalf("second rebalance: %v", err)
	}
	if a.shed.Load() != 598 || b.shed.Load() != 600 {
		t.Errorf("after two requested rounds shed a=%d b=%d, want 598 600", a.shed.Load(), b.shed.Load())
	}
	rc := getCluster(t, ns, "chat")
	if _, ok := rc.Annotations[realtimev1alpha1.AnnotationRebalanceRequested]; ok {
		t.Errorf("rebalance request annotation left on the cluster")
	}
	if rc.Status.Fleet == nil || rc.Status.Fleet.Rebalance == nil {
		t.Fatalf("no rebalance round in status")
	}
	out, err = runPlugin(t, ns, "status")
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	mustContain(t, "status", out, "Rebalance:", "at imbalance 100% (fair share 600): chat-b 300, chat-a 299")
}
