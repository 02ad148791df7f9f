#!/usr/bin/env bash
# Issue 7's fault and abuse campaign in one command: builds, runs every fault and abuse case end to end against real
# pieces (the host as a process, mosquitto, tmpfs filesystems, the simulator live), and prints a summary table: per case,
# alerts expected (the engine's own replay of the same input), stored, lost, duplicated, and what was refused or counted.
# Needs root (it mounts small tmpfs filesystems to fill) and mosquitto (installed when missing). About 4 minutes here.
# Results are what docs/reliability.md reports.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
if [ "$(id -u)" -ne 0 ]; then
  echo "reliability.sh: run as root (the disk-full cases mount tmpfs filesystems)" >&2
  exit 1
fi
if ! command -v mosquitto >/dev/null 2>&1; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SMARTPOWER_RELIABILITY_REPORT="$work/report.tsv"
: > "$SMARTPOWER_RELIABILITY_REPORT"

echo "== build (Release)"
dotnet build SmartPower.sln -c Release -nologo -v quiet >/dev/null

cases="FullyQualifiedName~CrashRecoveryTests|FullyQualifiedName~SimulatedNightTests|FullyQualifiedName~BrokerRestartTests"
cases="$cases|FullyQualifiedName~DiskFullTests|FullyQualifiedName~FileTelemetryLogTests.A_full_disk|FullyQualifiedName~WebhookDeliveryTests"
cases="$cases|FullyQualifiedName~NotificationRecoveryTests|FullyQualifiedName~AbuseTests|FullyQualifiedName~SecurityTests|FullyQualifiedName~AccessTests"
echo "== fault and abuse cases"
status=0
start=$(date +%s)
dotnet test tests/SmartPower.Pipeline.Tests -c Release --no-build -nologo -v quiet --filter "$cases" \
  --logger "console;verbosity=normal" >"$work/tests.log" 2>&1 || status=$?
dotnet test tests/SmartPower.Core.Tests -c Release --no-build -nologo -v quiet --filter "FullyQualifiedName~MalformedMessageTests" \
  --logger "console;verbosity=normal" >>"$work/tests.log" 2>&1 || status=$?
elapsed=$(( $(date +%s) - start ))

echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(free -g | awk '/Mem:/ {print $2}') GiB;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg); .NET $(dotnet --version); $(mosquitto -h 2>/dev/null | head -1)"
echo
echo "| case | alerts expected | stored | lost | duplicated | refused, counted, measured |"
echo "|---|---|---|---|---|---|"
sort "$SMARTPOWER_RELIABILITY_REPORT" | awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6}'
echo
passed=$(grep -cE '^\s+Passed SmartPower' "$work/tests.log" || true)
failed=$(grep -cE '^\s+Failed SmartPower' "$work/tests.log" || true)
if [ "$failed" -gt 0 ] || [ "$status" -ne 0 ]; then
  grep -A25 -E '^\s+Failed SmartPower' "$work/tests.log" | head -120 >&2
fi
echo "campaign: ${passed} passed, ${failed} failed in ${elapsed} s"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
