// Package flows owns l2gwd's OpenFlow data path: the pipeline (pipeline.go,
// read it top to bottom to know every table) and the check of every built
// flow against it (contract.go), the registers it uses (fields.go), the
// cookie scheme that ties every flow to its owner and lets installed flows
// be compared with desired ones by cookie alone (cookie.go), the pure
// compiler from desired state to flows (compile.go), the OpenFlow session
// with the bridge (session.go): bundles that apply flow_mods atomically
// (bundle.go) and flow dumps (dump.go), the groups it owns, declared and
// diffed like flows and kept untouched across reconnections (group.go,
// groupsync.go; conn.go keeps ofctrl from deleting them), and the watch
// of the MACs the bridge learns on its local ports, fed by OVS's flow
// monitor (macwatch.go, mactable.go, monitor.go), with the addresses their
// hosts announce, snooped through a metered copy to the controller
// (snoop.go, announce.go, hostips.go).
//
// It knows nothing of HTTP, the store or OVSDB: its input is Input, a plain
// description of networks, connections, bindings and port numbers.
package flows
