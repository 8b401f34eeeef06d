#!/usr/bin/env python3
"""Seeded loan data for tests and benchmarks (Python 3 standard library only).

  loan_data.py stats                         facts about the real file (see PROVENANCE.md)
  loan_data.py bad-mix   --seed S --out DIR  the real file with seeded bad rows mixed in, plus
                                             a sidecar JSON naming each bad row's line and the
                                             rule/reason it must be rejected with
  loan_data.py synthetic --seed S --rows N --out FILE
                                             N SYNTHETIC loan rows (not real loans) for the
                                             kill -9 test and the benchmarks

The same seed always gives the same bytes. Expected reasons follow pipelines/loans/pipeline.yaml.
"""
import argparse
import collections
import csv
import io
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REAL = os.path.join(HERE, "lending_club.csv")

# kind -> (stage, rule, reason substring, how to break a real row). Rules and reasons are those
# of CsvSource (producer) and pipelines/loans/pipeline.yaml (cleaner).
BAD_KINDS = collections.OrderedDict([
    ("stray_quote",      ("producer", "csv", "stray quote in unquoted field 2")),
    ("junk_after_quote", ("producer", "csv", "unexpected character after closing quote")),
    ("too_few_columns",  ("producer", "csv", "expected 23 columns, found 22")),
    ("too_many_columns", ("producer", "csv", "expected 23 columns, found 24")),
    ("empty_line",       ("producer", "empty_line", "empty line")),
    ("amount_not_number", ("cleaner", "funded_amnt_number", "'abc' is not a valid double")),
    ("count_not_number", ("cleaner", "delinq_2yrs_range", "'two' is not a number")),
    ("decimal_in_int",   ("cleaner", "type", "open_il_6m: not an integer")),
    ("rate_out_of_range", ("cleaner", "int_rate_range", "int_rate: 95.5 is outside [0, 40]")),
    ("negative_income",  ("cleaner", "annual_inc_range", "annual_inc: -5000 is outside")),
    ("amount_too_big",   ("cleaner", "funded_amnt_range", "outside [500, 40000]")),
    ("unknown_state",    ("cleaner", "state_code", "'ZZ' is not an allowed value")),
    ("term_not_offered", ("cleaner", "term_36_or_60", "term: 48 does not match")),
    ("missing_sub_grade", ("cleaner", "required_fields", "missing required field(s): sub_grade")),
    ("duplicate",        ("cleaner", "duplicate", "duplicate key loan_id=LC-")),
])
# Always last: an unterminated quote runs to the end of the file, and the reader recovers at
# the next line. Any quote after it would close it, so nothing after it may hold a quote.
UNTERMINATED = ("producer", "csv", "unterminated quoted field")

def read_real():
    with open(REAL, newline="") as f:
        text = f.read()
    # The real file ends its lines with CRLF: rows are kept without their line end, so that
    # the files written here end lines with exactly what --crlf says (not CR CR LF).
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines[0], lines[1:]


def break_row(kind, cells):
    c = list(cells)
    if kind == "stray_quote":
        c[1] = c[1][:5] + '"' + c[1][5:]
    elif kind == "junk_after_quote":
        c[0] = '"' + c[0] + '"x'
    elif kind == "too_few_columns":
        c = c[:-1]
    elif kind == "too_many_columns":
        c = c + ["extra"]
    elif kind == "amount_not_number":
        c[0] = "abc"
    elif kind == "count_not_number":
        c[8] = "two"
    elif kind == "decimal_in_int":
        c[12] = "1.5"
    elif kind == "rate_out_of_range":
        c[2] = "95.5"
    elif kind == "negative_income":
        c[6] = "-5000"
    elif kind == "amount_too_big":
        c[0] = "99999999"
    elif kind == "unknown_state":
        c[4] = "ZZ"
    elif kind == "term_not_offered":
        c[1] = "term_48"
    elif kind == "missing_sub_grade":
        c[3] = ""
    else:
        raise ValueError(kind)
    return ",".join(c)


def fix_row(kind, cells):
    c = list(cells)
    if kind == "state_name":
        names = {"CA": " california ", "NY": "New York", "TX": "TEXAS", "FL": "florida"}
        code = c[4] if c[4] in names else "FL"
        c[4] = names[code]
        return ",".join(c), {"addr_state": code}
    if kind == "money":
        amount = c[0]
        c[0] = '"$' + format(int(float(amount)), ",") + '"'
        return ",".join(c), {"funded_amnt": float(amount)}
    if kind == "lower_sub_grade":
        grade = c[3]
        c[3] = grade.lower()
        return ",".join(c), {"sub_grade": grade}
    raise ValueError(kind)


def bad_mix(seed, per_kind, out_dir, crlf, bom):
    rng = random.Random(seed)
    header, rows = read_real()
    n = len(rows)
    # Items: (text, expectation or None). Start with the real rows in order.
    items = [(r, None) for r in rows]
    inserts = []  # (position in the original sequence, text, expectation)
    used = set()
    for kind, (stage, rule, reason) in BAD_KINDS.items():
        for _ in range(per_kind):
            src = rng.randrange(n)
            while src in used:
                src = rng.randrange(n)
            used.add(src)
            if kind == "empty_line":
                text = ""
                pos = rng.randrange(1, n)
            elif kind == "duplicate":
                text = rows[src]
                pos = rng.randrange(src + 1, n + 1)  # after its original
            else:
                text = break_row(kind, rows[src].split(","))
                pos = rng.randrange(n + 1)
            inserts.append((pos, text, {"kind": kind, "stage": stage, "rule": rule, "reason": reason}))
    for kind in ("state_name", "money", "lower_sub_grade"):
        for _ in range(per_kind):
            src = rng.randrange(n)
            while src in used:
                src = rng.randrange(n)
            used.add(src)
            text, fields = fix_row(kind, rows[src].split(","))
            inserts.append((rng.randrange(n + 1), text, {"kind": kind, "fixed": fields}))
    # Insert from the back so earlier positions stay valid; stable for equal positions.
    inserts.sort(key=lambda t: t[0])
    for pos, text, exp in reversed(inserts):
        items.insert(pos, (text, exp))
    # The one unterminated quote goes after the last row holding a quote character.
    last_quote = max(i for i, (t, _) in enumerate(items) if '"' in t)
    src = rng.randrange(n)
    while src in used:
        src = rng.randrange(n)
    pos = rng.randrange(last_quote + 1, len(items) + 1)
    items.insert(pos, ('"' + rows[src], {"kind": "unterminated_quote", "stage": UNTERMINATED[0],
                                         "rule": UNTERMINATED[1], "reason": UNTERMINATED[2]}))

    eol = "\r\n" if crlf else "\n"
    lines = [header] + [t for t, _ in items]
    bad, fixed = [], []
    for i, (text, exp) in enumerate(items):
        line = i + 2  # 1-based, after the header
        if exp is None:
            continue
        entry = dict(exp, line=line)
        (fixed if "fixed" in exp else bad).append(entry)
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, "lending_club_bad_mix.csv")
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        if bom:
            f.write("\ufeff")
        f.write(eol.join(lines) + eol)
    expected = {
        "synthetic_changes": "bad and fixable rows are edited copies of real rows; see loan_data.py",
        "source": "tests/data/loans/lending_club.csv",
        "seed": seed,
        "per_kind": per_kind,
        "crlf": crlf,
        "bom": bom,
        "items": len(items),                       # data items after the header (rows in)
        "expected_loaded": len(items) - len(bad),  # rows that must reach the table
        "expected_rejected": len(bad),
        "rejected_by_rule": dict(collections.Counter(b["rule"] for b in bad)),
        "bad": bad,
        "fixed": fixed,
    }
    with open(os.path.join(out_dir, "lending_club_bad_mix.expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(f"wrote {csv_path}: {len(items)} items, {len(bad)} bad, {len(fixed)} fixable (seed {seed})")


def synthetic(seed, count, out_path):
    """SYNTHETIC rows: each column sampled from the real file's values, with sub_grade, term
    and int_rate kept together, amounts and incomes jittered. Every line is unique."""
    rng = random.Random(seed)
    header, rows = read_real()
    table = [r.split(",") for r in rows]
    seen = set()
    with open(out_path, "w", newline="") as f:
        f.write(header + "\n")
        written = 0
        while written < count:
            base = table[rng.randrange(len(table))]
            c = [table[rng.randrange(len(table))][i] for i in range(len(base))]
            c[1], c[2], c[3] = base[1], base[2], base[3]          # term, int_rate, sub_grade
            c[0] = str(rng.randrange(40, 1601) * 25)               # 1000 .. 40000
            c[6] = f"{rng.randrange(8000, 400000)}.0"              # annual_inc
            line = ",".join(c)
            if line in seen:
                continue
            seen.add(line)
            f.write(line + "\n")
            written += 1
    print(f"wrote {out_path}: {count} SYNTHETIC loan rows (seed {seed}); not real loans")


def stats():
    with open(REAL, newline="") as f:
        rows = list(csv.DictReader(f))
    print(f"rows: {len(rows)}")
    print("annual_inc == 0:", sum(1 for r in rows if float(r["annual_inc"]) == 0))
    print("revol_util > 100:", sum(1 for r in rows if float(r["revol_util"]) > 100))
    print("all_util > 100:", sum(1 for r in rows if float(r["all_util"]) > 100))
    print("empty cells:", sum(1 for r in rows for v in r.values() if v == ""))
    lines = open(REAL).read().splitlines()[1:]
    print("duplicate lines:", len(lines) - len(set(lines)))
    print("states:", len({r["addr_state"] for r in rows}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("stats")
    b = sub.add_parser("bad-mix")
    b.add_argument("--seed", type=int, default=42)
    b.add_argument("--per-kind", type=int, default=3, help="bad rows of each kind")
    b.add_argument("--out", required=True, help="output directory")
    b.add_argument("--crlf", action="store_true", help="CRLF line ends")
    b.add_argument("--bom", action="store_true", help="start with a UTF-8 BOM")
    s = sub.add_parser("synthetic")
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--rows", type=int, default=100000)
    s.add_argument("--out", required=True, help="output CSV file")
    a = p.parse_args()
    if a.cmd == "stats":
        stats()
    elif a.cmd == "bad-mix":
        bad_mix(a.seed, a.per_kind, a.out, a.crlf, a.bom)
    else:
        synthetic(a.seed, a.rows, a.out)


if __name__ == "__main__":
    sys.exit(main())
