#!/usr/bin/env bash
# The benchmark README.md cites: import and report on generated tenants, the PDF render, and a
# live-shaped collection of a generated tenant from a Graph on loopback (collect_bench).
#
#   bench/run.sh                    # 10000 100000 1000000 users
#   bench/run.sh 10000 100000       # only these sizes
#   BENCH_DIR=/big/disk bench/run.sh   # where the work folder is made (default: $TMPDIR or /tmp)
#   BENCH_KEEP=1 bench/run.sh       # keep the generated tenants, stores and packages
#
# A million users need about 3 GB free in the work folder (export, store, package).
# Wall time and peak RSS come from /usr/bin/time -v (GNU time), one process per step.
set -euo pipefail

cd "$(dirname "$0")/.."
sizes=("$@")
if [ ${#sizes[@]} -eq 0 ]; then
    sizes=(10000 100000 1000000)
fi
for n in "${sizes[@]}"; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "bench: $n is not a number of users" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time (GNU time) is needed: apt-get install time" >&2; exit 2; }

base="${BENCH_DIR:-${TMPDIR:-/tmp}}"
mkdir -p "$base"
work="$(mktemp -d "$base/mfa-evidence-bench.XXXXXX")"
cleanup() {
    if [ "${BENCH_KEEP:-0}" != 1 ]; then rm -rf "$work"; else echo "kept $work" >&2; fi
}
trap cleanup EXIT

echo "== building (release): the binary and the bench examples" >&2
cargo build --release --locked --bin mfa-evidence --example gen_tenant --example render_bench --example collect_bench >&2
bin=target/release/mfa-evidence
examples=target/release/examples

# timed LABEL CMD...: runs CMD under GNU time; sets WALL (s), RSS (MB) and CODE (exit code).
timed() {
    local label=$1
    shift
    local out="$work/time-$label.txt"
    set +e
    /usr/bin/time -v -o "$out" "$@" >"$work/out-$label.txt" 2>"$work/err-$label.txt"
    CODE=$?
    set -e
    WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$out")
    RSS=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$out")
}

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
bytes_of() { du -sb "$1" | cut -f1; }

rows=()
notes=()
renders=()
for n in "${sizes[@]}"; do
    dir="$work/tenant-$n"
    store="$work/store-$n"
    out="$work/out-$n"
    rm -rf "$dir" "$store" "$out"
    echo "== $n users: generating the tenant into $dir" >&2
    timed "gen-$n" cargo run --release --locked --quiet --example gen_tenant -- "$n" "$dir"
    [ "$CODE" -eq 0 ] || { cat "$work/err-gen-$n.txt" >&2; exit 2; }
    cat "$work/out-gen-$n.txt" >&2

    # The generated config, with the store in the work folder.
    config="$work/mfa-evidence-$n.toml"
    grep -v '^\[store\]' "$dir/mfa-evidence.toml" | grep -v '^path *=' >"$config"
    printf '\n[store]\npath = "%s"\n' "$store" >>"$config"

    echo "== $n users: import" >&2
    timed "import-$n" "$bin" --config "$config" import --dir "$dir" --collected-at 2026-10-31T06:00:00Z
    [ "$CODE" -eq 0 ] || { cat "$work/err-import-$n.txt" >&2; exit 2; }
    cat "$work/out-import-$n.txt" >&2
    rows+=("| $n | import | $WALL | $RSS | |")

    echo "== $n users: report" >&2
    timed "report-$n" "$bin" --config "$config" report --out "$out"
    # 0 pass, 1 fail or insufficient evidence (a package is still written), 2 error.
    [ "$CODE" -le 1 ] || { cat "$work/err-report-$n.txt" >&2; exit 2; }
    cat "$work/out-report-$n.txt" >&2
    zip=$(ls "$out"/*.zip)
    rows+=("| $n | report | $WALL | $RSS | $(mb "$(stat -c %s "$zip")") |")

    # The PDF alone, from the package's own evidence.json: its time should not grow with the tenant.
    echo "== $n users: render report.pdf from the package, 3 runs" >&2
    timed "render-$n" "$examples/render_bench" "$zip" 3
    [ "$CODE" -eq 0 ] || { cat "$work/err-render-$n.txt" >&2; exit 2; }
    renders+=("$n users: $(cat "$work/out-render-$n.txt"); peak RSS $RSS MB")
    notes+=("$n users: export folder $(mb "$(bytes_of "$dir")") MB, store $(mb "$(bytes_of "$store")") MB, package $(basename "$zip")")

    if [ "${BENCH_KEEP:-0}" != 1 ]; then rm -rf "$dir" "$store" "$out"; fi
done

echo "== render: report.pdf from tests/fixtures/evidence-demo.json, 10 runs" >&2
timed render "$examples/render_bench" tests/fixtures/evidence-demo.json 10
[ "$CODE" -eq 0 ] || { cat "$work/err-render.txt" >&2; exit 2; }
render_line="$(cat "$work/out-render.txt"); peak RSS $RSS MB"

largest=$(printf '%s\n' "${sizes[@]}" | sort -n | tail -1)
echo "== collect: $largest generated users from a Graph on loopback" >&2
timed collect "$examples/collect_bench" "$largest"
[ "$CODE" -eq 0 ] || { cat "$work/err-collect.txt" >&2; exit 2; }
collect_line="$(tail -1 "$work/out-collect.txt"); process wall $WALL s (generating the tenant included), peak RSS $RSS MB"

echo
echo "| users | step | wall s | peak RSS MB | package size MB |"
echo "|---:|---|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
printf -- '- %s\n' "${notes[@]}"
echo "- render_bench: $render_line"
printf -- '- render_bench %s\n' "${renders[@]}"
echo "- collect_bench $largest: $collect_line"
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), $(rustc --version)"
