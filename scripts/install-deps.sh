#!/usr/bin/env bash
# Installs what l2gw's tests and demo need on a Debian machine (as root):
# Open vSwitch (userspace datapath is enough), iproute2, ping, arping, ndisc6,
# tcpdump, curl, python3, scapy.
# Does nothing when everything is already there.
set -euo pipefail
need=()
command -v ovs-vswitchd >/dev/null || need+=(openvswitch-switch)
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v arping >/dev/null || need+=(arping)
command -v ndisc6 >/dev/null || need+=(ndisc6) # IPv6 neighbour solicitations
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3) # the lab's self-test serves HTTP with it
# The lab crafts a remote site's frames with scapy, run by Debian's own python3.
/usr/bin/python3 -c 'import scapy' 2>/dev/null || need+=(python3-scapy)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: need root to install: ${need[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian package starts a system OVS; l2gw's tests and demo run their own.
