#!/usr/bin/env bash
# Builds the ferrolb OCI image from Debian packages alone — no registry, no Docker engine: a
# bookworm rootfs from mmdebstrap (the data plane's tools), this machine's Node 20, the built app with
# its production node_modules and the native NFQUEUE addon, assembled into an OCI layout by umoci.
#
#   sudo scripts/build-image.sh [OUT_DIR]     (default build/image; needs root, mmdebstrap, umoci)
#
# Output: OUT_DIR/oci (an OCI image layout, tag = the package version) and OUT_DIR/ferrolb-VERSION.oci.tar
# (the same as an archive). Push or load it with skopeo/podman, e.g.
#   skopeo copy oci:build/image/oci:0.1.0 docker://ghcr.io/ferrolb/ferrolb:0.1.0
#   podman load -i build/image/ferrolb-0.1.0.oci.tar
# The Debian part is cached in OUT_DIR/rootfs-base.tar keyed by its package list.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build/image}
VERSION=$(node -p 'require("./package.json").version')
SUITE=bookworm
MIRROR=${FERROLB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The agent drives the kernel with these (nft, iptables for the NFQUEUE rule, ip, conntrack); socat carries the SCTP health check;
# libstdc++6 is Node's only library beyond libc; tini reaps the probe and nft children as PID 1.
PKGS=nftables,iptables,iproute2,conntrack,procps,socat,ca-certificates,libstdc++6,tini

for tool in mmdebstrap umoci node npm; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool is missing (setup.sh installs it)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "build-image: run as root (mmdebstrap, device nodes)" >&2; exit 1; }
[ -f dist/src/main/ferrolb.js ] && [ -f native/build/Release/ferrolb_nfqueue.node ] ||
  { echo "build-image: build first (npm run build)" >&2; exit 1; }

mkdir -p "$OUT"
work=$(mktemp -d "${TMPDIR:-/tmp}/ferrolb-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. Debian rootfs (cached by package list and suite).
key="$SUITE $PKGS"
if [ ! -f "$OUT/rootfs-base.tar" ] || [ "$(cat "$OUT/rootfs-base.key" 2>/dev/null)" != "$key" ]; then
  echo "build-image: mmdebstrap $SUITE ($PKGS)"
  # Release files of a mirror snapshot may be past their Valid-Until: accept them as the host's apt does.
  mmdebstrap --quiet --format=tar --variant=minbase --include="$PKGS" \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    "$SUITE" "$OUT/rootfs-base.tar.part" "$MIRROR"
  mv "$OUT/rootfs-base.tar.part" "$OUT/rootfs-base.tar"
  echo "$key" >"$OUT/rootfs-base.key"
fi

# 2. The app: compiled code, the addon, production dependencies only (from the npm cache when it can).
app="$work/app"
mkdir -p "$app/native/build/Release"
cp package.json package-lock.json "$app/"
cp -r bin "$app/bin"
mkdir -p "$app/dist" && cp -r dist/src "$app/dist/src"
cp native/build/Release/ferrolb_nfqueue.node "$app/native/build/Release/"
(cd "$app" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error)

# 3. Assemble: base rootfs + node + app, one layer, as an OCI image.
layout="$OUT/oci"
rm -rf "$layout"
umoci init --layout "$layout"
umoci new --image "$layout:$VERSION"
umoci unpack --image "$layout:$VERSION" "$work/bundle" >/dev/null
rootfs="$work/bundle/rootfs"
tar -C "$rootfs" -xf "$OUT/rootfs-base.tar"
install -m 0755 "$(command -v node)" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/app" "$rootfs/var/lib/ferrolb" "$rootfs/run/ferrolb"
cp -r "$app/." "$rootfs/app/"
rm -rf "$rootfs/var/cache/apt/"* "$rootfs/var/lib/apt/lists/"*
umoci repack --image "$layout:$VERSION" "$work/bundle"
umoci config --image "$layout:$VERSION" \
  --config.entrypoint /usr/bin/tini --config.entrypoint -- \
  --config.entrypoint /usr/local/bin/node --config.entrypoint /app/bin/ferrolb.js \
  --config.workingdir /app --config.user 0:0 \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.env NODE_ENV=production \
  --config.label org.opencontainers.image.title=ferrolb \
  --config.label "org.opencontainers.image.version=$VERSION" \
  --config.label org.opencontainers.image.source=https://github.com/ferrolb/ferrolb
umoci gc --layout "$layout"
tar -C "$layout" -cf "$OUT/ferrolb-$VERSION.oci.tar" .
echo "build-image: $layout:$VERSION ($(du -sh "$OUT/ferrolb-$VERSION.oci.tar" | cut -f1)) and $OUT/ferrolb-$VERSION.oci.tar"
