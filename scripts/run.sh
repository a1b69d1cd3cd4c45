#!/usr/bin/env bash
# Builds modegate and starts the demo: the gateway on 127.0.0.1:8080 in front of the built-in
# reference authorization server, printing what to try. Ctrl-C stops it.
# With arguments, runs modegate with them instead, e.g. `./scripts/run.sh run --config config/modegate.toml`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --quiet
if [ $# -eq 0 ]; then
  exec ./target/release/modegate demo
fi
exec ./target/release/modegate "$@"
