#!/usr/bin/env bash
# `scripts/demo retail --skip-build` (README) as a user runs it, on the shared local stack: it
# must end with the accounting per source balanced (rows in = loaded + DLQ) and the retail
# views. It uses the pipelines' real names (fx, retail_customers, retail_products, retail), the
# real tables and the schema retail_src: they are brought down and dropped afterwards, with
# their topics, slot and publication (ctest runs it alone with the prices demo test, which
# shares fx: tests/CMakeLists.txt, RESOURCE_LOCK).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
e2e_demo_init retail
demo_reset() {
  e2e_demo_reset_pipelines retail retail_products retail_customers fx
  e2e_demo_stop_apis price-api customer-api
  psql -X -q -c 'DROP TABLE IF EXISTS retail_region_currency CASCADE' >/dev/null 2>&1 || true
  psql -X -q -c 'DROP SCHEMA IF EXISTS retail_src CASCADE' >/dev/null 2>&1 || true
  psql -X -q -c 'DROP PUBLICATION IF EXISTS sluice_retail_products' >/dev/null 2>&1 || true
  psql -X -q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                  WHERE slot_name = 'sluice_retail_products' AND NOT active" >/dev/null 2>&1 || true
}
read -r price_port customer_port <<<"$(e2e_free_ports 2)"
SLUICE_PRICE_API_PORT=$price_port SLUICE_RETAIL_API_PORT=$customer_port e2e_demo_run retail
out=$E2E_DEMO_OUT
row() { grep -qE "^ *$1 *\| *$2 *\| *$3 *\| *$4 *$" <<<"$out"; }
e2e_check 'row "historic CSV \(2014-2015\)" 4095 4095 0' "accounting: the historic CSV's 4,095 lines loaded"
e2e_check 'row "transactions table \(2016-2017\)" 5899 5899 0' "accounting: the transactions table's 5,899 rows loaded"
e2e_check 'row "customer API \(served, last sweep\)" 793 793 0' "accounting: the 793 customers served and loaded"
e2e_check 'row "products table \(live rows\)" 1861 1861 0' "accounting: the 1,862 products less the SYNTHETIC delete"
e2e_check 'grep -qE "^ West +\| CAD +\| +3208 \| +715195.88 \|" <<<"$out"' "revenue by region: West (CAD), 3,208 lines"
e2e_check 'grep -qE "^ +1 \| [A-Z]{2}-[0-9]{5} +\|" <<<"$out"' "the top customers view"
e2e_check 'grep -qE "^ FUR-BO-10001798 \| Bush Somerset Collection Bookcase +\| +130.98 \| +144.08 \| +10.00$" <<<"$out"' \
  "the price-change view shows the SYNTHETIC update (130.98 -> 144.08)"
e2e_check 'grep -qE "^ FUR-CH-10000454 \| Hon Deluxe Fabric Upholstered Stacking Chairs, Rounded Back \| +12$" <<<"$out"' \
  "the SYNTHETIC delete: the chairs' 12 order lines are product_deleted"
