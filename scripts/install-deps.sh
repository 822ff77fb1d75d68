#!/usr/bin/env bash
# Debian packages the lab and the tests need: real sshd, keepalived, iptables, systemd-nspawn hosts,
# haproxy for the proxy benchmark, openrc for the OpenRC lab flavor (its hosts run the machine's own
# OpenRC; installing it does not change how the machine boots), and the tools of apply's pre-flight
# checks (tcpdump, arping, ndisc6, ping), which plain lab hosts take from the machine, and a real server
# and client for the lab to put behind the VIP (etcd-server, etcd-client; kubectl below). Root only;
# safe to run again.
set -euo pipefail
pkgs=(openssh-server openssh-client keepalived iptables iproute2 systemd-container debootstrap haproxy openrc openssl sudo procps ca-certificates tcpdump iputils-arping ndisc6 iputils-ping etcd-server etcd-client python3-minimal)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # No service starts from these installs: etcd-server would start a system etcd on :2379 on this
  # machine, which the lab's etcd members (in their own network namespaces) do not need.
  own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  trap '[ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "installed: ${missing[*]}"
fi
# Whatever installed it, no system etcd: the tests start their own members, inside lab hosts.
if [ -e /lib/systemd/system/etcd.service ]; then
  if [ -d /run/systemd/system ]; then systemctl disable --now etcd.service >/dev/null 2>&1 || true; fi
  if [ -d /etc/systemd/system ]; then ln -sf /dev/null /etc/systemd/system/etcd.service; fi
fi
if command -v ss >/dev/null 2>&1 && ss -Hltn 'sport = :2379' | grep -q .; then
  echo "something listens on :2379 on this machine (a system etcd?): stop it, the lab's etcd tests need the port free in no namespace but their own" >&2
  ss -Hltnp 'sport = :2379' >&2
fi

# promtool (for the alerting rules' tests) from Debian's prometheus package, unpacked only: installing
# the package would start a Prometheus server on this machine.
if ! command -v promtool >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download -qq prometheus 2>/dev/null || { apt-get update -qq && apt-get download -qq prometheus; }; } &&
    dpkg-deb -x prometheus_*.deb x && install -m 0755 x/usr/bin/promtool /usr/local/bin/promtool)
  rm -rf "$tmp"
  echo "installed: promtool ($(promtool --version 2>&1 | head -1))"
fi

# kubectl 1.20 from Debian's kubernetes-client, unpacked only, as /usr/local/bin/kubectl-1.20: another
# package may own /usr/bin/kubectl (a cloud SDK's does), and the tests want this one whatever is first
# on PATH.
if ! [ -x /usr/local/bin/kubectl-1.20 ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download -qq kubernetes-client 2>/dev/null || { apt-get update -qq && apt-get download -qq kubernetes-client; }; } &&
    dpkg-deb -x kubernetes-client_*.deb x && install -m 0755 x/usr/bin/kubectl /usr/local/bin/kubectl-1.20)
  rm -rf "$tmp"
  echo "installed: kubectl-1.20 ($(/usr/local/bin/kubectl-1.20 version --client --short 2>&1 | head -1))"
fi
