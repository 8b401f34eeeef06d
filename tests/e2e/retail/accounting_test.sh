#!/usr/bin/env bash
# The retail use case end to end (issue #12), exact accounting and numbers. The real Superstore
# file split into a live source database (2016-2017 order lines, products) and a historic CSV
# export (2014-2015), the customer API and the FX API; the four pipelines fx,
# retail_customers, retail_products and retail on the shared stack, in the test's own schemas.
# Two SYNTHETIC bad rows are added, one per sales source, so each source's DLQ path is counted:
# a transaction with quantity 0 (row_id 900001) and a CSV line dated 2015-13-01 (row_id 900002).
# Checks:
# 1. per source, rows in = loaded + DLQ: CSV lines, transactions rows, API customers, product
#    rows; the DLQ records name their source and stage;
# 2. revenue by region of retail_sales_joined (count, local currency, USD, EUR) equals a SQL
#    reference computed here from the source data: the transactions table, the CSV (COPY), the
#    Superstore file for the customers' first region (COPY) and the FX file (COPY) with its own
#    carry-forward of the last rate.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init retail_acct
retail_init
# SYNTHETIC bad rows, one per sales source.
e2e_psql "INSERT INTO \"$RETAIL_SRC\".transactions (row_id, order_id, order_date, ship_date, ship_mode,
            customer_id, product_id, sales, quantity, discount, profit)
          VALUES (900001, 'SYNTHETIC-1', '2017-06-01', '2017-06-03', 'First Class', 'CG-12520',
                  'FUR-BO-10001798', 10, 0, 0, 1)" >/dev/null
echo '900002,SYNTHETIC-2,2015-13-01,2015-03-02,First Class,CG-12520,FUR-BO-10001798,10,1,0,1' >>"$RETAIL_CSV"
retail_up
retail_feed
retail_wait_loaded 600

# 1. Accounting per source.
dlq=$(retail_dlq "$E2E_ID")
e2e_log "retail DLQ: $(retail_json "$dlq" 'd["by_rule"]') by source $(retail_json "$dlq" 'd["by_source"]')"
retail_ref_csv
csv_lines=$(retail_count "SELECT count(*) FROM ref_csv")
db_rows=$(retail_count "SELECT count(*) FROM \"$RETAIL_SRC\".transactions")
csv_loaded=$(retail_count "SELECT count(*) FROM retail_sales WHERE row_id IN (SELECT row_id FROM ref_csv)")
db_loaded=$(retail_count "SELECT count(*) FROM retail_sales WHERE row_id IN (SELECT row_id FROM \"$RETAIL_SRC\".transactions)")
all_loaded=$(retail_count "SELECT count(*) FROM retail_sales")
csv_dlq=$(retail_json "$dlq" 'd["by_source"].get("historic_csv", 0)')
db_dlq=$(retail_json "$dlq" 'd["by_source"].get("transactions_db", 0)')
e2e_check "(( csv_lines == 4095 + 1 && db_rows == 5899 + 1 ))" \
  "sources: $csv_lines CSV lines (4,095 real of 2014-2015 + 1 SYNTHETIC), $db_rows table rows (5,899 real of 2016-2017 + 1 SYNTHETIC)"
e2e_check "(( csv_lines == csv_loaded + csv_dlq ))" "historic CSV: $csv_lines lines = $csv_loaded loaded + $csv_dlq DLQ"
e2e_check "(( db_rows == db_loaded + db_dlq ))" "transactions table: $db_rows rows = $db_loaded loaded + $db_dlq DLQ"
e2e_check "(( all_loaded == csv_loaded + db_loaded ))" "retail_sales holds only rows of the two sources ($all_loaded)"
e2e_check "(( \$(retail_json \"\$dlq\" 'd[\"total\"]') == csv_dlq + db_dlq ))" "every retail DLQ record names its source"
e2e_check "[[ \$(retail_json \"\$dlq\" 'sorted(d[\"by_rule\"].items())') == \"[('cleaner/dates', 1), ('cleaner/quantity_range', 1)]\" ]]" \
  "the two SYNTHETIC rows were rejected by the cleaner: the impossible date and quantity 0"
e2e_check "(( \$(retail_count 'SELECT count(*) FROM retail_sales WHERE row_id >= 900000') == 0 ))" "no SYNTHETIC row loaded"

served=$(curl -sf "$SLUICE_RETAIL_API_URL/admin/stats" | python3 -c 'import json, sys; s = json.load(sys.stdin); print(s["records_served"])')
cust_loaded=$(retail_count "SELECT count(*) FROM retail_customers")
cust_dlq=$(retail_json "$(retail_dlq "$CUST_NAME")" 'd["total"]')
e2e_check "(( served == RETAIL_CUSTOMERS && served == cust_loaded + cust_dlq ))" \
  "customer API: served $served (customers in the file: $RETAIL_CUSTOMERS) = $cust_loaded loaded + $cust_dlq DLQ"
prod_loaded=$(retail_count "SELECT count(*) FROM retail_product_changes WHERE _op = 'r'")
prod_dlq=$(retail_json "$(retail_dlq "$PROD_NAME")" 'd["total"]')
e2e_check "(( RETAIL_PRODUCTS == 1862 && RETAIL_PRODUCTS == prod_loaded + prod_dlq ))" \
  "products table: $RETAIL_PRODUCTS rows = $prod_loaded snapshot rows loaded + $prod_dlq DLQ"

# 2. Numbers: revenue by region against a reference computed from the sources.
e2e_psql "CREATE TABLE ref_superstore (row_id integer, order_id text, order_date date, ship_date date,
            ship_mode text, customer_id text, customer_name text, segment text, country text, city text,
            state text, postal_code text, region text, product_id text, category text, sub_category text,
            product_name text, sales numeric, quantity integer, discount numeric, profit numeric);
          CREATE TABLE ref_fx_text (date text, inr text, eur text, cad text, mxn text)" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -c "\\copy ref_superstore FROM '$RETAIL_DATA' (FORMAT csv, HEADER true)" ||
  e2e_fail "could not COPY superstore.csv"
psql -X -q -v ON_ERROR_STOP=1 -c "\\copy ref_fx_text FROM '$SLUICE_ROOT/tests/data/prices/usd_fx_2000.csv' (FORMAT csv, HEADER true)" ||
  e2e_fail "could not COPY usd_fx_2000.csv"
reference="
WITH fx AS (
  SELECT date::date AS date, nullif(eur, '')::float8 AS eur, nullif(cad, '')::float8 AS cad,
         nullif(mxn, '')::float8 AS mxn
  FROM ref_fx_text WHERE date ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}\$'
), lines AS (
  SELECT row_id, customer_id, order_date, sales, profit FROM \"$RETAIL_SRC\".transactions WHERE quantity > 0
  UNION ALL
  SELECT row_id, customer_id, order_date::date, sales, profit FROM ref_csv WHERE row_id < 900000
), home AS (
  SELECT DISTINCT ON (customer_id) customer_id, region FROM ref_superstore ORDER BY customer_id, order_date, row_id
), priced AS (
  SELECT h.region, v.currency, l.sales,
         CASE v.currency WHEN 'USD' THEN 1
           ELSE (SELECT CASE v.currency WHEN 'CAD' THEN f.cad ELSE f.mxn END FROM fx f
                 WHERE f.date <= l.order_date AND (CASE v.currency WHEN 'CAD' THEN f.cad ELSE f.mxn END) IS NOT NULL
                 ORDER BY f.date DESC LIMIT 1) END AS rate,
         (SELECT f.eur FROM fx f WHERE f.date <= l.order_date AND f.eur IS NOT NULL ORDER BY f.date DESC LIMIT 1) AS eur
  FROM lines l JOIN home h USING (customer_id)
  JOIN (VALUES ('West', 'CAD'), ('Central', 'MXN'), ('East', 'USD'), ('South', 'USD')) v(region, currency) USING (region)
)
SELECT region, currency, count(*), sum(sales), sum(sales::float8 / rate), sum(sales::float8 / rate * eur)
FROM priced GROUP BY 1, 2"
got="SELECT region, currency, count(*), sum(sales), sum(sales_usd), sum(sales_eur) FROM retail_sales_joined GROUP BY 1, 2"
compare=$(e2e_psql "WITH r(region, currency, n, local, usd, eur) AS ($reference), g(region, currency, n, local, usd, eur) AS ($got)
  SELECT string_agg(format('%s %s: %s lines, %s local, %s USD, %s EUR (reference %s, %s, %s, %s)%s', r.region, r.currency,
           g.n, round(g.local::numeric, 2), round(g.usd::numeric, 2), round(g.eur::numeric, 2),
           r.n, round(r.local::numeric, 2), round(r.usd::numeric, 2), round(r.eur::numeric, 2),
           CASE WHEN g.n = r.n AND abs(g.local - r.local) <= 0.01 AND abs(g.usd - r.usd) <= 0.01 AND abs(g.eur - r.eur) <= 0.01
                THEN '' ELSE ' MISMATCH' END), E'\n' ORDER BY r.region)
  FROM r FULL JOIN g USING (region, currency)")
echo "$compare"
e2e_check "(( \$(grep -c . <<<\"\$compare\") == 4 ))" "four regions in both"
e2e_check "! grep -q MISMATCH <<<\"\$compare\"" \
  "revenue by region (lines, local currency, USD, EUR) of retail_sales_joined = the reference from the sources (within a cent: sums of doubles)"
total=$(e2e_psql "SELECT round(sum(sales)::numeric, 2) FROM retail_sales_joined")
e2e_log "total revenue in the sources' amounts: $total (the real file's total of Sales is 2297200.86)"
e2e_check "[[ \$total == 2297200.86 ]]" "every real order line is in the joined output once (sum of sales = the file's)"
