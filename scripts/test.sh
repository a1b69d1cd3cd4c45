#!/usr/bin/env bash
# The whole test suite: what CI runs (.ci/run), and what a developer runs before pushing.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# the differential harness's upstream readers (Go, werkzeug, Express): SPEC §16
./tests/differential/install.sh
# Real components the tests start and stop themselves, from Debian's packages:
# redis-server (the registry shared by replicas, SPEC §12, §14; private Unix sockets),
# prometheus and promtool (SPEC §15: scraping, rules, the dashboard's queries),
# systemd-analyze (the shipped unit)
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== format"
cargo fmt --all -- --check

echo "== architecture: the policy core owns its inputs and names no I/O framework"
# dependencies run one way, config -> policy; test modules may build inputs from config
core=$(find src/policy.rs src/policy -name '*.rs' ! -name 'tests.rs' ! -path '*/tests/*')
if grep -nE '^[^/]*\b(pingora|tokio|moka)::' $core; then
  echo "src/policy must stay free of I/O frameworks (see src/policy.rs)" >&2
  exit 1
fi
if grep -nE '^[^/]*crate::[a-z_]+' $core | grep -vE 'crate::policy\b'; then
  echo "src/policy must not name crate modules outside policy: config builds the policy's inputs" >&2
  exit 1
fi

echo "== clippy"
cargo clippy --all-targets --locked -- -D warnings

echo "== docs"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet

echo "== shipped configurations"
cargo build --locked --quiet
for config in config/*.toml; do
  case "$config" in *policy-tests.toml) continue ;; esac
  ./target/debug/modegate check --config "$config"
done

echo "== policy tests (modegate test, offline)"
./target/debug/modegate test config/policy-tests.toml

echo "== tests (unit, integration against the real binary, benchmarks once as tests)"
cargo test --all-targets --locked

echo "== node tests (oidc-provider, openid-client, the auth0 SDK against the real binary)"
(cd tests/node && npm ci --no-audit --no-fund --loglevel=error && npm test)
