#!/usr/bin/env bash
# The main job in one command: backs up this repository into ./.demo-store with the sample backup tool
# (content-defined chunks in a filesystem chunk store), restores it and compares byte for byte, backs up
# again (all duplicates), shows that a 1-byte edit in a large file stores one new chunk, verifies every
# chunk, forgets snapshots and garbage-collects. Exits 0 only if every check passed.
# Usage: ./demo.sh [--store DIR] [DIR-TO-BACK-UP]
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure-dotnet.sh
exec dotnet run --project samples/ChunkStore.Backup -c Release -- demo "$@"
