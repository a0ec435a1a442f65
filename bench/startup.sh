#!/usr/bin/env bash
# Wall time of `megacity runbook list` and of one dynamic completion request, on the embedded
# defaults, from an empty directory. A benchmark, not a test: it reports, it does not fail.
#   usage: bench/startup.sh            (needs hyperfine: apt-get install -y hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "hyperfine is missing: apt-get install -y hyperfine" >&2; exit 1; }
cargo build --release --quiet
bin="$PWD/target/release/megacity"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
export HOME="$scratch" XDG_CONFIG_HOME="$scratch/config"
unset MEGACITY_RUNBOOKS MEGACITY_INVENTORY
hyperfine --warmup 20 --runs 200 -N --export-markdown "$scratch/startup.md" \
  -n 'runbook list' "$bin runbook list" \
  -n 'complete runbook id (red)' "env COMPLETE=fish $bin -- megacity runbook show red" \
  -n 'complete step ids' "env COMPLETE=fish $bin -- megacity runbook show redis-outage --step ''" \
  -n 'runbook validate (all)' "$bin runbook validate" >&2
cat "$scratch/startup.md"
echo
echo "machine: $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%d)"
