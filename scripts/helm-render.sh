#!/bin/sh
# Renders a Helm chart as `helm template` does, and lints it, with tools/helm-render (no helm binary
# exists here). Builds the tool on demand from Debian's Go packages, which setup.sh installs:
# golang-go, golang-github-masterminds-sprig-dev, golang-gopkg-yaml.v2-dev, golang-gopkg-yaml.v3-dev,
# golang-github-xeipuuv-gojsonschema-dev (values.schema.json).
#   scripts/helm-render.sh [--name R] [--namespace NS] [-f FILE] [--set a.b=c] [--include-crds] CHART_DIR
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
src=$root/tools/helm-render
cache=$root/node_modules/.cache/ferrolb
bin=$cache/helm-render
if [ ! -x "$bin" ] || [ -n "$(find "$src" -newer "$bin" -type f)" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "helm-render: no go compiler; run ./setup.sh (or apt-get install golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev golang-gopkg-yaml.v3-dev golang-github-xeipuuv-gojsonschema-dev)" >&2
    exit 127
  fi
  # GOPATH mode, because Debian ships Go libraries as a GOPATH tree (/usr/share/gocode) and nothing
  # can be downloaded. The tool must sit inside a GOPATH for its .../v3 imports to resolve, hence the
  # private GOPATH whose only package is a link to the sources.
  gopath=$cache/helm-render-gopath
  mkdir -p "$gopath/src/ferrolb"
  ln -sfn "$src" "$gopath/src/ferrolb/helm-render"
  (cd "$gopath/src/ferrolb/helm-render" &&
    GO111MODULE=off GOFLAGS= GOPATH="$gopath:/usr/share/gocode" GOCACHE="${GOCACHE:-$cache/go-build}" \
      go build -o "$bin.$$" .)
  mv -f "$bin.$$" "$bin" # atomic: concurrent builds each install a whole binary
fi
exec "$bin" "$@"
