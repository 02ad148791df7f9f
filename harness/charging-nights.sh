#!/usr/bin/env bash
# The illegal-charging detector over many simulator nights, through the command line a user has: for each night,
# device-sim generate, the host's replay, device-sim score; then one line per night and the totals. The nights are
# the ones docs/illegal-charging.md reports: `tuning` (every change was traced on these), `unseen1` (measured, looked
# at once), `unseen2` (scored only), `unseen3` (made at stop 14, scored only), `unseen4` (made at stop 15 to judge the
# hold call, scored once before and once after it), `unseen5` (made after it, scored with and without it), `unseen6`
# (made at stop 16 and scored once, with no change made to the detector since). About 10 s a night here.
#   harness/charging-nights.sh [tuning|unseen1|unseen2|unseen3|unseen4|unseen5|unseen6|all]
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
set_name=${1:-tuning}
quiet='{"incidents": false}'
case "$set_name" in
  tuning) nights="labelled-night:1 labelled-night:2 labelled-night:3 labelled-night:4 labelled-night:5 labelled-night:6
                  compound-night:1 compound-night:2 compound-night:3 quiet:4 quiet:5" ;;
  unseen1) nights="labelled-night:7 labelled-night:8 labelled-night:9 labelled-night:10 compound-night:4 compound-night:5
                   quiet:6 quiet:7" ;;
  unseen2) nights="labelled-night:11 labelled-night:12 labelled-night:13 labelled-night:14 compound-night:6 compound-night:7
                   quiet:15 quiet:16" ;;
  unseen3) nights="labelled-night:15 labelled-night:16 labelled-night:17 labelled-night:18 compound-night:8 compound-night:9
                   quiet:17 quiet:18" ;;
  unseen4) nights="labelled-night:19 labelled-night:20 labelled-night:21 labelled-night:22 compound-night:10 compound-night:11
                   quiet:19 quiet:20" ;;
  unseen5) nights="labelled-night:23 labelled-night:24 labelled-night:25 labelled-night:26 compound-night:12 compound-night:13
                   quiet:21 quiet:22" ;;
  unseen6) nights="labelled-night:27 labelled-night:28 labelled-night:29 labelled-night:30 compound-night:14 compound-night:15
                   quiet:23 quiet:24" ;;
  all) exec bash -c "$0 tuning && $0 unseen1 && $0 unseen2 && $0 unseen3 && $0 unseen4 && $0 unseen5 && $0 unseen6" ;;
  *) echo "usage: $0 [tuning|unseen1|unseen2|unseen3|unseen4|unseen5|unseen6|all]" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dotnet build device-sim -c Release -nologo -v quiet >/dev/null
dotnet build functions/SmartPower.Host -c Release -nologo -v quiet >/dev/null
# A night without incidents: the labelled night's households and look-alikes, nothing injected.
python3 -c "import json,sys; d=json.load(open('device-sim/scenarios/labelled-night.json')); d.update(name='quiet', incidents=False); json.dump(d, open(sys.argv[1],'w'))" "$work/quiet.json"

printf '%-20s %8s %6s %10s %9s %10s\n' night charging false median recall precision
total_found=0 total_incidents=0 total_false=0
for night in $nights; do
  scenario=${night%%:*} seed=${night##*:}
  [ "$scenario" = quiet ] && scenario="$work/quiet.json"
  dir="$work/$(basename "$scenario" .json)-$seed"
  dotnet run -c Release --no-build --project device-sim -- generate --scenario "$scenario" --seed "$seed" --out "$dir" >/dev/null
  dotnet run -c Release --no-build --project functions/SmartPower.Host -- replay --registry "$dir/registry.json" \
    --input "$dir/readings.jsonl" --output "$dir/alerts.jsonl" >"$dir/replay.txt" 2>&1
  dotnet run -c Release --no-build --project device-sim -- score --truth "$dir/truth.jsonl" --alerts "$dir/alerts.jsonl" > "$dir/score.txt" || true
  # type  incidents  found  false  recall  median  p90 (the recall as "76 %", or "-" without incidents)
  read -r _ incidents found false rest < <(grep '^illegal-charging' "$dir/score.txt")
  median=$(awk '{print $(NF-1)}' <<<"$rest")
  overall=$(grep '^recall ' "$dir/score.txt" | sed 's/:.*//; s/,//' | awk '{printf "%9s %10s", $2, $4}')
  printf '%-20s %8s %6s %10s %s\n' "${night%%:*} $seed" "$found/$incidents" "$false" "$median" "$overall"
  total_found=$((total_found + found)) total_incidents=$((total_incidents + incidents)) total_false=$((total_false + false))
done
python3 -c "import sys; f,i,x=map(int,sys.argv[1:]); print(f'{\"all\":<20} {f}/{i} found ({f/max(i,1):.3f}), {x} false (illegal-charging precision {f/max(f+x,1):.3f})')" \
  "$total_found" "$total_incidents" "$total_false"
