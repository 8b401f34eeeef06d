-- The views of the prices pipeline (issue #11): daily bars of "prices_daily" (USD) in USD, INR
-- and EUR with the FX rates of "fx_rates" (pipelines/fx), and the monthly, yearly and FX-fill
-- views built on them. Run by the pg-sink after it has created prices_daily (sink.views in
-- pipelines/prices/pipeline.yaml), in one transaction, at every start: every statement is
-- idempotent. Views name their columns, so a new table column never changes a view's shape.
-- Converted prices are double precision (as in the table); the aggregates round to numeric.

-- fx_rates is the fx pipeline's table. That pipeline may start after this one, so create it
-- here when it is missing, exactly as its sink would from fx.clean.v1.avsc (the fx sink then
-- finds it with the columns it expects). The lock is the one the sink holds around its own
-- CREATE/ALTER (LockDdl in common/src/pg/avro_to_pg.cpp: 'sluice ddl ' || quoted name): two
-- concurrent CREATE TABLE IF NOT EXISTS can otherwise collide in the catalog. It is held to
-- the end of the transaction.
SELECT pg_advisory_xact_lock(hashtext('sluice ddl "fx_rates"'));
CREATE TABLE IF NOT EXISTS fx_rates (
  date date NOT NULL,
  inr  double precision,
  eur  double precision,
  PRIMARY KEY (date)
);

-- 1. Every bar in each currency. The rate is the one of the same day or, when that day has no
--    row or a null rate for the currency, of the last earlier day that has one (an as-of
--    join: a backward scan of fx_rates' primary key index, a few rows per bar). One UNION ALL
--    branch per currency, so a filter on currency leaves out the other lookups.
--    Not ordered: callers filter it (by symbol, currency, date) and order what they keep.
CREATE OR REPLACE VIEW prices_by_currency
  (symbol, date, currency, open, high, low, close, fx_rate, fx_date, fx_filled, fx_days_back) AS
SELECT p.symbol, p.date, 'USD'::text, p.open, p.high, p.low, p.close,
       1::double precision, p.date, false, 0
FROM prices_daily p
UNION ALL
SELECT p.symbol, p.date, 'INR'::text, p.open * r.rate, p.high * r.rate, p.low * r.rate,
       p.close * r.rate, r.rate, r.date, r.date < p.date, p.date - r.date
FROM prices_daily p
CROSS JOIN LATERAL (
  SELECT f.date, f.inr AS rate
  FROM fx_rates f
  WHERE f.date <= p.date AND f.inr IS NOT NULL
  ORDER BY f.date DESC
  LIMIT 1
) r
UNION ALL
SELECT p.symbol, p.date, 'EUR'::text, p.open * r.rate, p.high * r.rate, p.low * r.rate,
       p.close * r.rate, r.rate, r.date, r.date < p.date, p.date - r.date
FROM prices_daily p
CROSS JOIN LATERAL (
  SELECT f.date, f.eur AS rate
  FROM fx_rates f
  WHERE f.date <= p.date AND f.eur IS NOT NULL
  ORDER BY f.date DESC
  LIMIT 1
) r;
COMMENT ON VIEW prices_by_currency IS
  'Each daily bar of prices_daily in USD, INR and EUR (one row per symbol, date, currency). '
  'fx_rate is units of the currency per USD (1 for USD), from fx_rates on the same day or, '
  'when that day has no rate, on the last earlier day with one: fx_date is that day, '
  'fx_filled says it is earlier than date, fx_days_back is date - fx_date. A day with no '
  'rate on or before it for a currency has no row in that currency (see prices_fx_fill_summary).';

-- 2. Average close per calendar month.
CREATE OR REPLACE VIEW prices_monthly_avg_close
  (symbol, currency, year, month, trading_days, avg_close) AS
SELECT symbol, currency,
       EXTRACT(YEAR FROM date)::int, EXTRACT(MONTH FROM date)::int,
       count(*), round(avg(close)::numeric, 2)
FROM prices_by_currency
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4;
COMMENT ON VIEW prices_monthly_avg_close IS
  'Average close per symbol, currency and calendar month, rounded to 2 decimals; trading_days '
  'counts the days with a price in that currency (prices_by_currency).';

-- 3. Highest high and lowest low per calendar year, with their days. array_agg(... ORDER BY)
--    picks the day of the extreme in the same pass; on a tie, the earliest day.
CREATE OR REPLACE VIEW prices_yearly_high_low
  (symbol, currency, year, trading_days, high, high_date, low, low_date) AS
SELECT symbol, currency, EXTRACT(YEAR FROM date)::int, count(*),
       round(max(high)::numeric, 2), (array_agg(date ORDER BY high DESC, date))[1],
       round(min(low)::numeric, 2), (array_agg(date ORDER BY low, date))[1]
FROM prices_by_currency
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
COMMENT ON VIEW prices_yearly_high_low IS
  'Highest high and lowest low per symbol, currency and calendar year (rounded to 2 decimals), '
  'with the day of each (the earliest on a tie).';

-- 4. The largest fall of the close from its running maximum within each calendar year. The
--    peak of a day is the running maximum of close since 1 January; peak_date is the last day
--    on or before it whose close was that maximum (where the fall began). The trough is the
--    day of the largest drawdown (the earliest on a tie); a year without a fall has 0 with
--    trough_date = peak_date = its first day.
CREATE OR REPLACE VIEW prices_yearly_drawdown
  (symbol, currency, year, max_drawdown_pct, peak_date, peak_close, trough_date, trough_close) AS
WITH running AS (
  SELECT symbol, currency, EXTRACT(YEAR FROM date)::int AS year, date, close,
         max(close) OVER (PARTITION BY symbol, currency, EXTRACT(YEAR FROM date)
                          ORDER BY date ROWS UNBOUNDED PRECEDING) AS peak
  FROM prices_by_currency
), falls AS (
  SELECT symbol, currency, year, date, close, peak,
         1 - close / peak AS drawdown,
         max(CASE WHEN close = peak THEN date END)
           OVER (PARTITION BY symbol, currency, year ORDER BY date ROWS UNBOUNDED PRECEDING)
           AS peak_date
  FROM running
)
SELECT DISTINCT ON (symbol, currency, year)
       symbol, currency, year, round((100 * drawdown)::numeric, 2),
       peak_date, round(peak::numeric, 2), date, round(close::numeric, 2)
FROM falls
ORDER BY symbol, currency, year, drawdown DESC, date;
COMMENT ON VIEW prices_yearly_drawdown IS
  'Largest peak-to-trough fall of the close within each calendar year, per symbol and '
  'currency, in percent of the peak (running maximum of close since the year began; '
  'drawdown = 1 - close / peak), with the peak day (last day at that peak before the trough) '
  'and the trough day (earliest on a tie). 0 with peak = trough = the first day when the '
  'close never fell.';

-- 5. The days converted with an earlier day's rate, and a summary per currency.
CREATE OR REPLACE VIEW prices_fx_fills (symbol, date, currency, fx_date, fx_days_back) AS
SELECT symbol, date, currency, fx_date, fx_days_back
FROM prices_by_currency
WHERE fx_filled
ORDER BY currency, symbol, date;
COMMENT ON VIEW prices_fx_fills IS
  'The bars whose day had no FX rate for the currency (no fx_rates row, or a null rate) and '
  'were converted with the rate of fx_date, fx_days_back days earlier (prices_by_currency).';

CREATE OR REPLACE VIEW prices_fx_fill_summary
  (currency, price_days, converted_days, filled_days, max_days_back, days_without_rate) AS
SELECT c.currency, n.price_days, coalesce(b.converted_days, 0), coalesce(b.filled_days, 0),
       coalesce(b.max_days_back, 0), n.price_days - coalesce(b.converted_days, 0)
FROM (VALUES (1, 'USD'::text), (2, 'INR'), (3, 'EUR')) c(ord, currency)
CROSS JOIN (SELECT count(*) AS price_days FROM prices_daily) n
LEFT JOIN (
  SELECT currency, count(*) AS converted_days, count(*) FILTER (WHERE fx_filled) AS filled_days,
         max(fx_days_back) AS max_days_back
  FROM prices_by_currency
  GROUP BY currency
) b ON b.currency = c.currency
ORDER BY c.ord;
COMMENT ON VIEW prices_fx_fill_summary IS
  'Per currency: the bars of prices_daily (price_days, all symbols), those converted '
  '(converted_days), those converted with an earlier day''s rate (filled_days, most days back: '
  'max_days_back) and those without any rate on or before their day (days_without_rate: no '
  'row in prices_by_currency). USD is never filled.';
