#!/usr/bin/env bash
# One-shot set-up for a fresh Debian 12 machine (run as root): system packages for the data plane and
# the real test peers, then the npm dependencies and the build. Safe to run again; does little then.
set -euo pipefail
cd "$(dirname "$0")"

PKGS=(
  build-essential                                # cc for the small NFQUEUE addon (native/)
  iproute2 nftables iptables conntrack procps   # data plane (sysctl: forwarding checks), namespaces
  libusrsctp-examples                            # real SCTP peers (usrsctp echo_server/client/tsctp)
  bird2 gobgpd frr                               # real BGP peers (FRR: bgpd/bfdd run by hand)
  keepalived conntrackd                          # VRRP / conntrack sync: the HA and L2 baselines
  tcpdump tshark                                 # captures
  arping ndisc6 iputils-ping                     # L2 probes
  zsh                                            # ferroctl completion zsh is sourced in tests
  iperf3 socat haproxy wrk curl                  # traffic, a userspace LB to compare with; curl: scale bench
  python3-scapy                                  # odd packets
  prometheus                                     # promtool: the metrics exposition is checked in tests
  chromium                                       # the status page is tested in a real headless browser
  mmdebstrap umoci                               # scripts/build-image.sh: the OCI image from Debian packages
  golang-go golang-github-masterminds-sprig-dev  # tools/helm-render: Helm's engine (Go text/template
  golang-gopkg-yaml.v2-dev golang-gopkg-yaml.v3-dev  # + sprig) renders and checks the chart in tests
  golang-github-xeipuuv-gojsonschema-dev         # helm-render: values.schema.json, as Helm checks it
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages ${missing[*]} — run as root (or install them) first" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer before it asks.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm ci also builds (the "prepare" script). Skip it when the lock file has not changed since.
stamp=node_modules/.ferrolb-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
else
  npm run build --silent
fi
