-- The views of the retail pipeline (issue #12), run by its pg-sink after it has created
-- retail_sales (sink.views in pipelines/retail/pipeline.yaml), in one transaction, at every
-- start: every statement is idempotent. Unqualified names (the session's search_path).
-- Amounts: sales and profit are in the local currency of the customer's region (PRETEND:
-- sql/reference.sql); *_usd and *_eur were converted by the enricher at the rate of the order
-- date. Aggregates are rounded to cents.

-- The tables of the two other retail pipelines may not exist yet (they may start later, or
-- not have loaded anything): created here when missing exactly as their sinks would from
-- their clean schemas, under the sink's DDL lock (as pipelines/prices/sql/views.sql does for
-- fx_rates), so the sinks find them with the columns they expect.
SELECT pg_advisory_xact_lock(hashtext('sluice ddl "retail_customers"'));
CREATE TABLE IF NOT EXISTS retail_customers (
  customer_id   text NOT NULL,
  customer_name text,
  segment       text,
  city          text,
  state         text,
  region        text,
  date_joined   date,
  PRIMARY KEY (customer_id)
);
SELECT pg_advisory_xact_lock(hashtext('sluice ddl "retail_product_changes"'));
CREATE TABLE IF NOT EXISTS retail_product_changes (
  product_id   text NOT NULL,
  category     text,
  sub_category text,
  product_name text,
  unit_price   double precision,
  updated_at   text,
  _op          text NOT NULL,
  _lsn         bigint NOT NULL,
  PRIMARY KEY (product_id, _lsn)
);

-- 1. The current version of each product: its change with the greatest _lsn (commit LSN; a
--    snapshot row has the snapshot's point, below every later change). product_deleted when
--    that change is a delete (its other columns are null then: the version before it gives
--    the last known attributes).
CREATE OR REPLACE VIEW retail_products_current
  (product_id, category, sub_category, product_name, unit_price, product_deleted, changes, last_lsn) AS
WITH ranked AS (
  SELECT c.*, row_number() OVER (PARTITION BY product_id ORDER BY _lsn DESC) AS n,
         count(*) OVER (PARTITION BY product_id) AS changes
  FROM retail_product_changes c
), known AS (
  SELECT DISTINCT ON (product_id) product_id, category, sub_category, product_name, unit_price
  FROM retail_product_changes
  WHERE _op <> 'd'
  ORDER BY product_id, _lsn DESC
)
SELECT r.product_id, k.category, k.sub_category, k.product_name,
       CASE WHEN r._op = 'd' THEN NULL ELSE r.unit_price END, r._op = 'd', r.changes, r._lsn
FROM ranked r LEFT JOIN known k USING (product_id)
WHERE r.n = 1;
COMMENT ON VIEW retail_products_current IS
  'The latest change of each product of retail_product_changes (greatest _lsn). A deleted '
  'product keeps its last known name and category, with unit_price null and product_deleted.';

-- 2. The joined output: every order line with its customer and the product as it is now.
CREATE OR REPLACE VIEW retail_sales_joined
  (row_id, order_id, order_date, ship_date, ship_mode, quantity, discount,
   currency, sales, profit, fx_rate, eur_rate, sales_usd, profit_usd, sales_eur, profit_eur,
   customer_id, customer_name, segment, city, state, region, date_joined,
   product_id, product_name, category, sub_category, unit_price, product_deleted) AS
SELECT s.row_id, s.order_id, s.order_date, s.ship_date, s.ship_mode, s.quantity, s.discount,
       s.currency, s.sales, s.profit, s.fx_rate, s.eur_rate, s.sales_usd, s.profit_usd,
       s.sales_eur, s.profit_eur,
       s.customer_id, c.customer_name, c.segment, c.city, c.state, coalesce(c.region, s.customer_region),
       c.date_joined,
       s.product_id, p.product_name, p.category, p.sub_category, p.unit_price,
       coalesce(p.product_deleted, false)
FROM retail_sales s
LEFT JOIN retail_customers c ON c.customer_id = s.customer_id
LEFT JOIN retail_products_current p ON p.product_id = s.product_id;
COMMENT ON VIEW retail_sales_joined IS
  'One row per order line of retail_sales with the customer (retail_customers) and the '
  'CURRENT version of the product (retail_products_current: a price update or a delete in the '
  'source database shows here once the retail_products pipeline has loaded it). sales and '
  'profit are in currency (PRETEND local currencies), *_usd and *_eur at the order date''s rate.';

-- 3. Revenue and profit by category, region and month (USD and EUR).
CREATE OR REPLACE VIEW retail_revenue_by_category_region_month
  (category, region, month, order_lines, orders, revenue_usd, profit_usd, revenue_eur, profit_eur) AS
SELECT category, region, to_char(order_date, 'YYYY-MM'), count(*), count(DISTINCT order_id),
       round(sum(sales_usd)::numeric, 2), round(sum(profit_usd)::numeric, 2),
       round(sum(sales_eur)::numeric, 2), round(sum(profit_eur)::numeric, 2)
FROM retail_sales_joined
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
COMMENT ON VIEW retail_revenue_by_category_region_month IS
  'Revenue and profit in USD and EUR per product category, customer region and month of the '
  'order date.';

-- Revenue by region (all months), the figure the e2e test checks against the sources.
CREATE OR REPLACE VIEW retail_revenue_by_region
  (region, currency, order_lines, revenue_local, revenue_usd, profit_usd, revenue_eur, profit_eur) AS
SELECT region, currency, count(*), round(sum(sales)::numeric, 2),
       round(sum(sales_usd)::numeric, 2), round(sum(profit_usd)::numeric, 2),
       round(sum(sales_eur)::numeric, 2), round(sum(profit_eur)::numeric, 2)
FROM retail_sales_joined
GROUP BY 1, 2
ORDER BY 1, 2;
COMMENT ON VIEW retail_revenue_by_region IS
  'Revenue and profit per customer region: in its (PRETEND) local currency, in USD and in EUR.';

-- 4. Top customers by revenue in USD.
CREATE OR REPLACE VIEW retail_top_customers
  (rank, customer_id, customer_name, segment, region, orders, order_lines, revenue_usd, profit_usd, revenue_eur) AS
SELECT rank() OVER (ORDER BY sum(sales_usd) DESC), customer_id, customer_name, segment, region,
       count(DISTINCT order_id), count(*), round(sum(sales_usd)::numeric, 2),
       round(sum(profit_usd)::numeric, 2), round(sum(sales_eur)::numeric, 2)
FROM retail_sales_joined
GROUP BY customer_id, customer_name, segment, region
ORDER BY 1, 2;
COMMENT ON VIEW retail_top_customers IS 'Customers ranked by revenue in USD (ties share a rank).';

-- 5. Price changes from the products' change history: each change whose unit_price differs
--    from the product's previous version (deletes are not price changes).
CREATE OR REPLACE VIEW retail_product_price_changes
  (product_id, product_name, price_before, price_after, change_pct, op, lsn, updated_at) AS
WITH versions AS (
  SELECT product_id, product_name, unit_price, _op, _lsn, updated_at,
         lag(unit_price) OVER (PARTITION BY product_id ORDER BY _lsn) AS before
  FROM retail_product_changes
  WHERE _op <> 'd'
)
SELECT product_id, product_name, before, unit_price,
       round((100 * (unit_price - before) / nullif(before, 0))::numeric, 2), _op, _lsn, updated_at
FROM versions
WHERE before IS NOT NULL AND unit_price IS DISTINCT FROM before
ORDER BY product_id, _lsn;
COMMENT ON VIEW retail_product_price_changes IS
  'Each change of a product''s unit_price (retail_product_changes, in commit order), with the '
  'price before and after; deletes are left out (retail_products_current.product_deleted).';
