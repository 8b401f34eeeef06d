#!/usr/bin/env python3
"""A local price API with real data and real-world faults, for the prices and fx pipelines.

  price_api.py --port 0 [--port-file F] [--data-dir DIR] [--rate-limit R] [--fail-every K]
               [--unavailable-every K] [--malformed-fx-page P] [--token T] [--host H]

Serves the S&P 500 daily history (cursor pagination) and USD->INR/EUR rates (page-number
pagination) from tests/data/prices, with a rate limit, every K-th data request failing, one
permanently malformed FX page, schema drift and bearer auth, all changeable at run time through
/admin. Python 3 standard library only. Endpoints, options and faults: README.md beside this file.
"""
import base64
import binascii
import csv
import json
import math
import os
import re
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools", "local_api"))
from local_api import (  # noqa: E402 (found through the sys.path line above)
    IntParam, AdminState, ApiError, ArgParser, ErrorResponse, Json,
    ParseArgs, ParseBody, Response, Route, Serve)

kDefaultDataDir = os.path.normpath(os.path.join(HERE, "..", "..", "..", "tests", "data", "prices"))
kHistoryFile = "sp500_daily.csv"
kFxFile = "usd_fx_2000.csv"
kInstruments = [{"symbol": "SPX", "name": "S&P 500 index", "currency": "USD"}]
kHistoryFields = ("date", "open", "high", "low", "close", "adj_close", "volume")
kFxBase = "USD"
kFxDefaultSymbols = ("INR", "EUR")
kHistoryLimit = (250, 1000)    # default, max
kFxPerPage = (500, 1000)       # default, max
kMalformedBytes = 100          # a malformed page is the first bytes of the real body
kDriftTypes = ("string",)
kDate = re.compile(r"^\d{4}-\d{2}-\d{2}$")
kHistoryPath = re.compile(r"^/v1/instruments/([^/]+)/history$")
kFxPath = re.compile(r"^/v1/fx/([^/]+)$")


# ---------------------------------------------------------------------------------------- data

class Dataset:
    """The rows the API serves, read once at start; read-only afterwards (shared by threads)."""

    def __init__(self, data_dir):
        self.history = LoadHistory(os.path.join(data_dir, kHistoryFile))
        self.fx_currencies, self.fx = LoadFx(os.path.join(data_dir, kFxFile))


def LoadHistory(path):
    """Rows of sp500_daily.csv as API records (numbers as numbers), ascending by date."""
    records = []
    with open(path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), 2):
            try:
                records.append({"date": row["date"], "open": float(row["open"]), "high": float(row["high"]),
                                "low": float(row["low"]), "close": float(row["close"]),
                                "adj_close": float(row["adjclose"]), "volume": int(row["volume"])})
            except (KeyError, TypeError, ValueError) as e:
                sys.exit(f"{path}:{line}: not a price row ({e})")
    records.sort(key=lambda r: r["date"])
    return records


def LoadFx(path):
    """(currencies, rows) of usd_fx_2000.csv; a row is (DATE text, {currency: float or None})."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        currencies = header[1:]
        rows = []
        for line, row in enumerate(reader, 2):
            try:
                rates = {c: (float(v) if v != "" else None) for c, v in zip(currencies, row[1:])}
            except ValueError as e:
                sys.exit(f"{path}:{line}: not a rate ({e})")
            rates.update({c: None for c in currencies if c not in rates})
            rows.append((row[0], rates))
    return currencies, rows


# ----------------------------------------------------------------------------------- pagination

def EncodeCursor(after, offset):
    """The opaque, stateless next_cursor: urlsafe base64 (no padding) of {"after", "offset"}."""
    text = json.dumps({"after": after, "offset": offset}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def DecodeCursor(token):
    """(after, offset) of a token EncodeCursor made; ApiError 400 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError(400, "malformed cursor")
    if (not isinstance(value, dict) or set(value) != {"after", "offset"}
            or not isinstance(value["after"], str) or not IsDateOrEmpty(value["after"])
            or type(value["offset"]) is not int or value["offset"] < 0):
        raise ApiError(400, "malformed cursor")
    return value["after"], value["offset"]


def IsDateOrEmpty(text):
    return text == "" or bool(kDate.match(text))


def DateParam(query, name):
    text = query.get(name) or ""
    if not IsDateOrEmpty(text):
        raise ApiError(400, f"{name} must be YYYY-MM-DD, got {text!r}")
    return text


def HistoryPage(history, query):
    """(records, next_cursor) of one history request; the cursor, when given, wins over after."""
    limit = IntParam(query, "limit", kHistoryLimit[0], 1, kHistoryLimit[1])
    if query.get("cursor"):
        after, offset = DecodeCursor(query["cursor"])
    else:
        after, offset = DateParam(query, "after"), 0
    rows = [r for r in history if r["date"] > after] if after else history
    page = rows[offset:offset + limit]
    next_cursor = EncodeCursor(after, offset + limit) if offset + limit < len(rows) else None
    return page, next_cursor


def FxPage(dataset, query):
    """(symbols, since, page, per_page, total_pages, rows) of one FX request."""
    text = query.get("symbols")
    symbols = tuple(s.strip() for s in text.split(",")) if text else kFxDefaultSymbols
    unknown = [s for s in symbols if s not in dataset.fx_currencies]
    if unknown:
        raise ApiError(400, f"unknown currency {','.join(unknown)}"
                            f" (known: {','.join(dataset.fx_currencies)})")
    since = DateParam(query, "since")
    page = IntParam(query, "page", 1, 1, 10**9)
    per_page = IntParam(query, "per_page", kFxPerPage[0], 1, kFxPerPage[1])
    # String comparison, as a real API on this file would do: 'undefined' sorts after any date.
    rows = [r for r in dataset.fx if r[0] > since] if since else dataset.fx
    total_pages = math.ceil(len(rows) / per_page)
    return symbols, since, page, per_page, total_pages, rows[(page - 1) * per_page:page * per_page]


# -------------------------------------------------------------------------------------- faults

class Settings:
    """The run-time settings: every fault and the token. Changed under PriceApi's lock."""

    kConfigKeys = {"rate_limit": float, "fail_every": int, "unavailable_every": int, "malformed_fx_page": int}

    def __init__(self, rate_limit=20.0, fail_every=7, unavailable_every=0, malformed_fx_page=3, token=""):
        self.rate_limit = float(rate_limit)
        self.fail_every = int(fail_every)
        self.unavailable_every = int(unavailable_every)
        self.malformed_fx_page = int(malformed_fx_page)
        self.token = token
        self.drift_drop = []   # fields omitted from history records
        self.drift_type = {}   # field -> "string"

    def Config(self):
        return {"rate_limit": self.rate_limit, "fail_every": self.fail_every,
                "unavailable_every": self.unavailable_every, "malformed_fx_page": self.malformed_fx_page,
                "auth": bool(self.token),
                "drift": {"on": bool(self.drift_drop or self.drift_type), "drop": self.drift_drop,
                          "type": self.drift_type}}



def ParseDrift(body):
    """(drop fields, {field: type}) of a POST /admin/drift body; ([], {}) turns drift off."""
    if not isinstance(body, dict) or not isinstance(body.get("on"), bool):
        raise ApiError(400, 'expected {"on": true|false, "drop": field, "type": {field: "string"}}')
    unknown = sorted(set(body) - {"on", "drop", "type"})
    if unknown:
        raise ApiError(400, f"unknown drift key {', '.join(unknown)} (known: on, drop, type)")
    if not body["on"]:
        return [], {}
    drop = body.get("drop", [])
    drop = [drop] if isinstance(drop, str) else drop
    types = body.get("type", {})
    if not isinstance(drop, list) or not all(isinstance(f, str) for f in drop) or not isinstance(types, dict):
        raise ApiError(400, "drop is a field name (or a list of them), type an object {field: type}")
    for field in list(drop) + list(types):
        if field not in kHistoryFields:
            raise ApiError(400, f"unknown history field {field!r} (known: {', '.join(kHistoryFields)})")
    for field, kind in types.items():
        if kind not in kDriftTypes:
            raise ApiError(400, f"type drift of {field} to {kind!r}: only {', '.join(kDriftTypes)}")
    if not drop and not types:
        raise ApiError(400, "drift on needs a field to drop or a type to change")
    return drop, dict(types)


def Drift(record, drop, types):
    """The record as the drifted API serves it: fields dropped, numbers turned into strings."""
    out = {k: v for k, v in record.items() if k not in drop}
    for field, kind in types.items():
        if field in out and kind == "string":
            out[field] = str(out[field])
    return out


class TokenBucket:
    """Rate limit over data requests: rate tokens a second, burst = rate (at least 1), starts full.
    0 = off. Not thread-safe: PriceApi calls it under its lock."""

    def __init__(self, rate, clock=time.monotonic):
        self.clock_ = clock
        self.Reset(rate)

    def Reset(self, rate):
        self.rate_ = rate
        self.burst_ = max(1.0, rate)
        self.tokens_ = self.burst_
        self.last_ = self.clock_()

    def Take(self):
        if self.rate_ <= 0:
            return True
        now = self.clock_()
        self.tokens_ = min(self.burst_, self.tokens_ + (now - self.last_) * self.rate_)
        self.last_ = now
        if self.tokens_ >= 1:
            self.tokens_ -= 1
            return True
        return False


class Stats:
    """Counters of /admin/stats, over data requests only."""

    def __init__(self):
        self.requests = 0
        self.by_status = {}
        self.served = {"history": 0, "fx": 0}
        self.distinct = {"history": set(), "fx": set()}
        self.malformed_responses = 0
        self.malformed_pages = {}   # (since, per_page, page, symbols) -> records it would hold
        self.drifted_records = 0

    def Json(self):
        return {"requests": self.requests,
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "records_served": dict(self.served),
                "distinct_records_served": {k: len(v) for k, v in self.distinct.items()},
                "malformed_pages": len(self.malformed_pages),
                "malformed_responses": self.malformed_responses,
                "records_on_malformed_pages": sum(self.malformed_pages.values()),
                "drifted_records": self.drifted_records}


# ------------------------------------------------------------------------------------------ api

class PriceApi(AdminState):
    """The API without HTTP: Handle() maps a request to a Response. Thread-safe (one lock)."""

    def __init__(self, dataset, settings):
        self.dataset_ = dataset
        self.settings_ = settings
        self.lock_ = threading.Lock()
        self.bucket_ = TokenBucket(settings.rate_limit)
        self.stats_ = Stats()
        self.passed_ = 0   # data requests that passed the rate limit, since start or reset

    def Handle(self, method, path, query, headers, body, base_url):
        """query: {name: last value}; headers: a case-insensitive mapping; body: bytes."""
        history = kHistoryPath.match(path)
        fx = kFxPath.match(path)
        if history or fx:
            response = self.Data(method, history, fx, query, headers, base_url)
            with self.lock_:
                self.stats_.requests += 1
                self.stats_.by_status[response.status] = self.stats_.by_status.get(response.status, 0) + 1
            return response
        try:
            return self.Other(method, path, body)
        except ApiError as e:
            return ErrorResponse(e)

    def Data(self, method, history, fx, query, headers, base_url):
        try:
            with self.lock_:
                if not self.bucket_.Take():
                    raise ApiError(429, "rate limit exceeded", {"Retry-After": "1"})
                self.passed_ += 1
                s = self.settings_
                if s.fail_every and self.passed_ % s.fail_every == 0:
                    raise ApiError(500, f"internal server error (injected: every {s.fail_every}-th request)")
                if s.unavailable_every and self.passed_ % s.unavailable_every == 0:
                    raise ApiError(503, f"service unavailable (injected: every {s.unavailable_every}-th"
                                        " request)", {"Retry-After": "2"})
                token = s.token
            if token and headers.get("Authorization") != f"Bearer {token}":
                raise ApiError(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
            if method != "GET":
                raise ApiError(405, f"{method} not allowed here", {"Allow": "GET"})
            if history:
                return self.History(urllib.parse.unquote(history.group(1)), query)
            return self.Fx(urllib.parse.unquote(fx.group(1)), query, base_url)
        except ApiError as e:
            return ErrorResponse(e)

    def History(self, symbol, query):
        if symbol not in {i["symbol"] for i in kInstruments}:
            raise ApiError(404, f"unknown symbol {symbol!r}")
        page, next_cursor = HistoryPage(self.dataset_.history, query)
        with self.lock_:
            drop, types = list(self.settings_.drift_drop), dict(self.settings_.drift_type)
        served = [Drift(r, drop, types) for r in page] if drop or types else page
        body = Json({"symbol": symbol, "data": served, "next_cursor": next_cursor})
        with self.lock_:
            self.stats_.served["history"] += len(page)
            self.stats_.distinct["history"].update(r["date"] for r in page)   # even if date is dropped
            if drop or types:
                self.stats_.drifted_records += len(page)
        return Response(200, body)

    def Fx(self, base, query, base_url):
        if base != kFxBase:
            raise ApiError(404, f"unknown base currency {base!r} (known: {kFxBase})")
        symbols, since, page, per_page, total_pages, rows = FxPage(self.dataset_, query)
        params = {"symbols": ",".join(symbols), "page": page + 1, "per_page": per_page}
        if since:
            params["since"] = since
        next_url = (f"{base_url}/v1/fx/{kFxBase}?{urllib.parse.urlencode(params)}"
                    if page < total_pages else None)
        body = Json({"base": kFxBase, "page": page, "per_page": per_page, "total_pages": total_pages,
                     "data": [{"date": d, "rates": {c: rates[c] for c in symbols}} for d, rates in rows],
                     "links": {"next": next_url}})
        with self.lock_:
            if page == self.settings_.malformed_fx_page:
                # A permanent defect, like a truncated export: valid headers, a body cut short.
                self.stats_.malformed_responses += 1
                self.stats_.malformed_pages[(since, per_page, page, symbols)] = len(rows)
                return Response(200, body[:min(kMalformedBytes, len(body) - 1)])
            self.stats_.served["fx"] += len(rows)
            self.stats_.distinct["fx"].update(d for d, _ in rows)
        return Response(200, body)

    def Other(self, method, path, body):
        """/v1/instruments and /admin: never rate limited, faulted or counted."""
        routes = {("GET", "/v1/instruments"): lambda: {"data": kInstruments},
                  **self.AdminRoutes(body),
                  ("POST", "/admin/drift"): lambda: self.SetDrift(*ParseDrift(ParseBody(body)))}
        return Route(routes, method, path)

    def Reset(self):
        """Zeroes the counters, the K-th request count and refills the bucket; keeps settings."""
        with self.lock_:
            self.stats_ = Stats()
            self.passed_ = 0
            self.bucket_.Reset(self.settings_.rate_limit)
            return self.stats_.Json()

    def Configured(self, changes):
        if "rate_limit" in changes:
            self.bucket_.Reset(self.settings_.rate_limit)

    def SetDrift(self, drop, types):
        with self.lock_:
            self.settings_.drift_drop, self.settings_.drift_type = drop, types
            return self.settings_.Config()


# ----------------------------------------------------------------------------------------- main

def ParseServerArgs(argv):
    parser = ArgParser(__doc__)
    parser.add_argument("--data-dir", default=kDefaultDataDir, help="dir with %s and %s (default: %s)"
                        % (kHistoryFile, kFxFile, os.path.relpath(kDefaultDataDir)))
    parser.add_argument("--rate-limit", type=float, default=20,
                        help="data requests/s, burst the same (0: off; default 20)")
    parser.add_argument("--fail-every", type=int, default=7,
                        help="every K-th data request is a 500 (0: off; default 7)")
    parser.add_argument("--unavailable-every", type=int, default=0,
                        help="every K-th data request is a 503 (0: off; default 0)")
    parser.add_argument("--malformed-fx-page", type=int, default=3,
                        help="FX page served as invalid JSON (0: off; default 3)")
    return ParseArgs(parser, argv, "PRICE_API_TOKEN",
                     ("rate_limit", "fail_every", "unavailable_every", "malformed_fx_page"))


def Main(args):
    settings = Settings(args.rate_limit, args.fail_every, args.unavailable_every, args.malformed_fx_page,
                        args.token)
    Serve(args, lambda: PriceApi(Dataset(args.data_dir), settings), "SluicePriceApi/1")


if __name__ == "__main__":
    Main(ParseServerArgs(sys.argv[1:]))
