// Package vtep is the hardware_vtep origin: it makes l2gwd one physical
// switch of a hardware_vtep database (vtep(5), served by an ovsdb-server),
// the way Open vSwitch's ovs-vtep emulator is one, so that what drives
// hardware VTEPs (vtep-ctl, OVN's ovn-controller-vtep, OpenStack's L2
// gateway agent) drives l2gwd.
//
// It reads, through one libovsdb client with a monitor on the database
// (event driven, no polling; it reconnects and reads everything again when
// the connection is lost), the logical switches bound to its ports and
// their remote MACs and unknown-dst locators, and tells an *app.Feed of
// origin vtep: each logical switch is a network (its bindings the
// attachments, VLAN 0 untagged), each Ucast_Macs_Remote a remote MAC
// (ipaddr its IP, answered in OVS), each unknown-dst locator a flood
// target (one with replication_mode service_node, vtep(5)'s default; all
// with source_node), the VNI the logical switch's tunnel_key.
//
// It writes only its own Physical_Switch row (created when missing, with
// the Global row when there is none; tunnel_ips and switch_fault_status),
// that switch's Physical_Port rows (one per port SetPorts names, and their
// port_fault_status), its own l2gw-fault-SWITCH key of Logical_Switch other_config
// (why the logical switch is not a network in force), its own
// Physical_Locator and Physical_Locator_Set, and the Ucast_Macs_Local and
// Mcast_Macs_Local rows whose locator is its own tunnel IP (from the
// local-MAC watch). It never writes the controller's side of the database
// (Logical_Switch columns other than that key, vlan_bindings,
// Ucast/Mcast_Macs_Remote) nor anything of conf.db.
package vtep
