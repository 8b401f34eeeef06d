# Helpers for the retail e2e tests (sourced after ../lib/e2e.sh): the whole retail use case on
# the shared stack, isolated by PostgreSQL schemas. Every table and view of the test (the
# sinks' tables, the reference tables, the views) lives in schema $RETAIL_SCHEMA (= $E2E_ID):
# PGOPTIONS sets search_path to it for psql and the daemons, and each sink's schema is set to
# it, so the pipelines' SQL runs unchanged with its production names. The source database
# tables live in ${E2E_ID}_src. Reuses the price API of ../prices/lib.sh and the slot clean-up
# of ../postgres/lib.sh.
#
#   retail_init                  schemas, the source database (load_source_db.py), both APIs
#   retail_up                    fx, retail_customers, retail_products up and loaded, then retail
#   retail_feed                  drops the historic CSV into the retail inbox
#   retail_wait_loaded [timeout] waits for retail_sales rows + DLQ = CSV lines + table rows
#   retail_count <sql>           one value from the test's schema
#   retail_dlq <pipeline name>   the DLQ summary JSON of that pipeline
#   retail_ref_csv               loads the historic CSV into the table ref_csv (COPY, the test's schema)
#   retail_wait_table <p> <n>    waits until that pipeline's table rows + DLQ reach n, settled

source "$(dirname "${BASH_SOURCE[0]}")/../prices/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../postgres/lib.sh"

RETAIL_LOADER="$SLUICE_ROOT/pipelines/retail/load_source_db.py"
RETAIL_API="$SLUICE_ROOT/pipelines/retail/api/customer_api.py"
RETAIL_DATA="$SLUICE_ROOT/tests/data/retail/superstore.csv"

# Stops both APIs; after a failure, also the products pipeline and its slot at once (an
# inactive slot holds WAL back on the shared server; the rest is kept for inspection).
retail_exit() {
  local rc=$?
  set +e  # errexit must not end the trap before the teardown (as in cdc_exit)
  kill ${E2E_API_PIDS[*]} 2>/dev/null
  if (( rc != 0 )) && [[ -n ${PROD_NAME:-} ]]; then
    "$E2E_PIPE" down "$PROD_NAME" >/dev/null 2>&1 || true
    psql -X -q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                   WHERE slot_name = '$CDC_SLOT' AND NOT active" >/dev/null 2>&1 || true
  fi
  (exit "$rc")
  cdc_exit
}

retail_init() {
  RETAIL_SCHEMA=$E2E_ID
  RETAIL_SRC="${E2E_ID}_src"
  cdc_init   # slot and publication names, dropped at teardown (and after a failure)
  e2e_on_teardown "PGOPTIONS= psql -X -q -c 'DROP SCHEMA IF EXISTS \"$RETAIL_SCHEMA\" CASCADE'"
  e2e_on_teardown "PGOPTIONS= psql -X -q -c 'DROP SCHEMA IF EXISTS \"$RETAIL_SRC\" CASCADE'"
  e2e_psql "CREATE SCHEMA \"$RETAIL_SCHEMA\"" >/dev/null || e2e_fail "could not create schema $RETAIL_SCHEMA"
  export PGOPTIONS="-c search_path=$RETAIL_SCHEMA"
  RETAIL_CSV="$E2E_TMP/sales_2014_2015.csv"
  python3 "$RETAIL_LOADER" --schema "$RETAIL_SRC" --historic-out "$RETAIL_CSV" --reset ||
    e2e_fail "load_source_db.py failed"
  prices_api_start
  export SLUICE_RETAIL_API_TOKEN="e2e-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  e2e_api_start "$RETAIL_API" SLUICE_RETAIL_API_URL --token "$SLUICE_RETAIL_API_TOKEN"
  trap retail_exit EXIT   # after e2e_api_start's: the slot clean-up of a failed run too
  FX_NAME="${E2E_ID}_fx" CUST_NAME="${E2E_ID}_cust" PROD_NAME="${E2E_ID}_prod"
  e2e_copy_pipeline fx "$FX_NAME" "$E2E_TMP/fx.yaml" "sink.schema=$RETAIL_SCHEMA"
  e2e_copy_pipeline retail_customers "$CUST_NAME" "$E2E_TMP/customers.yaml" "sink.schema=$RETAIL_SCHEMA"
  e2e_copy_pipeline retail_products "$PROD_NAME" "$E2E_TMP/products.yaml" "sink.schema=$RETAIL_SCHEMA" \
    "producer.sources.0.tables=[$RETAIL_SRC.products]" "producer.sources.0.slot=$CDC_SLOT" \
    "producer.sources.0.publication=$CDC_PUB" "producer.sources.0.status_interval=2s"
  e2e_copy_pipeline retail "$E2E_ID" "$E2E_PIPELINE" "sink.schema=$RETAIL_SCHEMA" \
    "producer.sources.0.dir=$E2E_INBOX" "producer.sources.1.table=$RETAIL_SRC.transactions"
}

retail_count() { e2e_psql "$1"; }
retail_dlq() { python3 "$E2E_TOOL" dlq "$1.dlq"; }
# retail_json <json> <python expression on d>
retail_json() { python3 -c "import json, sys; d = json.loads(sys.argv[1]); print($2)" "$1"; }

# retail_wait_table <pipeline name> <expected rows + DLQ> [timeout]
retail_wait_table() {
  python3 "$E2E_TOOL" wait "$STACK_DIR/pipelines/$1" --expected "$2" --timeout "${3:-300}" --interval 5 \
    --settle >/dev/null || e2e_fail "the pipeline $1 did not catch up to $2 rows + DLQ"
}

retail_up() {
  e2e_up_more "$E2E_TMP/fx.yaml"
  e2e_up_more "$E2E_TMP/customers.yaml"
  e2e_up_more "$E2E_TMP/products.yaml"
  prices_wait_sweep "$STACK_DIR/pipelines/$FX_NAME" 300
  local served_fx malformed
  served_fx=$(prices_api_stat "s['records_served']['fx']")
  malformed=$(prices_api_stat "s['malformed_pages']")
  retail_wait_table "$FX_NAME" $(( served_fx + malformed ))
  RETAIL_CUSTOMERS=$(python3 -c 'import csv, sys; print(len({r["Customer ID"] for r in csv.DictReader(open(sys.argv[1]))}))' "$RETAIL_DATA")
  RETAIL_PRODUCTS=$(retail_count "SELECT count(*) FROM \"$RETAIL_SRC\".products")
  retail_wait_table "$CUST_NAME" "$RETAIL_CUSTOMERS"
  retail_wait_table "$PROD_NAME" "$RETAIL_PRODUCTS"
  e2e_log "fx, customers ($RETAIL_CUSTOMERS) and products ($RETAIL_PRODUCTS) loaded; retail up"
  E2E_UP=1
  "$E2E_PIPE" up "$E2E_PIPELINE" || e2e_fail "the retail pipeline did not come up"
}

retail_feed() { e2e_feed "$RETAIL_CSV"; }

retail_wait_loaded() {
  RETAIL_CSV_LINES=$(( $(wc -l <"$RETAIL_CSV") - 1 ))
  RETAIL_DB_ROWS=$(retail_count "SELECT count(*) FROM \"$RETAIL_SRC\".transactions")
  retail_wait_table "$E2E_ID" $(( RETAIL_CSV_LINES + RETAIL_DB_ROWS )) "${1:-300}"
}

# The historic CSV in table ref_csv (a real table of the test's schema: psql sessions are one
# per call), loaded with COPY.
retail_ref_csv() {
  e2e_psql "CREATE TABLE ref_csv (row_id integer, order_id text, order_date text, ship_date text,
              ship_mode text, customer_id text, product_id text, sales numeric, quantity integer,
              discount numeric, profit numeric)" >/dev/null || e2e_fail "ref_csv"
  psql -X -q -v ON_ERROR_STOP=1 -c "\\copy ref_csv FROM '$RETAIL_CSV' (FORMAT csv, HEADER true)" ||
    e2e_fail "could not COPY the historic CSV"
}
