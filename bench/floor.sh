#!/usr/bin/env bash
# One snapshot against its floor, side by side in one run: the floor program (examples/floor.rs:
# read, SHA-256 and parse every raw page of the export once, one thread), then `import` and
# `report --as-of` of the same export into a fresh store. Prints each step's wall time and peak
# resident memory (GNU time) and the ratio of import + report to the floor. Then the bound
# (`floor --bound`): the per-byte work no import and report of this design can skip (zstd of the
# pages at the store's level, their parse twice, deflate at the package's level), on every core,
# and the same with the cheapest levels (zstd 1, deflate 1), each against the same floor.
#
#   bench/floor.sh [USERS]            default: 1000000 (about 3 GB under BENCH_DIR)
set -euo pipefail
users=${1:-1000000}
work=${BENCH_DIR:-/tmp/mfa-evidence-bench-floor}
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet --bin mfa-evidence --example gen_tenant --example floor
bin=target/release/mfa-evidence
. bench/timed.sh
rm -rf "$work" && mkdir -p "$work"
target/release/examples/gen_tenant "$users" "$work/tenant" >/dev/null
mv "$work/tenant/mfa-evidence.toml" "$work/tenant.toml"
# The export written out to disk before anything is timed: its write-back would otherwise run
# under whichever step comes first.
sync
{ cat "$work/tenant.toml"; printf '\n[store]\npath = "%s"\n' "$work/store"; } > "$work/config.toml"

declare -A wall rss
step() {
  timed "$@"
  wall[$1]=$WALL
  rss[$1]=$RSS
}
at=2026-10-31T06:00:00Z
step floor target/release/examples/floor "$work/tenant"
step import "$bin" --config "$work/config.toml" import --no-notify --dir "$work/tenant" --collected-at "$at"
step report "$bin" --config "$work/config.toml" report --as-of "$at" --out "$work/out"
step bound target/release/examples/floor --bound "$work/tenant"
step cheapest target/release/examples/floor --bound --zstd 1 --deflate 1 "$work/tenant"

echo
echo "| $users users | wall | peak RSS | x floor |"
echo "|---|---:|---:|---:|"
for step in floor import report; do
  echo "| $step | ${wall[$step]} s | ${rss[$step]} MiB | $(awk -v a="${wall[$step]}" -v f="${wall[floor]}" 'BEGIN { printf "%.1f", a / f }') |"
done
echo "| import + report | $(awk -v a="${wall[import]}" -v b="${wall[report]}" 'BEGIN { printf "%.2f", a + b }') s | | $(awk -v a="${wall[import]}" -v b="${wall[report]}" -v f="${wall[floor]}" 'BEGIN { printf "%.1f", (a + b) / f }') |"
for step in bound cheapest; do
  echo "| $step: $(cat "$work/out-$step.txt") | ${wall[$step]} s | ${rss[$step]} MiB | $(awk -v a="${wall[$step]}" -v f="${wall[floor]}" 'BEGIN { printf "%.1f", a / f }') |"
done
echo "store: $(du -sh "$work/store" | cut -f1), package: $(du -h "$work"/out/*.zip | cut -f1)"
[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$work"
