// Package controllers holds the RealtimeCluster reconciler: a thin Reconcile that runs ordered steps (ensure
// the managed Redis Secret, observe the fleet, autoscale, plan scale-down, rebalance, apply the children built
// by package specs, remove obsolete children, observe them) and writes the status computed from what the
// children and the runtime pods report.
package controllers
