package specs

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/runtime/config"
)

// TestRuntimeFilesReachConfigAndMounts checks, for each fixture that takes files from Secrets or ConfigMaps,
// that the runtime accepts the config file the operator writes (the runtime's own strict parser and
// validation), that every path the config names is under a read-only mount of the referenced key, and what
// ReferencedFiles lists for the reconciler to hash.
func TestRuntimeFilesReachConfigAndMounts(t *testing.T) {
	cases := []struct {
		fixture   string
		wantPaths map[string]string // config key -> path
		wantRefs  []string
	}{
		{"runtime-files", map[string]string{
			"auth.jwt.publicKeyFile": "/var/run/socketfleet/jwt/key",
			"publish.tokenFile":      "/var/run/socketfleet/publish/token",
			"webhook.tokenFile":      "/var/run/socketfleet/webhook/token",
		}, []string{"Secret/chat-jwt/public.pem", "Secret/chat-publish/token", "Secret/chat-webhook/token"}},
		{"runtime-jwt-configmap", map[string]string{
			"auth.jwt.publicKeyFile": "/var/run/socketfleet/jwt/key",
		}, []string{"ConfigMap/auth-keys/es256.pem"}},
		{"redis-external-standalone", map[string]string{}, nil},
		{"minimal", map[string]string{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			rc := loadFixture(t, tc.fixture)
			cm, _, err := BuildConfigMap(rc)
			if err != nil {
				t.Fatalf("BuildConfigMap: %v", err)
			}
			// The pod's IP reaches the runtime through the environment (the Deployment's env), as in a pod.
			env := map[string]string{"SOCKETFLEET_CONFIG": "/c.yaml", "SOCKETFLEET_CLUSTER_FORWARDING_ADVERTISE_ADDRESS": "10.1.2.3"}
			loaded, err := config.Load(config.Sources{
				LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
				ReadFile:  func(string) ([]byte, error) { return []byte(cm.Data[ConfigFileName]), nil },
			})
			cfg := loaded.Config
			if err != nil {
				t.Fatalf("the runtime refuses the operator's config: %v\n%s", err, cm.Data[ConfigFileName])
			}
			got := map[string]string{
				"auth.jwt.publicKeyFile": cfg.Auth.JWT.PublicKeyFile,
				"auth.jwt.secretFile":    cfg.Auth.JWT.SecretFile,
				"publish.tokenFile":      cfg.Publish.TokenFile,
				"webhook.tokenFile":      cfg.Webhook.TokenFile,
			}
			for key, path := range got {
				if path == "" {
					if want := tc.wantPaths[key]; want != "" {
						t.Errorf("%s is empty, want %s", key, want)
					}
					continue
				}
				if path != tc.wantPaths[key] {
					t.Errorf("%s = %s, want %s", key, path, tc.wantPaths[key])
				}
				assertMountedReadOnly(t, rc, path)
			}
			var refs []string
			for _, r := range ReferencedFiles(rc) {
				refs = append(refs, fmt.Sprintf("%s/%s/%s", r.Kind, r.Name, r.Key))
			}
			if tc.fixture == "redis-external-standalone" {
				if len(refs) == 0 {
					t.Errorf("ReferencedFiles lists nothing, want the external Redis password")
				}
				return
			}
			if fmt.Sprint(refs) != fmt.Sprint(tc.wantRefs) {
				t.Errorf("ReferencedFiles = %v, want %v", refs, tc.wantRefs)
			}
		})
	}
}

// assertMountedReadOnly checks that path is a file under a read-only mount of the runtime container whose
// volume maps a single key to that file name.
func assertMountedReadOnly(t *testing.T, rc *realtimev1alpha1.RealtimeCluster, path string) {
	t.Helper()
	dep := BuildDeployment(rc, testOptions, "hash")
	pod := dep.Spec.Template.Spec
	for _, m := range pod.Containers[0].VolumeMounts {
		if !strings.HasPrefix(path, m.MountPath+"/") {
			continue
		}
		if !m.ReadOnly {
			t.Errorf("%s is under mount %s, which is writable", path, m.MountPath)
		}
		file := strings.TrimPrefix(path, m.MountPath+"/")
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			var items []corev1.KeyToPath
			switch {
			case v.Secret != nil:
				items = v.Secret.Items
			case v.ConfigMap != nil:
				items = v.ConfigMap.Items
			}
			if len(items) != 1 || items[0].Path != file {
				t.Errorf("volume %s maps %+v, want one key to %s", v.Name, items, file)
			}
			return
		}
		t.Errorf("mount %s has no volume %s", m.MountPath, m.Name)
		return
	}
	t.Errorf("%s is under no mount of the runtime container", path)
}
