#!/usr/bin/env bash
# Collect + store of one generated tenant into a local folder and into Azure Blob Storage
# (Azurite, the emulator, on 127.0.0.1), side by side: `collect_bench USERS --store ...` runs the
# whole collect job against a Graph on loopback (the collection, the import and the store's
# append), alternating local and Azurite RUNS times each, and prints each run's time of that job
# (generating the tenant is not counted), the medians and their ratio.
#
#   bench/objstore.sh [USERS] [RUNS]      default: 100000 3
#
# Azurite comes from .ci/azurite (npm ci on first use, Node.js needed).
set -euo pipefail
users=${1:-100000}
runs=${2:-3}
work=${BENCH_DIR:-/tmp/mfa-evidence-bench-objstore}
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet --example collect_bench
azurite=.ci/azurite/node_modules/.bin/azurite-blob
[ -x "$azurite" ] || (cd .ci/azurite && npm ci --no-audit --no-fund --loglevel=error)
rm -rf "$work" && mkdir -p "$work/azurite"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$azurite" --blobHost 127.0.0.1 --blobPort "$port" --location "$work/azurite" --silent \
  --skipApiVersionCheck --loose --disableTelemetry >/dev/null 2>&1 &
azurite_pid=$!
trap 'kill $azurite_pid 2>/dev/null; [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$work"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

# The emulator's well-known account and key (published by Microsoft, not a secret); the
# container is made with a Shared Key signed Create Container, as the tool never creates one.
account=devstoreaccount1
key=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==
date=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')
to_sign="PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:$date\nx-ms-version:2021-08-06\n/$account/$account/bench\nrestype:container"
hexkey=$(printf '%s' "$key" | base64 -d | od -An -tx1 | tr -d ' \n')
signature=$(printf "$to_sign" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hexkey" -binary | base64 -w0)
curl -sf -X PUT -H "x-ms-date: $date" -H "x-ms-version: 2021-08-06" -H "Content-Length: 0" \
  -H "Authorization: SharedKey $account:$signature" \
  "http://127.0.0.1:$port/$account/bench?restype=container" >/dev/null

export AZURE_STORAGE_USE_EMULATOR=true AZURITE_BLOB_STORAGE_URL="http://127.0.0.1:$port"
bench=target/release/examples/collect_bench
local_times=() azure_times=()
seconds() { sed -n 's/.* in \([0-9.]*\) s$/\1/p'; }
for i in $(seq "$runs"); do
  local_times+=("$("$bench" "$users" --store "$work/local-$i" | seconds)")
  azure_times+=("$("$bench" "$users" --store "az://bench/run-$i" | seconds)")
  echo "run $i: local ${local_times[-1]} s, Azurite ${azure_times[-1]} s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
l=$(median "${local_times[@]}")
a=$(median "${azure_times[@]}")
echo
echo "| $users users, collect + store | median of $runs | x local |"
echo "|---|---:|---:|"
echo "| local folder | $l s | 1.0 |"
echo "| Azurite on 127.0.0.1 | $a s | $(awk -v a="$a" -v l="$l" 'BEGIN { printf "%.2f", a / l }') |"
echo "snapshot on disk: $(du -sh "$work/local-1" | cut -f1)"
