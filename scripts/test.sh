#!/usr/bin/env bash
# The whole test suite: what CI runs (.ci/run), and what a developer runs before pushing.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# the differential harness's upstream readers (Go, werkzeug, Express): SPEC §16
./tests/differential/install.sh

echo "== format"
cargo fmt --all -- --check

echo "== architecture: the policy core names no Pingora, Tokio or moka"
if grep -rnE '^[^/]*\b(pingora|tokio|moka)::' src/policy.rs src/policy/; then
  echo "src/policy must stay free of I/O frameworks (see src/policy.rs)" >&2
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
