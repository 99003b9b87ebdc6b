package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestOperatorGoldenConfigs loads every config.yaml and SOCKETFLEET_*
// variable the operator renders (its golden files) the way a pod does.
func TestOperatorGoldenConfigs(t *testing.T) {
	files, err := filepath.Glob("../../controllers/specs/testdata/golden/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no operator golden files found")
	}
	loaded := map[string]Config{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var configYAML string
			env := map[string]string{}
			for _, doc := range strings.Split(string(data), "\n---\n") {
				var obj struct {
					Kind string            `json:"kind"`
					Data map[string]string `json:"data"`
					Spec struct {
						Template struct {
							Spec struct {
								Containers []struct {
									Env []struct {
										Name  string `json:"name"`
										Value string `json:"value"`
									} `json:"env"`
								} `json:"containers"`
							} `json:"spec"`
						} `json:"template"`
					} `json:"spec"`
				}
				if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
					t.Fatalf("decode %s: %v", file, err)
				}
				if obj.Kind == "ConfigMap" && obj.Data["config.yaml"] != "" {
					configYAML = obj.Data["config.yaml"]
				}
				for _, c := range obj.Spec.Template.Spec.Containers {
					for _, e := range c.Env {
						if strings.HasPrefix(e.Name, EnvPrefix) {
							// The pod IP the downward API gives, as the kubelet expands $(POD_IP).
							env[e.Name] = strings.ReplaceAll(e.Value, "$(POD_IP)", "10.1.2.3")
						}
					}
				}
			}
			if configYAML == "" && len(env) == 0 {
				return // a golden of other objects (e.g. the HPA alone): no runtime pod in it
			}
			if configYAML == "" || env[EnvConfigFile] == "" {
				t.Fatalf("no config.yaml or %s in %s", EnvConfigFile, file)
			}
			for name := range env {
				if !knownEnv(name) {
					t.Errorf("the operator sets %s, which the runtime does not read", name)
				}
			}
			got, err := Load(Sources{
				LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
				ReadFile:  func(string) ([]byte, error) { return []byte(configYAML), nil },
			})
			if err != nil {
				t.Fatalf("the runtime refuses the operator's configuration: %v", err)
			}
			if !got.Redis.Enabled() {
				t.Errorf("redis not configured: %+v", got.Redis)
			}
			loaded[filepath.Base(file)] = got.Config
		})
	}
	checkOperatorAdapters(t, loaded)
}

// checkOperatorAdapters checks what the runtime makes of the operator's adapter settings in particular
// goldens: the default (streams with recovery), a cluster that chose classic (no recovery) and a streams
// cluster with recovery whose streams block the operator writes in part (the runtime's defaults fill the
// rest).
func checkOperatorAdapters(t *testing.T, loaded map[string]Config) {
	defaults := Default().Redis.Streams
	cases := []struct {
		golden   string
		adapter  string
		recovery bool
		streams  RedisStreams
	}{
		{"minimal.yaml", "streams", true, defaults},
		{"redis-external-cluster.yaml", "streams", true, defaults},
		{"redis-external-standalone.yaml", "classic", false, defaults},
		{"redis-streams-recovery.yaml", "streams", true, RedisStreams{
			StreamName: "chat", StreamCount: 1, MaxLen: 50000, ReadCount: defaults.ReadCount,
			BlockTime: defaults.BlockTime, SessionKeyPrefix: "chat:session:",
		}},
	}
	for _, tc := range cases {
		t.Run("adapter/"+tc.golden, func(t *testing.T) {
			got, ok := loaded[tc.golden]
			if !ok {
				t.Fatalf("golden %s missing or not loaded", tc.golden)
			}
			if got.Redis.Adapter != tc.adapter {
				t.Errorf("redis.adapter = %q, want %q", got.Redis.Adapter, tc.adapter)
			}
			if got.ConnectionStateRecovery.Enabled != tc.recovery {
				t.Errorf("connectionStateRecovery.enabled = %v, want %v", got.ConnectionStateRecovery.Enabled, tc.recovery)
			}
			if got.Redis.Streams != tc.streams {
				t.Errorf("redis.streams = %+v, want %+v", got.Redis.Streams, tc.streams)
			}
		})
	}
}

func knownEnv(name string) bool {
	if name == EnvConfigFile {
		return true
	}
	for _, l := range schemaLeaves() {
		if l.env == name {
			return true
		}
	}
	return false
}
