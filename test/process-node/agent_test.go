package main

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
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
	got := string(tbl.hosts("10.244.0.5", "chat-abc", "apps"))
	for _, want := range []string{
		"127.0.0.1\tlocalhost\n",
		"10.244.0.5\tchat-abc\n",
		"10.96.0.20\tchat-redis.apps.svc.cluster.local chat-redis.apps.svc chat-redis.apps chat-redis\n",
		"10.96.0.30\tother.kube-system.svc.cluster.local other.kube-system.svc other.kube-system\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("hosts lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "headless") {
		t.Errorf("a headless Service has no ClusterIP entry:\n%s", got)
	}
}

func TestParseRunContainer(t *testing.T) {
	s, err := parseRunContainer([]string{"--hosts", "/p/hosts", "--mount", "/p/v/tmp=/tmp", "--mount", "/p/v/cfg=/etc/app", "--", "/bin/app", "-x"})
	if err != nil {
		t.Fatal(err)
	}
	if s.hosts != "/p/hosts" || len(s.mounts) != 2 || s.mounts[0] != [2]string{"/p/v/tmp", "/tmp"} || strings.Join(s.argv, " ") != "/bin/app -x" {
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
