# Helpers for the postgres_cdc e2e tests (sourced after ../lib/e2e.sh): a products-like source
# table of the test's own, and a private pipeline postgres_cdc -> cleaner -> pg-sink (no
# enricher) written into $E2E_TMP, with its slot and publication dropped at teardown.
#
#   cdc_source_table <rows>       creates "$CDC_SRC" (id, name, price numeric, category) with rows 1..n
#   cdc_pipeline                  writes $E2E_PIPELINE and its schemas (CDC_DELETES, CDC_BATCH_SIZE)
#   cdc_up [up options]           brings the pipeline up
#   cdc_raw_count [op]            committed records of the raw topic (with that _op: c u d r)
#   cdc_wait_rows <n> [timeout]   waits until the sink table holds n rows
#   cdc_same_as_source            0 when every live source row is in the sink table as is

cdc_init() {
  CDC_SRC="${E2E_ID}_src"
  CDC_SLOT="sluice_${E2E_ID}"
  CDC_PUB="sluice_${E2E_ID}"
  # After the pipeline is down: the slot (once its walsender is gone), the publication, the table.
  e2e_on_teardown "for i in \$(seq 50); do n=\$(psql -X -tAc \"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$CDC_SLOT' AND active\"); [[ \$n == 0 ]] && break; sleep 0.2; done; psql -X -q -c \"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$CDC_SLOT'\""
  e2e_on_teardown "psql -X -q -c 'DROP PUBLICATION IF EXISTS $CDC_PUB'"
  e2e_on_teardown "psql -X -q -c 'DROP TABLE IF EXISTS \"$CDC_SRC\"'"
  trap cdc_exit EXIT
}

# A failed run keeps its table and topics for inspection, but not its slot: an inactive slot
# holds WAL back on the shared server. Dropped in the background once the teardown has
# stopped the producer (its walsender gone).
cdc_exit() {
  local rc=$?
  if (( rc != 0 )); then
    e2e_log "dropping replication slot $CDC_SLOT once the pipeline is down"
    (
      for (( i = 0; i < 600; i++ )); do
        n=$(psql -X -tAc "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$CDC_SLOT' AND NOT active" 2>/dev/null || echo err)
        if [[ $n == 1 ]]; then
          psql -X -q -c "SELECT pg_drop_replication_slot('$CDC_SLOT')" && break
        fi
        [[ $(psql -X -tAc "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$CDC_SLOT'" 2>/dev/null) == 0 ]] && break
        sleep 0.2
      done
    ) >/dev/null 2>&1 &
  fi
  set +e  # e2e_teardown reads the status from $?: (exit rc) must not end the shell here
  (exit "$rc")
  e2e_teardown
}

cdc_source_table() {
  e2e_psql "CREATE TABLE \"$CDC_SRC\" (id bigint PRIMARY KEY, name text NOT NULL, price numeric(10,2), category text);
            INSERT INTO \"$CDC_SRC\" SELECT g, 'product ' || g, g * 1.25, CASE WHEN g % 2 = 0 THEN 'office' ELSE 'furniture' END
            FROM generate_series(1, $1) g" >/dev/null || e2e_fail "could not create the source table"
}

cdc_pipeline() {
  local dir="$E2E_TMP/cdc"
  mkdir -p "$dir/schemas"
  cat >"$dir/schemas/raw.avsc" <<JSON
{"type": "record", "name": "ProductChange", "namespace": "sluice.e2e", "fields": [
  {"name": "id", "type": "long"},
  {"name": "name", "type": ["null", "string"], "default": null},
  {"name": "price", "type": ["null", "double"], "default": null},
  {"name": "category", "type": ["null", "string"], "default": null},
  {"name": "_op", "type": "string"},
  {"name": "_lsn", "type": "long"}]}
JSON
  cp "$dir/schemas/raw.avsc" "$dir/schemas/clean.avsc"
  cat >"$E2E_PIPELINE" <<YAML
pipeline: $E2E_ID
description: postgres_cdc e2e ($CDC_SRC)
topics:
  raw: $E2E_ID.raw
  clean: $E2E_ID.clean
  enriched: $E2E_ID.clean
  dlq: $E2E_ID.dlq
  partitions: 1
schemas:
  raw: $dir/schemas/raw.avsc
  clean: $dir/schemas/clean.avsc
producer:
  sources:
    - type: postgres_cdc
      name: products
      tables: [public.$CDC_SRC]
      slot: $CDC_SLOT
      publication: $CDC_PUB
      deletes: ${CDC_DELETES:-event}
      snapshot: initial
      status_interval: 2s
      snapshot_fetch: 100
  key: [id]
  batch_size: ${CDC_BATCH_SIZE:-500}
cleaner:
  rules:
    - name: id_required
      type: required
      fields: [id]
sink:
  table: $E2E_TABLE
  key: [id]
YAML
}

cdc_up() {
  E2E_UP=1
  "$E2E_PIPE" up "$E2E_PIPELINE" "$@" || e2e_fail "the cdc pipeline did not come up"
}

cdc_raw_count() {
  kcat -C -b "$SLUICE_KAFKA_BROKERS" -t "$E2E_ID.raw" -X isolation.level=read_committed -e -q \
    -f '%h\n' 2>/dev/null | grep -c -- "sluice-source-op=${1:-}" || true
}

cdc_wait_rows() {
  local i limit=$(( ${2:-120} * 2 ))
  for (( i = 0; i < limit; i++ )); do
    (( $(e2e_rows) == $1 )) && return 0
    sleep 0.5
  done
  e2e_fail "the sink table has $(e2e_rows) rows, expected $1 after ${2:-120}s"
}

# The live source rows and the sink rows that are not deletes, as text, must be equal.
cdc_same_as_source() {
  local a b
  a=$(e2e_psql "SELECT md5(coalesce(string_agg(id || '|' || name || '|' || coalesce(price::float8::text, '') || '|' || coalesce(category, ''), ',' ORDER BY id), '')) FROM \"$CDC_SRC\"")
  b=$(e2e_psql "SELECT md5(coalesce(string_agg(id || '|' || name || '|' || coalesce(price::float8::text, '') || '|' || coalesce(category, ''), ',' ORDER BY id), '')) FROM \"$E2E_TABLE\" WHERE _op <> 'd'")
  [[ $a == "$b" ]]
}
