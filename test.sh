#!/usr/bin/env bash
# The one test command (README, and .ci/run calls exactly this). On a fresh machine it installs what the
# tests need, then builds everything (warnings are errors), checks formatting, and runs every test.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "test.sh: the .NET SDK 10 is required (dotnet not found on PATH)" >&2
  exit 1
fi
apt_install() {
  echo "== installing $*"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# The performance harness's smoke run below (harness/perf.py) and the replay benchmark's baseline (Python's json
# module) need python3.
if ! command -v python3 >/dev/null 2>&1; then
  apt_install python3
fi

# The console's browser test drives Debian's chromium through Playwright (Playwright's own browser download does not
# work here). The test fails, never skips, without it.
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# The simulator's integration tests publish to a real MQTT broker: mosquitto, on a free loopback port, with a
# password file (username = device id), started here and stopped on exit. The tests fail, not skip, without it.
if ! command -v mosquitto >/dev/null 2>&1 || ! command -v mosquitto_passwd >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1 \
  || ! command -v mosquitto_sub >/dev/null 2>&1 || [ ! -x /usr/bin/time ]; then
  apt_install mosquitto mosquitto-clients openssl time
fi
broker_dir=$(mktemp -d)
log=$(mktemp)
mosquitto_pid=""
cosmos_pid=""
cleanup() {
  if [ -n "$mosquitto_pid" ]; then kill "$mosquitto_pid" 2>/dev/null || true; fi
  if [ -n "$cosmos_pid" ]; then kill "$cosmos_pid" 2>/dev/null || true; fi
  rm -rf "$broker_dir" "$log" "${arm_dir:-}"
}
trap cleanup EXIT
export SMARTPOWER_TEST_MQTT_PASSWORD="sim-test-password"
{
  for i in $(seq 1 60); do printf 'm-%04d:%s\n' "$i" "$SMARTPOWER_TEST_MQTT_PASSWORD"; done
  for i in $(seq 1 10); do printf 'p-%04d:%s\n' "$i" "$SMARTPOWER_TEST_MQTT_PASSWORD"; done
  printf 'observer:%s\n' "$SMARTPOWER_TEST_MQTT_PASSWORD"
} > "$broker_dir/passwd"
mosquitto_passwd -U "$broker_dir/passwd"
# A second listener speaks TLS with a throwaway self-signed certificate.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -keyout "$broker_dir/key.pem" -out "$broker_dir/cert.pem" >/dev/null 2>&1
# Started as root, mosquitto drops to its own user, which must be able to read the folder and the password file.
chmod 755 "$broker_dir"
chmod 644 "$broker_dir/passwd" "$broker_dir/key.pem" "$broker_dir/cert.pem"
for attempt in $(seq 1 20); do
  port=$((20000 + RANDOM % 40000))
  tls_port=$((port + 1))
  printf 'per_listener_settings false\nallow_anonymous false\npassword_file %s\npersistence false\nmax_queued_messages 100000\nlog_dest stderr\nlistener %s 127.0.0.1\nlistener %s 127.0.0.1\ncertfile %s\nkeyfile %s\n' \
    "$broker_dir/passwd" "$port" "$tls_port" "$broker_dir/cert.pem" "$broker_dir/key.pem" > "$broker_dir/mosquitto.conf"
  mosquitto -c "$broker_dir/mosquitto.conf" 2>"$broker_dir/mosquitto.log" &
  mosquitto_pid=$!
  sleep 0.3
  if kill -0 "$mosquitto_pid" 2>/dev/null; then break; fi
  mosquitto_pid=""
done
if [ -z "$mosquitto_pid" ]; then
  echo "test.sh: could not start mosquitto on a loopback port:" >&2
  cat "$broker_dir/mosquitto.log" >&2
  exit 1
fi
export SMARTPOWER_TEST_MQTT_PORT="$port" SMARTPOWER_TEST_MQTT_TLS_PORT="$tls_port"
echo "== mosquitto on 127.0.0.1:$port, TLS on $tls_port (pid $mosquitto_pid)"

# The Cosmos DB store's tests run for real against @vercel/cosmosdb-server (Cosmos DB's HTTP protocol, in memory, HTTPS
# with its own self-signed certificate), installed with npm into .tools/ when missing, started on a free loopback port
# and stopped on exit. Its address goes to the tests in SMARTPOWER_TEST_COSMOS_ENDPOINT; they fail, not skip, without it.
cosmos_dir=.tools/cosmosdb-server
cosmos_cli="$cosmos_dir/node_modules/@vercel/cosmosdb-server/lib/cli.js"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
if [ ! -f "$cosmos_cli" ]; then
  echo "== installing @vercel/cosmosdb-server into $cosmos_dir"
  mkdir -p "$cosmos_dir"
  npm install --prefix "$cosmos_dir" --no-audit --no-fund --silent @vercel/cosmosdb-server@1.0.1 >/dev/null
fi
for attempt in $(seq 1 20); do
  cosmos_port=$((20000 + RANDOM % 40000))
  node "$cosmos_cli" -p "$cosmos_port" --host 127.0.0.1 >"$broker_dir/cosmos.log" 2>&1 &
  cosmos_pid=$!
  for wait in $(seq 1 50); do
    if grep -q "Ready" "$broker_dir/cosmos.log" 2>/dev/null || ! kill -0 "$cosmos_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if kill -0 "$cosmos_pid" 2>/dev/null && grep -q "Ready" "$broker_dir/cosmos.log"; then break; fi
  kill "$cosmos_pid" 2>/dev/null || true
  cosmos_pid=""
done
if [ -z "$cosmos_pid" ]; then
  echo "test.sh: could not start the Cosmos DB test server:" >&2
  cat "$broker_dir/cosmos.log" >&2
  exit 1
fi
export SMARTPOWER_TEST_COSMOS_ENDPOINT="https://127.0.0.1:$cosmos_port/"
echo "== Cosmos DB test server on $SMARTPOWER_TEST_COSMOS_ENDPOINT (pid $cosmos_pid)"

# The Bicep CLI comes from NuGet (Azure.Bicep.CommandLine.linux-x64) through infra/tools/Bicep.csproj, which exists only
# to restore it; infra/main.bicep must build and lint without a single message. The compiled template goes to the tests.
echo "== bicep build and lint (infra/)"
dotnet restore infra/tools/Bicep.csproj -nologo -v quiet >/dev/null
bicep_dir=$(dotnet msbuild infra/tools/Bicep.csproj -t:PrintBicepPath -nologo -v:m | tail -n 1 | tr -d '[:space:]')
bicep="$bicep_dir/tools/bicep"
chmod +x "$bicep"
arm_dir=$(mktemp -d)
bicep_out="$arm_dir/messages.txt"
"$bicep" build infra/main.bicep --outdir "$arm_dir" >"$bicep_out" 2>&1 || { cat "$bicep_out" >&2; exit 1; }
"$bicep" lint infra/main.bicep >>"$bicep_out" 2>&1 || { cat "$bicep_out" >&2; exit 1; }
if [ -s "$bicep_out" ]; then
  echo "test.sh: bicep build/lint is not clean:" >&2
  cat "$bicep_out" >&2
  exit 1
fi
export SMARTPOWER_TEST_ARM_TEMPLATE="$arm_dir/main.json"
echo "== bicep $("$bicep" --version | awk '{print $4}'): build and lint clean"

echo "== build (Release, warnings as errors)"
dotnet build SmartPower.sln -c Release -nologo -v quiet

echo "== format check"
dotnet format SmartPower.sln --verify-no-changes --no-restore -v quiet

# The performance harness's smoke run (docs/benchmarks.md): a few seconds of each kind of load it measures, so that the
# one benchmark command keeps working; its figures mean nothing at this size and are not checked.
echo "== benchmark harness smoke run (harness/perf.py, tiny sizes)"
python3 harness/perf.py --only throughput,scale --rounds 1 --sites 1 --hours 0.05 --devices 2000 >"$broker_dir/bench.log" 2>&1 \
  || { cat "$broker_dir/bench.log" >&2; echo "test.sh: the benchmark harness's smoke run failed" >&2; exit 1; }
tail -n 1 "$broker_dir/bench.log"

echo "== tests"
status=0
# The reliability campaign's long cases (Category=Campaign, about a minute each) run in harness/reliability.sh, not here.
dotnet test SmartPower.sln -c Release --no-build -nologo -v quiet --filter "Category!=Campaign" --logger "console;verbosity=normal" 2>&1 | tee "$log" || status=$?
passed=$(awk '/^ +Passed: +[0-9]+/ {s+=$2} END {print s+0}' "$log")
failed=$(awk '/^ +Failed: +[0-9]+/ {s+=$2} END {print s+0}' "$log")
# The failures again at the very end, with their messages, so that the tail of a CI log names them.
if [ "$failed" -ne 0 ]; then
  echo "== failed tests"
  awk '/^ +Failed [A-Za-z]/ {on=1; n=0} on && /^ +(Passed|Skipped) [A-Za-z]|^\[xUnit/ {on=0} on && n++ < 40 {print}' "$log"
fi
echo "${passed} passed, ${failed} failed"
if [ "$status" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi
