#!/usr/bin/env bash
# Two pipelines on one host with default settings (issue #8): two copies of the loans pipeline
# file under two pipeline names, brought up one after the other by deploy/local/pipeline,
# which sets no health port (each daemon binds a free one and writes it to ports/<daemon>).
# Both must become ready, every daemon on a port of its own, and each must then load a file
# fed to it, with exact accounting. Before the ports left the pipeline file, the second `up`
# failed: its daemons wanted the first one's ports 9101-9104.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"

e2e_init side
SECOND="${E2E_ID}_b"
SECOND_DIR="$STACK_DIR/pipelines/$SECOND"
mkdir -p "$E2E_TMP/second/inbox"
e2e_pipeline
e2e_pipeline_copy "$SECOND" "$E2E_TMP/second/pipeline.yaml" "$E2E_TMP/second/inbox"
e2e_check '! grep -q "^http:" "$E2E_PIPELINE" "$E2E_TMP/second/pipeline.yaml"' "neither pipeline file sets a health port"
# The second pipeline goes down before the first, whose registry it uses (e2e_teardown stops
# the first, with the registry, and reports).
trap 'rc=$?; "$E2E_PIPE" down "$SECOND" >/dev/null 2>&1 || true
      (( rc == 0 )) && rm -rf "$SECOND_DIR"; (exit $rc); e2e_teardown' EXIT
e2e_on_teardown "e2e_psql 'DROP TABLE IF EXISTS \"$SECOND\"'"
unset SLUICE_HTTP_PORT SLUICE_HTTP_BIND SLUICE_HTTP_PORT_FILE  # default settings

e2e_up
"$E2E_PIPE" up "$E2E_TMP/second/pipeline.yaml" || e2e_fail "the second pipeline did not come up next to the first"

# status exits 0 only when every member answers /readyz with 200.
e2e_check '"$E2E_PIPE" status "$E2E_ID"' "every daemon of the first pipeline is ready"
e2e_check '"$E2E_PIPE" status "$SECOND"' "every daemon of the second pipeline is ready"
ports=()
for dir in "$E2E_PDIR" "$SECOND_DIR"; do
  for d in producer cleaner enricher pg-sink; do
    port=$(cat "$dir/ports/$d")
    e2e_check '[[ $port =~ ^[0-9]+$ ]] && (( port > 0 ))' "$(basename "$dir") $d wrote its health port ($port)"
    ports+=("$port")
  done
done
distinct=$(printf '%s\n' "${ports[@]}" | sort -u | wc -l)
e2e_check '(( distinct == 8 ))' "the eight daemons listen on eight ports (${ports[*]})"

# Both pipelines work, each into its own table.
python3 "$E2E_DATA/loan_data.py" synthetic --seed 31 --rows 300 --out "$E2E_TMP/data.csv" >/dev/null
e2e_feed "$E2E_TMP/data.csv" data.csv
cp "$E2E_TMP/data.csv" "$E2E_TMP/second/inbox/.data.csv.part"
mv "$E2E_TMP/second/inbox/.data.csv.part" "$E2E_TMP/second/inbox/data.csv"
e2e_wait 300 300
python3 "$E2E_TOOL" wait "$SECOND_DIR" --expected 300 --timeout 300 --interval 5 --settle ||
  e2e_fail "the second pipeline did not load its file"
for table in "$E2E_TABLE" "$SECOND"; do
  rows=$(e2e_psql "SELECT count(*) FROM \"$table\"")
  dlq=$(python3 "$E2E_TOOL" dlq "$table.dlq" --records | wc -l)
  e2e_check '(( rows > 0 && rows + dlq == 300 ))' "$table: 300 rows in = $rows loaded + $dlq in the DLQ"
done
