// Package ovsdb is l2gwd's side of the site's Open_vSwitch database: it makes
// sure the bridge exists and points at l2gwd's OpenFlow listener, keeps one
// flow-based tunnel port per network type in use and one BFD port per remote
// endpoint asked for, and reports the ofport numbers of the bridge's
// interfaces and the state of its BFD sessions from a monitored cache.
//
// It writes only a bridge's protocols, fail_mode and controller columns, the
// names of its flow tables (BridgeConfig.TableNames: the name column of their
// Flow_Table rows, inserting a row where a table has none), OVS's SSL settings
// when asked to (BridgeConfig.SSL), and rows it created itself (tagged
// external_ids:l2gw-owner=l2gwd), and it deletes only tunnel ports
// (flow-based and BFD) it owns. It never touches flows (package flows owns
// them) nor any other bridge or port.
//
// The typed models in ./vswitch are generated from vswitch.ovsschema (Open
// vSwitch 3.1) by libovsdb's modelgen, and those in ./hwvtep (the
// hardware_vtep database, which package vtep reads and writes) from
// vtep.ovsschema 1.7.0 (Debian's openvswitch-vtep).
package ovsdb

//go:generate go tool modelgen -p vswitch -o vswitch vswitch.ovsschema
//go:generate go tool modelgen -p hwvtep -o hwvtep vtep.ovsschema
