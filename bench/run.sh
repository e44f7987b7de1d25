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
dotnet build -c Release --nologo -v quiet "$here/ChunkStore.Benchmarks/ChunkStore.Benchmarks.csproj" >&2
dotnet "$here/ChunkStore.Benchmarks/bin/Release/net10.0/ChunkStore.Benchmarks.dll" "$mode" --out "$out" ${args[@]+"${args[@]}"}
echo "report: ${out#"$here/../"}" >&2
