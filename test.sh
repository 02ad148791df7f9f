#!/usr/bin/env bash
# The one test command (README, and .ci/run calls exactly this). On a fresh machine it installs what the
# tests need, then builds everything (warnings are errors), checks formatting, and runs every test.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "test.sh: the .NET SDK 10 is required (dotnet not found on PATH)" >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  # The replay benchmark compares against Python's json module; tests do not need it.
  echo "test.sh: note: python3 not found; only the benchmark script needs it" >&2
fi

# The console's browser test drives Debian's chromium through Playwright (Playwright's own browser download does not
# work here). The test fails, never skips, without it.
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium for the console's browser test"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

echo "== build (Release, warnings as errors)"
dotnet build SmartPower.sln -c Release -nologo -v quiet

echo "== format check"
dotnet format SmartPower.sln --verify-no-changes --no-restore -v quiet

echo "== tests"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test SmartPower.sln -c Release --no-build -nologo -v quiet --logger "console;verbosity=normal" 2>&1 | tee "$log" || status=$?
passed=$(awk '/^ +Passed: +[0-9]+/ {s+=$2} END {print s+0}' "$log")
failed=$(awk '/^ +Failed: +[0-9]+/ {s+=$2} END {print s+0}' "$log")
echo "${passed} passed, ${failed} failed"
if [ "$status" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi
