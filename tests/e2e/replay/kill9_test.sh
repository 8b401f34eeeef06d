#!/usr/bin/env bash
# kill -9 of sluice-replay halfway, then resume (issue #15): no gap, no duplicate.
# A private loans pipeline with a NARROW funded_amnt range (max 15000) loads SYNTHETIC rows;
# sluice-replay re-cleans raw from the beginning with the range widened (max 30000), rate
# limited so that it is killed with SIGKILL while it is part way through; the same command
# then says it resumes and completes, and a third run says it is done already. At the end:
#   - the clean topic holds, per source line, exactly one record from the live cleaner for a
#     row within 15000 and exactly one from the replay for a row within 30000 (committed
#     records only: what the killed run left open was aborted);
#   - the DLQ holds per source line one live record for a row over 15000 and one replay record
#     for a row over 30000;
#   - the table holds exactly the rows within 30000, each key once, with the input's sums:
#     the table an uninterrupted replay gives.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"

ROWS=${E2E_REPLAY_KILL_ROWS:-20000}
RATE=${E2E_REPLAY_RATE:-2500}
e2e_init replay_kill9
python3 "$E2E_DATA/loan_data.py" synthetic --seed 41 --rows "$ROWS" --out "$E2E_TMP/data.csv" >/dev/null
python3 - "$E2E_TMP/data.csv" "$E2E_TMP/expected.json" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
# source lines: the header is line 1
exp = {"n15": 0, "n30": 0, "sum30": 0, "lines": {}}
for i, r in enumerate(rows):
    f = float(r["funded_amnt"])
    live, replay = 500 <= f <= 15000, 500 <= f <= 30000
    exp["n15"] += live
    exp["n30"] += replay
    if replay: exp["sum30"] += int(f)
    exp["lines"][str(i + 2)] = [live, replay]
json.dump(exp, open(sys.argv[2], "w"))
PY
read -r N15 N30 SUM30 < <(python3 -c "
import json; e = json.load(open('$E2E_TMP/expected.json')); print(e['n15'], e['n30'], e['sum30'])")
e2e_log "$ROWS SYNTHETIC rows: $N15 within 15000 (live rule), $N30 within 30000 (replay's rule)"

e2e_pipeline --partitions 3
grep -q '^      max: 40000$' "$E2E_PIPELINE" || e2e_fail "the funded_amnt range rule is not where the test expects it"
sed 's/^      max: 40000$/      max: 30000/' "$E2E_PIPELINE" >"$E2E_TMP/widened.yaml"
sed -i 's/^      max: 40000$/      max: 15000/' "$E2E_PIPELINE"
e2e_up
e2e_feed "$E2E_TMP/data.csv" data.csv
e2e_wait "$ROWS" 300
e2e_check '(( $(e2e_rows) == N15 ))' "the live rule loaded $N15 rows"

replay() {
  "$SLUICE_BIN_DIR/sluice-replay" --pipeline "$E2E_TMP/widened.yaml" --through cleaner \
    --from-beginning --log-format json "$@"
}
# The binary itself in the background (not the function: $! would be a subshell's pid).
"$SLUICE_BIN_DIR/sluice-replay" --pipeline "$E2E_TMP/widened.yaml" --through cleaner \
  --from-beginning --log-format json --rate "$RATE/s" >"$E2E_TMP/first.out" 2>&1 &
pid=$!
deadline=$((SECONDS + 120))
done_at=0
while :; do
  done_at=$(sed -n 's/.*"replay progress".*"offsets_done":\([0-9]*\).*/\1/p' "$E2E_TMP/first.out" | tail -1)
  done_at=${done_at:-0}
  (( done_at >= ROWS / 3 )) && break
  kill -0 "$pid" 2>/dev/null || { cat "$E2E_TMP/first.out"; e2e_fail "the replay ended before it could be killed"; }
  (( SECONDS < deadline )) || e2e_fail "the replay made no progress to kill it at (at $done_at)"
  sleep 0.2
done
kill -9 "$pid"
wait "$pid" || true
e2e_log "killed sluice-replay with SIGKILL after $done_at of $ROWS committed offsets"
e2e_check '! grep -q "replay complete" "$E2E_TMP/first.out"' "the replay was killed part way"

replay >"$E2E_TMP/second.out" 2>&1 || { cat "$E2E_TMP/second.out"; e2e_fail "the resumed replay failed"; }
grep -v '^{' "$E2E_TMP/second.out"
e2e_check 'grep -q "^resuming the replay" "$E2E_TMP/second.out"' "the second run resumed from the committed positions"
e2e_check 'grep -q "^replay complete$" "$E2E_TMP/second.out"' "and completed"
resumed=$(sed -n 's/^records: //p' "$E2E_TMP/second.out")
e2e_check '(( resumed < ROWS ))' "it read only what the killed run had not committed ($resumed of $ROWS)"
replay >"$E2E_TMP/third.out" 2>&1 || { cat "$E2E_TMP/third.out"; e2e_fail "the third run failed"; }
e2e_check 'grep -q "is done already" "$E2E_TMP/third.out"' "a third run says it is done already"

# Live DLQ (rows over 15000) + the replay's (over 30000); the table: rows within 30000.
e2e_wait $((N30 + (ROWS - N15) + (ROWS - N30))) 300

kcat -b "$SLUICE_KAFKA_BROKERS" -C -t "$E2E_ID.clean" -o beginning -e -q -X isolation.level=read_committed \
  -f '%h\n' >"$E2E_TMP/clean.headers"
e2e_dlq_json --records >"$E2E_TMP/dlq.jsonl"
python3 - "$E2E_TMP/expected.json" "$E2E_TMP/clean.headers" "$E2E_TMP/dlq.jsonl" <<'PY' || e2e_fail "the clean topic or the DLQ has a gap or a duplicate (above)"
import collections, json, re, sys
exp = json.load(open(sys.argv[1]))["lines"]
clean = collections.Counter()
for h in open(sys.argv[2]):
    m = re.search(r"sluice-origin=[^,\n]*:(\d+)", h)
    clean[m.group(1) if m else None] += 1
dlq = collections.Counter(str(json.loads(l)["source_line"]) for l in open(sys.argv[3]))
bad = []
for line, (live, replay) in exp.items():
    want_clean = int(live) + int(replay)
    want_dlq = int(not live) + int(not replay)
    if clean[line] != want_clean: bad.append(f"line {line}: {clean[line]} clean records, expected {want_clean}")
    if dlq[line] != want_dlq: bad.append(f"line {line}: {dlq[line]} DLQ records, expected {want_dlq}")
extra = set(clean) - set(exp)
if extra: bad.append(f"clean records of unknown origin: {sorted(map(str, extra))[:5]}")
print(f"clean: {sum(clean.values())} records; DLQ: {sum(dlq.values())} records; {len(bad)} problems")
for b in bad[:10]: print("  " + b)
sys.exit(1 if bad else 0)
PY
e2e_log "ok: per source line, one live and one replay record where each rule emits or rejects, no more"
rows=$(e2e_rows)
keys=$(e2e_psql "SELECT count(DISTINCT loan_id) FROM \"$E2E_TABLE\"")
funded=$(e2e_psql "SELECT sum(funded_amnt)::bigint FROM \"$E2E_TABLE\"")
e2e_check '(( rows == N30 && keys == rows ))' "the table holds exactly the $N30 rows within 30000, each key once ($rows, $keys keys)"
e2e_check '[[ $funded == "$SUM30" ]]' "their funded_amnt sum is the input's ($funded vs $SUM30)"
