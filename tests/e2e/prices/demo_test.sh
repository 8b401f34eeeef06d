#!/usr/bin/env bash
# `scripts/demo prices --skip-build` (README) as a user runs it, on the shared local stack: it
# must end with both summaries balanced (rows read = loaded + rejected), the API's own count,
# and the four views. It uses the pipelines' real names (fx, prices) and tables (fx_rates,
# prices_daily): they are brought down and dropped afterwards, with their topics.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
e2e_require_env
e2e_require_binaries
tmp=$(mktemp -d /tmp/sluice-e2e-demo-prices.XXXX)
port=$(e2e_free_ports 1)
reset() {
  "$SLUICE_BIN_DIR/sluice" pipeline down prices >/dev/null 2>&1 || true
  "$SLUICE_BIN_DIR/sluice" pipeline down fx >/dev/null 2>&1 || true
  if [[ -f $SLUICE_ROOT/.stack/price-api/pid ]]; then kill "$(cat "$SLUICE_ROOT/.stack/price-api/pid")" 2>/dev/null || true; fi
  psql -X -q -c 'DROP TABLE IF EXISTS prices_daily, fx_rates CASCADE' >/dev/null 2>&1 || true
  psql -X -q -c "DELETE FROM sluice_offsets WHERE consumer_group IN ('sluice-sink-fx', 'sluice-sink-prices')" \
    >/dev/null 2>&1 || true
  local t
  for t in fx prices; do
    e2e_kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$SLUICE_KAFKA_BROKERS" \
      --delete --topic "$t\\..*" >/dev/null 2>&1 || true
  done
}
cleanup() {
  local rc=$?
  reset
  (( rc == 0 )) && rm -rf "$tmp"
  if (( rc == 0 )); then e2e_log PASS; else e2e_log "FAILED (output: $tmp/demo.log)"; fi
  exit "$rc"
}
trap cleanup EXIT
# A fresh start: no state of an earlier run of the demo.
reset
sleep 2  # topic deletion is asynchronous

# The stack the environment names (checked above), whichever checkout started it.
SLUICE_DEMO_STACK=running SLUICE_PRICE_API_PORT=$port "$SLUICE_ROOT/scripts/demo" prices --skip-build >"$tmp/demo.log" 2>&1 ||
  { tail -40 "$tmp/demo.log"; e2e_fail "scripts/demo prices failed"; }
out=$(grep -v '^\[' "$tmp/demo.log")
e2e_check '(( $(grep -c "accounting .*: yes" <<<"$out") == 2 ))' "both pipelines balance: rows read = loaded + rejected"
e2e_check 'grep -q "rows read (all sources)  5105" <<<"$out"' "the prices producer read the 5105 days"
e2e_check 'grep -q "producer/http_page: GET .*(page 3): not JSON" <<<"$out"' "the malformed FX page is in the fx summary"
e2e_check 'grep -q "cleaner/date_value: date: .undefined. is not a date" <<<"$out"' "the undefined FX row is in the fx summary"
e2e_check 'grep -q "records served   5105 price days, 6090 FX days" <<<"$out"' "the API's count of what it served"
e2e_check 'grep -q "^ 2008 |      48.01 | 2008-01-03 | 2008-11-20" <<<"$out"' "the drawdown view (2008: 48.01%)"
e2e_check 'grep -q "^ INR      |       5105 |           5105 |" <<<"$out"' "the FX fill view"
e2e_check 'grep -q "^ 2020 |     3 | 2652.39 |" <<<"$out"' "the monthly average close view (USD, March 2020)"
