#!/usr/bin/env bash
# `scripts/demo prices --skip-build` (README) as a user runs it, on the shared local stack: it
# must end with both summaries balanced (rows read = loaded + rejected), the API's own count,
# and the four views. It uses the pipelines' real names (fx, prices) and tables (fx_rates,
# prices_daily): they are brought down and dropped afterwards, with their topics.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
e2e_demo_init prices
demo_reset() {
  e2e_demo_reset_pipelines prices fx
  e2e_demo_stop_apis price-api
}
SLUICE_PRICE_API_PORT=$(e2e_free_ports 1) e2e_demo_run prices
out=$E2E_DEMO_OUT
e2e_check '(( $(grep -c "accounting .*: yes" <<<"$out") == 2 ))' "both pipelines balance: rows read = loaded + rejected"
e2e_check 'grep -q "rows read (all sources)  5105" <<<"$out"' "the prices producer read the 5105 days"
e2e_check 'grep -q "producer/http_page: GET .*(page 3): not JSON" <<<"$out"' "the malformed FX page is in the fx summary"
e2e_check 'grep -q "cleaner/date_value: date: .undefined. is not a date" <<<"$out"' "the undefined FX row is in the fx summary"
e2e_check 'grep -q "records served   5105 price days, 6090 FX days" <<<"$out"' "the API's count of what it served"
e2e_check 'grep -q "^ 2008 |      48.01 | 2008-01-03 | 2008-11-20" <<<"$out"' "the drawdown view (2008: 48.01%)"
e2e_check 'grep -q "^ INR      |       5105 |           5105 |" <<<"$out"' "the FX fill view"
e2e_check 'grep -q "^ 2020 |     3 | 2652.39 |" <<<"$out"' "the monthly average close view (USD, March 2020)"
