package main

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpandAll(t *testing.T) {
	vars := map[string]string{"REDIS_PASSWORD": "s3cret", "POD": "chat-0"}
	tests := []struct{ in, want string }{
		{"$(REDIS_PASSWORD)", "s3cret"},
		{"--name=$(POD)-x", "--name=chat-0-x"},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$$(POD)", "$(POD)"},
		{"plain", "plain"},
		{"$(unterminated", "$(unterminated"},
	}
	for _, tc := range tests {
		if got := expandAll([]string{tc.in}, vars)[0]; got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestImageRepo(t *testing.T) {
	tests := map[string]string{
		"socketfleet/runtime:dev":                        "socketfleet/runtime",
		"ghcr.io/socketfleet/socketfleet-runtime:v0.1.0": "ghcr.io/socketfleet/socketfleet-runtime",
		"localhost:5000/redis":                           "localhost:5000/redis",
		"redis:7.4-alpine@sha256:abc":                    "redis",
		"redis":                                          "redis",
	}
	for in, want := range tests {
		if got := imageRepo(in); got != want {
			t.Errorf("imageRepo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIPPool(t *testing.T) {
	p := newIPPool(netip.MustParsePrefix("10.244.0.0/30"))
	a, err := p.allocate()
	if err != nil || a.String() != "10.244.0.2" {
		t.Fatalf("first = %v, %v", a, err)
	}
	b, err := p.allocate()
	if err != nil || b.String() != "10.244.0.3" {
		t.Fatalf("second = %v, %v", b, err)
	}
	if _, err := p.allocate(); err == nil {
		t.Fatal("allocated beyond the range")
	}
	p.release(a)
	if c, err := p.allocate(); err != nil || c != a {
		t.Fatalf("after release = %v, %v", c, err)
	}
}

func TestHostsResolveServices(t *testing.T) {
	tbl := newServiceTable(slog.New(slog.DiscardHandler), netip.MustParsePrefix("10.96.0.0/16"), func() {})
	tbl.upsertService(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "chat-redis", Namespace: "apps"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.20"}})
	tbl.upsertService(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "kube-system"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.30"}})
	tbl.upsertService(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "headless", Namespace: "apps"},
		Spec: corev1.ServiceSpec{ClusterIP: "None"}})
	defer tbl.close()
	host := func(s string) *string { return &s }
	tbl.upsertService(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "chat-redis-sentinel", Namespace: "apps"},
		Spec: corev1.ServiceSpec{ClusterIP: "None"}})
	tbl.upsertSlice(&discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "s1", Namespace: "apps", Labels: map[string]string{discoveryv1.LabelServiceName: "chat-redis-sentinel"}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.244.0.7"}, Hostname: host("chat-redis-sentinel-0")},
			{Addresses: []string{"10.244.0.8"}, Hostname: host("chat-redis-sentinel-1")},
			{Addresses: []string{"10.244.0.9"}}, // no hostname: no name
		},
	})
	got := string(tbl.hosts("10.244.0.5", "chat-abc", "", "apps"))
	for _, want := range []string{
		"127.0.0.1\tlocalhost\n",
		"10.244.0.5\tchat-abc\n",
		"10.96.0.20\tchat-redis.apps.svc.cluster.local chat-redis.apps.svc chat-redis.apps chat-redis\n",
		"10.96.0.30\tother.kube-system.svc.cluster.local other.kube-system.svc other.kube-system\n",
		"10.244.0.7\tchat-redis-sentinel-0.chat-redis-sentinel.apps.svc chat-redis-sentinel-0.chat-redis-sentinel.apps.svc.cluster.local\n",
		"10.244.0.8\tchat-redis-sentinel-1.chat-redis-sentinel.apps.svc chat-redis-sentinel-1.chat-redis-sentinel.apps.svc.cluster.local\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("hosts lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "headless") || strings.Contains(got, "10.244.0.9") {
		t.Errorf("a headless Service has no ClusterIP entry, an endpoint without hostname no name:\n%s", got)
	}
	// A StatefulSet pod resolves its own FQDN to its IP, whatever the slices still say.
	self := string(tbl.hosts("10.244.0.11", "chat-redis-sentinel-1", "chat-redis-sentinel", "apps"))
	if !strings.Contains(self, "10.244.0.11\tchat-redis-sentinel-1.chat-redis-sentinel.apps.svc.cluster.local chat-redis-sentinel-1.chat-redis-sentinel.apps.svc chat-redis-sentinel-1\n") ||
		strings.Contains(self, "10.244.0.8") {
		t.Errorf("the pod's own name:\n%s", self)
	}
}

func TestParseRunContainer(t *testing.T) {
	s, err := parseRunContainer([]string{"--hosts", "/p/hosts", "--hostname", "chat-redis-0", "--mount", "/p/v/tmp=/tmp", "--mount", "/p/v/cfg=/etc/app", "--", "/bin/app", "-x"})
	if err != nil {
		t.Fatal(err)
	}
	if s.hosts != "/p/hosts" || s.hostname != "chat-redis-0" || len(s.mounts) != 2 || s.mounts[0] != [2]string{"/p/v/tmp", "/tmp"} || strings.Join(s.argv, " ") != "/bin/app -x" {
		t.Errorf("parsed %+v", s)
	}
	for _, bad := range [][]string{
		{"--hosts", "/h", "/bin/app"},                       // no --
		{"--hosts", "/h", "--"},                             // no command
		{"--", "/bin/app"},                                  // no hosts
		{"--hosts", "/h", "--mount", "rel", "--", "/bin/x"}, // no target
		{"--hosts", "/h", "--mount", "/a=rel", "--", "/x"},  // relative target
	} {
		if _, err := parseRunContainer(bad); err == nil {
			t.Errorf("parseRunContainer(%q) accepted", bad)
		}
	}
}
