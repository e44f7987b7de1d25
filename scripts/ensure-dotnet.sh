#!/usr/bin/env bash
# Sourced by demo.sh and test.sh: makes sure the .NET 10 SDK is on PATH, installing it with apt when the
# machine's package sources offer dotnet-sdk-10.0 (Debian with Microsoft's package feed configured).
if ! command -v dotnet >/dev/null 2>&1; then
  echo "[setup] dotnet not found; trying apt-get install dotnet-sdk-10.0" >&2
  if ! { apt-get update -qq && apt-get install -y -qq dotnet-sdk-10.0; }; then
    echo "[setup] Could not install the .NET 10 SDK with apt. Install it (https://learn.microsoft.com/dotnet/core/install/linux-debian) and run this again." >&2
    exit 1
  fi
fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
