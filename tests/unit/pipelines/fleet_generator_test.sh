#!/usr/bin/env bash
# The SYNTHETIC fleet generator (pipelines/fleet/generate.py): the same seed gives byte-identical
# files and another seed other files; fleet_generator_check.py recomputes from the files of a run
# the accounting of truth.json (bad JSON, wrong types, duplicates, late events, the unknown unit,
# out of order), the 15-minute cadence, the speed ranges per type and the count/mean/p90 per
# unit and hour, on two configurations. --kafka without kcat is a clear error; with a stand-in
# kcat on PATH it gets every line keyed by unit_id (never the shared stack). Then the check must
# fail on each mutated copy of the generator (mutate below). No build, no Kafka, no database.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${SLUICE_SOURCE_DIR:-$(cd "$here/../../.." && pwd)}
gen=$src/pipelines/fleet/generate.py
airports=$src/tests/data/fleet/airports.csv
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() {  # run <generate.py> <dir> <generator args...>: every output into <dir>
  local script=$1 dir=$2
  shift 2
  mkdir -p "$dir"
  python3 "$script" --airports "$airports" --out "$dir/events.jsonl" --units-sql "$dir/units.sql" \
    --stats-sql "$dir/stats.sql" --truth "$dir/truth.json" "$@" >"$dir/stdout" 2>"$dir/stderr"
}

run "$gen" "$tmp/a"
run "$gen" "$tmp/b"
for f in events.jsonl units.sql stats.sql truth.json stdout stderr; do
  cmp -s "$tmp/a/$f" "$tmp/b/$f" || { echo "FAIL: seed 7 twice: $f differs"; exit 1; }
done
run "$gen" "$tmp/c" --seed 8
for f in events.jsonl units.sql stats.sql truth.json; do
  if cmp -s "$tmp/a/$f" "$tmp/c/$f"; then echo "FAIL: seeds 7 and 8 give the same $f"; exit 1; fi
done
echo "ok: deterministic: seed 7 twice byte-identical (4 files, stdout, stderr); seed 8 differs"
grep -q '^SYNTHETIC: events_written' "$tmp/a/stdout" || { echo "FAIL: no SYNTHETIC summary on stdout"; exit 1; }

echo "== defaults: seed 7, 12 units, 24 h from 2014-03-01, lateness 120 min"
python3 "$here/fleet_generator_check.py" "$tmp/a" 12 24 2014-03-01T00:00:00Z 120 "$airports"
echo "== seed 3, 7 units, 30 h from 2013-06-30T22:00:00Z (over midnight), lateness 90 min"
run "$gen" "$tmp/d" --seed 3 --units 7 --hours 30 --start 2013-06-30T22:00:00Z --lateness-min 90
python3 "$here/fleet_generator_check.py" "$tmp/d" 7 30 2013-06-30T22:00:00Z 90 "$airports"

echo "== --kafka"
mkdir -p "$tmp/nokcat"   # a PATH without kcat (the interpreter by its path: python3 may be a shim)
python=$(python3 -c 'import sys; print(sys.executable)')
status=0
PATH=$tmp/nokcat "$python" "$gen" --airports "$airports" --out "$tmp/k.jsonl" --kafka localhost:1 --topic t \
  >/dev/null 2>"$tmp/k.err" || status=$?
if [ "$status" = 0 ] || ! grep -q "kcat" "$tmp/k.err"; then
  echo "FAIL: --kafka without kcat: exit $status, stderr: $(cat "$tmp/k.err")"; exit 1
fi
echo "ok: without kcat: exit $status, $(grep kcat "$tmp/k.err")"
mkdir -p "$tmp/fake"
cat >"$tmp/fake/kcat" <<'KCAT'
#!/bin/sh
# A stand-in kcat: records its arguments and what it was given.
printf '%s\n' "$@" >"$(dirname "$0")/args"
cat >"$(dirname "$0")/input"
KCAT
chmod +x "$tmp/fake/kcat"
PATH=$tmp/fake:$PATH python3 "$gen" --airports "$airports" --out "$tmp/k.jsonl" --kafka broker:9092 \
  --topic fleet.positions >/dev/null 2>&1
python3 - "$tmp/fake" "$tmp/k.jsonl" <<'PY'
import json, sys
fake, out = sys.argv[1], sys.argv[2]
args = open(f"{fake}/args").read().split("\n")[:-1]
assert args == ["-P", "-b", "broker:9092", "-t", "fleet.positions", "-K", "\t"], args
sent = open(f"{fake}/input").read().split("\n")[:-1]
lines = open(out).read().split("\n")[:-1]
assert [s.split("\t", 1)[1] for s in sent] == lines, "kcat did not get the lines in order"
for key, line in (s.split("\t", 1) for s in sent):
    try:
        assert json.loads(line)["unit_id"] == key, (key, line)
    except ValueError:
        assert line.startswith('{"event_id":"' + key + "-") or len(line) < 14 + len(key), (key, line)
print(f"ok: with kcat: {len(sent)} lines keyed by unit_id, in order")
PY

echo "== mutations of the generator (each must be caught)"
mutate() {  # mutate <description> <sed expression on a copy of generate.py>
  sed "$2" "$gen" >"$tmp/m.py"
  cmp -s "$tmp/m.py" "$gen" && { echo "FAIL: mutation '$1' changed nothing"; exit 1; }
  rm -rf "$tmp/m" "$tmp/m2" "$tmp/m.log"
  if run "$tmp/m.py" "$tmp/m" && run "$tmp/m.py" "$tmp/m2" && cmp -s "$tmp/m/events.jsonl" "$tmp/m2/events.jsonl" &&
      python3 "$here/fleet_generator_check.py" "$tmp/m" 12 24 2014-03-01T00:00:00Z 120 "$airports" >"$tmp/m.log" 2>&1; then
    echo "FAIL: mutation not caught: $1"; exit 1
  fi
  echo "caught: $1 ($(grep -m1 FAIL "$tmp/m.log" 2>/dev/null | cut -c1-110 || echo "run differs or fails"))"
}
mutate "p90 by nearest rank" 's/return ordered\[low\] + (position - low) \* (ordered\[high\] - ordered\[low\])/return ordered[round(position)]/'
mutate "road units up to 120 km/h" 's/"road": (60.0, 100.0)/"road": (60.0, 120.0)/'
mutate "one event every 16 minutes" 's/^kStep = datetime.timedelta(minutes=15)/kStep = datetime.timedelta(minutes=16)/'
mutate "not seeded" 's/rng = random.Random(args.seed)/rng = random.Random()/'
mutate "one duplicate not counted" 's/"duplicates": count\["duplicate"\],/"duplicates": count["duplicate"] - 1,/'
mutate "late events judged against a longer lateness" 's/if watermark is not None and ts < watermark - lateness:/if watermark is not None and ts < watermark - 2 * lateness:/'
mutate "the unknown unit described" 's/for i in range(args.units)\]/for i in range(args.units + 1)]/'
echo "ok"
