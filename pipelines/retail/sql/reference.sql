-- Reference data of the retail pipeline's enricher (pg_lookup steps), run by
-- pipelines/retail/load_source_db.py before the pipeline starts (the enricher reads these at
-- start-up). Unqualified names: they live in the session's search_path (public on the local
-- stack; a test's own schema in tests/e2e/retail). Every statement is idempotent.

-- 1. The currency each region sells in. PRETEND data (the Superstore file is all USD): for the
--    demo, West sells in Canadian dollars and Central in Mexican pesos, East and South in US
--    dollars; the file's amounts are read as amounts in that currency. The fx pipeline loads
--    both rates (pipelines/fx, schema v2: USD -> INR, EUR, CAD, MXN); pipelines/retail/README.md.
--    A customer's region is the one the customer API serves (the region of their first order).
CREATE TABLE IF NOT EXISTS retail_region_currency (
  region   text PRIMARY KEY,
  currency text NOT NULL
);
INSERT INTO retail_region_currency (region, currency)
VALUES ('West', 'CAD'), ('Central', 'MXN'), ('East', 'USD'), ('South', 'USD')
ON CONFLICT (region) DO UPDATE SET currency = EXCLUDED.currency;
COMMENT ON TABLE retail_region_currency IS
  'PRETEND: the currency each Superstore region sells in (the real file is all USD).';

-- 2. fx_rates is the fx pipeline's table; created here when missing exactly as its sink would
--    from fx.clean.v2.avsc, under the sink's DDL lock, in one transaction. A table created by
--    v1 (or by pipelines/prices/sql/views.sql, which has v1's columns) gets v2's columns, as the
--    sink would add them (add_columns).
BEGIN;
SELECT pg_advisory_xact_lock(hashtext('sluice ddl "fx_rates"'));
CREATE TABLE IF NOT EXISTS fx_rates (
  date date NOT NULL,
  inr  double precision,
  eur  double precision,
  cad  double precision,
  mxn  double precision,
  PRIMARY KEY (date)
);
ALTER TABLE fx_rates ADD COLUMN IF NOT EXISTS cad double precision,
                     ADD COLUMN IF NOT EXISTS mxn double precision;
COMMIT;

-- 3. One row per calendar day and currency, from the first to the last day of fx_rates, with
--    the rate of that day or, when the day has no rate (weekends, holidays, gaps of the
--    source), of the last earlier day with one: fx_date says which day's rate it is. USD is 1.
--    eur_rate is the EUR rate of the same day (filled the same way), so one lookup gives both
--    conversions: amount_usd = amount / fx_rate, amount_eur = amount_usd * eur_rate.
--    fx_key is what the enricher's `derive concat` makes of [order_date, currency] with '/':
--    a date field travels as its Avro value, days since 1970-01-01, so 2016-11-08 in CAD is
--    '17113/CAD' (day_text has the date as text for people).
--    Days before the first rate of a currency have no row for it (the lookup rejects them).
CREATE OR REPLACE VIEW retail_fx_daily
  (fx_key, day, day_text, currency, fx_rate, fx_date, eur_rate, eur_date) AS
WITH days AS (
  SELECT generate_series(min(date), max(date), interval '1 day')::date AS day FROM fx_rates
), marked AS (
  SELECT d.day, f.eur, f.cad, f.mxn,
         count(f.eur) OVER (ORDER BY d.day) AS eur_run,
         count(f.cad) OVER (ORDER BY d.day) AS cad_run,
         count(f.mxn) OVER (ORDER BY d.day) AS mxn_run
  FROM days d LEFT JOIN fx_rates f ON f.date = d.day
), filled AS (
  SELECT day,
         first_value(eur) OVER (PARTITION BY eur_run ORDER BY day) AS eur,
         first_value(day) OVER (PARTITION BY eur_run ORDER BY day) AS eur_date,
         first_value(cad) OVER (PARTITION BY cad_run ORDER BY day) AS cad,
         first_value(day) OVER (PARTITION BY cad_run ORDER BY day) AS cad_date,
         first_value(mxn) OVER (PARTITION BY mxn_run ORDER BY day) AS mxn,
         first_value(day) OVER (PARTITION BY mxn_run ORDER BY day) AS mxn_date
  FROM marked
), by_currency AS (
  SELECT day, 'USD'::text AS currency, 1::double precision AS rate, day AS rate_date, eur, eur_date FROM filled
  UNION ALL
  SELECT day, 'CAD', cad, cad_date, eur, eur_date FROM filled
  UNION ALL
  SELECT day, 'MXN', mxn, mxn_date, eur, eur_date FROM filled
  UNION ALL
  SELECT day, 'EUR', eur, eur_date, eur, eur_date FROM filled
)
SELECT (day - DATE '1970-01-01')::text || '/' || currency, day, to_char(day, 'YYYY-MM-DD'),
       currency, rate, rate_date, eur, eur_date
FROM by_currency
WHERE rate IS NOT NULL AND eur IS NOT NULL;
COMMENT ON VIEW retail_fx_daily IS
  'Units of currency per USD (fx_rate) and EUR per USD (eur_rate) for every calendar day, the '
  'last earlier rate carried forward over days without one (fx_date, eur_date: the day the '
  'rate is from). fx_key = days since 1970-01-01 || ''/'' || currency, the retail enricher''s '
  'lookup key.';
