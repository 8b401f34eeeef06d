#!/usr/bin/env python3
"""A local internal customer API serving the real Superstore customers, for the retail pipeline.

  customer_api.py --port 0 [--port-file F] [--data-dir DIR] [--fail-every K] [--token T] [--host H]

GET /v1/customers?page=P&per_page=N (page-number pagination, bearer auth) serves the 793
customers of tests/data/retail/superstore.csv, ordered by customer_id:
{"page", "per_page", "total", "total_pages", "data": [{customer_id, customer_name, segment,
city, state, region, date_joined}]}. The file has no customer table: a customer's city, state
and region are those of their FIRST order line (earliest Order Date, then smallest Row ID) and
date_joined is that line's Order Date: DERIVED, not a real sign-up date. GET
/v1/customers/<id> serves one. /admin/health, /admin/stats, /admin/config, /admin/reset as the
other local APIs (tools/local_api). Python 3 standard library only.
"""
import csv
import math
import os
import re
import sys
import threading
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools", "local_api"))
from local_api import (  # noqa: E402 (found through the sys.path line above)
    IntParam, AdminState, ApiError, ArgParser, ErrorResponse, ParseArgs, Response, Route, Serve)

kDefaultDataDir = os.path.normpath(os.path.join(HERE, "..", "..", "..", "tests", "data", "retail"))
kFile = "superstore.csv"
kPerPage = (100, 500)   # default, max
kListPath = "/v1/customers"
kOnePath = re.compile(r"^/v1/customers/([^/]+)$")


def LoadCustomers(path):
    """[customer record] ordered by customer_id, each from the customer's first order line."""
    first = {}
    with open(path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), 2):
            try:
                order = (row["Order Date"], int(row["Row ID"]))
                cid = row["Customer ID"]
            except (KeyError, TypeError, ValueError) as e:
                sys.exit(f"{path}:{line}: not an order line ({e})")
            if cid not in first or order < first[cid][0]:
                first[cid] = (order, row)
    return [{"customer_id": cid, "customer_name": row["Customer Name"], "segment": row["Segment"],
             "city": row["City"], "state": row["State"], "region": row["Region"],
             "date_joined": order[0]}
            for cid, (order, row) in sorted(first.items())]


class Settings:
    kConfigKeys = ("fail_every",)

    def __init__(self, fail_every=0, token=""):
        self.fail_every = int(fail_every)
        self.token = token

    def Config(self):
        return {"fail_every": self.fail_every, "auth": bool(self.token)}



class Stats:
    """Counters of /admin/stats, over data requests only."""

    def __init__(self):
        self.requests = 0
        self.by_status = {}
        self.records_served = 0
        self.distinct = set()

    def Json(self):
        return {"requests": self.requests,
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "records_served": self.records_served,
                "distinct_records_served": len(self.distinct)}


class CustomerApi(AdminState):
    """The API without HTTP: Handle() maps a request to a Response. Thread-safe (one lock)."""

    def __init__(self, customers, settings):
        self.customers_ = customers
        self.by_id_ = {c["customer_id"]: c for c in customers}
        self.settings_ = settings
        self.lock_ = threading.Lock()
        self.stats_ = Stats()
        self.count_ = 0

    def Handle(self, method, path, query, headers, body, base_url=None):
        if path == kListPath or kOnePath.match(path):
            response, served = self.Data(method, path, query, headers)
            with self.lock_:
                self.stats_.requests += 1
                self.stats_.by_status[response.status] = self.stats_.by_status.get(response.status, 0) + 1
                self.stats_.records_served += len(served)
                self.stats_.distinct.update(served)
            return response
        try:
            return self.Other(method, path, body)
        except ApiError as e:
            return ErrorResponse(e)

    def Data(self, method, path, query, headers):
        """(response, ids of the customers it serves)."""
        try:
            with self.lock_:
                self.count_ += 1
                s = self.settings_
                if s.fail_every and self.count_ % s.fail_every == 0:
                    raise ApiError(500, f"internal server error (injected: every {s.fail_every}-th request)")
                token = s.token
            if token and headers.get("Authorization") != f"Bearer {token}":
                raise ApiError(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
            if method != "GET":
                raise ApiError(405, f"{method} not allowed here", {"Allow": "GET"})
            one = kOnePath.match(path)
            if one:
                cid = urllib.parse.unquote(one.group(1))
                if cid not in self.by_id_:
                    raise ApiError(404, f"unknown customer {cid!r}")
                return Response(200, self.by_id_[cid]), [cid]
            page = IntParam(query, "page", 1, 1, 10**9)
            per_page = IntParam(query, "per_page", kPerPage[0], 1, kPerPage[1])
            total = len(self.customers_)
            rows = self.customers_[(page - 1) * per_page:page * per_page]
            return Response(200, {"page": page, "per_page": per_page, "total": total,
                                  "total_pages": math.ceil(total / per_page), "data": rows}), \
                [c["customer_id"] for c in rows]
        except ApiError as e:
            return ErrorResponse(e), []

    def Other(self, method, path, body):
        routes = self.AdminRoutes(body)
        return Route(routes, method, path)

    def Reset(self):
        with self.lock_:
            self.stats_ = Stats()
            self.count_ = 0
            return self.stats_.Json()


def ParseServerArgs(argv):
    parser = ArgParser(__doc__)
    parser.add_argument("--data-dir", default=kDefaultDataDir, help="dir with %s (default: %s)"
                        % (kFile, os.path.relpath(kDefaultDataDir)))
    parser.add_argument("--fail-every", type=int, default=0,
                        help="every K-th data request is a 500 (0: off; default 0)")
    return ParseArgs(parser, argv, "RETAIL_API_TOKEN", ("fail_every",))


def Main(args):
    settings = Settings(args.fail_every, args.token)
    Serve(args, lambda: CustomerApi(LoadCustomers(os.path.join(args.data_dir, kFile)), settings),
          "SluiceCustomerApi/1")


if __name__ == "__main__":
    Main(ParseServerArgs(sys.argv[1:]))
