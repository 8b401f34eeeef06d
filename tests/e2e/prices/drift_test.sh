#!/usr/bin/env bash
# Schema drift (issue #11): while the prices producer sweeps the API, the API starts serving
# history records without the required field 'close', then stops. The drifted records go to
# the DLQ (producer/http_record) with the reason; every other record loads; the pipeline keeps
# running. Counts are the API's own: drifted records = DLQ, served - drifted = loaded.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init prices_drift
prices_api_start --fail-every 0
prices_copy prices "$E2E_ID" "$E2E_PIPELINE" rate_limit=2/s
E2E_UP=1
"$E2E_PIPE" up "$E2E_PIPELINE" || e2e_fail "the prices pipeline did not come up"
days=$(prices_days)

for (( i = 0; i < 240; i++ )); do
  (( $(prices_api_stat "s['records_served']['history']") >= 1000 )) && break
  sleep 0.25
done
prices_api POST /admin/drift '{"on": true, "drop": "close"}' >/dev/null
e2e_log "drift on after $(prices_api_stat "s['records_served']['history']") records"
for (( i = 0; i < 240; i++ )); do
  (( $(prices_api_stat "s['drifted_records']") >= 500 )) && break
  sleep 0.25
done
prices_api POST /admin/drift '{"on": false}' >/dev/null
drifted=$(prices_api_stat "s['drifted_records']")
e2e_log "drift off after $drifted drifted records"
prices_wait_sweep "$E2E_PDIR" 240
served=$(prices_api_stat "s['records_served']['history']")
e2e_wait "$served" 300

dlq_json=$(e2e_dlq_json)
e2e_check "(( drifted > 0 && drifted < served ))" "some records drifted ($drifted of $served)"
e2e_check "(( $(e2e_rows) == served - drifted ))" "every record that fit loaded ($(e2e_rows))"
by_reason=$(python3 -c 'import json,sys; print(" ".join(f"{k}={v}" for k, v in json.load(sys.stdin)["by_reason"].items()))' <<<"$dlq_json")
expected="producer/http_record: field 'close' (close): missing (required)=$drifted"
e2e_check '[[ $by_reason == "$expected" ]]' "each drifted record is in the DLQ with the reason: $by_reason"
e2e_check "(( served == days ))" "no page was served twice"
