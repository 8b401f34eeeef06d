#!/usr/bin/env bash
# The prices pipeline's views (pipelines/prices/sql/views.sql) on a real PostgreSQL, in a
# private schema dropped on exit: the tables as the sinks create them, hand-checkable rows
# (prices_views.py: a weekend gap, holidays, a missing INR and EUR day, a price day before the
# first FX row), views.sql run twice as the sink runs it (one transaction), and every view's
# rows compared with those prices_views.py computes from the same input rows. Then:
#   - views.sql on a database without fx_rates (the prices pipeline started first) creates it
#     exactly as the test (and the fx sink) does;
#   - on 5,100 price days and 6,600 FX rows, the as-of lookup is a backward scan of
#     fx_rates' primary key;
#   - each mutation of views.sql below (a wrong as-of join, peak, tie or average) must make
#     the comparison fail: the check can fail;
#   - tests/data/prices/ (sp500_daily.csv, usd_fx_2000.csv), when present, is loaded and
#     compared the same way.
# Needs the local stack's PostgreSQL (eval "$(deploy/local/stack env)"); no Kafka, no build.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$here/../../.." && pwd)
VIEWS=$ROOT/pipelines/prices/sql/views.sql
CHECK=$here/prices_views.py
ALL_VIEWS=(prices_by_currency prices_monthly_avg_close prices_yearly_high_low prices_yearly_drawdown
           prices_fx_fills prices_fx_fill_summary)
fail() { echo "FAIL: $*" >&2; exit 1; }

for v in PGHOST PGPORT PGUSER PGDATABASE; do
  [[ -n ${!v:-} ]] || fail "$v is not set: run \`eval \"\$(deploy/local/stack env)\"\` (after \`deploy/local/stack up\`)"
done
psql -X -q -tAc 'select 1' >/dev/null 2>&1 || fail "PostgreSQL at $PGHOST:$PGPORT does not answer"

tmp=$(mktemp -d /tmp/sluice-prices-views.XXXX)
prefix=sluice_test_prices_views_$$_$RANDOM
schemas=()
cleanup() {
  for s in "${schemas[@]}"; do
    psql -X -q -c "DROP SCHEMA IF EXISTS \"$s\" CASCADE" >/dev/null 2>&1 || echo "could not drop schema $s" >&2
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# psql in one schema only (so public's tables, if any, are never seen), stopping at an error.
sql() {
  local s=$1
  shift
  PGOPTIONS="-c search_path=$s -c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$@"
}
new_schema() {  # new_schema <suffix>: creates it and sets $schema (no subshell: cleanup needs it)
  schema=${prefix}_$1
  schemas+=("$schema")
  psql -X -q -v ON_ERROR_STOP=1 -c "CREATE SCHEMA \"$schema\"" >/dev/null
}
# The tables as the pg-sink creates them from the schemas (pg::CreateTableSql): fx.clean.v1
# and prices.enriched.v1; keys NOT NULL, nullable unions nullable.
FX_TABLE='CREATE TABLE fx_rates (date date NOT NULL, inr double precision, eur double precision, PRIMARY KEY (date))'
PRICES_TABLE='CREATE TABLE prices_daily (symbol text NOT NULL, date date NOT NULL,
  open double precision NOT NULL, high double precision NOT NULL, low double precision NOT NULL,
  close double precision NOT NULL, adj_close double precision, volume bigint,
  year integer NOT NULL, month integer NOT NULL, PRIMARY KEY (symbol, date))'
views() { sql "$1" -1 -o /dev/null -f "${2:-$VIEWS}"; }  # one transaction, as the sink runs it
load() {  # load <schema> <dir with prices.csv and fx.csv>
  sql "$1" -c "$FX_TABLE" -c "$PRICES_TABLE" \
    -c "\\copy prices_daily FROM '$2/prices.csv' CSV" -c "\\copy fx_rates FROM '$2/fx.csv' CSV"
}
dump() {  # dump <schema> <dir>: every view to <dir>/<view>.csv
  local args=() v
  for v in "${ALL_VIEWS[@]}"; do args+=(-c "\\copy (SELECT * FROM $v) TO '$2/$v.csv' CSV HEADER"); done
  sql "$1" "${args[@]}"
}
table_shape() {  # the columns, types, NOT NULL and primary key of a table, one line each
  sql "$1" -tA -c "SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ||
      CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
    FROM pg_attribute a WHERE a.attrelid = '$2'::regclass AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum" \
    -c "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = '$2'::regclass ORDER BY conname"
}

echo "== the test's rows, views.sql twice"
mkdir -p "$tmp/data"
python3 "$CHECK" data "$tmp/data"
new_schema main
main=$schema
load "$main" "$tmp/data"
views "$main" || fail "views.sql failed"
views "$main" || fail "views.sql failed when run a second time"
dump "$main" "$tmp/data"
python3 "$CHECK" check "$tmp/data" || fail "the views' rows differ from the expected ones"
described=$(sql "$main" -tA -c "SELECT count(*) FILTER (WHERE obj_description(c.oid, 'pg_class') <> '')
  || '/' || count(*) FROM pg_class c WHERE c.relnamespace = '$main'::regnamespace AND c.relkind = 'v'")
[[ $described == "${#ALL_VIEWS[@]}/${#ALL_VIEWS[@]}" ]] || fail "views with a comment / views: $described"
echo "ok: ${#ALL_VIEWS[@]} views, each with a comment"

echo "== prices pipeline first: views.sql creates fx_rates"
new_schema prices_first
first=$schema
sql "$first" -c "$PRICES_TABLE"
views "$first" || fail "views.sql failed without fx_rates"
views "$first" || fail "views.sql failed a second time without fx_rates"
[[ $(table_shape "$first" fx_rates) == "$(table_shape "$main" fx_rates)" ]] ||
  fail "fx_rates as views.sql creates it:
$(table_shape "$first" fx_rates)
differs from the fx sink's:
$(table_shape "$main" fx_rates)"
echo "ok: $(table_shape "$first" fx_rates | tr '\n' ';')"

echo "== as-of lookup at scale (5,100 price days, 6,600 FX rows)"
new_schema scale
big=$schema
sql "$big" -c "$FX_TABLE" -c "$PRICES_TABLE" -c "
  INSERT INTO fx_rates
  SELECT d, CASE WHEN i % 37 = 0 THEN NULL ELSE 70 + i % 5 END, CASE WHEN i % 41 = 0 THEN NULL ELSE 0.9 END
  FROM generate_series(1, 6600) i, LATERAL (SELECT date '1999-06-01' + (i * 7 / 5) AS d) x;
  INSERT INTO prices_daily
  SELECT 'SPX', d, 1000, 1010, 990, 1000 + i % 13, NULL, NULL, extract(year FROM d), extract(month FROM d)
  FROM generate_series(1, 5100) i, LATERAL (SELECT date '2000-01-03' + (i * 7 / 5) AS d) x;
  ANALYZE fx_rates; ANALYZE prices_daily;"
views "$big"
plan=$(sql "$big" -tA -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT count(*) FROM prices_by_currency")
backward=$(grep -c "Index Scan Backward using fx_rates_pkey" <<<"$plan" || true)
[[ $backward == 2 ]] && ! grep -q "Seq Scan on fx_rates" <<<"$plan" ||
  fail "the as-of lookups are not backward scans of fx_rates_pkey:
$plan"
echo "ok: two backward scans of fx_rates_pkey, $(grep -o 'Execution Time: .*' <<<"$plan")"

echo "== mutations of views.sql (each must be caught)"
mutate() {  # mutate <description> <sed expression>
  local m=$tmp/m${#schemas[@]}
  mkdir -p "$m"
  sed -e "$2" "$VIEWS" >"$m/views.sql"
  ! cmp -s "$VIEWS" "$m/views.sql" || fail "mutation no longer applies to views.sql: $1"
  cp "$tmp/data/prices.csv" "$tmp/data/fx.csv" "$m/"
  new_schema "m${#schemas[@]}"
  load "$schema" "$m"
  views "$schema" "$m/views.sql"
  dump "$schema" "$m"
  if python3 "$CHECK" check "$m" >"$m/check.log"; then
    fail "mutation not caught: $1"
  fi
  echo "caught: $1 ($(head -1 "$m/check.log"))"
}
mutate "the as-of join takes the first rate" 's/ORDER BY f.date DESC/ORDER BY f.date/'
mutate "a rate of the same day is not used" 's/f.date <= p.date/f.date < p.date/'
mutate "a null EUR rate is used" 's/ AND f.eur IS NOT NULL//'
mutate "the running peak looks back one day" 's/ORDER BY date ROWS UNBOUNDED PRECEDING) AS peak$/ORDER BY date ROWS 1 PRECEDING) AS peak/'
mutate "the peak day is the first day at a new high" 's/max(CASE WHEN close = peak/min(CASE WHEN close = peak/'
mutate "a tie for the high takes the latest day" 's/ORDER BY high DESC, date)/ORDER BY high DESC, date DESC)/'
mutate "the monthly average is of open" 's/round(avg(close)/round(avg(open)/'
mutate "fills list days with their own rate" "s/^WHERE fx_filled\$/WHERE fx_filled OR currency <> 'USD'/"

real_prices=$ROOT/tests/data/prices/sp500_daily.csv
real_fx=$ROOT/tests/data/prices/usd_fx_2000.csv
echo "== real data (tests/data/prices)"
if [[ -f $real_prices && -f $real_fx ]]; then
  mkdir -p "$tmp/real"
  rc=0
  python3 "$CHECK" real "$real_prices" "$real_fx" "$tmp/real" || rc=$?
  if (( rc == 3 )); then
    echo "skipped: prices_views.py does not know the files' form"
  elif (( rc != 0 )); then
    fail "could not read $real_prices / $real_fx"
  else
    new_schema real
real=$schema
    load "$real" "$tmp/real"
    sql "$real" -c "ANALYZE fx_rates; ANALYZE prices_daily"
    views "$real"
    dump "$real" "$tmp/real"
    python3 "$CHECK" check "$tmp/real" || fail "the views' rows on the real data differ from the expected ones"
    sql "$real" -c "SELECT * FROM prices_fx_fill_summary"
  fi
else
  echo "skipped: not in this tree"
fi
echo "PASS"
