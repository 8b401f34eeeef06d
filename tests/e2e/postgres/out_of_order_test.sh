#!/usr/bin/env bash
# Out-of-order commits (issue #12): two concurrent transactions insert rows whose ids commit in
# reverse order - T1 takes id 11 and stays open, T2 inserts id 12 and commits first, the
# pollers poll, then T1 commits. A private pipeline (producer source type postgres -> cleaner ->
# pg-sink) delivers every row exactly once; a naive `WHERE id > last` poller, run on the same
# interleaving, skips id 11 for ever.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"

e2e_init pg_ooo
SRC="${E2E_ID}_src"
e2e_on_teardown "psql -X -q -c 'DROP TABLE IF EXISTS \"$SRC\"'"

e2e_psql "CREATE TABLE \"$SRC\" (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2), at timestamptz DEFAULT now())" ||
  e2e_fail "could not create the source table"
e2e_psql "INSERT INTO \"$SRC\" (id, name, amount) SELECT g, 'row ' || g, g * 1.25 FROM generate_series(1, 10) g" ||
  e2e_fail "could not fill the source table"

# The pipeline: the same record as raw and clean (no rules change it), no enricher.
for stage in raw clean; do
  cat >"$E2E_TMP/$stage.avsc" <<AVSC
{"type": "record", "name": "Row_$stage", "namespace": "sluice.e2e",
 "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": "string"},
            {"name": "amount", "type": ["null", "string"], "default": null},
            {"name": "at", "type": ["null", "string"], "default": null}]}
AVSC
done
cat >"$E2E_PIPELINE" <<YAML
pipeline: $E2E_ID
description: e2e out-of-order commits through the postgres source
topics: {raw: $E2E_ID.raw, clean: $E2E_ID.clean, enriched: $E2E_ID.clean, dlq: $E2E_ID.dlq, partitions: 1}
schemas: {raw: $E2E_TMP/raw.avsc, clean: $E2E_TMP/clean.avsc}
producer:
  sources:
    - {type: postgres, name: src, table: $SRC, by: id, poll_interval: 200ms, batch_size: 4, statement_timeout: 5s}
  key: [id]
cleaner:
  rules: []
sink: {table: $E2E_TABLE, key: [id]}
YAML

E2E_UP=1
"$E2E_PIPE" up "$E2E_PIPELINE" || e2e_fail "the pipeline did not come up"
e2e_wait 10 180

# The naive poller: the greatest id read so far is its watermark.
NAIVE_LAST=0
NAIVE_SEEN=()
naive_poll() {
  local id
  for id in $(e2e_psql "SELECT id FROM \"$SRC\" WHERE id > $NAIVE_LAST ORDER BY id"); do
    NAIVE_SEEN+=("$id")
    NAIVE_LAST=$id
  done
}
naive_poll

# T1: a background psql that inserts id 11 and holds its transaction open until told to commit.
mkfifo "$E2E_TMP/t1"
PGAPPNAME="${E2E_ID}_t1" psql -X -q -v ON_ERROR_STOP=1 <"$E2E_TMP/t1" >"$E2E_TMP/t1.log" 2>&1 &
T1_PID=$!
exec 3>"$E2E_TMP/t1"
echo "BEGIN; INSERT INTO \"$SRC\" (id, name, amount) VALUES (11, 'taken first, committed last', 11.00);" >&3
for (( i = 0; i < 100; i++ )); do
  held=$(e2e_psql "SELECT count(*) FROM pg_stat_activity WHERE application_name = '${E2E_ID}_t1' AND backend_xid IS NOT NULL AND state = 'idle in transaction'")
  (( held == 1 )) && break
  sleep 0.1
done
e2e_check "(( held == 1 ))" "T1 inserted id 11 and holds its transaction open"

# T2 inserts id 12 and commits first.
e2e_psql "INSERT INTO \"$SRC\" (id, name, amount) VALUES (12, 'taken second, committed first', 12.00)" ||
  e2e_fail "T2 failed"
naive_poll
sleep 3  # fifteen poll intervals of the source, with 12 committed and 11 still open
e2e_check "[[ \$(e2e_rows) == 10 ]]" "the source waits: id 12 is not sent while an older transaction (T1) is open"

echo "COMMIT;" >&3
exec 3>&-
wait "$T1_PID" || e2e_fail "T1 failed: $(cat "$E2E_TMP/t1.log")"
naive_poll

e2e_wait 12 180
ids=$(e2e_psql "SELECT string_agg(id::text, ',' ORDER BY id) FROM \"$E2E_TABLE\"")
e2e_check "[[ '$ids' == '1,2,3,4,5,6,7,8,9,10,11,12' ]]" "the sink has every row: $ids"
e2e_check "[[ \$(e2e_psql \"SELECT name FROM \\\"$E2E_TABLE\\\" WHERE id = 11\") == 'taken first, committed last' ]]" \
  "the row committed out of order arrived"
out=$(e2e_metric producer sluice_records_out_total)
e2e_check "(( ${out%.*} == 12 ))" "the producer wrote exactly 12 records to the raw topic (each row once): $out"
dlq=$(e2e_dlq_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
e2e_check "(( dlq == 0 ))" "nothing in the DLQ"
amount=$(e2e_psql "SELECT amount FROM \"$E2E_TABLE\" WHERE id = 3")
e2e_check "[[ '$amount' == '3.75' ]]" "numeric arrives as its exact text: $amount"

naive="${NAIVE_SEEN[*]}"
e2e_check "[[ '$naive' == '1 2 3 4 5 6 7 8 9 10 12' ]]" "the naive WHERE id > last poller skipped id 11: read $naive"
