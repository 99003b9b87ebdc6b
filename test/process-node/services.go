package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// serviceTable is the in-process kube-proxy: it listens on every Service's ClusterIP:port (local addresses)
// and forwards each connection to a ready endpoint of the Service, round-robin. It also renders the hosts
// entries pods use to resolve Service names.
type serviceTable struct {
	log     *slog.Logger
	cidr    netip.Prefix
	changed func()

	mu        sync.Mutex
	services  map[string]*corev1.Service                       // ns/name
	slices    map[string]map[string]*discoveryv1.EndpointSlice // ns/service -> slice name -> slice
	listeners map[string]net.Listener                          // ip:port
	next      int
}

func newServiceTable(log *slog.Logger, cidr netip.Prefix, changed func()) *serviceTable {
	return &serviceTable{log: log, cidr: cidr, changed: changed, services: map[string]*corev1.Service{},
		slices: map[string]map[string]*discoveryv1.EndpointSlice{}, listeners: map[string]net.Listener{}}
}

func key(ns, name string) string { return ns + "/" + name }

func (t *serviceTable) upsertService(s *corev1.Service) {
	t.mu.Lock()
	t.services[key(s.Namespace, s.Name)] = s
	t.syncListenersLocked()
	t.mu.Unlock()
	t.changed()
}

func (t *serviceTable) deleteService(s *corev1.Service) {
	t.mu.Lock()
	delete(t.services, key(s.Namespace, s.Name))
	t.syncListenersLocked()
	t.mu.Unlock()
	t.changed()
}

func (t *serviceTable) upsertSlice(s *discoveryv1.EndpointSlice) {
	svc := s.Labels[discoveryv1.LabelServiceName]
	if svc == "" {
		return
	}
	t.mu.Lock()
	k := key(s.Namespace, svc)
	if t.slices[k] == nil {
		t.slices[k] = map[string]*discoveryv1.EndpointSlice{}
	}
	t.slices[k][s.Name] = s
	headless := t.headlessLocked(k)
	t.mu.Unlock()
	if headless { // its pods' DNS names are in the hosts files
		t.changed()
	}
}

func (t *serviceTable) deleteSlice(s *discoveryv1.EndpointSlice) {
	t.mu.Lock()
	k := key(s.Namespace, s.Labels[discoveryv1.LabelServiceName])
	delete(t.slices[k], s.Name)
	headless := t.headlessLocked(k)
	t.mu.Unlock()
	if headless {
		t.changed()
	}
}

// headlessLocked reports whether the Service svcKey is headless.
func (t *serviceTable) headlessLocked(svcKey string) bool {
	s, ok := t.services[svcKey]
	return ok && s.Spec.ClusterIP == corev1.ClusterIPNone
}

// clusterIP returns the Service's ClusterIP when it is in the range this table serves.
func (t *serviceTable) clusterIP(s *corev1.Service) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s.Spec.ClusterIP)
	return ip, err == nil && t.cidr.Contains(ip)
}

// syncListenersLocked opens a listener for every ClusterIP:port and closes the ones no Service has any more.
func (t *serviceTable) syncListenersLocked() {
	want := map[string][2]string{} // addr -> service key, port name
	for k, s := range t.services {
		ip, ok := t.clusterIP(s)
		if !ok {
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
				want[net.JoinHostPort(ip.String(), strconv.Itoa(int(p.Port)))] = [2]string{k, p.Name}
			}
		}
	}
	for addr, l := range t.listeners {
		if _, ok := want[addr]; !ok {
			_ = l.Close()
			delete(t.listeners, addr)
		}
	}
	for addr, target := range want {
		if _, ok := t.listeners[addr]; ok {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.log.Warn("service proxy: listen", "addr", addr, "err", err)
			continue
		}
		t.listeners[addr] = l
		go t.serve(l, target[0], target[1])
	}
}

// serve accepts connections for one Service port until the listener closes.
func (t *serviceTable) serve(l net.Listener, svcKey, portName string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go t.forward(c, svcKey, portName)
	}
}

func (t *serviceTable) forward(c net.Conn, svcKey, portName string) {
	defer c.Close()
	backend, err := t.pickEndpoint(svcKey, portName)
	if err != nil {
		t.log.Debug("service proxy: no endpoint", "service", svcKey, "err", err)
		return
	}
	b, err := net.DialTimeout("tcp", backend, 3*time.Second)
	if err != nil {
		t.log.Debug("service proxy: dial", "backend", backend, "err", err)
		return
	}
	defer b.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(b, c)
	go pipe(c, b)
	<-done
	<-done
}

// pickEndpoint returns a ready endpoint address:port of the Service port, round-robin.
func (t *serviceTable) pickEndpoint(svcKey, portName string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var candidates []string
	for _, s := range t.slices[svcKey] {
		var port int32 = -1
		for _, p := range s.Ports {
			if p.Port != nil && ptrString(p.Name) == portName {
				port = *p.Port
			}
		}
		if port < 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, addr := range e.Addresses {
				candidates = append(candidates, net.JoinHostPort(addr, strconv.Itoa(int(port))))
			}
		}
	}
	if len(candidates) == 0 {
		return "", fmt.Errorf("no ready endpoint for %s port %q", svcKey, portName)
	}
	slices.Sort(candidates)
	t.next++
	return candidates[t.next%len(candidates)], nil
}

func ptrString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// hosts renders /etc/hosts for a pod: localhost, the pod itself (with its FQDN when it has a subdomain, as
// the kubelet writes it), every Service with a ClusterIP under its qualified names, and its short name for
// Services of the pod's namespace, and the pods of headless Services under
// <hostname>.<service>.<namespace>.svc (what cluster DNS would answer).
func (t *serviceTable) hosts(podIP, hostname, subdomain, podNamespace string) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n")
	if subdomain != "" {
		fqdn := hostname + "." + subdomain + "." + podNamespace + ".svc"
		fmt.Fprintf(&b, "%s\t%s.cluster.local %s %s\n", podIP, fqdn, fqdn, hostname)
	} else {
		fmt.Fprintf(&b, "%s\t%s\n", podIP, hostname)
	}
	keys := make([]string, 0, len(t.services))
	for k := range t.services {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s := t.services[k]
		ip, ok := t.clusterIP(s)
		if !ok {
			continue
		}
		n, ns := s.Name, s.Namespace
		fmt.Fprintf(&b, "%s\t%s.%s.svc.cluster.local %s.%s.svc %s.%s", ip, n, ns, n, ns, n, ns)
		if ns == podNamespace {
			b.WriteString(" " + n)
		}
		b.WriteString("\n")
	}
	for _, k := range keys {
		if !t.headlessLocked(k) {
			continue
		}
		s := t.services[k]
		var lines []string
		for _, slice := range t.slices[k] {
			for _, e := range slice.Endpoints {
				if e.Hostname == nil || len(e.Addresses) == 0 {
					continue
				}
				fqdn := *e.Hostname + "." + s.Name + "." + s.Namespace + ".svc"
				if fqdn == hostname+"."+subdomain+"."+podNamespace+".svc" {
					continue // the pod itself, written above with its current IP
				}
				lines = append(lines, fmt.Sprintf("%s\t%s %s.cluster.local\n", e.Addresses[0], fqdn, fqdn))
			}
		}
		slices.Sort(lines)
		for _, l := range lines {
			b.WriteString(l)
		}
	}
	return []byte(b.String())
}

// close stops every listener.
func (t *serviceTable) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for addr, l := range t.listeners {
		_ = l.Close()
		delete(t.listeners, addr)
	}
}
