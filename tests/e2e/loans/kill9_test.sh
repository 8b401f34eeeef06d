#!/usr/bin/env bash
# kill -9 every daemon once, mid-stream, and still get exactly-once into PostgreSQL.
# 100,000 SYNTHETIC loan rows from the seeded generator (tests/data/loans/loan_data.py), with a
# seeded sprinkle of rows the cleaner must reject, go through a private pipeline instance.
# While they flow, the producer, the cleaner, the enricher and the pg-sink are each killed
# with SIGKILL at a seeded random point of their own progress and started again. At the end:
#   the table holds exactly the valid rows, each loan_id once, with the same content sums as
#   the input; the DLQ holds exactly the bad rows, each once (no duplicates by origin);
#   every kill happened while that daemon still had work to do.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"

SEED=${E2E_SEED:-9}
ROWS=${E2E_KILL_ROWS:-100000}
e2e_init kill9
DATA=$E2E_TMP/synthetic.csv
python3 "$E2E_DATA/loan_data.py" synthetic --seed "$SEED" --rows "$ROWS" --out "$E2E_TMP/clean.csv" >/dev/null
# Break every row whose seeded draw says so (about 1 in 500), in ways only the cleaner sees,
# and write the expectations: which lines must reach the DLQ, and the content sums of the rest.
python3 - "$E2E_DATA" "$SEED" "$E2E_TMP/clean.csv" "$DATA" "$E2E_TMP/expected.json" <<'EOF'
import json, random, sys
sys.path.insert(0, sys.argv[1])
import loan_data
rng = random.Random(int(sys.argv[2]) * 7919)
kinds = ["amount_not_number", "unknown_state", "rate_out_of_range", "term_not_offered"]
lines = open(sys.argv[3]).read().split("\n")
header, rows = lines[0], [l for l in lines[1:] if l]
out, bad, funded, income = [header], [], 0, 0.0
for i, r in enumerate(rows):
    c = r.split(",")
    if rng.random() < 0.002:
        kind = rng.choice(kinds)
        out.append(loan_data.break_row(kind, c))
        bad.append({"line": i + 2, "kind": kind})
    else:
        out.append(r)
        funded += int(c[0])
        income += float(c[6])
open(sys.argv[4], "w").write("\n".join(out) + "\n")
json.dump({"items": len(rows), "loaded": len(rows) - len(bad), "bad": bad,
           "funded_sum": funded, "income_sum": round(income, 2)}, open(sys.argv[5], "w"))
print(f"{len(rows)} rows, {len(bad)} broken")
EOF
read -r LOADED BAD < <(python3 -c "
import json; e = json.load(open('$E2E_TMP/expected.json')); print(e['loaded'], len(e['bad']))")
e2e_log "$ROWS SYNTHETIC rows (seed $SEED): $LOADED to load, $BAD to reject"

# Small transactions (200 records) in every stage: more commit boundaries to die between,
# and a run long enough for all four kills to land while records still flow.
e2e_pipeline --producer-batch 200 --cleaner-batch 200 --enricher-batch 200 --sink-batch 1000
e2e_up
# Kill points: a seeded fraction of the rows, per daemon, measured by that daemon's own
# counter since its start (records read by the producer, records in for the cleaner and the
# enricher, rows in the table for the sink). The four killers run at the same time, each
# watching its own daemon, so every kill falls at a random moment of that daemon's work.
read -r F_PRODUCER F_CLEANER F_ENRICHER F_SINK < <(python3 -c "
import random; r = random.Random($SEED)
print(*(round(r.uniform(.1, .7), 3) for _ in range(4)))")

e2e_feed "$DATA" synthetic.csv
killers=()
e2e_kill_at producer "$F_PRODUCER" "$ROWS" & killers+=($!)
e2e_kill_at cleaner "$F_CLEANER" "$ROWS" & killers+=($!)
e2e_kill_at enricher "$F_ENRICHER" "$ROWS" & killers+=($!)
e2e_kill_at pg-sink "$F_SINK" "$ROWS" & killers+=($!)
for k in "${killers[@]}"; do wait "$k" || true; done
for d in producer cleaner enricher pg-sink; do
  [[ ! -f $E2E_TMP/kill-$d.err ]] || e2e_fail "killing $d: $(cat "$E2E_TMP/kill-$d.err")"
done
e2e_check '(( $(wc -l <"$E2E_TMP/kills") == 4 ))' "all four daemons were killed with SIGKILL and restarted"
e2e_wait "$ROWS" 480

# Every kill must have interrupted real work: the daemon had not yet handled every row.
while read -r d at; do
  e2e_check '(( at < ROWS ))' "$d was killed mid-stream (at $at of $ROWS)"
done <"$E2E_TMP/kills"

rows=$(e2e_rows)
keys=$(e2e_psql "SELECT count(DISTINCT loan_id) FROM \"$E2E_TABLE\"")
read -r funded income < <(e2e_psql "SELECT sum(funded_amnt)::bigint, round(sum(annual_inc)::numeric, 2) FROM \"$E2E_TABLE\"" | tr '|' ' ')
read -r exp_funded exp_income < <(python3 -c "
import json; e = json.load(open('$E2E_TMP/expected.json')); print(e['funded_sum'], '%.2f' % e['income_sum'])")
e2e_check '(( rows == LOADED ))' "table holds exactly the $LOADED valid rows (has $rows)"
e2e_check '(( keys == rows ))' "each loan_id once ($keys distinct)"
e2e_check '[[ $funded == "$exp_funded" && $income == "$exp_income" ]]' \
  "content sums match the input (funded_amnt $funded vs $exp_funded, annual_inc $income vs $exp_income)"

e2e_dlq_json --records >"$E2E_TMP/dlq.jsonl"
python3 - "$E2E_TMP/expected.json" "$E2E_TMP/dlq.jsonl" <<'EOF' || e2e_fail "the DLQ is not exactly the broken rows, once each (above)"
import collections, json, sys
expected = {b["line"] for b in json.load(open(sys.argv[1]))["bad"]}
records = [json.loads(l) for l in open(sys.argv[2])]
lines = collections.Counter(r["source_line"] for r in records)
dups = {l: n for l, n in lines.items() if n > 1}
missing = expected - set(lines)
extra = set(lines) - expected
print(f"DLQ: {len(records)} records, {len(lines)} distinct source lines; expected {len(expected)}")
if dups: print(f"  duplicates by origin: {dict(list(dups.items())[:10])}")
if missing: print(f"  missing lines: {sorted(missing)[:10]}")
if extra: print(f"  unexpected lines: {sorted(x for x in extra if x is not None)[:10]}")
sys.exit(1 if dups or missing or extra else 0)
EOF
e2e_log "ok: the DLQ holds exactly the $BAD broken rows, no duplicates"
