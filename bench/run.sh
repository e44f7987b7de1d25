#!/usr/bin/env bash
# Builds the benchmark in Release and runs it.
# Usage: bench/run.sh [quick|full] [--s3] [--dir DIR] [--only TEXT]
# Writes bench/results/<yyyy-MM-dd-HHmm>-<mode>/report.md and report.json and prints the Markdown report.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mode="quick"
args=()
for a in "$@"; do
  case "$a" in
    quick|full) mode="$a" ;;
    *) args+=("$a") ;;
  esac
done
out="$here/results/$(date +%Y-%m-%d-%H%M)-$mode"
# --s3 without an endpoint in the environment: start a throw-away RGW (scripts/s3-local.sh) for this run.
if [[ " ${args[*]-} " == *" --s3 "* && -z "${CHUNKSTORE_S3_ENDPOINT:-}" ]]; then
  s3_dir="$(mktemp -d "${TMPDIR:-/tmp}/chunkstore-bench-rgw-XXXXXX")"
  trap '"$here/../scripts/s3-local.sh" stop --dir "$s3_dir" >/dev/null 2>&1 || true; rm -rf "$s3_dir"' EXIT
  # shellcheck disable=SC1090
  source "$("$here/../scripts/s3-local.sh" start --dir "$s3_dir" | tail -n 1)"
fi
dotnet build -c Release --nologo -v quiet "$here/ChunkStore.Benchmarks/ChunkStore.Benchmarks.csproj" >&2
dotnet "$here/ChunkStore.Benchmarks/bin/Release/net10.0/ChunkStore.Benchmarks.dll" "$mode" --out "$out" ${args[@]+"${args[@]}"}
echo "report: ${out#"$here/../"}" >&2
