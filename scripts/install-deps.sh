#!/usr/bin/env bash
# Installs what l2gw's tests and demo need on a Debian machine (as root):
# Open vSwitch (userspace datapath is enough), iproute2, ping, arping, ndisc6,
# tcpdump, curl, python3, scapy, FRR (the EVPN lab's independent peer), OVN
# (ovn-central, ovn-host, ovn-controller-vtep) and openvswitch-vtep (the
# hardware_vtep labs); tests run their own daemons, never the system services.
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
# Packages whose postinst would start a service: FRR (the EVPN lab's
# independent peer), OVN's central, host and VTEP controller, and
# openvswitch-vtep (vtep-ctl, vtep.ovsschema and ovs-vtep). Tests run their own
# daemons (zebra and bgpd, ovsdb-server, ovn-northd, ovn-controller,
# ovn-controller-vtep), never the system services.
quiet=()
[ -x /usr/lib/frr/bgpd ] && [ -x /usr/lib/frr/zebra ] && command -v vtysh >/dev/null || quiet+=(frr)
command -v ovn-northd >/dev/null && command -v ovn-nbctl >/dev/null || quiet+=(ovn-central)
command -v ovn-controller >/dev/null || quiet+=(ovn-host)
command -v ovn-controller-vtep >/dev/null || quiet+=(ovn-controller-vtep)
command -v vtep-ctl >/dev/null && [ -e /usr/share/openvswitch/vtep.ovsschema ] || quiet+=(openvswitch-vtep)
if [ ${#need[@]} -eq 0 ] && [ ${#quiet[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: need root to install: ${need[*]} ${quiet[*]}" >&2
  exit 1
fi
apt-get update -qq
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The Debian package starts a system OVS; l2gw's tests and demo run their own.
fi
if [ ${#quiet[@]} -gt 0 ]; then
  # Their postinsts enable the services at boot and start them (invoke-rc.d
  # or deb-systemd-invoke, with or without systemd): frr's watchfrr, zebra and
  # staticd whatever /etc/frr/daemons says, OVN's northbound and southbound
  # ovsdb-servers, ovn-northd, ovn-controller and ovn-controller-vtep, all in
  # the host's namespace on /var/run/ovn.
  # Nothing of it may run here, so both are told no (exit 101, the
  # policy-rc.d protocol) for the install, and the services are disabled.
  echo "install-deps: installing ${quiet[*]} (their services stay off)"
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$guard"
    chmod 755 "$guard"
    trap 'rm -f "$guard"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${quiet[@]}" >/dev/null
  if [ -n "$guard" ]; then
    rm -f "$guard"
  fi
  # Disable the services of what was just installed (only those).
  for pkg in "${quiet[@]}"; do
    case $pkg in
    frr) sysv=frr units="frr" ;;
    ovn-central) sysv="" units="ovn-central ovn-northd ovn-ovsdb-server-nb ovn-ovsdb-server-sb" ;;
    ovn-host) sysv="" units="ovn-host ovn-controller" ;;
    ovn-controller-vtep) sysv="" units="ovn-controller-vtep" ;;
    openvswitch-vtep) sysv=openvswitch-vtep units="openvswitch-vtep" ;;
    esac
    if [ -n "$sysv" ]; then
      update-rc.d "$sysv" disable >/dev/null 2>&1 || true
    fi
    if [ -d /run/systemd/system ]; then
      for unit in $units; do
        systemctl disable --now "$unit.service" >/dev/null 2>&1 || true
      done
    fi
  done
fi
