#!/usr/bin/env bash
# Builds the torture harness (Release) and runs it; exits non-zero on any invariant violation.
# Usage: tests/ChunkStore.Torture/run.sh [--seconds N] [--seed S] [--disable dedup-touch|writer-registry] [...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dotnet build "$here/ChunkStore.Torture.csproj" -c Release -nologo -v quiet
args=("$@")
if [[ " ${args[*]-} " != *" --seconds "* ]]; then args+=(--seconds 150); fi
if [[ " ${args[*]-} " != *" --seed "* ]]; then args+=(--seed "${TORTURE_SEED:-$RANDOM}"); fi
exec dotnet "$here/bin/Release/net10.0/ChunkStore.Torture.dll" "${args[@]}"
