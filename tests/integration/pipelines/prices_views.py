#!/usr/bin/env python3
"""The data and the expected rows of prices_views_test.sh (stdlib only).

  prices_views.py data <dir>              write prices.csv and fx.csv (the test's rows) to <dir>
  prices_views.py real <csv> <csv> <dir>  convert tests/data/prices' files to the same form;
                                          exit 3 when their header is not one it knows
  prices_views.py check <dir>             compare <dir>/<view>.csv (the views' rows, dumped by
                                          the test) with what this file computes from
                                          <dir>/prices.csv and <dir>/fx.csv; exit 1 on any
                                          difference, printing each

The expected rows are computed here, from the input rows, by other means than the SQL (a
forward scan for the as-of rate, loops for the running peak): never copied from the views.
Aggregates are rounded to 2 decimals by the views: a value passes when it has at most 2
decimals and is within half a cent of the exact one.
"""
import bisect
import csv
import datetime
import math
import os
import sys
from collections import defaultdict

CURRENCIES = ("USD", "INR", "EUR")
D = datetime.date.fromisoformat

# Illustrative bars around the 2019/2020 turn of the year (not real quotes). US trading days:
# no weekends, no 25 December, no 1 January. 2019-12-20 is before the first FX row. SPX's
# highest high of 2019 is a tie (12-24 and 12-26, which also share their rates: 12-26 is
# filled from 12-24); its largest fall of 2020 ends two days after the peak (01-02 to 01-06),
# so a running maximum that looks back one day only would miss it; NDX never falls in 2019.
PRICES = [  # symbol, date, open, high, low, close, adj_close, volume
    ("SPX", "2019-12-20", 3195.5, 3225.75, 3192.0, 3221.25, 3221.25, 6454270000),
    ("SPX", "2019-12-23", 3223.0, 3227.75, 3216.0, 3224.0, 3224.0, 3060610000),
    ("SPX", "2019-12-24", 3225.5, 3250.0, 3220.5, 3223.25, None, 1296540000),
    ("SPX", "2019-12-26", 3227.25, 3250.0, 3226.5, 3239.75, 3239.75, None),
    ("SPX", "2019-12-27", 3247.25, 3247.75, 3234.25, 3240.0, 3240.0, 2428670000),
    ("SPX", "2019-12-30", 3240.0, 3240.75, 3216.5, 3221.25, 3221.25, 3013290000),
    ("SPX", "2019-12-31", 3215.25, 3231.75, 3212.0, 3230.75, 3230.75, 2893810000),
    ("SPX", "2020-01-02", 3244.75, 3258.25, 3235.5, 3257.75, 3257.75, 3458250000),
    ("SPX", "2020-01-03", 3226.25, 3246.25, 3222.25, 3234.75, 3234.75, 3461290000),
    ("SPX", "2020-01-06", 3217.5, 3246.75, 3214.75, 3230.0, 3230.0, 3674070000),
    ("SPX", "2020-01-07", 3241.75, 3244.75, 3232.5, 3237.25, 3237.25, 3420380000),
    ("SPX", "2020-01-08", 3238.5, 3267.0, 3236.75, 3253.0, 3253.0, 3720890000),
    ("SPX", "2020-01-09", 3266.0, 3275.5, 3263.75, 3274.75, 3274.75, 3638390000),
    ("SPX", "2020-01-10", 3281.0, 3282.99, 3260.75, 3265.25, 3265.25, 3212970000),
    ("NDX", "2019-12-20", 8870.0, 8925.5, 8850.25, 8900.0, 8900.0, None),
    ("NDX", "2019-12-31", 8930.5, 8975.0, 8920.0, 8972.5, 8972.5, None),
    ("NDX", "2020-01-02", 9000.0, 9093.5, 8995.0, 9092.25, 9092.25, None),
    ("NDX", "2020-01-03", 8990.5, 9045.0, 8975.5, 9020.75, 9020.75, None),
    ("NDX", "2020-01-06", 8985.0, 9077.0, 8970.0, 9071.5, 9071.5, None),
]

# Units per USD. Missing days: 12-25 and 12-26 (no row: 12-26 is a trading day), 01-06 (no row
# on a Monday). Null rates: INR on 12-27, EUR on 01-02 (filled from 01-01, a row on a day with
# no trading), EUR on 01-08 and 01-09 (two filled days in a row). A Saturday row (01-04) has
# INR only: 01-06 is filled from 01-04 in INR and from 01-03 in EUR.
FX = [  # date, inr, eur
    ("2019-12-23", 71.125, 0.9025),
    ("2019-12-24", 71.25, 0.90125),
    ("2019-12-27", None, 0.8975),
    ("2019-12-30", 71.375, 0.895),
    ("2019-12-31", 71.5, 0.89125),
    ("2020-01-01", 71.5625, 0.891),
    ("2020-01-02", 71.75, None),
    ("2020-01-03", 71.875, 0.8975),
    ("2020-01-04", 71.8, None),
    ("2020-01-07", 71.625, 0.89625),
    ("2020-01-08", 71.5, None),
    ("2020-01-09", 71.25, None),
    ("2020-01-10", 71.125, 0.9),
]

VIEW_COLUMNS = {
    "prices_by_currency": ["symbol", "date", "currency", "open", "high", "low", "close", "fx_rate",
                           "fx_date", "fx_filled", "fx_days_back"],
    "prices_monthly_avg_close": ["symbol", "currency", "year", "month", "trading_days", "avg_close"],
    "prices_yearly_high_low": ["symbol", "currency", "year", "trading_days", "high", "high_date", "low",
                               "low_date"],
    "prices_yearly_drawdown": ["symbol", "currency", "year", "max_drawdown_pct", "peak_date", "peak_close",
                               "trough_date", "trough_close"],
    "prices_fx_fills": ["symbol", "date", "currency", "fx_date", "fx_days_back"],
    "prices_fx_fill_summary": ["currency", "price_days", "converted_days", "filled_days", "max_days_back",
                               "days_without_rate"],
}


def cell(v):
    return "" if v is None else str(v)  # COPY ... CSV reads an unquoted empty field as NULL


def write_inputs(out, prices, fx):
    with open(os.path.join(out, "prices.csv"), "w", newline="") as f:
        w = csv.writer(f)
        for s, d, o, h, l, c, a, v in prices:
            day = D(d)
            w.writerow([s, d, repr(o), repr(h), repr(l), repr(c), cell(a), cell(v), day.year, day.month])
    with open(os.path.join(out, "fx.csv"), "w", newline="") as f:
        w = csv.writer(f)
        for d, inr, eur in fx:
            w.writerow([d, cell(inr), cell(eur)])


def number(text):
    return None if text == "" else float(text)


def read_inputs(out):
    with open(os.path.join(out, "prices.csv"), newline="") as f:
        prices = [(r[0], D(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5])) for r in csv.reader(f)]
    with open(os.path.join(out, "fx.csv"), newline="") as f:
        fx = [(D(r[0]), number(r[1]), number(r[2])) for r in csv.reader(f)]
    return prices, fx


def by_currency(prices, fx):
    """(symbol, date, currency) -> (open, high, low, close, rate, fx_date, filled, days_back)."""
    known = {"INR": [(d, inr) for d, inr, _ in sorted(fx) if inr is not None],
             "EUR": [(d, eur) for d, _, eur in sorted(fx) if eur is not None]}
    days = {cur: [d for d, _ in rates] for cur, rates in known.items()}
    rows = {}
    for s, d, o, h, l, c in prices:
        for cur in CURRENCIES:
            if cur == "USD":
                rate, fx_day = 1.0, d
            else:
                i = bisect.bisect_right(days[cur], d)  # the days with a rate up to d: the last one wins
                if i == 0:
                    continue
                fx_day, rate = known[cur][i - 1]
            rows[(s, d, cur)] = (o * rate, h * rate, l * rate, c * rate, rate, fx_day, fx_day < d,
                                 (d - fx_day).days)
    return rows


def groups(rows, monthly):
    g = defaultdict(list)
    for (s, d, cur), v in rows.items():
        g[(s, cur, d.year) + ((d.month,) if monthly else ())].append((d,) + v)
    return {k: sorted(v) for k, v in g.items()}


def expected(prices, fx):
    conv = by_currency(prices, fx)
    views = {"prices_by_currency": dict(conv)}
    views["prices_monthly_avg_close"] = {
        k: (len(v), math.fsum(r[4] for r in v) / len(v)) for k, v in groups(conv, True).items()}
    high_low = {}
    drawdown = {}
    for k, v in groups(conv, False).items():
        top = min(v, key=lambda r: (-r[2], r[0]))
        bottom = min(v, key=lambda r: (r[3], r[0]))
        high_low[k] = (len(v), top[2], top[0], bottom[3], bottom[0])
        peak = peak_day = best = None
        for r in v:
            day, close = r[0], r[4]
            if peak is None or close >= peak:
                peak, peak_day = close, day
            fall = 1 - close / peak
            if best is None or fall > best[0]:
                best = (fall, peak_day, peak, day, close)
        drawdown[k] = (100 * best[0],) + best[1:]
    views["prices_yearly_high_low"] = high_low
    views["prices_yearly_drawdown"] = drawdown
    views["prices_fx_fills"] = {k: (v[5], v[7]) for k, v in conv.items() if v[6]}
    summary = {}
    for cur in CURRENCIES:
        mine = [v for k, v in conv.items() if k[2] == cur]
        summary[(cur,)] = (len(prices), len(mine), sum(1 for v in mine if v[6]),
                           max((v[7] for v in mine), default=0), len(prices) - len(mine))
    views["prices_fx_fill_summary"] = summary
    return views


class Checker:
    def __init__(self):
        self.problems = []

    def fail(self, view, key, message):
        self.problems.append(f"{view} {'/'.join(map(str, key))}: {message}")

    def same(self, view, key, name, got, want):
        if got != want:
            self.fail(view, key, f"{name} is {got!r}, expected {want!r}")

    def close(self, view, key, name, got, want):
        if got == "" or not math.isclose(float(got), want, rel_tol=1e-12):
            self.fail(view, key, f"{name} is {got}, expected {want!r}")

    def rounded(self, view, key, name, got, want):
        decimals = got.split(".")[1] if "." in got else ""
        if got == "" or len(decimals) > 2 or abs(float(got) - want) > 0.005 + 1e-9:
            self.fail(view, key, f"{name} is {got}, expected {want!r} rounded to 2 decimals")


def day(text):
    return None if text == "" else D(text)


def integer(text):
    return None if text == "" else int(text)


def read_view(out, view):
    with open(os.path.join(out, view + ".csv"), newline="") as f:
        r = csv.reader(f)
        return next(r), list(r)


def check(out):
    prices, fx = read_inputs(out)
    want = expected(prices, fx)
    c = Checker()
    key_width = {"prices_by_currency": 3, "prices_monthly_avg_close": 4, "prices_yearly_high_low": 3,
                 "prices_yearly_drawdown": 3, "prices_fx_fills": 3, "prices_fx_fill_summary": 1}
    counts = []
    for view, columns in VIEW_COLUMNS.items():
        header, rows = read_view(out, view)
        if header != columns:
            c.fail(view, (), f"columns {header}, expected {columns}")
            continue
        expect = want[view]
        seen = set()
        for row in rows:
            raw = dict(zip(header, row))
            if view in ("prices_by_currency", "prices_fx_fills"):
                key = (raw["symbol"], D(raw["date"]), raw["currency"])
            elif view == "prices_fx_fill_summary":
                key = (raw["currency"],)
            else:
                key = (raw["symbol"], raw["currency"], int(raw["year"]))
                if view == "prices_monthly_avg_close":
                    key += (int(raw["month"]),)
            if key in seen:
                c.fail(view, key, "row twice")
            seen.add(key)
            if key not in expect:
                c.fail(view, key, f"unexpected row {row}")
                continue
            e = expect[key]
            if view == "prices_by_currency":
                for i, name in enumerate(["open", "high", "low", "close", "fx_rate"]):
                    c.close(view, key, name, raw[name], e[i])
                c.same(view, key, "fx_date", day(raw["fx_date"]), e[5])
                c.same(view, key, "fx_filled", raw["fx_filled"] == "t", e[6])
                c.same(view, key, "fx_days_back", integer(raw["fx_days_back"]), e[7])
            elif view == "prices_monthly_avg_close":
                c.same(view, key, "trading_days", integer(raw["trading_days"]), e[0])
                c.rounded(view, key, "avg_close", raw["avg_close"], e[1])
            elif view == "prices_yearly_high_low":
                c.same(view, key, "trading_days", integer(raw["trading_days"]), e[0])
                c.rounded(view, key, "high", raw["high"], e[1])
                c.same(view, key, "high_date", day(raw["high_date"]), e[2])
                c.rounded(view, key, "low", raw["low"], e[3])
                c.same(view, key, "low_date", day(raw["low_date"]), e[4])
            elif view == "prices_yearly_drawdown":
                c.rounded(view, key, "max_drawdown_pct", raw["max_drawdown_pct"], e[0])
                c.same(view, key, "peak_date", day(raw["peak_date"]), e[1])
                c.rounded(view, key, "peak_close", raw["peak_close"], e[2])
                c.same(view, key, "trough_date", day(raw["trough_date"]), e[3])
                c.rounded(view, key, "trough_close", raw["trough_close"], e[4])
            elif view == "prices_fx_fills":
                c.same(view, key, "fx_date", day(raw["fx_date"]), e[0])
                c.same(view, key, "fx_days_back", integer(raw["fx_days_back"]), e[1])
            else:
                got = tuple(integer(raw[n]) for n in columns[1:])
                c.same(view, key, "counts", got, e)
        for key in sorted(set(expect) - seen, key=str):
            c.fail(view, key, "row missing")
        counts.append(f"{view} {len(rows)}")
    if c.problems:
        print("\n".join(c.problems[:40]))
        print(f"FAILED: {len(c.problems)} difference(s)")
        return 1
    print("ok: " + ", ".join(counts))
    return 0


def pick(header, *names):
    lower = [h.strip().lower().replace(" ", "_") for h in header]
    for n in names:
        if n in lower:
            return lower.index(n)
    return None


def real(prices_csv, fx_csv, out):
    """Converts the real files to the test's form, keeping what the pipelines' cleaners keep
    (the first row of a key, close and low >= 0.01, volume >= 0, INR in [1, 1000], EUR in
    [0.1, 10], a date that parses). Exit 3 when a header or value is not of a form this knows:
    the files are another branch's, and the test must not depend on their exact shape."""
    try:
        with open(prices_csv, newline="") as f:
            r = csv.reader(f)
            h = next(r)
            cols = [pick(h, "date"), pick(h, "open"), pick(h, "high"), pick(h, "low"), pick(h, "close"),
                    pick(h, "adj_close", "adjclose"), pick(h, "volume")]
            sym = pick(h, "symbol", "ticker")
            if None in cols[:5]:
                print(f"{prices_csv}: header {h} has no date/open/high/low/close")
                return 3
            prices, keys = [], set()
            for row in r:
                get = [row[i] if i is not None else "" for i in cols]
                key = (row[sym] if sym is not None else "SPX", D(get[0]).isoformat())
                o, hi, lo, c = (float(x) for x in get[1:5])
                a = float(get[5]) if get[5] else None
                v = int(float(get[6])) if get[6] else None
                if key in keys or c < 0.01 or lo < 0.01 or (v is not None and v < 0):
                    continue
                keys.add(key)
                prices.append(key + (o, hi, lo, c, a, v))
        with open(fx_csv, newline="") as f:
            r = csv.reader(f)
            h = next(r)
            cols = [pick(h, "date"), pick(h, "inr"), pick(h, "eur")]
            if None in cols:
                print(f"{fx_csv}: header {h} has no date/inr/eur")
                return 3
            fx, days = [], set()
            for row in r:
                try:
                    day = D(row[cols[0]]).isoformat()
                except ValueError:
                    continue  # the cleaner rejects it ('undefined'): it never reaches fx_rates
                inr, eur = (float(row[i]) if row[i] not in ("", "null") else None for i in cols[1:])
                if (day in days or (inr is not None and not 1 <= inr <= 1000)
                        or (eur is not None and not 0.1 <= eur <= 10)):
                    continue
                days.add(day)
                fx.append((day, inr, eur))
    except (ValueError, IndexError, StopIteration) as e:
        print(f"a value of a form this does not know: {e}")
        return 3
    write_inputs(out, prices, fx)
    print(f"real data: {len(prices)} price days, {len(fx)} fx days")
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "data":
        write_inputs(sys.argv[2], PRICES, FX)
    elif cmd == "real":
        sys.exit(real(*sys.argv[2:5]))
    elif cmd == "check":
        sys.exit(check(sys.argv[2]))
    else:
        sys.exit(f"unknown command {cmd}")
