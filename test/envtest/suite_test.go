// Package envtest runs the RealtimeCluster operator against a real kube-apiserver and etcd (started by
// controller-runtime's envtest from binaries built by hack/envtest-binaries.sh). There are no controllers and
// no kubelet: tests play their part by writing Deployment and StatefulSet status by hand.
package envtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
	"github.com/socketfleet/socketfleet/controllers/operatormetrics"
	"github.com/socketfleet/socketfleet/controllers/specs"
	"github.com/socketfleet/socketfleet/internal/waitfor"
)

// testImage is the operator's --runtime-image in these tests.
const testImage = "ghcr.io/socketfleet/socketfleet-runtime:test"

// Shared by every test: the API server connection, a direct (uncached) client, and the reconciler the
// manager runs (tests also call it directly to check idempotency).
var (
	restConfig *rest.Config
	k8s        client.Client
	reconciler *controllers.RealtimeClusterReconciler
	scheme     *k8sruntime.Scheme
)

// repoRoot is the repository root, found from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "FAIL: KUBEBUILDER_ASSETS is not set. Run `make test-envtest`, or "+
			"KUBEBUILDER_ASSETS=$(hack/envtest-binaries.sh) go test ./test/envtest/... (the script builds kube-apiserver and etcd from source)")
		return 1
	}
	log.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapLevel())))

	env := &crenvtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start envtest control plane:", err)
		return 1
	}
	stopped := false
	stopEnv := func() {
		if stopped {
			return
		}
		stopped = true
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest control plane:", err)
		}
	}
	defer stopEnv()
	restConfig = cfg

	scheme = k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	if err := realtimev1alpha1.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: create client:", err)
		return 1
	}

	ctx, cancel := context.WithCancel(context.Background())
	mgrDone, err := startManager(ctx, cfg)
	if err != nil {
		cancel()
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	code := m.Run()
	cancel()
	select {
	case err := <-mgrDone:
		if err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped with error:", err)
			code = 1
		}
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "FAIL: manager did not stop within 30s")
		code = 1
	}
	stopEnv()
	if code == 0 {
		if err := goleak.Find(leakOptions()...); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: leaked goroutines:", err)
			code = 1
		}
	}
	return code
}

// leakOptions ignores the process-wide goroutines client-go and klog start once and never stop.
func leakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*loggingT).flushDaemon"),
		goleak.IgnoreAnyFunction("k8s.io/client-go/util/workqueue.(*Typed[...]).updateUnfinishedWorkLoop"),
		goleak.IgnoreAnyFunction("k8s.io/client-go/util/workqueue.(*delayingType[...]).waitingLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
	}
}

// zapLevel logs only errors unless ENVTEST_VERBOSE is set.
func zapLevel() zapcore.Level {
	if os.Getenv("ENVTEST_VERBOSE") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

// sharedCache is the operator's production cache (controllers.CacheOptions: only the Secrets, ConfigMaps and
// Pods it labels), minus the namespace of TestNamespacedRoles, which belongs to the operator that runs there
// under a Role.
func sharedCache() cache.Options {
	opts := controllers.CacheOptions("")
	opts.DefaultFieldSelector = fields.OneTermNotEqualSelector("metadata.namespace", confinedNamespace)
	return opts
}

// startManager runs a manager with the reconciler (no leader election, no metrics or probe listeners).
func startManager(ctx context.Context, cfg *rest.Config) (<-chan error, error) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  sharedCache(),
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	reconciler = &controllers.RealtimeClusterReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder(specs.ManagerName),
		Options:   specs.BuildOptions{DefaultImage: testImage},
		// Poll the pods' /stats often so fleet tests see changes quickly.
		Fleet: controllers.FleetOptions{PollInterval: 300 * time.Millisecond, RequestTimeout: time.Second, PollDeadline: 2 * time.Second},
	}
	if err := reconciler.SetupWithManager(mgr, 2); err != nil {
		return nil, err
	}
	if err := operatormetrics.RegisterDefault(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("manager cache did not sync")
	}
	return done, nil
}

// newNamespace creates a namespace unique to the test and deletes it at the end (envtest has no namespace
// controller, so the namespace object lingers in Terminating; that is harmless).
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "rtc-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	return ns.Name
}

// apiPoll is how the tests wait for the API server and the operator: a 30 s failure guard (not a speed
// assertion), checks 100 ms apart.
func apiPoll() waitfor.Poll {
	return waitfor.Poll{Timeout: 30 * time.Second, Interval: 100 * time.Millisecond}
}
