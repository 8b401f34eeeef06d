#!/usr/bin/env bash
# kill -9 of the producer while the postgres source reads a table and writers keep inserting,
# twice: the source's window and last (by, key) are committed in the same Kafka transaction as
# the rows, so after each restart every row is written exactly once: the raw topic holds each
# id once, the sink table every id, the DLQ nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"

e2e_init pg_kill9
SRC="${E2E_ID}_src"
e2e_on_teardown "psql -X -q -c 'DROP TABLE IF EXISTS \"$SRC\"'"
INITIAL=30000
LATER=2000

e2e_psql "CREATE TABLE \"$SRC\" (id bigint PRIMARY KEY, name text NOT NULL)" || e2e_fail "could not create the source table"
e2e_psql "INSERT INTO \"$SRC\" SELECT g, 'row ' || g FROM generate_series(1, $INITIAL) g" || e2e_fail "could not fill it"

for stage in raw clean; do
  cat >"$E2E_TMP/$stage.avsc" <<AVSC
{"type": "record", "name": "Row_$stage", "namespace": "sluice.e2e",
 "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": "string"}]}
AVSC
done
# Small transactions (200 rows) so that the kills land in the middle of the table.
cat >"$E2E_PIPELINE" <<YAML
pipeline: $E2E_ID
description: e2e kill -9 of the producer reading a postgres table
topics: {raw: $E2E_ID.raw, clean: $E2E_ID.clean, enriched: $E2E_ID.clean, dlq: $E2E_ID.dlq, partitions: 1}
schemas: {raw: $E2E_TMP/raw.avsc, clean: $E2E_TMP/clean.avsc}
producer:
  sources:
    - {type: postgres, name: src, table: $SRC, by: id, poll_interval: 100ms, batch_size: 200}
  key: [id]
  batch_size: 200
cleaner:
  rules: []
sink: {table: $E2E_TABLE, key: [id]}
YAML

E2E_UP=1
"$E2E_PIPE" up "$E2E_PIPELINE" || e2e_fail "the pipeline did not come up"

# Writers: LATER more rows, ten per transaction, while the producer is killed.
(
  for (( b = 0; b < LATER / 10; b++ )); do
    from=$(( INITIAL + b * 10 + 1 ))
    psql -X -q -c "INSERT INTO \"$SRC\" SELECT g, 'later ' || g FROM generate_series($from, $(( from + 9 ))) g" || exit 1
    sleep 0.02
  done
) &
WRITER=$!

for at in 3000 15000; do
  for (( i = 0; i < 480; i++ )); do
    (( $(e2e_rows) >= at )) && break
    sleep 0.25
  done
  rows=$(e2e_rows)
  (( rows >= at )) || e2e_fail "the table never reached $at rows"
  (( rows < INITIAL )) || e2e_fail "the table was read before the kill at $at rows (too fast to test)"
  "$E2E_PIPE" kill -9 "$E2E_ID" producer
  e2e_log "producer killed with $rows rows in the sink table; its keeper restarts it"
done
wait "$WRITER" || e2e_fail "the writers failed"
total=$(( INITIAL + LATER ))
e2e_wait "$total" 300

e2e_check "(( $(e2e_rows) == total ))" "every one of the $total rows is in the sink table"
dlq=$(e2e_dlq_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
e2e_check "(( dlq == 0 ))" "nothing in the DLQ"
kcat -C -b "$SLUICE_KAFKA_BROKERS" -t "$E2E_ID.raw" -X isolation.level=read_committed -e -q -f '%k\n' >"$E2E_TMP/keys"
raw=$(wc -l <"$E2E_TMP/keys")
distinct=$(sort -u "$E2E_TMP/keys" | wc -l)
e2e_check "(( raw == total && distinct == total ))" "the raw topic holds $raw committed records, $distinct distinct ids: each row exactly once"
restarts=$(grep -c '"supervisor":"restart"' "$E2E_PDIR/logs/producer.log" || true)
e2e_check "(( restarts >= 2 ))" "the producer was restarted after each kill ($restarts restarts)"
