package kubectlplugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// clusterStatus is the machine-readable form of one cluster in `status -o json|yaml`.
type clusterStatus struct {
	Name      string                                 `json:"name"`
	Namespace string                                 `json:"namespace"`
	Paused    bool                                   `json:"paused"`
	Status    realtimev1alpha1.RealtimeClusterStatus `json:"status"`
}

func (p *plugin) statusCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show the fleet view of a RealtimeCluster (every one in the namespace without NAME)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "json" && output != "yaml" {
				return fmt.Errorf("-o must be json or yaml, got %q", output)
			}
			ctx := cmd.Context()
			rcs, err := p.statusTargets(ctx, args)
			if err != nil {
				return err
			}
			if output != "" {
				return p.printStatusDocument(rcs, len(args) == 1, output)
			}
			for i := range rcs {
				if i > 0 {
					fmt.Fprintln(p.out)
				}
				if err := printStatus(p.out, &rcs[i], p.now()); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: a readable table)")
	return cmd
}

// statusTargets is the named cluster, or every cluster of the namespace (an error when there is none).
func (p *plugin) statusTargets(ctx context.Context, args []string) ([]realtimev1alpha1.RealtimeCluster, error) {
	if len(args) == 1 {
		rc, err := p.cluster(ctx, args)
		if err != nil {
			return nil, err
		}
		return []realtimev1alpha1.RealtimeCluster{*rc}, nil
	}
	rcs, err := p.clusters(ctx)
	if err != nil {
		return nil, err
	}
	if len(rcs) == 0 {
		return nil, fmt.Errorf("no RealtimeCluster in namespace %s", p.namespace)
	}
	return rcs, nil
}

// printStatusDocument prints the clusters' status as JSON or YAML: one document for a named cluster, a list
// otherwise.
func (p *plugin) printStatusDocument(rcs []realtimev1alpha1.RealtimeCluster, single bool, format string) error {
	docs := make([]clusterStatus, len(rcs))
	for i := range rcs {
		docs[i] = clusterStatus{Name: rcs[i].Name, Namespace: rcs[i].Namespace, Paused: rcs[i].Spec.Paused, Status: rcs[i].Status}
	}
	var v any = docs
	if single {
		v = docs[0]
	}
	var out []byte
	var err error
	if format == "json" {
		out, err = json.MarshalIndent(v, "", "  ")
		out = append(out, '\n')
	} else {
		out, err = yaml.Marshal(v)
	}
	if err != nil {
		return fmt.Errorf("encode status as %s: %w", format, err)
	}
	_, err = p.out.Write(out)
	return err
}

// printStatus writes the readable fleet view of rc.
func printStatus(w io.Writer, rc *realtimev1alpha1.RealtimeCluster, now time.Time) error {
	st := &rc.Status
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	row("RealtimeCluster:", rc.Namespace+"/"+rc.Name)
	row("Replicas:", fmt.Sprintf("%d (%d ready, %d updated)", st.Replicas, st.ReadyReplicas, st.UpdatedReplicas))
	row("Clients:", fmt.Sprint(st.ConnectedClients))
	row("Paused:", yesNo(rc.Spec.Paused))
	if st.Endpoint != "" {
		row("Endpoint:", st.Endpoint)
	}
	f := st.Fleet
	if f == nil {
		row("Fleet:", "no fleet view yet (no ready runtime pod polled)")
	} else {
		row("Fleet:", fmt.Sprintf("%d pods reporting, %d unreachable, %d draining (%d clients), imbalance %d%%",
			f.ReportingPods, f.UnreachablePods, f.DrainingPods, f.DrainingClients, f.ImbalancePercent))
		row("Transports:", fmt.Sprintf("%d websocket, %d polling", f.WebSocketClients, f.PollingClients))
		row("Autoscaler:", describeAutoscaler(f.Autoscaler, now))
		row("Rebalance:", describeRebalance(f.Rebalance, now))
		row("Scale-down:", describeScaleDown(f.ScaleDown, now))
		if len(f.AdapterDown) > 0 {
			row("Redis link down:", strings.Join(f.AdapterDown, ", "))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if f != nil && len(f.Pods) > 0 {
		fmt.Fprintln(w)
		row("POD", "CLIENTS", "WEBSOCKET", "POLLING", "STATE", "ERROR")
		for _, pc := range f.Pods {
			state := "serving"
			switch {
			case pc.Error != "":
				state = "unreachable"
			case pc.Draining:
				state = "draining"
			case pc.AdapterDownSince != nil:
				state = "serving, Redis link down " + age(pc.AdapterDownSince.Time, now)
			}
			clients, ws, polling := fmt.Sprint(pc.ConnectedClients), fmt.Sprint(pc.WebSocket), fmt.Sprint(pc.Polling)
			if pc.Error != "" {
				clients, ws, polling = "-", "-", "-"
			}
			row(pc.Name, clients, ws, polling, state, pc.Error)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write status: %w", err)
		}
	}
	if len(st.Conditions) > 0 {
		fmt.Fprintln(w)
		row("CONDITION", "STATUS", "REASON", "SINCE", "MESSAGE")
		for _, c := range st.Conditions {
			row(c.Type, string(c.Status), c.Reason, age(c.LastTransitionTime.Time, now), c.Message)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write status: %w", err)
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// age is how long ago t was, e.g. "5m ago" ("-" for the zero time).
func age(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}

func describeAutoscaler(a *realtimev1alpha1.AutoscalerStatus, now time.Time) string {
	if a == nil {
		return "no decision (spec.autoscaling.mode is not native, or none yet)"
	}
	s := fmt.Sprintf("desired %d replicas", a.DesiredReplicas)
	if a.LastScaleTime != nil {
		s += ", last scaled " + age(a.LastScaleTime.Time, now)
	}
	return s
}

func describeRebalance(r *realtimev1alpha1.RebalanceStatus, now time.Time) string {
	if r == nil {
		return "no round yet"
	}
	var pods []string
	for _, p := range r.Pods {
		s := fmt.Sprintf("%s %d", p.Name, p.Sessions)
		if p.Error != "" {
			s += " (failed: " + p.Error + ")"
		}
		pods = append(pods, s)
	}
	return fmt.Sprintf("last round %s at imbalance %d%% (fair share %d): %s",
		age(r.StartedAt.Time, now), r.ImbalancePercent, r.FairShare, strings.Join(pods, ", "))
}

func describeScaleDown(sd *realtimev1alpha1.ScaleDownStatus, now time.Time) string {
	if sd == nil {
		return "none under way"
	}
	return fmt.Sprintf("%d -> %d replicas, started %s, pods going first: %s",
		sd.FromReplicas, sd.ToReplicas, age(sd.StartedAt.Time, now), strings.Join(sd.Pods, ", "))
}
