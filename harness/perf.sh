#!/usr/bin/env bash
# The performance harness in one command (docs/benchmarks.md): builds in Release, then runs harness/perf.py, which
# measures every figure beside its baseline in the same run. Options go to the harness (harness/perf.sh --help);
# `harness/perf.sh --quick` is the short smoke run (a few seconds of load per part, small registry).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
for tool in mosquitto mosquitto_passwd mosquitto_sub python3 /usr/bin/time; do
  command -v "$tool" >/dev/null 2>&1 || { echo "harness/perf.sh: $tool is required (apt-get install mosquitto mosquitto-clients python3 time)" >&2; exit 1; }
done
echo "== build (Release)"
for project in device-sim/SmartPower.DeviceSim.csproj functions/SmartPower.Host/SmartPower.Host.csproj tests/SmartPower.Benchmarks/SmartPower.Benchmarks.csproj; do
  dotnet build "$project" -c Release -nologo -v quiet >/dev/null
done
if [ "${1:-}" = "--quick" ]; then
  shift
  exec python3 harness/perf.py --rounds 1 --sites 1 --hours 0.2 --devices 20000 --connections 500 --connection-seconds 36 "$@"
fi
exec python3 harness/perf.py "$@"
