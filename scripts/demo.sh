#!/usr/bin/env bash
# A two-site l2gw lab on this machine: each site is a network namespace with
# its own Open vSwitch (userspace datapath) and its own l2gwd; the sites'
# gateways meet on a WAN veth (198.51.100.0/24); one host per site
# (192.0.2.0/24) on the stretched network "plane", configured through the
# API with l2gwctl.
#
#   scripts/demo.sh up     build the lab, configure it, ping across sites
#   scripts/demo.sh down   remove everything it made
set -euo pipefail

PREFIX=l2gwdemo-
RUN=/run/l2gw-demo
BIN=$(cd "$(dirname "$0")/.." && pwd)/bin
SCHEMA=/usr/share/openvswitch/vswitch.ovsschema

site_ns() { echo "${PREFIX}$1"; }
host_ns() { echo "${PREFIX}$1-h"; }

# in_site SITE CMD... runs CMD in the site's namespace with its OVS.
in_site() {
  local s=$1; shift
  ip netns exec "$(site_ns "$s")" env OVS_RUNDIR="$RUN/$s" OVS_DBDIR="$RUN/$s" OVS_LOGDIR="$RUN/$s" "$@"
}
vsctl() { local s=$1; shift; in_site "$s" ovs-vsctl --db="unix:$RUN/$s/db.sock" --timeout=10 "$@"; }
ctl() { local s=$1; shift; in_site "$s" "$BIN/l2gwctl" "$@"; }

down() {
  for pidfile in "$RUN"/*/l2gwd.pid "$RUN"/*/ovs-vswitchd.pid "$RUN"/*/ovsdb-server.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 0.5
  for ns in $(ip netns list | awk '{print $1}' | grep "^${PREFIX}" || true); do
    ip netns pids "$ns" | xargs -r kill -9 2>/dev/null || true
    ip netns delete "$ns"
  done
  rm -rf "$RUN"
}

# site NAME TUNNEL_IP: namespace, OVS, br-phy with the underlay address, l2gwd.
site() {
  local s=$1 ip=$2 d=$RUN/$1
  mkdir -p "$d"
  ip netns add "$(site_ns "$s")"
  in_site "$s" ip link set lo up
  in_site "$s" ovsdb-tool create "$d/conf.db" "$SCHEMA"
  in_site "$s" ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" --pidfile="$d/ovsdb-server.pid" \
    --unixctl="$d/ovsdb-server.ctl" --log-file="$d/ovsdb-server.log" -vconsole:off --detach
  vsctl "$s" --no-wait init
  in_site "$s" ovs-vswitchd "unix:$d/db.sock" --pidfile="$d/ovs-vswitchd.pid" \
    --unixctl="$d/ovs-vswitchd.ctl" --log-file="$d/ovs-vswitchd.log" -vconsole:off --detach
  vsctl "$s" add-br br-phy -- set bridge br-phy datapath_type=netdev
  in_site "$s" ip addr add "$ip/24" dev br-phy
  in_site "$s" ip link set br-phy up
  in_site "$s" "$BIN/l2gwd" --bridge br-int --ovsdb "unix:$d/db.sock" --tunnel-ip "$ip" \
    --datapath-type netdev --data-dir "$d/data" >"$d/l2gwd.log" 2>&1 &
  echo $! >"$d/l2gwd.pid"
}

# host SITE MAC IP IP6: a host namespace on a veth whose other end is port h1 on br-int.
host() {
  local s=$1 mac=$2 ip=$3 ip6=$4 hns
  hns=$(host_ns "$s")
  ip netns add "$hns"
  ip -n "$hns" link set lo up
  in_site "$s" ip link add h1 type veth peer name eth0 netns "$hns"
  ip -n "$hns" link set eth0 address "$mac"
  ip -n "$hns" addr add "$ip/24" dev eth0
  ip -n "$hns" addr add "$ip6/64" dev eth0 nodad
  ip -n "$hns" link set eth0 up
  in_site "$s" ip link set h1 up
  for _ in $(seq 50); do vsctl "$s" br-exists br-int && break; sleep 0.2; done
  vsctl "$s" add-port br-int h1
}

wait_api() {
  for _ in $(seq 50); do ctl "$1" status >/dev/null 2>&1 && return; sleep 0.2; done
  echo "l2gwd of site $1 did not come up; see $RUN/$1/l2gwd.log" >&2
  exit 1
}

up() {
  [ "$(id -u)" = 0 ] || { echo "demo: run as root (network namespaces, Open vSwitch)" >&2; exit 1; }
  [ -x "$BIN/l2gwd" ] && [ -x "$BIN/l2gwctl" ] || { echo "demo: run 'make build' first" >&2; exit 1; }
  down
  site a 198.51.100.1
  site b 198.51.100.2
  ip link add wan-a type veth peer name wan-b
  ip link set wan-a netns "$(site_ns a)"
  ip link set wan-b netns "$(site_ns b)"
  for s in a b; do
    in_site "$s" ip link set "wan-$s" up
    vsctl "$s" add-port br-phy "wan-$s"
  done
  wait_api a
  wait_api b
  host a 02:0a:00:00:00:01 192.0.2.11 2001:db8::11
  host b 02:0b:00:00:00:01 192.0.2.12 2001:db8::12

  echo "== configuring both sites through the API (l2gwctl)"
  ctl a network create plane --attach h1
  ctl a gateway create site-b --tunnel-ip 198.51.100.2
  ctl a connection create plane-b --network plane --gateway site-b --segmentation-id 5001
  ctl a mac add plane-b 02:0b:00:00:00:01=192.0.2.12,2001:db8::12 02:0b:00:00:00:99=192.0.2.99,2001:db8::99
  ctl b network create plane --attach h1
  ctl b gateway create site-a --tunnel-ip 198.51.100.1
  ctl b connection create plane-a --network plane --gateway site-a --segmentation-id 5001
  ctl b mac add plane-a 02:0a:00:00:00:01=192.0.2.11,2001:db8::11
  for _ in $(seq 50); do ctl a status | grep -q 'reconciled.*true' && ctl b status | grep -q 'reconciled.*true' && break; sleep 0.2; done

  echo "== ping from site A's host (192.0.2.11) to site B's host (192.0.2.12) over VXLAN"
  ip netns exec "$(host_ns a)" ping -c 3 -i 0.2 192.0.2.12
  echo
  echo "== ARP for 192.0.2.99 (bound at site A, no host anywhere) is answered inside OVS"
  ip netns exec "$(host_ns a)" arping -c 1 -w 2 192.0.2.99 || true
  echo
  echo "== the same over IPv6: ping -6, and a neighbour solicitation for 2001:db8::99 answered inside OVS"
  ip netns exec "$(host_ns a)" ping -6 -c 3 -i 0.2 2001:db8::12
  ip netns exec "$(host_ns a)" ndisc6 -1 -r 2 2001:db8::99 eth0 || true
  cat <<TRY

The lab is up. Try:
  ip netns exec $(site_ns a) $BIN/l2gwctl network list
  ip netns exec $(site_ns a) $BIN/l2gwctl connection list
  ip netns exec $(site_ns a) $BIN/l2gwctl mac list plane-b
  ip netns exec $(site_ns a) $BIN/l2gwctl status
  ip netns exec $(site_ns a) $BIN/l2gwctl flows --diff
  ip netns exec $(site_ns a) curl -s 127.0.0.1:8080/metrics | grep ^l2gw_
  ip netns exec $(site_ns a) env OVS_RUNDIR=$RUN/a ovs-ofctl -O OpenFlow13 dump-flows br-int --names
  ip netns exec $(host_ns a) ping 192.0.2.12
  ip netns exec $(host_ns a) ping -6 2001:db8::12
Logs: $RUN/a/l2gwd.log, $RUN/b/l2gwd.log.   Remove it all: make demo-down
TRY
}

case "${1:-}" in
up) up ;;
down) down ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
