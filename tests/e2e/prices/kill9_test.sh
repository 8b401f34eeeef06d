#!/usr/bin/env bash
# kill -9 of the producer in the middle of a sweep of the price API, twice (issue #11): the
# source's position (page, records taken from it, cursor) is committed in the same Kafka
# transaction as the records, so after each restart every record is written exactly once: the
# raw topic holds each served day once, the table has every day, the DLQ nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init prices_kill9
prices_api_start --fail-every 0
# Slow enough (1 request/s, 21 pages) for both kills to land mid-sweep.
prices_copy prices "$E2E_ID" "$E2E_PIPELINE" rate_limit=1/s
E2E_UP=1
"$E2E_PIPE" up "$E2E_PIPELINE" || e2e_fail "the prices pipeline did not come up"
days=$(prices_days)

for at in 500 3000; do
  for (( i = 0; i < 240; i++ )); do
    (( $(e2e_rows) >= at )) && break
    sleep 0.25
  done
  (( $(e2e_rows) >= at )) || e2e_fail "the table never reached $at rows"
  (( $(prices_sweeps "$E2E_PDIR") == 0 )) || e2e_fail "the sweep ended before the kill at $at rows (too fast to test)"
  # The keeper may still be restarting it after the last kill: wait until it runs again.
  for (( i = 0; i < 60; i++ )); do
    "$E2E_PIPE" kill -9 "$E2E_ID" producer 2>/dev/null && break
    sleep 0.5
  done
  (( i < 60 )) || e2e_fail "the producer was not running again 30 s after the last kill"
  e2e_log "producer killed with $(e2e_rows) rows in the table; its keeper restarts it"
done
prices_wait_sweep "$E2E_PDIR" 240
e2e_wait "$days" 300

e2e_check "(( $(e2e_rows) == days ))" "every one of the $days days is in the table"
e2e_check "(( $(e2e_psql "SELECT count(DISTINCT date) FROM \"$E2E_TABLE\"") == days ))" "each day once"
dlq=$(e2e_dlq_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
e2e_check "(( dlq == 0 ))" "nothing in the DLQ (a repeated record would be a duplicate there)"
raw=$(kcat -C -b "$SLUICE_KAFKA_BROKERS" -t "$E2E_ID.raw" -X isolation.level=read_committed -e -q -f '%o\n' | wc -l)
e2e_check "(( raw == days ))" "the raw topic holds $raw committed records: each served day exactly once"
restarts=$(grep -c '"supervisor":"restart"' "$E2E_PDIR/logs/producer.log" || true)
e2e_check "(( restarts >= 2 ))" "the producer was restarted after each kill ($restarts restarts)"
