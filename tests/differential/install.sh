#!/usr/bin/env bash
# Installs what the differential harness's readers need, when missing: Go (Debian's
# golang-go), werkzeug, the Node packages (npm ci on the committed lockfile); then builds
# the Go reader. Idempotent; the README's test command runs it.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
missing=()
command -v go >/dev/null 2>&1 || missing+=(golang-go)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  echo "differential: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! python3 -c 'import werkzeug' 2>/dev/null; then
  echo "differential: installing werkzeug"
  python3 -m pip install --quiet werkzeug 2>/dev/null \
    || { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-werkzeug >/dev/null; }
fi
(cd node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
(cd go_binder && GOFLAGS=-mod=mod go build -o bin/reader .)
