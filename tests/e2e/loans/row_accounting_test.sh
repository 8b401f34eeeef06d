#!/usr/bin/env bash
# Exact row accounting through all four daemons. A seeded copy of the real Lending Club file
# with bad rows mixed in (tests/data/loans/loan_data.py bad-mix: broken quoting, wrong types,
# out-of-range values, duplicates, empty lines, CRLF line ends and a BOM) goes through a
# private instance of the loans pipeline. Then:
#   rows in (data items of the file) = rows in the table + records in the DLQ, exactly;
#   each seeded bad row is in the DLQ once, from its line, with the expected stage, rule and
#   reason; nothing else is in the DLQ; repairable rows (state names, "$1,000", lower-case
#   sub-grades) are loaded with the repaired values.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"

SEED=${E2E_SEED:-4242}
e2e_init acct
python3 "$E2E_DATA/loan_data.py" bad-mix --seed "$SEED" --per-kind 3 --crlf --bom --out "$E2E_TMP/data" >/dev/null
DATA=$E2E_TMP/data/lending_club_bad_mix.csv
EXPECTED=$E2E_TMP/data/lending_club_bad_mix.expected.json
read -r ITEMS LOADED REJECTED < <(python3 -c "
import json; e = json.load(open('$EXPECTED')); print(e['items'], e['expected_loaded'], e['expected_rejected'])")
e2e_log "bad-mix seed $SEED: $ITEMS data items, $LOADED to load, $REJECTED to reject"

e2e_pipeline
e2e_up
e2e_feed "$DATA" loans_bad_mix.csv
e2e_wait "$ITEMS" 300

rows=$(e2e_rows)
e2e_dlq_json --records >"$E2E_TMP/dlq.jsonl"
dlq=$(wc -l <"$E2E_TMP/dlq.jsonl")
e2e_check '(( rows + dlq == ITEMS ))' "rows in $ITEMS = rows in the table $rows + DLQ records $dlq"
e2e_check '(( rows == LOADED ))' "table holds the $LOADED expected rows (has $rows)"
e2e_check '(( dlq == REJECTED ))' "DLQ holds the $REJECTED expected records (has $dlq)"

# Every seeded bad row: in the DLQ exactly once, from its line, with its stage/rule/reason.
python3 - "$EXPECTED" "$E2E_TMP/dlq.jsonl" <<'EOF' || e2e_fail "the DLQ does not match the seeded bad rows (above)"
import collections, json, sys
expected = json.load(open(sys.argv[1]))
records = [json.loads(l) for l in open(sys.argv[2])]
by_line = collections.defaultdict(list)
unplaced = []
for r in records:
    (by_line[r["source_line"]] if r["source_line"] is not None else unplaced).append(r)
problems = []
for bad in expected["bad"]:
    got = by_line.pop(bad["line"], [])
    if len(got) != 1:
        problems.append(f"line {bad['line']} ({bad['kind']}): {len(got)} DLQ records, expected 1")
        continue
    r = got[0]
    if (r["stage"], r["rule"]) != (bad["stage"], bad["rule"]) or bad["reason"] not in r["reason"]:
        problems.append(f"line {bad['line']} ({bad['kind']}): got {r['stage']}/{r['rule']}: {r['reason']!r}, "
                        f"expected {bad['stage']}/{bad['rule']} with {bad['reason']!r}")
for line, rs in by_line.items():
    for r in rs:
        problems.append(f"unexpected DLQ record from line {line}: {r['stage']}/{r['rule']}: {r['reason']!r}")
for r in unplaced:
    problems.append(f"DLQ record without a source line: {r['stage']}/{r['rule']}: {r['reason']!r} {r['headers']}")
kinds = collections.Counter(b["kind"] for b in expected["bad"])
print(f"checked {len(expected['bad'])} seeded bad rows of {len(kinds)} kinds: {dict(kinds)}")
for p in problems:
    print("  " + p)
sys.exit(1 if problems else 0)
EOF
e2e_log "ok: every seeded bad row is in the DLQ once, with its line, stage, rule and reason"

# Repairable rows were loaded, repaired: no state names, no "$", no lower-case sub-grades.
bad_values=$(e2e_psql "SELECT count(*) FROM \"$E2E_TABLE\"
  WHERE addr_state !~ '^[A-Z]{2}$' OR sub_grade !~ '^[A-G][1-5]$' OR funded_amnt IS NULL")
e2e_check '(( bad_values == 0 ))' "repaired rows carry canonical values (rows with a non-canonical value: $bad_values)"
keys=$(e2e_psql "SELECT count(DISTINCT loan_id) FROM \"$E2E_TABLE\"")
e2e_check '(( keys == rows ))' "each loan_id once ($keys distinct of $rows)"
