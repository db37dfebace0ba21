#!/bin/sh
# Builds the packet I/O addon without node-gyp (no header download: N-API needs only node_api.h and
# uv.h, which ship in Node's own include directory). Output: native/build/Release/ferrolb_nfqueue.node,
# the same path node-gyp (binding.gyp) produces. Usage: sh native/build.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
node_bin=$(command -v node)
inc=""
for d in "$(dirname "$(dirname "$node_bin")")/include/node" /usr/include/node /usr/local/include/node; do
  if [ -f "$d/node_api.h" ]; then inc=$d; break; fi
done
if [ -z "$inc" ]; then echo "native/build.sh: node_api.h not found (install Node's headers)" >&2; exit 1; fi
mkdir -p "$here/build/Release"
${CC:-cc} -O2 -Wall -Wextra -Wno-unused-parameter -fPIC -shared -DNODE_GYP_MODULE_NAME=ferrolb_nfqueue \
  -I"$inc" -o "$here/build/Release/ferrolb_nfqueue.node" "$here/nfqueue.c" "$here/packet.c"
echo "native/build.sh: built $here/build/Release/ferrolb_nfqueue.node against $inc"
