package envtest

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// applyManifest creates the YAML manifest in ns as an unstructured object (as kubectl would send it).
func createManifest(ns, manifest string, opts ...client.CreateOption) error {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		return err
	}
	u.SetNamespace(ns)
	return k8s.Create(context.Background(), u, opts...)
}

func clusterManifest(spec string) string {
	return "apiVersion: realtime.socketfleet.io/v1alpha1\nkind: RealtimeCluster\nmetadata:\n  name: bad\nspec:\n" + indent(spec, "  ")
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// recoveryWithoutStreams is what the refusal of connection state recovery without the streams adapter must say:
// the field refused, the field that decides, why, and the fix.
var recoveryWithoutStreams = []string{
	"spec.runtime.connectionStateRecovery.enabled: Invalid value",
	"can be true only with spec.redis.adapter: streams",
	"cannot recover sessions across pods",
	"set spec.redis.adapter to streams",
	"set spec.runtime.connectionStateRecovery.enabled to false",
}

// recoveryShorterThanDrain is what the refusal of a recovery window shorter than a drain must say.
var recoveryShorterThanDrain = []string{
	"spec.runtime.connectionStateRecovery.maxDisconnectionDuration: Invalid value",
	"must be at least spec.drain.preStopDelay + spec.drain.window + 30s",
	"leave it unset to derive it from spec.drain",
}

// TestValidationRejectsInvalidSpecs submits one invalid manifest per validation rule (dry run) and expects the
// API server to refuse it with an error that names the offending field and explains the rule.
func TestValidationRejectsInvalidSpecs(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name string
		spec string
		want []string // substrings the error must contain: the field path and the explanation
	}{
		{"autoscaling min greater than max", "autoscaling: {enabled: true, minReplicas: 5, maxReplicas: 2}",
			[]string{"spec.autoscaling.minReplicas", "must be less than or equal to spec.autoscaling.maxReplicas"}},
		{"redis managed and external", "redis: {managed: {}, external: {addresses: [redis:6379]}}",
			[]string{"spec.redis", "exactly one of spec.redis.managed or spec.redis.external"}},
		{"redis neither managed nor external", "redis: {keyPrefix: chat}",
			[]string{"spec.redis", "exactly one of spec.redis.managed or spec.redis.external"}},
		{"drain exceeds grace period limit", "drain: {window: 59m, preStopDelay: 2m}",
			[]string{"spec.drain", "spec.drain.preStopDelay + spec.drain.window must be at most 59m50s"}},
		{"grace period shorter than drain", "drain: {window: 60s, preStopDelay: 5s, terminationGracePeriod: 30s}",
			[]string{"spec.drain.terminationGracePeriod", "must be greater than spec.drain.preStopDelay + spec.drain.window"}},
		{"grace period above 1h", "drain: {terminationGracePeriod: 2h}",
			[]string{"spec.drain.terminationGracePeriod", "must be at most 1h"}},
		{"drain window below 1s", "drain: {window: 500ms}",
			[]string{"spec.drain.window", "must be at least 1s"}},
		{"invalid cookie name", "ingress: {enabled: true, hosts: [chat.example.com], stickyCookie: {name: 'my cookie;'}}",
			[]string{"spec.ingress.stickyCookie.name", "must be a valid cookie name"}},
		{"ingress without hosts", "ingress: {enabled: true}",
			[]string{"spec.ingress.hosts", "at least one host"}},
		{"ingress timeout below heartbeat", "ingress: {enabled: true, hosts: [chat.example.com], timeout: 40s}",
			[]string{"spec.ingress.timeout", "must be greater than spec.runtime.pingInterval + spec.runtime.pingTimeout"}},
		{"ingress timeout above 24h", "ingress: {timeout: 25h}",
			[]string{"spec.ingress.timeout", "must be at most 24h"}},
		{"gateway with className", "ingress: {enabled: true, hosts: [a.example.com], className: nginx, gateway: {parentRefs: [{name: gw}]}}",
			[]string{"spec.ingress.className", "applies to an Ingress only"}},
		{"gateway with tlsSecretName", "ingress: {enabled: true, hosts: [a.example.com], tlsSecretName: tls, gateway: {parentRefs: [{name: gw}]}}",
			[]string{"spec.ingress.tlsSecretName", "applies to an Ingress only"}},
		{"unknown ingress controller", "ingress: {controller: envoy}",
			[]string{"spec.ingress.controller", `supported values: "nginx", "traefik", "haproxy"`}},
		{"invalid host", "ingress: {enabled: true, hosts: [Chat_Example]}",
			[]string{"spec.ingress.hosts[0]"}},
		{"cookie max age below 1s", "ingress: {stickyCookie: {maxAge: 0s}}",
			[]string{"spec.ingress.stickyCookie.maxAge", "must be at least 1s"}},
		{"sentinel without master name", "redis: {external: {mode: sentinel, addresses: ['s1:26379']}}",
			[]string{"spec.redis.external.sentinelMasterName", "is required when spec.redis.external.mode is sentinel"}},
		{"master name outside sentinel mode", "redis: {external: {addresses: ['r:6379'], sentinelMasterName: m}}",
			[]string{"spec.redis.external.sentinelMasterName", "only allowed when spec.redis.external.mode is sentinel"}},
		{"standalone with two addresses", "redis: {external: {addresses: ['a:6379', 'b:6379']}}",
			[]string{"spec.redis.external.addresses", "exactly one entry"}},
		{"cluster with database", "redis: {external: {mode: cluster, addresses: ['a:6379'], database: 3}}",
			[]string{"spec.redis.external.database", "must be 0 when spec.redis.external.mode is cluster"}},
		{"redis address without port", "redis: {external: {addresses: [redis.example.com]}}",
			[]string{"spec.redis.external.addresses[0]"}},
		{"no redis pods", "redis: {managed: {replicas: 0}}",
			[]string{"spec.redis.managed.replicas", "greater than or equal to 1"}},
		{"too many redis pods", "redis: {managed: {replicas: 6}}",
			[]string{"spec.redis.managed.replicas", "less than or equal to 5"}},
		{"sentinel settings for a single redis", "redis: {managed: {sentinel: {downAfter: 3s}}}",
			[]string{"spec.redis.managed.sentinel", "only allowed when spec.redis.managed.replicas is greater than 1", "no replica to fail over to"}},
		{"sentinel settings with one explicit replica", "redis: {managed: {replicas: 1, sentinel: {}}}",
			[]string{"spec.redis.managed.sentinel", "only allowed when spec.redis.managed.replicas is greater than 1"}},
		{"sentinel down-after below 1s", "redis: {managed: {replicas: 3, sentinel: {downAfter: 500ms}}}",
			[]string{"spec.redis.managed.sentinel.downAfter", "between 1s and 10m"}},
		{"sentinel failover timeout below 10s", "redis: {managed: {replicas: 3, sentinel: {failoverTimeout: 5s}}}",
			[]string{"spec.redis.managed.sentinel.failoverTimeout", "between 10s and 1h"}},
		{"empty persistence size", "redis: {managed: {persistence: {size: '0'}}}",
			[]string{"spec.redis.managed.persistence.size", "must be greater than zero"}},
		{"storage class without persistence", "redis: {managed: {persistence: {enabled: false, storageClass: fast}}}",
			[]string{"spec.redis.managed.persistence.storageClass", "only allowed when spec.redis.managed.persistence.enabled is not false"}},
		{"certificate without TLS", "redis: {managed: {tls: {enabled: false, certificateSecretRef: {name: c}}}}",
			[]string{"spec.redis.managed.tls.certificateSecretRef", "only allowed when spec.redis.managed.tls.enabled is true"}},
		{"path without slashes", "runtime: {path: socket.io}",
			[]string{"spec.runtime.path", "must start and end with '/'"}},
		{"ping interval too small", "runtime: {pingInterval: 100ms}",
			[]string{"spec.runtime.pingInterval", "between 1s and 10m"}},
		{"ping timeout too large", "runtime: {pingTimeout: 11m}",
			[]string{"spec.runtime.pingTimeout", "between 1s and 10m"}},
		{"not a duration", "runtime: {pingInterval: soon}",
			[]string{"spec.runtime.pingInterval"}},
		{"unknown transport", "runtime: {transports: [polling, webtransport]}",
			[]string{"spec.runtime.transports[1]", `supported values: "polling", "websocket"`}},
		{"no transports", "runtime: {transports: []}",
			[]string{"spec.runtime.transports"}},
		{"unknown parser", "runtime: {parser: msgpack-lite}",
			[]string{"spec.runtime.parser", `supported values: "default", "msgpack"`}},
		{"tiny buffer", "runtime: {maxHttpBufferSize: 10}",
			[]string{"spec.runtime.maxHttpBufferSize", "greater than or equal to 1024"}},
		{"credentials with wildcard origin", "runtime: {cors: {origins: ['*'], credentials: true}}",
			[]string{"spec.runtime.cors", "cannot be true when spec.runtime.cors.origins contains \"*\""}},
		{"recovery window above 24h", "runtime: {connectionStateRecovery: {maxDisconnectionDuration: 25h}}",
			[]string{"spec.runtime.connectionStateRecovery.maxDisconnectionDuration", "at most 24h"}},
		{"recovery with the classic adapter", "runtime: {connectionStateRecovery: {enabled: true}}\nredis: {managed: {}, adapter: classic}",
			recoveryWithoutStreams},
		{"recovery with the sharded adapter", "runtime: {connectionStateRecovery: {enabled: true}}\nredis: {managed: {}, adapter: sharded}",
			recoveryWithoutStreams},
		{"recovery with external redis and the classic adapter", "runtime: {connectionStateRecovery: {enabled: true}}\nredis: {adapter: classic, external: {addresses: ['r:6379']}}",
			recoveryWithoutStreams},
		{"recovery with external redis cluster and the classic adapter", "runtime: {connectionStateRecovery: {enabled: true}}\nredis: {adapter: classic, external: {mode: cluster, addresses: ['c:7000']}}",
			recoveryWithoutStreams},
		{"recovery window shorter than the default drain", "runtime: {connectionStateRecovery: {maxDisconnectionDuration: 1m}}",
			recoveryShorterThanDrain},
		{"recovery window 1s short of preStopDelay + window + 30s", "runtime: {connectionStateRecovery: {maxDisconnectionDuration: 94s}}\ndrain: {preStopDelay: 4s, window: 61s}",
			recoveryShorterThanDrain},
		{"recovery window shorter than a long drain", "runtime: {connectionStateRecovery: {enabled: true, maxDisconnectionDuration: 10m}}\ndrain: {window: 10m}",
			recoveryShorterThanDrain},
		{"recovery window shorter than the drain, explicit streams", "runtime: {connectionStateRecovery: {maxDisconnectionDuration: 30s}}\nredis: {managed: {}, adapter: streams}\ndrain: {preStopDelay: 0s, window: 1s}",
			recoveryShorterThanDrain},
		{"unknown adapter", "redis: {managed: {}, adapter: kafka}",
			[]string{"spec.redis.adapter", `supported values: "classic", "sharded", "streams"`}},
		{"streams adapter without managed or external", "redis: {adapter: streams}",
			[]string{"spec.redis", "exactly one of spec.redis.managed or spec.redis.external"}},
		{"sharded adapter with redis cluster", "redis: {adapter: sharded, external: {mode: cluster, addresses: ['c:7000']}}",
			[]string{"spec.redis.adapter", "cannot be sharded when spec.redis.external.mode is cluster", "use classic or streams"}},
		{"streams block with the classic adapter", "redis: {managed: {}, adapter: classic, streams: {maxLen: 100}}",
			[]string{"spec.redis.streams", "only allowed when spec.redis.adapter is streams"}},
		{"streams block with the sharded adapter", "redis: {managed: {}, adapter: sharded, streams: {}}",
			[]string{"spec.redis.streams", "only allowed when spec.redis.adapter is streams"}},
		{"sharded pub/sub of streams with redis cluster", "redis: {adapter: streams, external: {mode: cluster, addresses: ['c:7000']}, streams: {useShardedPubSub: true}}",
			[]string{"spec.redis.streams.useShardedPubSub", "cannot be true when spec.redis.external.mode is cluster"}},
		{"streams max length zero", "redis: {managed: {}, adapter: streams, streams: {maxLen: 0}}",
			[]string{"spec.redis.streams.maxLen", "greater than or equal to 1"}},
		{"streams count above 64", "redis: {managed: {}, adapter: streams, streams: {streamCount: 65}}",
			[]string{"spec.redis.streams.streamCount", "less than or equal to 64"}},
		{"empty session key prefix", "redis: {managed: {}, adapter: streams, streams: {sessionKeyPrefix: ''}}",
			[]string{"spec.redis.streams.sessionKeyPrefix"}},
		{"empty stream name", "redis: {managed: {}, adapter: streams, streams: {streamName: ''}}",
			[]string{"spec.redis.streams.streamName"}},
		{"negative per-pod limit", "runtime: {maxConnectionsPerPod: -1}",
			[]string{"spec.runtime.maxConnectionsPerPod"}},
		{"selector label override", "pod: {labels: {app.kubernetes.io/instance: other}}",
			[]string{"spec.pod.labels", "must not set app.kubernetes.io/name, app.kubernetes.io/instance or app.kubernetes.io/component"}},
		{"pod env sets an operator variable", "pod: {env: [{name: SOCKETFLEET_CONFIG, value: /x.yaml}]}",
			[]string{"spec.pod.env", "must not set SOCKETFLEET_PORT, SOCKETFLEET_CONFIG", "the operator sets them"}},
		{"pod env sets the forwarding address", "pod: {env: [{name: SOCKETFLEET_CLUSTER_FORWARDING_ADVERTISE_ADDRESS, value: '10.0.0.1'}]}",
			[]string{"spec.pod.env", "SOCKETFLEET_CLUSTER_*", "spec.ingress.stickiness"}},
		{"pod env overrides the redis url", "pod: {env: [{name: SOCKETFLEET_REDIS_URL, value: 'redis://x:6379'}]}",
			[]string{"spec.pod.env", "SOCKETFLEET_REDIS_URL"}},
		{"pod env overrides the admin token file", "pod: {env: [{name: SOCKETFLEET_ADMIN_TOKEN_FILE, value: /t}]}",
			[]string{"spec.pod.env", "_TOKEN_FILE"}},
		{"pod env overrides the pod name", "pod: {env: [{name: POD_NAME, value: x}]}",
			[]string{"spec.pod.env", "POD_NAME"}},
		{"volume named config", "pod: {volumes: [{name: config, emptyDir: {}}]}",
			[]string{"spec.pod.volumes", "must not be named config", "the operator's volumes use these names"}},
		{"volume named like an operator secret volume", "pod: {volumes: [{name: socketfleet-jwt, emptyDir: {}}]}",
			[]string{"spec.pod.volumes", "socketfleet-*"}},
		{"mount over the config directory", "pod: {volumes: [{name: x, emptyDir: {}}], volumeMounts: [{name: x, mountPath: /etc/socketfleet}]}",
			[]string{"spec.pod.volumeMounts", "must not mount at /etc/socketfleet"}},
		{"mount inside the secrets directory", "pod: {volumes: [{name: x, emptyDir: {}}], volumeMounts: [{name: x, mountPath: /var/run/socketfleet/admin}]}",
			[]string{"spec.pod.volumeMounts", "under /var/run/socketfleet"}},
		{"sidecar named runtime", "pod: {sidecars: [{name: runtime, image: envoy}]}",
			[]string{"spec.pod.sidecars", "must not use the name runtime"}},
		{"init container named runtime", "pod: {initContainers: [{name: runtime, image: busybox}]}",
			[]string{"spec.pod.initContainers", "must not use the name runtime"}},
		{"sidecar on the public port", "pod: {sidecars: [{name: proxy, image: envoy, ports: [{containerPort: 3000}]}]}",
			[]string{"spec.pod.sidecars", "must not declare port 3000 or 8081"}},
		{"init container sidecar on the admin port", "pod: {initContainers: [{name: proxy, image: envoy, restartPolicy: Always, ports: [{containerPort: 8081}]}]}",
			[]string{"spec.pod.initContainers", "must not declare port 3000 or 8081"}},
		{"container on the admin port", "pod: {containers: [{name: shipper, image: fluent-bit, ports: [{containerPort: 8081}]}]}",
			[]string{"spec.pod.containers", "must not declare port 3000 or 8081"}},
		{"unknown dns policy", "pod: {dnsPolicy: Custom}",
			[]string{"spec.pod.dnsPolicy", "supported values"}},
		{"jwt key from nowhere", "runtime: {auth: {jwt: {algorithm: RS256, key: {}}}}",
			[]string{"spec.runtime.auth.jwt.key", "set exactly one of secretKeyRef or configMapKeyRef"}},
		{"jwt key from both", "runtime: {auth: {jwt: {algorithm: RS256, key: {secretKeyRef: {name: a, key: k}, configMapKeyRef: {name: b, key: k}}}}}",
			[]string{"spec.runtime.auth.jwt.key", "set exactly one of secretKeyRef or configMapKeyRef"}},
		{"optional jwt key", "runtime: {auth: {jwt: {algorithm: ES256, key: {configMapKeyRef: {name: a, key: k, optional: true}}}}}",
			[]string{"spec.runtime.auth.jwt.key", "optional must not be true"}},
		{"hs256 secret in a configmap", "runtime: {auth: {jwt: {algorithm: HS256, key: {configMapKeyRef: {name: a, key: k}}}}}",
			[]string{"spec.runtime.auth.jwt.key", "must be a secretKeyRef with algorithm HS256"}},
		{"unknown jwt algorithm", "runtime: {auth: {jwt: {algorithm: none, key: {secretKeyRef: {name: a, key: k}}}}}",
			[]string{"spec.runtime.auth.jwt.algorithm", `supported values: "HS256", "RS256", "ES256"`}},
		{"publish without token", "runtime: {publish: {}}",
			[]string{"spec.runtime.publish.tokenSecretKeyRef", "Required value"}},
		{"webhook without events", "runtime: {webhook: {url: 'http://b/e'}}",
			[]string{"spec.runtime.webhook.events", "Required value"}},
		{"webhook url without scheme", "runtime: {webhook: {url: backend/events, events: [a]}}",
			[]string{"spec.runtime.webhook.url", "must be an http or https URL"}},
		{"auth webhook timeout too long", "runtime: {auth: {webhook: {url: 'http://a', timeout: 2m}}}",
			[]string{"spec.runtime.auth.webhook.timeout", "between 1ms and 1m"}},
		{"admin ui without credentials", "adminUI: {enabled: true}",
			[]string{"spec.adminUI", "needs username and passwordHashSecretKeyRef"}},
		{"admin ui without password hash", "adminUI: {enabled: true, username: admin}",
			[]string{"spec.adminUI", "needs username and passwordHashSecretKeyRef"}},
		{"admin ui namespace pattern", "adminUI: {enabled: true, username: admin, passwordHashSecretKeyRef: {name: a, key: h}, namespace: 'admin*'}",
			[]string{"spec.adminUI.namespace", "should match"}},
		{"traffic policy on a ClusterIP service", "service: {externalTrafficPolicy: Local}",
			[]string{"spec.service.externalTrafficPolicy", "applies only when spec.service.type is NodePort or LoadBalancer"}},
		{"node port on a ClusterIP service", "service: {type: ClusterIP, nodePort: 30001}",
			[]string{"spec.service.nodePort", "applies only when spec.service.type is NodePort or LoadBalancer"}},
		{"load balancer class on a NodePort service", "service: {type: NodePort, loadBalancerClass: x}",
			[]string{"spec.service", "loadBalancerClass and spec.service.loadBalancerSourceRanges apply only when spec.service.type is LoadBalancer"}},
		{"affinity timeout without ClientIP affinity", "service: {sessionAffinityTimeoutSeconds: 60}",
			[]string{"spec.service.sessionAffinityTimeoutSeconds", "applies only when spec.service.sessionAffinity is ClientIP"}},
		{"external name service", "service: {type: ExternalName}",
			[]string{"spec.service.type", `supported values: "ClusterIP", "NodePort", "LoadBalancer"`}},
		{"ingress tls and tlsSecretName", "ingress: {enabled: true, hosts: [a.example.com], tlsSecretName: a, tls: [{secretName: b}]}",
			[]string{"spec.ingress.tls", "cannot both be set"}},
		{"gateway with tls", "ingress: {enabled: true, hosts: [a.example.com], tls: [{secretName: b}], gateway: {parentRefs: [{name: gw}]}}",
			[]string{"spec.ingress.tls", "applies to an Ingress only"}},
		{"unknown gateway session persistence", "ingress: {enabled: true, hosts: [a.example.com], gateway: {sessionPersistence: Header, parentRefs: [{name: gw}]}}",
			[]string{"spec.ingress.gateway.sessionPersistence", `supported values: "Cookie", "None"`}},
		{"gateway cookie without stickiness", "ingress: {enabled: true, hosts: [a.example.com], gateway: {sessionPersistence: Cookie, parentRefs: [{name: gw}]}}",
			[]string{"spec.ingress.gateway.sessionPersistence", "Cookie needs spec.ingress.stickiness: cookie"}},
		{"unknown stickiness", "ingress: {stickiness: ip}",
			[]string{"spec.ingress.stickiness", `supported values: "none", "cookie"`}},
		{"negative replicas", "replicas: -1",
			[]string{"spec.replicas", "greater than or equal to 0"}},
		{"zero max surge", "rollout: {maxSurge: 0}",
			[]string{"spec.rollout.maxSurge", "positive number of pods or a percentage"}},
		{"max surge percentage above 100", "rollout: {maxSurge: 150%}",
			[]string{"spec.rollout.maxSurge", "positive number of pods or a percentage"}},
		{"unknown pull policy", "imagePullPolicy: Sometimes",
			[]string{"spec.imagePullPolicy", "supported values"}},
		{"zero canary replicas", "rollout: {canary: {replicas: 0}}",
			[]string{"spec.rollout.canary.replicas", "positive number of pods or a percentage"}},
		{"canary percentage above 100", "rollout: {canary: {replicas: 200%}}",
			[]string{"spec.rollout.canary.replicas", "positive number of pods or a percentage"}},
		{"negative canary pause", "rollout: {canary: {pauseSeconds: -1}}",
			[]string{"spec.rollout.canary.pauseSeconds", "greater than or equal to 0"}},
		{"canary ready timeout too short", "rollout: {canary: {analysis: {readyTimeoutSeconds: 1}}}",
			[]string{"spec.rollout.canary.analysis.readyTimeoutSeconds", "greater than or equal to 10"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := createManifest(ns, clusterManifest(tc.spec), client.DryRunAll)
			if err == nil {
				t.Fatalf("API server accepted the invalid spec:\n%s", tc.spec)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			t.Logf("refused: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestValidationAcceptsEdgeSpecs checks that valid specs near the rules' boundaries are accepted.
func TestValidationAcceptsEdgeSpecs(t *testing.T) {
	ns := newNamespace(t)
	specs := []string{
		"{}",
		"autoscaling: {enabled: true, minReplicas: 3, maxReplicas: 3}",
		"drain: {window: 59m, preStopDelay: 50s}",
		"drain: {preStopDelay: 0s, window: 30s, terminationGracePeriod: 31s}",
		"redis: {external: {mode: sentinel, addresses: ['s1:26379', 's2:26379'], sentinelMasterName: mymaster}}",
		"redis: {external: {mode: cluster, addresses: ['[::1]:7000', '10.0.0.2:7000']}}",
		"ingress: {enabled: true, hosts: ['*.example.com'], stickyCookie: {name: \"io_route-1.v2\"}, timeout: 46s}",
		"ingress: {enabled: true, hosts: [chat.example.com], gateway: {parentRefs: [{name: gw, namespace: infra}]}}",
		"runtime: {path: /, transports: [websocket], cors: {origins: ['*']}}",
		"runtime: {parser: msgpack}",
		"runtime: {parser: default}",
		"runtime: {connectionStateRecovery: {enabled: false, maxDisconnectionDuration: 24h, skipMiddlewares: false}}",
		// recovery follows the adapter when enabled is unset: on with streams (the default), off with classic alone
		"runtime: {connectionStateRecovery: {enabled: true}}",
		"runtime: {connectionStateRecovery: {enabled: true}}\nredis: {external: {addresses: ['r:6379']}}",
		"redis: {managed: {}, adapter: classic}",
		"adminUI: {enabled: true, username: admin, passwordHashSecretKeyRef: {name: a, key: h}, readOnly: true}",
		"adminUI: {enabled: false}",
		"redis: {managed: {}, streams: {maxLen: 100}}",
		// a recovery window shorter than a drain is refused only while recovery is on
		"runtime: {connectionStateRecovery: {maxDisconnectionDuration: 1m}}\nredis: {managed: {}, adapter: classic}",
		"runtime: {connectionStateRecovery: {enabled: false, maxDisconnectionDuration: 1m}}",
		"runtime: {connectionStateRecovery: {maxDisconnectionDuration: 95s}}\ndrain: {preStopDelay: 4s, window: 61s}",
		"runtime: {connectionStateRecovery: {maxDisconnectionDuration: 95s}}",
		"runtime: {connectionStateRecovery: {maxDisconnectionDuration: 31s}}\ndrain: {preStopDelay: 0s, window: 1s}",
		"redis: {managed: {}, adapter: sharded}",
		"redis: {adapter: sharded, external: {mode: sentinel, addresses: ['s1:26379'], sentinelMasterName: m}}",
		"redis: {adapter: classic, external: {mode: cluster, addresses: ['c:7000']}}",
		"redis: {managed: {}, adapter: streams}",
		"runtime: {connectionStateRecovery: {enabled: true}}\nredis: {managed: {}, adapter: streams}",
		"runtime: {connectionStateRecovery: {enabled: true, maxDisconnectionDuration: 24h}}\n" +
			"redis: {adapter: streams, managed: {persistence: {size: 1Gi}}, streams: {maxLen: 1, sessionKeyPrefix: 'x:', streamName: s}}",
		"runtime: {connectionStateRecovery: {enabled: true}}\n" +
			"redis: {adapter: streams, external: {mode: cluster, addresses: ['c:7000']}, streams: {streamCount: 64}}",
		"runtime: {connectionStateRecovery: {enabled: true}}\n" +
			"redis: {adapter: streams, external: {addresses: ['r:6379']}, streams: {useShardedPubSub: true}}",
		"redis: {managed: {replicas: 2}}",
		"redis: {managed: {replicas: 5, persistence: {enabled: true, size: 1Gi, storageClass: fast}, sentinel: {downAfter: 1s, failoverTimeout: 1h}}}",
		"redis: {managed: {persistence: {enabled: false}, tls: {enabled: true}}}",
		"redis: {managed: {replicas: 3, tls: {enabled: true, certificateSecretRef: {name: redis-cert}}}}",
		"runtime: {connectionStateRecovery: {enabled: true}}\nredis: {adapter: streams, managed: {replicas: 3, sentinel: {downAfter: 10m, failoverTimeout: 10s}}}",
		"rollout: {maxSurge: 100%}",
		"rollout: {maxSurge: 3}",
		"rollout: {canary: {replicas: 10%, pauseSeconds: 0, analysis: {readyTimeoutSeconds: 600, maxRestarts: 2, minConnectedClients: 50}}}",
		"rollout: {canary: {}}",
		"replicas: 0",
		"runtime: {auth: {jwt: {algorithm: HS256, key: {secretKeyRef: {name: a, key: k}}, leeway: 10m}, webhook: {url: 'https://auth.example.com/check'}}, " +
			"publish: {tokenSecretKeyRef: {name: p, key: token}}, webhook: {url: 'http://backend:8080/e', events: ['order:*'], timeout: 5m}}",
		"runtime: {auth: {jwt: {algorithm: RS256, key: {configMapKeyRef: {name: keys, key: rs.pem}}, issuer: https://auth.example.com, audience: chat}}}",
		"service: {type: LoadBalancer, externalTrafficPolicy: Local, nodePort: 30080, loadBalancerClass: x, loadBalancerSourceRanges: [10.0.0.0/8], annotations: {a: b}}",
		"service: {type: NodePort, externalTrafficPolicy: Cluster, sessionAffinity: ClientIP, sessionAffinityTimeoutSeconds: 86400}",
		"service: {sessionAffinity: ClientIP}",
		"ingress: {enabled: true, hosts: [a.example.com, b.example.com], tls: [{secretName: a, hosts: [a.example.com]}, {secretName: b}]}",
		"ingress: {enabled: true, hosts: [a.example.com], gateway: {sessionPersistence: None, parentRefs: [{name: gw}]}}",
		"ingress: {enabled: true, stickiness: cookie, hosts: [a.example.com], gateway: {sessionPersistence: Cookie, parentRefs: [{name: gw}]}}",
		"ingress: {enabled: true, stickiness: none, hosts: [a.example.com], gateway: {parentRefs: [{name: gw}]}}",
		// pod template overrides that keep the operator's contract
		"pod: {env: [{name: SOCKETFLEET_LOG_LEVEL, value: debug}, {name: SOCKETFLEET_REDIS_STREAMS_READ_COUNT, value: '50'}, {name: SOCKETFLEET_ADMIN_PROTECT_READS, value: 'true'}], envFrom: [{configMapRef: {name: s}}]}",
		"pod: {volumes: [{name: certs, secret: {secretName: ca}}], volumeMounts: [{name: certs, mountPath: /etc/ssl/chat}, {name: certs, mountPath: /tmp/ca}]}",
		"pod: {initContainers: [{name: init, image: busybox}], sidecars: [{name: proxy, image: envoy, ports: [{name: envoy-admin, containerPort: 9901}]}], " +
			"containers: [{name: shipper, image: fluent-bit, resources: {requests: {cpu: 10m}}}]}",
		"pod: {serviceAccountName: chat, automountServiceAccountToken: true, serviceAccountAnnotations: {iam.gke.io/gcp-service-account: a@b.iam.gserviceaccount.com}}",
		"pod: {securityContext: {runAsUser: 1000}, containerSecurityContext: {readOnlyRootFilesystem: false}, dnsPolicy: None, " +
			"dnsConfig: {nameservers: [10.0.0.10]}, hostAliases: [{ip: 10.1.2.3, hostnames: [a.internal]}]}",
	}
	for _, spec := range specs {
		if err := createManifest(ns, clusterManifest(spec), client.DryRunAll); err != nil {
			t.Errorf("valid spec refused:\n%s\nerror: %v", spec, err)
		}
	}
}

// TestValidationDefaultsMatchGo creates specs with a dry run and checks that the API server's defaults are those
// SetDefaults applies in Go (the builders' fixtures rely on them), for the parts the default spec leaves out.
func TestValidationDefaultsMatchGo(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct{ name, spec string }{
		{"empty spec: streams adapter, recovery unset", "{}"},
		{"classic adapter alone", "redis: {managed: {}, adapter: classic}"},
		{"recovery block in part", "runtime: {connectionStateRecovery: {skipMiddlewares: false}}"},
		{"streams block left empty", "redis: {managed: {}, adapter: streams, streams: {}}"},
		{"streams block in part", "redis: {external: {addresses: ['r:6379']}, adapter: streams, streams: {maxLen: 7}}"},
		{"sharded adapter", "redis: {external: {mode: sentinel, addresses: ['s:26379'], sentinelMasterName: m}, adapter: sharded}"},
		{"managed redis with replicas, sentinel block left empty", "redis: {managed: {replicas: 3, sentinel: {}}}"},
		{"managed redis with replicas, no sentinel block", "redis: {managed: {replicas: 2}}"},
		{"canary block left empty", "rollout: {canary: {}}"},
		{"canary block in part", "rollout: {canary: {replicas: 20%, analysis: {maxRestarts: 1}}}"},
		{"admin ui without namespace", "adminUI: {enabled: true, username: admin, passwordHashSecretKeyRef: {name: a, key: h}}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			manifest := clusterManifest(tc.spec)
			want := &realtimev1alpha1.RealtimeCluster{}
			if err := yaml.UnmarshalStrict([]byte(manifest), want); err != nil {
				t.Fatalf("decode: %v", err)
			}
			want.SetDefaults()

			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
				t.Fatalf("decode: %v", err)
			}
			u.SetNamespace(ns)
			if err := k8s.Create(context.Background(), u, client.DryRunAll); err != nil {
				t.Fatalf("dry-run create: %v", err)
			}
			got := &realtimev1alpha1.RealtimeCluster{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, got); err != nil {
				t.Fatalf("convert: %v", err)
			}
			if !equality.Semantic.DeepEqual(got.Spec, want.Spec) {
				g, _ := yaml.Marshal(got.Spec)
				w, _ := yaml.Marshal(want.Spec)
				t.Errorf("server defaults differ from SetDefaults:\nserver:\n%s\nGo:\n%s", g, w)
			}
		})
	}
}
