-- The five dashboard views of the loans pipeline, over the sink's table "loans".
-- Run by the pg-sink after it has created the table (sink.views in pipelines/loans/pipeline.yaml).
-- CREATE OR REPLACE keeps them idempotent; each selects explicit columns so a new column in
-- the table (schema evolution) never changes a view's shape.

-- 1. Issuance by month, for each year. The source has no issue date: issue_date is
--    SYNTHETIC (derived from loan_id, spread over 2014-2016), and the column names say so.
CREATE OR REPLACE VIEW loans_issuance_by_month AS
SELECT
  EXTRACT(YEAR FROM issue_date)::int  AS synthetic_issue_year,
  EXTRACT(MONTH FROM issue_date)::int AS synthetic_issue_month,
  count(*)                            AS loans,
  round(sum(funded_amnt)::numeric, 2) AS funded_total
FROM loans
GROUP BY 1, 2
ORDER BY 1, 2;
COMMENT ON VIEW loans_issuance_by_month IS
  'Loans issued per month and year. SYNTHETIC dates: the Lending Club file has no issue date.';

-- 2. Grade distribution in percent of all loans.
CREATE OR REPLACE VIEW loans_grade_distribution AS
SELECT
  grade,
  count(*) AS loans,
  round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct
FROM loans
GROUP BY grade
ORDER BY grade;

-- 3. Loan amount by grade.
CREATE OR REPLACE VIEW loans_amount_by_grade AS
SELECT
  grade,
  count(*)                            AS loans,
  round(sum(funded_amnt)::numeric, 2) AS funded_total,
  round(avg(funded_amnt)::numeric, 2) AS funded_avg,
  min(funded_amnt)                    AS funded_min,
  max(funded_amnt)                    AS funded_max
FROM loans
GROUP BY grade
ORDER BY grade;

-- 4. States ranked by average loan amount.
CREATE OR REPLACE VIEW loans_top_states_by_avg_amount AS
SELECT
  rank() OVER (ORDER BY avg(funded_amnt) DESC) AS rank,
  addr_state                                   AS state,
  max(state_name)                              AS state_name,
  count(*)                                     AS loans,
  round(avg(funded_amnt)::numeric, 2)          AS funded_avg
FROM loans
GROUP BY addr_state
ORDER BY rank, state;

-- 5. Loan amount vs annual income, by state. Incomes of 0 (real, flagged by the cleaner)
--    are left out of the ratio so they cannot divide by zero.
CREATE OR REPLACE VIEW loans_amount_vs_income_by_state AS
SELECT
  addr_state                                  AS state,
  max(state_name)                             AS state_name,
  count(*)                                    AS loans,
  round(avg(funded_amnt)::numeric, 2)         AS funded_avg,
  round(avg(annual_inc)::numeric, 2)          AS annual_inc_avg,
  round(avg(funded_amnt / NULLIF(annual_inc, 0))::numeric, 4) AS loan_to_income_avg,
  round(corr(funded_amnt, annual_inc)::numeric, 3)            AS amount_income_corr
FROM loans
GROUP BY addr_state
ORDER BY loan_to_income_avg DESC NULLS LAST, state;
