#!/usr/bin/env bash
# Politeness (issue #11): the price API allows 4 requests/s (429 with Retry-After: 1 above
# that) and answers every 5th request with a 500; the prices producer asks at up to 10/s. Every
# 429 is waited out for its Retry-After, every 500 retried with backoff; the server saw exactly
# the pages plus the failed attempts; nothing lands in the DLQ and every day loads.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init prices_retry
prices_api_start --rate-limit 4 --fail-every 5
prices_copy prices "$E2E_ID" "$E2E_PIPELINE"
E2E_UP=1
"$E2E_PIPE" up "$E2E_PIPELINE" || e2e_fail "the prices pipeline did not come up"
days=$(prices_days)
prices_wait_sweep "$E2E_PDIR" 240
e2e_wait "$days" 300

e2e_check "(( $(e2e_rows) == days ))" "every one of the $days days is in the table"
dlq=$(e2e_dlq_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
e2e_check "(( dlq == 0 ))" "nothing in the DLQ for the 429s and 500s"

s429=$(prices_api_stat "s['by_status'].get('429', 0)")
s500=$(prices_api_stat "s['by_status'].get('500', 0)")
s200=$(prices_api_stat "s['by_status'].get('200', 0)")
total=$(prices_api_stat "s['requests']")
pages=$(( (days + 249) / 250 ))
e2e_log "the API saw $total requests: $s200 x 200, $s429 x 429, $s500 x 500 ($pages pages of 250)"
e2e_check "(( s429 > 0 && s500 > 0 ))" "both faults happened"
e2e_check "(( s200 == pages ))" "each page was served once ($s200)"
e2e_check "(( total == s200 + s429 + s500 ))" "no other request"
log="$E2E_PDIR/logs/producer.log"
waited=$(grep '"msg":"request failed; retrying"' "$log" | grep -c 'answered 429.*"retry_after":true.*"wait_ms":1000' || true)
e2e_check "(( waited == s429 ))" "each of the $s429 429s was waited out for its Retry-After (1 s): $waited in the producer's log"
backoff=$(grep '"msg":"request failed; retrying"' "$log" | grep 'answered 500' | grep -c '"retry_after":false' || true)
e2e_check "(( backoff == s500 ))" "each of the $s500 500s was retried after a backoff ($backoff in the log)"
