#!/usr/bin/env bash
# postgres_cdc end to end (issue #12): a products-like table read by logical replication into a
# private pipeline (postgres_cdc -> cleaner -> pg-sink). Checks: the initial snapshot hands over
# to the stream with rows inserted meanwhile each arriving once; an update and a delete reach
# the sink table; kill -9 of the producer (twice) during a burst of changes, then its keeper's
# restart: the raw topic holds every change exactly once and the sink table equals the source.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init pgcdc
cdc_init
cdc_source_table 6000
CDC_BATCH_SIZE=50 cdc_pipeline
cdc_up

# Inserts from the start: with 6000 rows read 50 per Kafka transaction, some land while the
# snapshot is read, the rest after it.
e2e_wait_log producer '"msg":"snapshot started"' 1 60
overlap=0
for i in $(seq 10001 10100); do
  e2e_psql "INSERT INTO \"$CDC_SRC\" VALUES ($i, 'late $i', $i, 'office')" >/dev/null
  (( i == 10005 )) && overlap=$(( 1 - $(e2e_log_count producer '"msg":"snapshot read') ))
done
e2e_check "(( overlap == 1 ))" "the first inserts committed while the snapshot was being read"
cdc_wait_rows 6100 180
reads=$(cdc_raw_count r) creates=$(cdc_raw_count c)
e2e_check "(( reads + creates == 6100 ))" "snapshot handover: $reads snapshot rows + $creates inserts = 6100, none twice, none missing"
e2e_check "(( reads >= 6000 ))" "the 6000 rows present before the slot are in the snapshot"

# An update and a delete reach the sink table.
e2e_psql "UPDATE \"$CDC_SRC\" SET price = 999.99, name = 'renamed' WHERE id = 1" >/dev/null
e2e_psql "DELETE FROM \"$CDC_SRC\" WHERE id = 2" >/dev/null
for (( i = 0; i < 120; i++ )); do
  [[ $(e2e_psql "SELECT count(*) FROM \"$E2E_TABLE\" WHERE (id = 1 AND price = 999.99 AND name = 'renamed' AND _op = 'u') OR (id = 2 AND _op = 'd')") == 2 ]] && break
  sleep 0.5
done
e2e_check "[[ \$(e2e_psql \"SELECT _op || ':' || price FROM \\\"$E2E_TABLE\\\" WHERE id = 1\") == u:999.99 ]]" "the update reached the sink table"
e2e_check "[[ \$(e2e_psql \"SELECT _op || ':' || coalesce(name, 'null') FROM \\\"$E2E_TABLE\\\" WHERE id = 2\") == d:null ]]" "the delete reached the sink table (a delete event: key, _op d, other fields null)"

# A burst of 400 transactions of two changes each (an update and an insert); the producer is
# killed twice in the middle of it.
(
  for i in $(seq 1 400); do
    e2e_psql "UPDATE \"$CDC_SRC\" SET price = price + 1 WHERE id = $(( i % 50 + 3 )); INSERT INTO \"$CDC_SRC\" VALUES ($(( 20000 + i )), 'burst $i', $i, 'furniture')" >/dev/null
  done
) &
burst=$!
# (kcat -e with read_committed waits while a transaction is open, so progress is read from
# the sink table during the burst.)
mid=0
for at in 60 200; do
  for (( i = 0; i < 240; i++ )); do
    n=$(e2e_psql "SELECT count(*) FROM \"$E2E_TABLE\" WHERE id > 20000")
    (( n >= at )) && break
    sleep 0.25
  done
  "$E2E_PIPE" kill -9 "$E2E_ID" producer
  kill -0 "$burst" 2>/dev/null && mid=$(( mid + 1 ))
  e2e_log "producer killed with $n burst rows in the sink table; its keeper restarts it"
done
wait "$burst" || e2e_fail "the burst of changes failed"
expected=$(( 6100 + 2 + 800 ))
for (( i = 0; i < 360; i++ )); do
  (( $(cdc_raw_count) >= expected )) && cdc_same_as_source && break
  sleep 0.5
done
e2e_check "(( mid == 2 ))" "both kills landed while the burst was running"
e2e_check "(( \$(cdc_raw_count) == expected ))" "the raw topic holds $expected committed changes: each exactly once across two kill -9"
e2e_check "cdc_same_as_source" "the sink table equals the source table (every live row, latest values)"
e2e_check "(( \$(e2e_rows) == 6100 + 400 ))" "6500 rows in the sink table (the deleted one kept as _op d)"
dlq=$(e2e_dlq_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
e2e_check "(( dlq == 0 ))" "nothing in the DLQ"
restarts=$(grep -c '"supervisor":"restart"' "$E2E_PDIR/logs/producer.log" || true)
e2e_check "(( restarts >= 2 ))" "the producer was restarted after each kill ($restarts restarts)"
