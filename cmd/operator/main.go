// Command socketfleet-operator runs the RealtimeCluster controller: it turns every RealtimeCluster into a
// fleet of socketfleet-runtime pods with their Redis, Services, sticky ingress and disruption budget.
//
// Flags:
//
//	--metrics-bind-address        address of the Prometheus /metrics endpoint (default ":8443"; "0" disables it)
//	--metrics-secure              serve /metrics over HTTPS, callers authenticated (TokenReview) and authorized
//	                              (SubjectAccessReview on GET /metrics) (default true)
//	--metrics-cert-path           directory of the metrics certificate (default: a self-signed one made at start)
//	--metrics-cert-name, --metrics-cert-key   file names in --metrics-cert-path (default tls.crt, tls.key)
//	--enable-http2                serve the metrics over HTTP/2 too (default false: HTTP/1.1 only)
//	--health-probe-bind-address   address of /healthz and /readyz (default ":8081")
//	--leader-elect                elect a leader so only one replica reconciles (default true)
//	--leader-election-namespace   namespace of the leader-election Lease (default: the pod's namespace)
//	--leader-election-id          name of the leader-election Lease (default "socketfleet-operator.realtime.socketfleet.io")
//	--watch-namespaces            comma-separated namespaces to watch (default: all namespaces)
//	--runtime-image               runtime image for RealtimeClusters that do not set spec.image
//	--max-concurrent-reconciles   RealtimeClusters reconciled in parallel (default 2)
//	--operator-namespace          namespace admitted to the runtime pods' admin port by their NetworkPolicy (default: $POD_NAMESPACE)
//	--zap-*                       logging flags (--zap-log-level, --zap-devel, --zap-encoder, ...)
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
	"github.com/socketfleet/socketfleet/controllers/operatormetrics"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// DefaultRuntimeImage is the runtime image used when neither spec.image nor --runtime-image is set.
const DefaultRuntimeImage = "ghcr.io/socketfleet/socketfleet-runtime:v0.1.0"

// config holds the parsed command-line flags.
type config struct {
	metricsAddr             string
	probeAddr               string
	leaderElect             bool
	leaderElectionNamespace string
	leaderElectionID        string
	watchNamespaces         string
	runtimeImage            string
	maxConcurrentReconciles int
	fleetPollInterval       time.Duration
	operatorNamespace       string
	secureMetrics           bool
	metricsCertPath         string
	metricsCertName         string
	metricsCertKey          string
	enableHTTP2             bool
}

func parseFlags(args []string) (config, zap.Options, error) {
	var cfg config
	fs := flag.NewFlagSet("socketfleet-operator", flag.ContinueOnError)
	fs.StringVar(&cfg.metricsAddr, "metrics-bind-address", ":8443", `address of the Prometheus /metrics endpoint; "0" disables it`)
	fs.BoolVar(&cfg.secureMetrics, "metrics-secure", true,
		"serve /metrics over HTTPS with authentication (TokenReview) and authorization (SubjectAccessReview); false: plain HTTP, no checks")
	fs.StringVar(&cfg.metricsCertPath, "metrics-cert-path", "", "directory holding the metrics server's certificate and key (default: a self-signed certificate generated at start)")
	fs.StringVar(&cfg.metricsCertName, "metrics-cert-name", "tls.crt", "certificate file name in --metrics-cert-path")
	fs.StringVar(&cfg.metricsCertKey, "metrics-cert-key", "tls.key", "key file name in --metrics-cert-path")
	fs.BoolVar(&cfg.enableHTTP2, "enable-http2", false,
		"serve the metrics over HTTP/2 as well (off: HTTP/2 Rapid Reset and Stream Cancellation vulnerabilities, CVE-2023-44487 and CVE-2023-39325)")
	fs.StringVar(&cfg.probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	fs.BoolVar(&cfg.leaderElect, "leader-elect", true, "elect a leader so only one operator replica reconciles at a time")
	fs.StringVar(&cfg.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election Lease (default: the pod's namespace)")
	fs.StringVar(&cfg.leaderElectionID, "leader-election-id", "socketfleet-operator.realtime.socketfleet.io", "name of the leader-election Lease")
	fs.StringVar(&cfg.watchNamespaces, "watch-namespaces", "", "comma-separated namespaces to watch (default: all namespaces)")
	fs.StringVar(&cfg.runtimeImage, "runtime-image", DefaultRuntimeImage, "runtime image for RealtimeClusters that do not set spec.image")
	fs.IntVar(&cfg.maxConcurrentReconciles, "max-concurrent-reconciles", 2, "number of RealtimeClusters reconciled in parallel")
	fs.DurationVar(&cfg.fleetPollInterval, "fleet-poll-interval", 15*time.Second, "how often the /stats of each cluster's ready runtime pods are read (fleet view, autoscaling)")
	fs.StringVar(&cfg.operatorNamespace, "operator-namespace", os.Getenv("POD_NAMESPACE"),
		"namespace admitted to the runtime pods' admin port by their NetworkPolicy (default: $POD_NAMESPACE; empty: none, only spec.networkPolicy.adminFrom)")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return cfg, zapOpts, err
	}
	if cfg.maxConcurrentReconciles < 1 {
		return cfg, zapOpts, errors.New("--max-concurrent-reconciles must be at least 1")
	}
	if cfg.fleetPollInterval <= 0 {
		return cfg, zapOpts, errors.New("--fleet-poll-interval must be positive")
	}
	if cfg.runtimeImage == "" {
		return cfg, zapOpts, errors.New("--runtime-image must not be empty")
	}
	return cfg, zapOpts, nil
}

// metricsOptions configures the operator's metrics server the way kubebuilder scaffolds it: with --metrics-secure,
// HTTPS (the certificate from --metrics-cert-path, reloaded when it changes, or a self-signed one) and every request
// authenticated with a TokenReview and authorized with a SubjectAccessReview for GET /metrics (the caller needs the
// socketfleet-metrics-reader ClusterRole); HTTP/1.1 only unless --enable-http2.
func metricsOptions(cfg config) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: cfg.metricsAddr, SecureServing: cfg.secureMetrics}
	if !cfg.enableHTTP2 {
		opts.TLSOpts = append(opts.TLSOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	if cfg.secureMetrics {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
		if cfg.metricsCertPath != "" {
			opts.CertDir, opts.CertName, opts.KeyName = cfg.metricsCertPath, cfg.metricsCertName, cfg.metricsCertKey
		}
	}
	return opts
}

// newScheme registers the built-in kinds and the RealtimeCluster API.
func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("register built-in kinds: %w", err)
	}
	if err := realtimev1alpha1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("register realtime.socketfleet.io/v1alpha1: %w", err)
	}
	return s, nil
}

func run(args []string) error {
	cfg, zapOpts, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	scheme, err := newScheme()
	if err != nil {
		return err
	}
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsOptions(cfg),
		HealthProbeBindAddress:        cfg.probeAddr,
		LeaderElection:                cfg.leaderElect,
		LeaderElectionID:              cfg.leaderElectionID,
		LeaderElectionNamespace:       cfg.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Cache:                         controllers.CacheOptions(cfg.watchNamespaces),
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	reconciler := &controllers.RealtimeClusterReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder(specs.ManagerName),
		Options:   specs.BuildOptions{DefaultImage: cfg.runtimeImage, OperatorNamespace: cfg.operatorNamespace},
		Fleet:     controllers.FleetOptions{PollInterval: cfg.fleetPollInterval},
	}
	if err := reconciler.SetupWithManager(mgr, cfg.maxConcurrentReconciles); err != nil {
		return err
	}
	if err := operatormetrics.RegisterDefault(); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add readiness check: %w", err)
	}
	ctrl.Log.WithName("setup").Info("starting socketfleet-operator", "runtimeImage", cfg.runtimeImage,
		"leaderElect", cfg.leaderElect, "watchNamespaces", cfg.watchNamespaces,
		"operatorNamespace", cfg.operatorNamespace)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		return fmt.Errorf("run manager: %w", err)
	}
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "socketfleet-operator:", err)
		os.Exit(1)
	}
}
