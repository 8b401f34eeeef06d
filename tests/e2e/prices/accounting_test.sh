#!/usr/bin/env bash
# Exact accounting of the prices use case (issue #11): the local price API serves the real
# S&P 500 history and the real USD FX rates with its default faults (a rate limit, every 7th
# request a 500, FX page 3 malformed, the FX file's last row dated 'undefined'); the fx and
# prices pipelines load them. Records the API served + malformed pages = rows loaded + DLQ
# records, with the expected reasons, and the 500s are retried without touching the DLQ.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init prices_acct
prices_api_start
prices_copy prices "$E2E_ID" "$E2E_PIPELINE"
FX_NAME="${E2E_ID}_fx"
prices_copy fx "$FX_NAME" "$E2E_TMP/fx.yaml"
FX_DIR="$STACK_DIR/pipelines/$FX_NAME"
e2e_on_teardown "psql -X -q -c 'DROP TABLE IF EXISTS \"$FX_NAME\"'"

E2E_UP=1
"$E2E_PIPE" up "$E2E_PIPELINE" || e2e_fail "the prices pipeline did not come up"
e2e_up_more "$E2E_TMP/fx.yaml"
prices_wait_sweep "$E2E_PDIR"
prices_wait_sweep "$FX_DIR"

served_history=$(prices_api_stat "s['records_served']['history']")
served_fx=$(prices_api_stat "s['records_served']['fx']")
malformed=$(prices_api_stat "s['malformed_pages']")
e2e_log "API served $served_history price records, $served_fx FX records, $malformed malformed page(s)"
e2e_check "(( served_history == $(prices_days) ))" \
  "every row of sp500_daily.csv was served once"
e2e_check "(( malformed == 1 ))" "one malformed FX page was served (the API's page 3)"

e2e_wait "$served_history" 300
python3 "$E2E_TOOL" wait "$FX_DIR" --expected $(( served_fx + malformed )) --timeout 300 --interval 5 --settle \
  >/dev/null || e2e_fail "the fx pipeline did not catch up"

loaded=$(e2e_rows)
fx_loaded=$(e2e_psql "SELECT count(*) FROM \"$FX_NAME\"")
dlq=$(e2e_dlq_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
fx_dlq_json=$(python3 "$E2E_TOOL" dlq "$FX_NAME.dlq")
fx_dlq=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])' <<<"$fx_dlq_json")
e2e_log "prices: loaded $loaded, DLQ $dlq; fx: loaded $fx_loaded, DLQ $fx_dlq"
e2e_check "(( served_history + served_fx + malformed == loaded + fx_loaded + dlq + fx_dlq ))" \
  "served $served_history + $served_fx + $malformed malformed page = loaded $loaded + $fx_loaded + DLQ $dlq + $fx_dlq"
e2e_check "(( dlq == 0 ))" "no price record in the DLQ (the 500s were retried, not dead-lettered)"
by_rule=$(python3 -c 'import json,sys; print(" ".join(f"{k}={v}" for k, v in sorted(json.load(sys.stdin)["by_rule"].items())))' <<<"$fx_dlq_json")
e2e_check "[[ '$by_rule' == 'cleaner/date_value=1 producer/http_page=1' ]]" \
  "fx DLQ: the malformed page (producer/http_page) and the 'undefined' row (cleaner/date_value): $by_rule"
reasons=$(python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["by_reason"]))' <<<"$fx_dlq_json")
e2e_check "grep -q 'page=3.*(page 3): not JSON' <<<\"\$reasons\"" "the page's reason names its URL, page and why"
e2e_check "grep -q \"date: 'undefined' is not a date\" <<<\"\$reasons\"" "the bad FX row's reason"
e2e_check "(( fx_loaded == $(python3 - "$SLUICE_ROOT/tests/data/prices/usd_fx_2000.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(len(rows) - 500 - 1)  # page 3 of 500 rows malformed; the 'undefined' row rejected
PY
) ))" "fx rows loaded = the file's rows - page 3 (500 rows) - the 'undefined' row"
fails=$(prices_api_stat "s['by_status'].get('500', 0)")
e2e_check "(( fails > 0 ))" "the API answered $fails requests with 500, all retried"
