// Not built in module mode (nothing can be downloaded here): scripts/helm-render.sh builds in GOPATH
// mode against Debian's Go sources. This file is what lets GOPATH mode resolve the sprig/v3 and
// semver/v3 imports to Debian's directories (Go's "minimal module compatibility").
module ferrolb.io/helm-render

go 1.19
