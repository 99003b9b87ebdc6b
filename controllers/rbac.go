package controllers

// The operator's permissions, generated into config/rbac/role.yaml by controller-gen. Least privilege: the
// verbs below are exactly the ones the reconciler and its watches use.
//
// +kubebuilder:rbac:groups=realtime.socketfleet.io,resources=realtimeclusters,verbs=get;list;watch
// +kubebuilder:rbac:groups=realtime.socketfleet.io,resources=realtimeclusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=realtime.socketfleet.io,resources=realtimeclusters/finalizers,verbs=update
// +kubebuilder:rbac:groups=realtime.socketfleet.io,resources=realtimeclusters/scale,verbs=get;update
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps;serviceaccounts,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses;networkpolicies,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
//
// Every rule above is namespaced, so the same rules serve as a Role per watched namespace (the chart's
// rbac.namespaced, config/namespaced). The secure metrics endpoint (--metrics-secure) also creates
// TokenReviews and SubjectAccessReviews, which are cluster-scoped: config/rbac/metrics_auth_role.yaml.
