#!/usr/bin/env bash
# The local price API (pipelines/prices/api/price_api.py) serves the real files of
# tests/data/prices with its faults: price_api_check.py walks both endpoints on a server started
# with the default faults and compares every record and the /admin/stats counters with the CSV
# files and what it saw. Also: the first stdout line, the port file, and a clean SIGTERM exit.
# Then the check must fail on each mutated copy of the server or its data (api_mutate below).
# No build, no Kafka, no database; about 10 s.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/api_test_lib.sh"
api_script=pipelines/prices/api/price_api.py
api_data=tests/data/prices
api_check=$here/price_api_check.py
api_args=()
# The token comes from the environment (the --token option is the other way).
export PRICE_API_TOKEN=$api_token

api_start_checked
api_run_check
api_stop_checked

echo "== mutations of the server or its data (each must be caught)"
api_mutate "the next cursor skips a row" 's/EncodeCursor(after, offset + limit)/EncodeCursor(after, offset + limit + 1)/'
api_mutate "an FX page loses its last row" 's/rows\[(page - 1) \* per_page:page \* per_page\]/rows[(page - 1) * per_page:page * per_page - 1]/'
api_mutate "a row missing from the served file" 's/^kHistoryFile = .*/&/' 'sed -i 2000d sp500_daily.csv'
api_mutate "no rate limit" 's/if not self.bucket_.Take():/if False:/'
api_mutate "drift ignored" 's/out = {k: v for k, v in record.items() if k not in drop}/out = dict(record)/'
api_mutate "the malformed page counted as served" \
  's/self.stats_.malformed_responses += 1/&; self.stats_.served["fx"] += len(rows)/'
echo "ok"
