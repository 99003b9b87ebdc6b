package monitoring

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// writeRules extracts the rule groups of config/monitoring/prometheusrule.yaml into dir/rules.yaml, the file
// format of Prometheus and promtool.
func writeRules(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "config", "monitoring", "prometheusrule.yaml"))
	if err != nil {
		t.Fatalf("read PrometheusRule: %v", err)
	}
	var obj struct {
		Kind string         `json:"kind"`
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		t.Fatalf("decode PrometheusRule: %v", err)
	}
	if obj.Kind != "PrometheusRule" || obj.Spec["groups"] == nil {
		t.Fatalf("config/monitoring/prometheusrule.yaml: kind %q with no spec.groups", obj.Kind)
	}
	out, err := yaml.Marshal(obj.Spec)
	if err != nil {
		t.Fatalf("encode rules: %v", err)
	}
	path := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatalf("write rules: %v", err)
	}
	return path
}

// TestPromtool runs `promtool check rules` on the rules and `promtool test rules` on every unit test file of
// config/monitoring/tests; each alert of the rules must be tested there.
func TestPromtool(t *testing.T) {
	dir := t.TempDir()
	rules := writeRules(t, dir)
	promtool := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("promtool", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Log(promtool("check", "rules", rules))

	tests, err := filepath.Glob(filepath.Join(repoRoot(), "config", "monitoring", "tests", "*.yaml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool unit tests in config/monitoring/tests (%v)", err)
	}
	var all strings.Builder
	for _, src := range tests {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(data)
		dst := filepath.Join(dir, filepath.Base(src))
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Log(promtool("test", "rules", filepath.Base(dst)))
	}
	for _, alert := range alertNames(t) {
		if !strings.Contains(all.String(), "alertname: "+alert+"\n") {
			t.Errorf("alert %s has no promtool unit test in config/monitoring/tests", alert)
		}
	}
}

// alertNames lists the alerts of the PrometheusRule.
func alertNames(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "config", "monitoring", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range obj.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				names = append(names, r.Alert)
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("no alerts in the PrometheusRule")
	}
	return names
}
