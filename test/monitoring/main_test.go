// Package monitoring proves the monitoring bundle (config/monitoring) with real parts: promtool checks and unit
// tests the alerting rules, and a real Prometheus (Debian's prometheus package) scrapes two real
// socketfleet-runtime processes on one redis-server with real clients, and the operator's metrics while it
// reconciles a RealtimeCluster on a real kube-apiserver (envtest) whose pods are those two processes; every
// query of every dashboard panel must return data from it. Run with `make test-monitoring`.
package monitoring

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap/zapcore"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
	"github.com/socketfleet/socketfleet/controllers/operatormetrics"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

var (
	// runtimeBinary is socketfleet-runtime built for this run.
	runtimeBinary string
	// k8s talks to the envtest API server.
	k8s client.Client
	// operatorMetrics is the loopback address serving the operator's socketfleet_operator_* metrics.
	operatorMetrics string
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	return 1
}

func run(m *testing.M) int {
	for _, tool := range []string{"promtool", "prometheus", "redis-server"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fail("%s not found: run `make test-monitoring` (it installs Debian's prometheus and redis-server)", tool)
		}
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return fail("KUBEBUILDER_ASSETS is not set: run `make test-monitoring`, or KUBEBUILDER_ASSETS=$(hack/envtest-binaries.sh) go test ./test/monitoring/")
	}
	log.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))

	tmp, err := os.MkdirTemp("", "socketfleet-monitoring-test")
	if err != nil {
		return fail("temp dir: %v", err)
	}
	defer os.RemoveAll(tmp)
	runtimeBinary = filepath.Join(tmp, "socketfleet-runtime")
	build := exec.Command("go", "build", "-o", runtimeBinary, "./cmd/runtime")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return fail("build socketfleet-runtime: %v\n%s", err, out)
	}

	env := &crenvtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return fail("start envtest control plane: %v", err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest control plane:", err)
		}
	}()
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fail("%v", err)
	}
	if err := realtimev1alpha1.AddToScheme(scheme); err != nil {
		return fail("%v", err)
	}
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return fail("create client: %v", err)
	}

	// The operator's own metrics on a registry of their own, served on loopback for Prometheus (the manager's
	// secure endpoint needs a TokenReview-capable scraper; what it serves is the same registry content).
	reg := prometheus.NewRegistry()
	if err := operatormetrics.Default.Register(reg); err != nil {
		return fail("%v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("listen: %v", err)
	}
	operatorMetrics = ln.Addr().String()
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return fail("create manager: %v", err)
	}
	reconciler := &controllers.RealtimeClusterReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder(specs.ManagerName),
		Options:  specs.BuildOptions{DefaultImage: "socketfleet/runtime:test"},
		Fleet:    controllers.FleetOptions{PollInterval: time.Second, RequestTimeout: time.Second, PollDeadline: 2 * time.Second},
	}
	if err := reconciler.SetupWithManager(mgr, 2); err != nil {
		return fail("%v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped with error:", err)
			code = 1
		}
	case <-time.After(30 * time.Second):
		code = fail("manager did not stop within 30s")
	}
	return code
}
