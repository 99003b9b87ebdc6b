package monitoring

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/specs"
	"github.com/socketfleet/socketfleet/internal/redisserver"
	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/internal/waitfor"
)

// proc is a process the test started; it is killed when the test ends.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	out    strings.Builder
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start runs name with args, calls onLine for each line of its output (stderr and stdout), and kills it
// when the test ends.
func start(t *testing.T, name string, onLine func(string), args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), exited: make(chan struct{})}
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if onLine != nil {
				onLine(sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	go func() {
		_ = p.cmd.Wait()
		_ = w.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.logs())
		}
	})
	return p
}

// runtimeProc is a socketfleet-runtime process with its listen addresses.
type runtimeProc struct {
	*proc
	public, admin string
}

func startRuntime(t *testing.T, args ...string) runtimeProc {
	t.Helper()
	listening := make(chan map[string]any, 1)
	all := append([]string{"--host", "127.0.0.1", "--port", "0", "--admin-port", "0", "--admin-bind-address", "127.0.0.1", "--log-format", "json"}, args...)
	p := start(t, runtimeBinary, func(line string) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "socketfleet-runtime listening" {
			select {
			case listening <- rec:
			default:
			}
		}
	}, all...)
	select {
	case rec := <-listening:
		pub, _ := rec["public"].(string)
		adm, _ := rec["admin"].(string)
		return runtimeProc{proc: p, public: pub, admin: adm}
	case <-p.exited:
		t.Fatalf("socketfleet-runtime exited at start:\n%s", p.logs())
	case <-time.After(20 * time.Second):
		t.Fatalf("socketfleet-runtime did not log 'listening':\n%s", p.logs())
	}
	return runtimeProc{}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startPrometheus runs Debian's prometheus on a free loopback port with config and the rules of
// config/monitoring, and returns its base URL once it is ready.
func startPrometheus(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	writeRules(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + freePort(t)
	p := start(t, "prometheus", nil, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	base := "http://" + addr
	waitfor.Poll{Timeout: 30 * time.Second}.NoError(t, "prometheus ready", func() error {
		select {
		case <-p.exited:
			t.Fatalf("prometheus exited:\n%s", p.logs())
		default:
		}
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	return base
}

// promSeries is one series of an instant query result.
type promSeries struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query evaluates expr now through Prometheus' HTTP API.
func query(base, expr string) ([]promSeries, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", expr, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string       `json:"resultType"`
			Result     []promSeries `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode answer to %s: %w", expr, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", expr, body.Error)
	}
	return body.Data.Result, nil
}

// panelQuery is one query of a dashboard panel.
type panelQuery struct {
	Panel, RefID, Expr string
}

// dashboardQueries lists every query of every panel of the dashboard, with the dashboard's variables as
// "All" (.*) and $__rate_interval as 1m.
func dashboardQueries(t *testing.T) []panelQuery {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "config", "monitoring", "dashboards", "socketfleet-fleet.json"))
	if err != nil {
		t.Fatalf("read dashboard: %v", err)
	}
	var d struct {
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("decode dashboard: %v", err)
	}
	vars := strings.NewReplacer("$namespace", ".*", "$realtimecluster", ".*", "$__rate_interval", "1m")
	var out []panelQuery
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			out = append(out, panelQuery{Panel: p.Title, RefID: q.RefID, Expr: vars.Replace(q.Expr)})
		}
	}
	if len(out) == 0 {
		t.Fatal("dashboard has no panel queries")
	}
	return out
}

// createRuntimePod plays the ReplicaSet controller and the kubelet: a runtime pod of cluster whose admin port
// is that of a real runtime process on 127.0.0.1, Running and Ready.
func createRuntimePod(t *testing.T, ns, cluster, name, adminAddr string) {
	t.Helper()
	_, portStr, err := net.SplitHostPort(adminAddr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portStr)
	rc := &realtimev1alpha1.RealtimeCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster, Namespace: ns}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: specs.ObjectLabels(rc, specs.ComponentRuntime)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "runtime", Image: "socketfleet/runtime:test",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 3000}, {Name: "admin", ContainerPort: int32(port)}},
		}}},
	}
	ctx := context.Background()
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
	}
	if err := k8s.Status().Update(ctx, pod); err != nil {
		t.Fatalf("set status of pod %s: %v", name, err)
	}
}

// connect opens a client on rt and sends relay traffic (a join and a room broadcast); it fails only when the
// handshake is refused, which it returns.
func connect(t *testing.T, rt runtimeProc, transport sioclient.Transport) (*sioclient.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sioclient.ConnectContext(ctx, "http://"+rt.public+"/socket.io/", sioclient.Options{Transport: transport})
	if err != nil {
		return nil, err
	}
	t.Cleanup(c.Close)
	if err := c.Emit("relay:join", "chat:lobby"); err != nil {
		t.Fatalf("relay:join: %v", err)
	}
	if err := c.Emit("relay:emit", "chat:lobby", "message", map[string]string{"text": "hi"}); err != nil {
		t.Fatalf("relay:emit: %v", err)
	}
	return c, nil
}

// TestDashboardPanelsReturnData: a real Prometheus scrapes two runtime processes on one redis-server, serving
// clients with relay traffic, a shed and handshake refusals, and the operator's metrics while it reconciles a
// natively autoscaled RealtimeCluster whose pods are those processes. Every query of every dashboard panel
// must return data, and every alerting rule must evaluate without error.
func TestDashboardPanelsReturnData(t *testing.T) {
	redis := redisserver.Start(t, "")
	common := []string{"--redis-url", redis.URL(), "--relay-enabled", "--relay-rooms", "chat:*"}
	a := startRuntime(t, common...)
	b := startRuntime(t, append(common, "--limits-max-connections", "4")...)

	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "mon-"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	rc := &realtimev1alpha1.RealtimeCluster{}
	if err := yaml.Unmarshal([]byte(`
metadata: {name: mon}
spec:
  replicas: 2
  autoscaling: {enabled: true, minReplicas: 2, maxReplicas: 4, targetConnectionsPerPod: 100}
`), rc); err != nil {
		t.Fatal(err)
	}
	rc.Namespace = ns.Name
	if err := k8s.Create(ctx, rc); err != nil {
		t.Fatalf("create RealtimeCluster: %v", err)
	}
	createRuntimePod(t, ns.Name, "mon", "mon-a", a.admin)
	createRuntimePod(t, ns.Name, "mon", "mon-b", b.admin)

	prom := startPrometheus(t, fmt.Sprintf(`
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yaml]
scrape_configs:
- job_name: socketfleet-runtime
  static_configs:
  - targets: [%q]
    labels: {namespace: %q, realtimecluster: mon, pod: mon-a}
  - targets: [%q]
    labels: {namespace: %q, realtimecluster: mon, pod: mon-b}
- job_name: socketfleet-operator
  static_configs:
  - targets: [%q]
`, a.admin, ns.Name, b.admin, ns.Name, operatorMetrics))

	// Traffic: 8 clients on a (half long-polling), 4 on b, whose limit (4) refuses the next 2.
	for i := range 8 {
		transport := sioclient.WebSocket
		if i%2 == 1 {
			transport = sioclient.Polling
		}
		if _, err := connect(t, a, transport); err != nil {
			t.Fatalf("client %d on a: %v", i, err)
		}
	}
	for i := range 4 {
		if _, err := connect(t, b, sioclient.WebSocket); err != nil {
			t.Fatalf("client %d on b: %v", i, err)
		}
	}
	for i := range 2 {
		if _, err := connect(t, b, sioclient.WebSocket); err == nil {
			t.Fatalf("client %d over b's limit was accepted", i)
		}
	}
	resp, err := http.Post("http://"+a.admin+"/shed?count=1", "", nil)
	if err != nil {
		t.Fatalf("shed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("shed answered %d", resp.StatusCode)
	}

	queries := dashboardQueries(t)
	var empty []string
	poll := waitfor.Poll{Timeout: 90 * time.Second, Interval: time.Second}
	poll.NoError(t, "every dashboard panel returns data", func() error {
		empty = empty[:0]
		for _, q := range queries {
			res, err := query(prom, q.Expr)
			if err != nil {
				return err
			}
			if len(res) == 0 {
				empty = append(empty, fmt.Sprintf("%q (%s): %s", q.Panel, q.RefID, q.Expr))
			}
		}
		if len(empty) > 0 {
			return fmt.Errorf("%d of %d panel queries return nothing:\n%s", len(empty), len(queries), strings.Join(empty, "\n"))
		}
		return nil
	})
	t.Logf("%d panel queries of the dashboard return data", len(queries))

	// Not vacuous: the clients panel shows both pods, and the fleet view counts the clients that stay.
	res, err := query(prom, `sum by (pod) (socketfleet_engine_sessions)`)
	if err != nil {
		t.Fatal(err)
	}
	var pods []string
	for _, s := range res {
		pods = append(pods, s.Metric["pod"])
	}
	slices.Sort(pods)
	if !slices.Equal(pods, []string{"mon-a", "mon-b"}) {
		t.Errorf("sessions reported for pods %v, want mon-a and mon-b", pods)
	}
	// The panel "Clients per pod and transport" splits a's clients (half of them long-polling) by transport.
	var transportQuery string
	for _, q := range queries {
		if q.Panel == "Clients per pod and transport" {
			transportQuery = q.Expr
		}
	}
	if !strings.Contains(transportQuery, "transport") {
		t.Fatalf("panel \"Clients per pod and transport\" query %q does not split by transport", transportQuery)
	}
	poll.NoError(t, "clients of mon-a per transport", func() error {
		res, err := query(prom, transportQuery)
		if err != nil {
			return err
		}
		got := map[string]string{}
		for _, s := range res {
			got[s.Metric["pod"]+" "+s.Metric["transport"]] = fmt.Sprint(s.Value[1])
		}
		for _, k := range []string{"mon-a polling", "mon-a websocket", "mon-b websocket"} {
			if v, ok := got[k]; !ok || v == "0" {
				return fmt.Errorf("%s: %q in %v", k, v, got)
			}
		}
		return nil
	})
	res, err = query(prom, `sum(socketfleet_operator_fleet_clients{realtimecluster="mon"})`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Value[1] == "0" {
		t.Errorf("operator fleet clients %v, want the clients of both pods", res)
	}
	res, err = query(prom, `sum(socketfleet_handshakes_total{result="refused",reason="max_connections"})`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Value[1] != "2" {
		t.Errorf("refused handshakes %v, want 2", res)
	}

	// Every alerting rule evaluates against these series without error.
	poll.NoError(t, "rules evaluated without error", func() error {
		r, err := http.Get(prom + "/api/v1/rules")
		if err != nil {
			return err
		}
		defer r.Body.Close()
		var body struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name, Health, LastError string
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return err
		}
		n := 0
		for _, g := range body.Data.Groups {
			for _, rule := range g.Rules {
				n++
				if rule.Health != "ok" {
					return fmt.Errorf("rule %s: health %q %s", rule.Name, rule.Health, rule.LastError)
				}
			}
		}
		if n != len(alertNames(t)) {
			return fmt.Errorf("%d rules loaded, want %d", n, len(alertNames(t)))
		}
		return nil
	})
}
