#!/usr/bin/env bash
# Re-clean from a time (issue #15), and the dry run against the real run that follows.
# A private loans pipeline runs with a NARROWER funded_amnt range (max 15000) than the real
# file's (40000), so it rejects part of two SYNTHETIC files fed one after the other (A, then B after
# a time T). The rule is then widened (max 30000) in a copy of the pipeline file, and
# sluice-replay re-runs raw from T through the cleaner:
#   - a dry run first writes nothing (end offsets of clean, DLQ and positions, and the table,
#     unchanged) and its counts are those of the real run that follows;
#   - after the real run, B's rows within 30000 are loaded by the live enricher and sink, the
#     rest of B is dead-lettered again by the replay, A's rows are untouched (the same content;
#     its over-range rows still out), and the accounting is exact: rows in (A + B + the
#     replay's records) = loaded (before + the replay's emits) + DLQ;
#   - a dry run through the enricher reads every committed clean record;
#   - a second run of the same range says it is done already and writes nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"

e2e_init replay_reclean
ROWS_A=${E2E_REPLAY_ROWS:-1500}
ROWS_B=${E2E_REPLAY_ROWS:-1500}
python3 "$E2E_DATA/loan_data.py" synthetic --seed 31 --rows "$ROWS_A" --out "$E2E_TMP/a.csv" >/dev/null
python3 "$E2E_DATA/loan_data.py" synthetic --seed 32 --rows "$ROWS_B" --out "$E2E_TMP/b.csv" >/dev/null
# Expected counts per file: rows within the narrow and the wide range (the generator's rows
# are otherwise valid and distinct).
read -r A15 B15 B30 < <(python3 - "$E2E_TMP/a.csv" "$E2E_TMP/b.csv" <<'PY'
import csv, sys
def within(path, hi):
    return sum(1 for r in csv.DictReader(open(path)) if 500 <= float(r["funded_amnt"]) <= hi)
print(within(sys.argv[1], 15000), within(sys.argv[2], 15000), within(sys.argv[2], 30000))
PY
)
e2e_log "SYNTHETIC A: $ROWS_A rows ($A15 within 15000); B: $ROWS_B rows ($B15 within 15000, $B30 within 30000)"

e2e_pipeline --partitions 3
grep -q '^      max: 40000$' "$E2E_PIPELINE" || e2e_fail "the funded_amnt range rule is not where the test expects it"
sed 's/^      max: 40000$/      max: 30000/' "$E2E_PIPELINE" >"$E2E_TMP/widened.yaml"
sed -i 's/^      max: 40000$/      max: 15000/' "$E2E_PIPELINE"
e2e_up

e2e_feed "$E2E_TMP/a.csv" a.csv
e2e_wait "$ROWS_A"
sleep 1
T=$(python3 -c 'import time; print(int(time.time() * 1000))')
sleep 1
e2e_feed "$E2E_TMP/b.csv" b.csv
e2e_wait $((ROWS_A + ROWS_B))

rows_before=$(e2e_rows)
dlq_before=$(e2e_dlq_json --records | wc -l)
e2e_check '(( rows_before == A15 + B15 ))' "the narrow rule loaded $rows_before rows (A $A15 + B $B15)"
e2e_check '(( dlq_before == ROWS_A + ROWS_B - A15 - B15 ))' "and dead-lettered $dlq_before"
e2e_psql "SELECT string_agg(loan_id, ',') FROM \"$E2E_TABLE\"" >"$E2E_TMP/loaded_before"
# Key and amount of the rows loaded before the replay (A's, and B's within the narrow range).
loaded_md5() {
  e2e_psql "SELECT count(*) || ':' || md5(string_agg(loan_id || '/' || funded_amnt::text, ',' ORDER BY loan_id)) FROM \"$E2E_TABLE\" WHERE loan_id = ANY(string_to_array('$(cat "$E2E_TMP/loaded_before")', ','))"
}
md5_before=$(loaded_md5)

ends() {
  local t out=""
  for t in "$E2E_ID.clean" "$E2E_ID.dlq" "$E2E_ID.positions"; do
    out+="$(kcat -b "$SLUICE_KAFKA_BROKERS" -Q -t "$t:0:-1" -t "$t:1:-1" -t "$t:2:-1" 2>/dev/null | sort | tr '\n' ' ')"
  done
  echo "$out"
}
replay() {
  "$SLUICE_BIN_DIR/sluice-replay" --pipeline "$E2E_TMP/widened.yaml" --through cleaner \
    --from-time "$T" --log-format text --log-level warn "$@"
}
# summary_value <file> <key>
summary_value() { sed -n "s/^$2: //p" "$1"; }

ends_before=$(ends)
replay --dry-run >"$E2E_TMP/dry.out" 2>"$E2E_TMP/dry.err" || { cat "$E2E_TMP/dry.err"; e2e_fail "the dry run failed"; }
cat "$E2E_TMP/dry.out"
sleep 2
e2e_check '[[ "$(ends)" == "$ends_before" ]]' "the dry run wrote nothing to clean, DLQ or positions"
e2e_check '(( $(e2e_rows) == rows_before ))' "the dry run changed no row"
e2e_check '(( $(summary_value "$E2E_TMP/dry.out" records) == ROWS_B ))' "the dry run read B's $ROWS_B records, from T on"
e2e_check '(( $(summary_value "$E2E_TMP/dry.out" would_emit) == B30 ))' "the dry run would emit $B30"
e2e_check '(( $(sed -n "s/^rejected funded_amnt_range: //p" "$E2E_TMP/dry.out") == ROWS_B - B30 ))' "and reject $((ROWS_B - B30)) by funded_amnt_range"

replay >"$E2E_TMP/real.out" 2>"$E2E_TMP/real.err" || { cat "$E2E_TMP/real.err"; e2e_fail "the replay failed"; }
cat "$E2E_TMP/real.out"
grep -q '^replay complete$' "$E2E_TMP/real.out" || e2e_fail "the replay did not say it completed"
emitted=$(summary_value "$E2E_TMP/real.out" emitted)
dead=$(summary_value "$E2E_TMP/real.out" dead_lettered)
records=$(summary_value "$E2E_TMP/real.out" records)
e2e_check '[[ $records == $(summary_value "$E2E_TMP/dry.out" records) && $emitted == $(summary_value "$E2E_TMP/dry.out" would_emit) && $dead == $(summary_value "$E2E_TMP/dry.out" would_dead_letter) ]]' \
  "the dry run's counts (records, emitted, dead-lettered) equal the real run's ($records, $emitted, $dead)"
e2e_check '[[ "$(grep "^rejected\|^flagged\|^partition" "$E2E_TMP/real.out")" == "$(grep "^rejected\|^flagged\|^partition" "$E2E_TMP/dry.out")" ]]' \
  "the dry run's per-partition and per-reason counts equal the real run's"

# The live enricher and sink take the replay's output: wait for table + DLQ to settle.
expected=$((A15 + B30 + dlq_before + dead))
e2e_wait "$expected"
rows_after=$(e2e_rows)
dlq_after=$(e2e_dlq_json --records | wc -l)
e2e_check '(( rows_after == A15 + B30 ))' "B's rows within the widened range are all loaded ($rows_after = A $A15 + B $B30)"
e2e_check '(( dlq_after == dlq_before + dead ))' "the DLQ grew by the replay's dead letters only ($dlq_before + $dead)"
e2e_check '(( ROWS_A + ROWS_B + records == rows_before + emitted + dlq_after ))' \
  "accounting: rows in (A + B + replayed $records) = loaded before ($rows_before) + the replay's emits ($emitted) + DLQ ($dlq_after)"
e2e_check '(( rows_after == rows_before + emitted - B15 ))' "the replay's emits of B's rows loaded before ($B15) replaced them (upserts by key)"
over_a=$(python3 - "$E2E_TMP/a.csv" <<'PY'
import csv, sys
print(sum(1 for r in csv.DictReader(open(sys.argv[1])) if float(r["funded_amnt"]) > 15000))
PY
)
e2e_check '(( $(e2e_psql "SELECT count(*) FROM \"$E2E_TABLE\" WHERE funded_amnt > 15000") == B30 - B15 ))' \
  "older rows untouched: only B's rows over 15000 are in the table, none of A's $over_a"
e2e_check '[[ "$(loaded_md5)" == "$md5_before" ]]' "the rows loaded before the replay are there with the same key and amount"

# Through the enricher (dry): every committed clean record (the live cleaner's and the
# replay's) is read and judged by today's steps.
"$SLUICE_BIN_DIR/sluice-replay" --pipeline "$E2E_TMP/widened.yaml" --through enricher --from-beginning \
  --dry-run --log-format text --log-level warn >"$E2E_TMP/enrich.out" 2>"$E2E_TMP/enrich.err" ||
  { cat "$E2E_TMP/enrich.err"; e2e_fail "the dry run through the enricher failed"; }
cat "$E2E_TMP/enrich.out"
e2e_check '(( $(summary_value "$E2E_TMP/enrich.out" records) == A15 + B15 + B30 ))' \
  "a dry run through the enricher reads every committed clean record (A $A15 + B $B15 + replayed $B30)"
e2e_check '(( $(summary_value "$E2E_TMP/enrich.out" would_emit) + $(summary_value "$E2E_TMP/enrich.out" would_dead_letter) == A15 + B15 + B30 ))' \
  "and judges each: emitted or dead-lettered"

replay >"$E2E_TMP/again.out" 2>"$E2E_TMP/again.err" || { cat "$E2E_TMP/again.err"; e2e_fail "the second run failed"; }
ends_done=$(ends)
e2e_check 'grep -q "is done already" "$E2E_TMP/again.out"' "a second run of the same range says it is done already"
e2e_check '[[ "$(ends)" == "$ends_done" ]]' "and writes nothing"
