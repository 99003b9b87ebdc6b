package specs

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// testOptions are the operator settings the golden files were rendered with.
var testOptions = BuildOptions{DefaultImage: "ghcr.io/socketfleet/socketfleet-runtime:v0.1.0", OperatorNamespace: "socketfleet-system"}

// loadFixture reads testdata/fixtures/<name>.yaml and applies the API defaults, as the API server would.
func loadFixture(t *testing.T, name string) *realtimev1alpha1.RealtimeCluster {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fixtures", name+".yaml"))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	rc := &realtimev1alpha1.RealtimeCluster{}
	if err := yaml.UnmarshalStrict(data, rc); err != nil {
		t.Fatalf("decode fixture %s: %v", name, err)
	}
	rc.UID = types.UID("00000000-0000-4000-8000-000000000001")
	rc.SetDefaults()
	return rc
}

// renderYAML turns objects into one multi-document YAML, without the empty status and creationTimestamp
// fields typed objects carry.
func renderYAML(t *testing.T, objs []runtime.Object) []byte {
	t.Helper()
	var buf bytes.Buffer
	for i, o := range objs {
		u, err := ToUnstructured(o)
		if err != nil {
			t.Fatalf("convert %T: %v", o, err)
		}
		out, err := yaml.Marshal(u.Object)
		if err != nil {
			t.Fatalf("marshal %T: %v", o, err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(out)
	}
	return buf.Bytes()
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".yaml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("write golden: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run `go test ./controllers/specs -run Golden -update` to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the builders' output; diff:\n%s\nrun `make update-golden` if the change is intended",
			path, lineDiff(string(want), string(got)))
	}
}

// lineDiff lists the differing lines (by line number) for failure messages.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, wl, gl)
			if b.Len() > 4000 {
				b.WriteString("...\n")
				break
			}
		}
	}
	return b.String()
}

// TestGoldenChildren renders every child of each fixture (one per ingress flavour and Redis mode) and compares
// the result with testdata/golden/<fixture>.yaml.
func TestGoldenChildren(t *testing.T) {
	fixtures := []string{
		"minimal",
		"full-nginx",
		"ingress-traefik",
		"ingress-haproxy",
		"ingress-gateway",
		"redis-external-standalone",
		"redis-external-sentinel",
		"redis-external-cluster",
		"redis-streams-recovery",
		"redis-managed-ha",
		"redis-managed-tls",
		"pod-sidecars",
		"pod-security",
		"runtime-files",
		"runtime-jwt-configmap",
		"admin-ui",
		"service-loadbalancer",
		"service-nodeport-traefik",
		"ingress-tls-cert-manager",
		"ingress-gateway-no-persistence",
		"full-nginx-cookie",
		"ingress-traefik-cookie",
		"ingress-haproxy-cookie",
		"ingress-gateway-cookie",
	}
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			rc := loadFixture(t, name)
			d, err := BuildDesired(rc, testOptions)
			if err != nil {
				t.Fatalf("BuildDesired: %v", err)
			}
			objs := make([]runtime.Object, 0, 12)
			for _, o := range d.Objects() {
				objs = append(objs, o)
			}
			if rc.Spec.Redis.Managed != nil {
				objs = append(objs, BuildRedisSecret(rc, "fixed-test-password"))
			}
			objs = append(objs, BuildAdminTokenSecret(rc, "fixed-test-admin-token"))
			compareGolden(t, name, renderYAML(t, objs))
		})
	}
}
