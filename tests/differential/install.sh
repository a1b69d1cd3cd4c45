#!/usr/bin/env bash
# Installs what the differential harness's readers need, when missing: Go (Debian's
# golang-go), werkzeug, the Node packages (npm ci on the committed lockfile); then builds
# the Go reader (stdlib only, offline) into go_binder/bin/reader. Idempotent and quiet;
# scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
apt_install() {
  echo "differential: installing $*" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
missing=()
command -v go >/dev/null 2>&1 || missing+=(golang-go)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
if ! python3 -c 'import werkzeug' >/dev/null 2>&1; then
  echo "differential: installing werkzeug" >&2
  python3 -m pip install --quiet werkzeug >/dev/null 2>&1 || apt_install python3-werkzeug
fi
# npm ci only when node_modules is missing or older than the lockfile
if [ ! -f node/node_modules/.package-lock.json ] || [ node/package-lock.json -nt node/node_modules/.package-lock.json ]; then
  (cd node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
  export GOCACHE="$PWD/go_binder/.cache"
fi
(cd go_binder && GOPROXY=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -o bin/reader .)
