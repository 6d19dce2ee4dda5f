// Package evpn is l2gwd's BGP EVPN source (RFC 7432, RFC 8365 for VXLAN):
// an embedded GoBGP speaker that advertises what lives at this site and
// learns what lives at the others.
//
// Per network that joins EVPN it advertises an inclusive multicast route
// (type 3: ingress replication toward this gateway's tunnel IP) and a
// MAC/IP route (type 2) for every MAC of the local-MAC watch, with the IPs
// the host itself announced; it imports the other sites' type-3 routes as
// flood targets and their type-2 routes as remote MACs, through the app
// feed of origin EVPN. MAC mobility (RFC 7432 section 15) and duplicate
// detection are decided here, per MAC, for single-homed sites. The standby
// node of a local HA pair holds its routes back (SetAdvertise) and keeps
// importing.
//
// The package owns its BGP speaker and nothing else: it reads the desired
// state it is given (peers and EVPN networks), writes only its feed, and
// never touches the bridge. Package app never imports it.
package evpn
