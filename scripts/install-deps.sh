#!/usr/bin/env bash
# Debian packages the lab and the tests need: real sshd, keepalived, iptables, systemd-nspawn hosts,
# haproxy for the proxy benchmark, openrc for the OpenRC lab flavor (its hosts run the machine's own
# OpenRC; installing it does not change how the machine boots), and the tools of apply's pre-flight
# checks (tcpdump, arping, ndisc6, ping), which plain lab hosts take from the machine. Root only; safe
# to run again.
set -euo pipefail
pkgs=(openssh-server openssh-client keepalived iptables iproute2 systemd-container debootstrap haproxy openrc openssl sudo procps ca-certificates tcpdump iputils-arping ndisc6 iputils-ping)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "installed: ${missing[*]}"
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
