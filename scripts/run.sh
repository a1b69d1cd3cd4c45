#!/usr/bin/env bash
# Builds modegate and serves with config/modegate.toml (or the file given as $1).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --quiet
exec ./target/release/modegate run --config "${1:-config/modegate.toml}"
