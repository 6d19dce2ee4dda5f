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
// origin vtep. It writes only its own Physical_Switch row (created when
// missing, tunnel_ips and switch_fault_status), that switch's Physical_Port
// rows (one per port SetPorts names, and their port_fault_status), the
// l2gw-fault key of Logical_Switch other_config, and the Ucast_Macs_Local
// and Mcast_Macs_Local rows whose locator is its own tunnel IP (from the
// local-MAC watch). It never touches the remote side of the database
// (Logical_Switch, vlan_bindings, Ucast/Mcast_Macs_Remote belong to the
// controller) nor anything in conf.db.
package vtep
