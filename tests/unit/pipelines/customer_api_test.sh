#!/usr/bin/env bash
# The local customer API (pipelines/retail/api/customer_api.py) serves the real customers of
# tests/data/retail/superstore.csv: customer_api_check.py compares every page with the file
# (each customer's first order line), then errors, auth, a fault switched at run time and the
# /admin/stats counters. Also: the first stdout line, the port file, a clean SIGTERM exit.
# Then the check must fail on each mutated copy of the server or its data (api_mutate below).
# No build, no Kafka, no database; a few seconds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/api_test_lib.sh"
api_script=pipelines/retail/api/customer_api.py
api_data=tests/data/retail
api_check=$here/customer_api_check.py
api_args=(--token "$api_token")

api_start_checked
api_run_check
api_stop_checked

echo "== mutations of the server or its data (each must be caught)"
api_mutate "the last order line instead of the first" 's/if cid not in first or order < first\[cid\]\[0\]:/if cid not in first or order > first[cid][0]:/'
api_mutate "date_joined from the ship date" 's/order = (row\["Order Date"\], int(row\["Row ID"\]))/order = (row["Ship Date"], int(row["Row ID"]))/'
api_mutate "pages overlap by one" 's/rows = self.customers_\[(page - 1) \* per_page:page \* per_page\]/rows = self.customers_[max(0, (page - 1) * per_page - 1):page * per_page]/'
api_mutate "a customer missing from the served file" 's/^kFile = .*/&/' 'sed -i "/,\"CG-12520\",/d" superstore.csv'
api_mutate "no auth" 's/if token and headers.get/if False and headers.get/'
api_mutate "served records not counted" 's/self.stats_.records_served += len(served)/pass/'
echo "ok"
