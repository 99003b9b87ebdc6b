// Package kubectlplugin is `kubectl socketfleet`, the kubectl plugin that shows and operates RealtimeCluster
// fleets. It talks to the API server only: it reads a RealtimeCluster's status (the fleet view the operator
// keeps), sets spec.paused, and leaves drain, shed and rebalance requests as annotations that the operator,
// which holds the runtime pods' admin token, carries out and reports as events. It never connects to a pod.
package kubectlplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// Defaults of the --wait and --timeout flags.
const (
	defaultTimeout = 30 * time.Second
	pollInterval   = 250 * time.Millisecond
)

// plugin holds the flags and the API client of one invocation.
type plugin struct {
	out       io.Writer
	loading   *clientcmd.ClientConfigLoadingRules
	overrides *clientcmd.ConfigOverrides
	wait      bool
	timeout   time.Duration
	now       func() time.Time
	client    client.Client
	namespace string
}

// Run runs the plugin with args (without the program name), writing its output to out. It returns the
// command's error; the caller prints it and exits non-zero.
func Run(ctx context.Context, args []string, out, errOut io.Writer) error {
	cmd := NewCommand(out)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	return cmd.ExecuteContext(ctx)
}

// NewCommand builds the `kubectl socketfleet` command tree writing to out.
func NewCommand(out io.Writer) *cobra.Command {
	p := &plugin{
		out:       out,
		loading:   clientcmd.NewDefaultClientConfigLoadingRules(),
		overrides: &clientcmd.ConfigOverrides{},
		now:       time.Now,
	}
	root := &cobra.Command{
		Use:   "kubectl-socketfleet",
		Short: "Show and operate Socketfleet RealtimeCluster fleets through the API server",
		Long: "kubectl socketfleet shows the fleet view of a RealtimeCluster (status.fleet) and asks the operator to\n" +
			"drain or shed a runtime pod, pause or resume reconciliation, or rebalance now. Drain, shed and rebalance\n" +
			"are annotations the operator carries out with the fleet's admin token; the plugin never connects to a pod.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Name() == "help" {
				return nil
			}
			return p.setupClient()
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	flags := root.PersistentFlags()
	flags.StringVar(&p.loading.ExplicitPath, "kubeconfig", "", "path to the kubeconfig file")
	clientcmd.BindOverrideFlags(p.overrides, flags, clientcmd.RecommendedConfigOverrideFlags(""))
	root.AddCommand(p.statusCommand(), p.drainCommand(), p.shedCommand(),
		p.pauseCommand(true), p.pauseCommand(false), p.rebalanceCommand())
	return root
}

// addWaitFlags adds --wait and --timeout to a command that asks the operator for something.
func (p *plugin) addWaitFlags(cmd *cobra.Command, what string) {
	cmd.Flags().BoolVar(&p.wait, "wait", true, "wait until the operator "+what+" and print its outcome")
	cmd.Flags().DurationVar(&p.timeout, "timeout", defaultTimeout, "how long --wait waits for the operator")
}

// setupClient builds the API client and the namespace from the kubeconfig and the flags.
func (p *plugin) setupClient() error {
	cfg := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(p.loading, p.overrides)
	ns, _, err := cfg.Namespace()
	if err != nil {
		return fmt.Errorf("read the namespace from the kubeconfig: %w", err)
	}
	rest, err := cfg.ClientConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("register Kubernetes types: %w", err)
	}
	if err := realtimev1alpha1.AddToScheme(scheme); err != nil {
		return fmt.Errorf("register realtime.socketfleet.io/v1alpha1: %w", err)
	}
	c, err := client.New(rest, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("create API client: %w", err)
	}
	p.client, p.namespace = c, ns
	return nil
}

// clusters lists the RealtimeClusters of the namespace, sorted by name.
func (p *plugin) clusters(ctx context.Context) ([]realtimev1alpha1.RealtimeCluster, error) {
	list := &realtimev1alpha1.RealtimeClusterList{}
	if err := p.client.List(ctx, list, client.InNamespace(p.namespace)); err != nil {
		return nil, fmt.Errorf("list RealtimeClusters in namespace %s: %w", p.namespace, err)
	}
	slices.SortFunc(list.Items, func(a, b realtimev1alpha1.RealtimeCluster) int { return strings.Compare(a.Name, b.Name) })
	return list.Items, nil
}

// cluster returns the RealtimeCluster named by args, or the namespace's only one when args is empty.
func (p *plugin) cluster(ctx context.Context, args []string) (*realtimev1alpha1.RealtimeCluster, error) {
	if len(args) == 1 {
		rc := &realtimev1alpha1.RealtimeCluster{}
		if err := p.client.Get(ctx, client.ObjectKey{Namespace: p.namespace, Name: args[0]}, rc); err != nil {
			return nil, fmt.Errorf("get RealtimeCluster %s/%s: %w", p.namespace, args[0], err)
		}
		return rc, nil
	}
	all, err := p.clusters(ctx)
	if err != nil {
		return nil, err
	}
	switch len(all) {
	case 0:
		return nil, fmt.Errorf("no RealtimeCluster in namespace %s", p.namespace)
	case 1:
		return &all[0], nil
	}
	names := make([]string, len(all))
	for i := range all {
		names[i] = all[i].Name
	}
	return nil, fmt.Errorf("%d RealtimeClusters in namespace %s (%s): name one", len(all), p.namespace, strings.Join(names, ", "))
}

// until polls check every pollInterval until it returns true or an error, or the --timeout passes (then it
// returns an error saying what was awaited).
func (p *plugin) until(ctx context.Context, what string, check func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		done, err := check(ctx)
		switch {
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			return err
		case done:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not done after %s (is the operator running? --timeout sets the wait, --wait=false skips it)", what, p.timeout)
		case <-tick.C:
		}
	}
}
