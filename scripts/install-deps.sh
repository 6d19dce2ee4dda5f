#!/usr/bin/env bash
# Installs what l2gw's tests and demo need on a Debian machine (as root):
# Open vSwitch (userspace datapath is enough) and its vtep-ctl, iproute2, ping, arping, ndisc6,
# tcpdump, curl, python3, scapy, and FRR (the EVPN lab's independent peer;
# tests run their own zebra and bgpd, never the system service).
# Does nothing when everything is already there.
set -euo pipefail
need=()
command -v ovs-vswitchd >/dev/null || need+=(openvswitch-switch)
# vtep-ctl and vtep.ovsschema (the hardware_vtep tests); its ovs-vtep stays
# off (ENABLE_OVS_VTEP=false in /etc/default/openvswitch-vtep).
command -v vtep-ctl >/dev/null || need+=(openvswitch-vtep)
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v arping >/dev/null || need+=(arping)
command -v ndisc6 >/dev/null || need+=(ndisc6) # IPv6 neighbour solicitations
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3) # the lab's self-test serves HTTP with it
# The lab crafts a remote site's frames with scapy, run by Debian's own python3.
/usr/bin/python3 -c 'import scapy' 2>/dev/null || need+=(python3-scapy)
need_frr=0
[ -x /usr/lib/frr/bgpd ] && [ -x /usr/lib/frr/zebra ] && command -v vtysh >/dev/null || need_frr=1
if [ ${#need[@]} -eq 0 ] && [ $need_frr = 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  [ $need_frr = 1 ] && need+=(frr)
  echo "install-deps: need root to install: ${need[*]}" >&2
  exit 1
fi
apt-get update -qq
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The Debian package starts a system OVS; l2gw's tests and demo run their own.
fi
if [ $need_frr = 1 ]; then
  # frr's postinst enables the service at boot and starts it (invoke-rc.d,
  # with or without systemd): watchfrr, zebra and staticd in the host's
  # namespace, whatever /etc/frr/daemons says.
  # Nothing of it may run here, so invoke-rc.d is told no (exit 101, the
  # policy-rc.d protocol) for the install, and the service is disabled.
  echo "install-deps: installing frr (its service stays off)"
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$guard"
    chmod 755 "$guard"
    trap 'rm -f "$guard"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends frr >/dev/null
  if [ -n "$guard" ]; then
    rm -f "$guard"
  fi
  update-rc.d frr disable >/dev/null 2>&1 || true
  if [ -d /run/systemd/system ]; then
    systemctl disable --now frr.service >/dev/null 2>&1 || true
  fi
fi
