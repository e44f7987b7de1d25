#!/usr/bin/env bash
# Builds the torture harness (configuration Torture: Release code plus the fault switches --disable needs, in
# bin/Torture) and runs it; exits non-zero on any invariant violation.
# Usage: tests/ChunkStore.Torture/run.sh [--backend fs|s3] [--seconds N] [--seed S] [--disable PROTECTION] [...]
#   --backend s3 runs against the S3 server named by CHUNKSTORE_S3_* (the s3.env of scripts/s3-local.sh start, as
#   test.sh sets it). When CHUNKSTORE_S3_ENDPOINT is unset it starts a throw-away Ceph RGW of its own (installing the
#   Debian packages if needed; ports CHUNKSTORE_S3_PORT/CHUNKSTORE_S3_MON_PORT, default 7490/6795) and stops it after.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dotnet build "$here/ChunkStore.Torture.csproj" -c Torture -nologo -v quiet
args=("$@")
if [[ " ${args[*]-} " != *" --seconds "* ]]; then args+=(--seconds 150); fi
if [[ " ${args[*]-} " != *" --seed "* ]]; then args+=(--seed "${TORTURE_SEED:-$RANDOM}"); fi

if [[ " ${args[*]-} " == *" --backend s3 "* && -z "${CHUNKSTORE_S3_ENDPOINT:-}" ]]; then
  rgw_dir="$(mktemp -d "${TMPDIR:-/tmp}/chunkstore-torture-rgw-XXXXXX")"
  stop_rgw() { "$repo/scripts/s3-local.sh" stop --dir "$rgw_dir" >/dev/null 2>&1 || true; rm -rf "$rgw_dir"; }
  trap stop_rgw EXIT
  env_file="$(CHUNKSTORE_S3_PORT="${CHUNKSTORE_S3_PORT:-7490}" CHUNKSTORE_S3_MON_PORT="${CHUNKSTORE_S3_MON_PORT:-6795}" \
    "$repo/scripts/s3-local.sh" start --dir "$rgw_dir" | tail -n 1)"
  # shellcheck disable=SC1090
  source "$env_file"
fi

dotnet "$here/bin/Torture/net10.0/ChunkStore.Torture.dll" "${args[@]}"
