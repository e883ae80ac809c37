#!/usr/bin/env bash
# Fuzzes one of the readers hostile input reaches first (fuzz/fuzz_targets):
#   bash scripts/fuzz.sh body|jwt [seconds]
# Needs the nightly toolchain and cargo-fuzz; installs them when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target="${1:?usage: scripts/fuzz.sh body|jwt [seconds]}"
seconds="${2:-60}"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "+ rustup toolchain install nightly --profile minimal"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "+ cargo install cargo-fuzz --locked"
    cargo install cargo-fuzz --locked
fi
echo "+ cargo +nightly fuzz run $target -- -max_total_time=$seconds"
exec cargo +nightly fuzz run "$target" -- -max_total_time="$seconds"
