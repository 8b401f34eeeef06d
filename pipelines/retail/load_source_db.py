#!/usr/bin/env python3
"""Loads the retail use case's "live" source database and writes its "historic export" (stdlib only).

  load_source_db.py [--csv tests/data/retail/superstore.csv] [--schema retail_src]
                    [--historic-out FILE] [--reset] [--no-reference]

From the real Superstore file (tests/data/retail/superstore.csv, 9,994 order lines 2014-2017):

- <schema>.products(product_id PK, category, sub_category, product_name, unit_price numeric(12,2),
  updated_at): one row per Product ID (1,862). The file has no price column: unit_price is
  DERIVED from the product's first line in the file (the smallest Row ID) as
  sales / quantity / (1 - discount), rounded to cents. 32 Product IDs carry two different
  names in the file; the name (and category) of that same first line is kept.
- <schema>.transactions(row_id PK, order_id, order_date, ship_date, ship_mode, customer_id,
  product_id, sales, quantity, discount, profit, updated_at): the order lines whose Order Date
  is in 2016 or 2017 (5,899 rows): the retailer's "live" system, read by the postgres source.
- --historic-out FILE: the order lines of 2014 and 2015 (4,095 lines) as a CSV file with the
  same columns as transactions (the original column names, without updated_at): the "historic
  export" fed to the csv source. The two sets are disjoint and together are the whole file.
- Unless --no-reference: runs sql/reference.sql (the region -> currency table and the FX view
  the enricher's pg_lookup steps read) in the session's search_path.

The connection is psql's (PG* variables, as `deploy/local/stack env` sets them). Without
--reset, tables that already hold rows are left as they are (rows are inserted only into
empty tables), so a second run changes nothing; --reset drops the schema first (CASCADE: a
publication on its tables loses them).
"""
import argparse
import csv
import decimal
import io
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
kDefaultCsv = os.path.normpath(os.path.join(HERE, "..", "..", "tests", "data", "retail", "superstore.csv"))
kLiveYears = ("2016", "2017")
kTransactionColumns = ("Row ID", "Order ID", "Order Date", "Ship Date", "Ship Mode", "Customer ID",
                       "Product ID", "Sales", "Quantity", "Discount", "Profit")


def ReadLines(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def UnitPrice(line):
    """sales / quantity / (1 - discount), half away from zero to cents (decimal arithmetic)."""
    sales, qty, disc = (decimal.Decimal(line[c]) for c in ("Sales", "Quantity", "Discount"))
    price = sales / qty / (1 - disc)
    return price.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP)


def Products(lines):
    """One row per Product ID from its first line (smallest Row ID)."""
    first = {}
    for line in sorted(lines, key=lambda l: int(l["Row ID"])):
        first.setdefault(line["Product ID"], line)
    return [(pid, l["Category"], l["Sub-Category"], l["Product Name"], str(UnitPrice(l)))
            for pid, l in sorted(first.items())]


def IsLive(line):
    return line["Order Date"][:4] in kLiveYears


def CopyText(rows):
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def Psql(sql, stdin=None):
    r = subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql] if stdin is None else
                       ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                       input=stdin, text=True, capture_output=True)
    if r.returncode != 0:
        sys.exit(f"load_source_db: psql failed: {r.stderr.strip()}")
    return r.stdout


def Load(lines, schema, reset):
    q = '"' + schema.replace('"', '""') + '"'
    products = Products(lines)
    live = [l for l in lines if IsLive(l)]
    script = []
    if reset:
        script.append(f"DROP SCHEMA IF EXISTS {q} CASCADE;")
    script.append(f"""
CREATE SCHEMA IF NOT EXISTS {q};
CREATE TABLE IF NOT EXISTS {q}.products (
  product_id   text PRIMARY KEY,
  category     text NOT NULL,
  sub_category text NOT NULL,
  product_name text NOT NULL,
  unit_price   numeric(12,2) NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {q}.transactions (
  row_id      integer PRIMARY KEY,
  order_id    text NOT NULL,
  order_date  date NOT NULL,
  ship_date   date NOT NULL,
  ship_mode   text NOT NULL,
  customer_id text NOT NULL,
  product_id  text NOT NULL,
  sales       numeric NOT NULL,
  quantity    integer NOT NULL,
  discount    numeric NOT NULL,
  profit      numeric NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TEMP TABLE load_products (LIKE {q}.products INCLUDING DEFAULTS);
CREATE TEMP TABLE load_transactions (LIKE {q}.transactions INCLUDING DEFAULTS);
COPY load_products (product_id, category, sub_category, product_name, unit_price) FROM STDIN (FORMAT csv);
{CopyText(products)}\\.
COPY load_transactions (row_id, order_id, order_date, ship_date, ship_mode, customer_id, product_id, sales, quantity, discount, profit) FROM STDIN (FORMAT csv);
{CopyText([[l[c] for c in kTransactionColumns] for l in live])}\\.
BEGIN;
LOCK TABLE {q}.products, {q}.transactions IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO {q}.products SELECT * FROM load_products WHERE NOT EXISTS (SELECT FROM {q}.products);
INSERT INTO {q}.transactions SELECT * FROM load_transactions WHERE NOT EXISTS (SELECT FROM {q}.transactions);
COMMIT;
""")
    Psql(None, "\n".join(script))
    counts = Psql(f"SELECT (SELECT count(*) FROM {q}.products) || ' ' || (SELECT count(*) FROM {q}.transactions)")
    return len(products), len(live), counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", default=kDefaultCsv, help="the Superstore file (default: %(default)s)")
    parser.add_argument("--schema", default="retail_src", help="schema of the source tables (default: %(default)s)")
    parser.add_argument("--historic-out", help="write the 2014-2015 order lines here (csv)")
    parser.add_argument("--reset", action="store_true", help="drop the schema first")
    parser.add_argument("--no-reference", action="store_true", help="do not run sql/reference.sql")
    args = parser.parse_args()
    lines = ReadLines(args.csv)
    if args.historic_out:
        historic = [l for l in lines if not IsLive(l)]
        tmp = args.historic_out + ".part"
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(kTransactionColumns)
            w.writerows([[l[c] for c in kTransactionColumns] for l in historic])
        os.replace(tmp, args.historic_out)
        print(f"{args.historic_out}: {len(historic)} order lines (2014-2015)", file=sys.stderr)
    n_products, n_live, counts = Load(lines, args.schema, args.reset)
    print(f"{args.schema}: products {n_products} and transactions {n_live} from the file;"
          f" in the tables now: {counts.strip()}", file=sys.stderr)
    if not args.no_reference:
        with open(os.path.join(HERE, "sql", "reference.sql"), encoding="utf-8") as f:
            Psql(None, f.read())
        print("reference tables: sql/reference.sql applied", file=sys.stderr)


if __name__ == "__main__":
    main()
