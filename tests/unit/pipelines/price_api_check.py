#!/usr/bin/env python3
"""A client of pipelines/prices/api/price_api.py that checks it against the CSV files it serves.

  price_api_check.py <base url> <token> <data dir>

Run by price_api_test.sh on a freshly started server (default faults, that token). Every
expected count comes from the CSV files read here, never from the server's code. Exits 1 on the
first wrong answer.
"""
import csv
import json
import os
import sys
import time

from check_lib import Call, Check, Fail

BASE, TOKEN, DATA = sys.argv[1], sys.argv[2], sys.argv[3]
HISTORY = "/v1/instruments/SPX/history"
FX = "/v1/fx/USD"


# What the server must serve, from the files.
with open(os.path.join(DATA, "sp500_daily.csv"), newline="") as f:
    EXPECTED_HISTORY = [{"date": r["date"], "open": float(r["open"]), "high": float(r["high"]),
                         "low": float(r["low"]), "close": float(r["close"]),
                         "adj_close": float(r["adjclose"]), "volume": int(r["volume"])}
                        for r in csv.DictReader(f)]
with open(os.path.join(DATA, "usd_fx_2000.csv"), newline="") as f:
    EXPECTED_FX = [{"date": r["DATE"], "rates": {c: float(r[c]) if r[c] else None for c in ("INR", "EUR")}}
                   for r in csv.DictReader(f)]
Check(len(EXPECTED_HISTORY) > 5000 and len(EXPECTED_FX) > 6000, "the CSV files are not the expected data")


class Client:
    """Tallies every data request it makes, as the server's /admin/stats should."""

    def __init__(self):
        self.Forget()

    def Forget(self):
        self.requests = 0
        self.by_status = {}
        self.served = {"history": 0, "fx": 0}
        self.distinct = {"history": set(), "fx": set()}

    def Get(self, path, token=TOKEN, method="GET", body=None):
        """(status, headers, body bytes) of one request; a data request is tallied."""
        status, headers, data = Call(BASE + path, token, method, body)
        if path.startswith(("/v1/fx/", "/v1/instruments/")):
            self.requests += 1
            self.by_status[str(status)] = self.by_status.get(str(status), 0) + 1
            try:
                records = json.loads(data)["data"] if status == 200 else []
            except ValueError:
                records = []   # the malformed page: no record served
            endpoint = "fx" if path.startswith("/v1/fx/") else "history"
            self.served[endpoint] += len(records)
            self.distinct[endpoint].update(r["date"] for r in records)
        return status, headers, data

    def Data(self, path, token=TOKEN):
        """The parsed body of a data request, retrying 429/500/503 as a polite client does."""
        for _ in range(50):
            status, headers, data = self.Get(path, token)
            if status == 200:
                return json.loads(data)
            Check(status in (429, 500, 503), f"{path}: status {status}: {data[:200]!r}")
            if status in (429, 503):
                Check(headers.get("Retry-After") == {429: "1", 503: "2"}[status],
                      f"{status} with Retry-After {headers.get('Retry-After')!r}")
                time.sleep(int(headers["Retry-After"]))
        Fail(f"{path}: no 200 after 50 tries")

    def Admin(self, path, body=None):
        status, _, data = self.Get(path, method="POST" if body is not None else "GET", body=body)
        Check(status == 200, f"{path}: status {status}: {data[:200]!r}")
        return json.loads(data)

    def CheckStats(self, what, malformed=(0, 0), drifted=0):
        stats = self.Admin("/admin/stats")
        expected = {"requests": self.requests, "by_status": self.by_status,
                    "records_served": self.served,
                    "distinct_records_served": {k: len(v) for k, v in self.distinct.items()},
                    "malformed_pages": malformed[0], "records_on_malformed_pages": malformed[1],
                    "drifted_records": drifted}
        got = {k: stats.get(k) for k in expected}
        Check(got == expected, f"{what}: stats {got} != what the client saw {expected}")
        print(f"ok: {what}: stats equal what the client saw ({self.requests} data requests, "
              f"statuses {self.by_status})")

    def Reset(self, **config):
        self.Admin("/admin/config", config)
        self.Admin("/admin/reset", {})
        self.Forget()


def HistoryWalk(client, after=None, limit=250):
    records, pages = [], 0
    path = f"{HISTORY}?limit={limit}" + (f"&after={after}" if after is not None else "")
    while True:
        body = client.Data(path)
        Check(body["symbol"] == "SPX", f"symbol {body.get('symbol')!r}")
        records += body["data"]
        pages += 1
        if body["next_cursor"] is None:
            return records, pages
        path = f"{HISTORY}?limit={limit}&cursor={body['next_cursor']}"


c = Client()

# 1. Default faults (rate 20/s, every 7th a 500, FX page 3 malformed): full walks.
records, pages = HistoryWalk(c)
differ = [i for i, (a, b) in enumerate(zip(records, EXPECTED_HISTORY)) if a != b][:1]
Check(records == EXPECTED_HISTORY,
      f"history walk: {len(records)} records, not the {len(EXPECTED_HISTORY)} rows of sp500_daily.csv"
      f" in order (first difference at {differ})")
Check(all(type(r["volume"]) is int for r in records), "a volume is not a JSON integer")
print(f"ok: cursor walk: {len(records)} rows once each in order, {pages} pages")

per_page = 500
first = c.Data(f"{FX}?symbols=INR,EUR&page=1&per_page={per_page}")
total_pages = first["total_pages"]
Check(total_pages == -(-len(EXPECTED_FX) // per_page), f"total_pages {total_pages}")
fx = list(first["data"])
for page in range(2, total_pages + 1):
    path = f"{FX}?symbols=INR,EUR&page={page}&per_page={per_page}"
    if page == 3:
        status, headers, data = c.Get(path)
        Check(status == 200, f"FX page 3: status {status}")
        try:
            json.loads(data)
        except ValueError:
            continue
        Fail("FX page 3 is valid JSON")
    body = c.Data(path)
    Check(body["page"] == page and body["total_pages"] == total_pages, f"FX page {page}: {body['page']}")
    Check((body["links"]["next"] is None) == (page == total_pages),
          f"FX page {page}: links.next {body['links']}")
    fx += body["data"]
expected_fx = EXPECTED_FX[:2 * per_page] + EXPECTED_FX[3 * per_page:]
Check(fx == expected_fx,
      f"FX walk: {len(fx)} records, not the {len(expected_fx)} rows of the extract outside page 3")
Check(fx[-1]["date"] == "undefined" and EXPECTED_FX[-1]["date"] == "undefined",
      "the 'undefined' row is not last")
Check(any(r["rates"]["INR"] is None for r in fx), "no empty INR cell came back as null")
print(f"ok: FX walk: {len(fx)} rows of {len(EXPECTED_FX)}, page 3 ({per_page} rows) invalid JSON, "
      "'undefined' last, empty cells null")
Check(c.by_status.get("500", 0) >= 1, f"no 500 in {c.requests} data requests with --fail-every 7")
c.CheckStats("walks", malformed=(1, len(EXPECTED_FX[2 * per_page:3 * per_page])))

# 2. Parameters, without faults.
c.Reset(rate_limit=0, fail_every=0, unavailable_every=0)
after = "2019-06-30"
records, pages = HistoryWalk(c, after=after, limit=37)
Check(records == [r for r in EXPECTED_HISTORY if r["date"] > after], f"after={after}: {len(records)} records")
records, _ = HistoryWalk(c, after="", limit=1000)
Check(records == EXPECTED_HISTORY, "after= (empty) does not serve every row")
first = c.Data(f"{HISTORY}?limit=3")
again = [c.Data(f"{HISTORY}?limit=3&cursor={first['next_cursor']}") for _ in range(2)]
Check(again[0] == again[1] and again[0]["data"] == EXPECTED_HISTORY[3:6],
      "a cursor token does not give the same page")
for path, status in ((f"{HISTORY}?cursor=bm90IGEgY3Vyc29y", 400), (f"{HISTORY}?cursor=%%%", 400),
                     (f"{HISTORY}?limit=1001", 400), (f"{HISTORY}?after=yesterday", 400),
                     ("/v1/instruments/NOPE/history", 404), (f"{FX}?symbols=INR,XXX", 400),
                     (f"{FX}?per_page=1001", 400), ("/v1/fx/GBP", 404)):
    got = c.Get(path)[0]
    Check(got == status, f"{path}: status {got}, expected {status}")
body = c.Data(f"{FX}?since=2024-12-31&symbols=EUR")
Check(body["data"] == [{"date": r["date"], "rates": {"EUR": r["rates"]["EUR"]}}
                       for r in EXPECTED_FX if r["date"] > "2024-12-31"], "since= / symbols=EUR")
body = c.Data(f"{FX}?page=999")
Check(body["data"] == [] and body["links"]["next"] is None, "a page past the end is not empty")
instruments = c.Admin("/v1/instruments")
Check(instruments == {"data": [{"symbol": "SPX", "name": "S&P 500 index", "currency": "USD"}]}, "instruments")
print("ok: after=, limit, cursor replay, since=, symbols=, past-the-end page, 400/404 answers")
c.CheckStats("parameters")

# 3. Every K-th data request is a 500 (503 for unavailable_every).
c.Reset(rate_limit=0, fail_every=4, unavailable_every=0)
statuses = [c.Get(f"{HISTORY}?limit=1")[0] for _ in range(8)]
Check(statuses == [200, 200, 200, 500, 200, 200, 200, 500], f"fail_every 4: {statuses}")
c.Reset(rate_limit=0, fail_every=0, unavailable_every=3)
answers = [c.Get(f"{FX}?per_page=1")[:2] for _ in range(6)]
statuses = [s for s, _ in answers]
Check(statuses == [200, 200, 503, 200, 200, 503], f"unavailable_every 3: {statuses}")
Check(all(h.get("Retry-After") == "2" for s, h in answers if s == 503), "503 without Retry-After: 2")
print("ok: the 4th and 8th requests are 500, the 3rd and 6th 503")
c.CheckStats("injected errors")

# 4. Rate limit: 5/s, burst 5.
c.Reset(rate_limit=5, fail_every=0, unavailable_every=0)
start = time.monotonic()
answers = [c.Get(f"{HISTORY}?limit=1")[:2] for _ in range(20)]
elapsed = time.monotonic() - start
statuses = [s for s, _ in answers]
Check(statuses[:5] == [200] * 5, f"the burst of 5 was not served: {statuses}")
Check(429 in statuses and set(statuses) <= {200, 429}, f"no 429 over the rate: {statuses}")
Check(statuses.count(200) <= 5 + elapsed * 5 + 1, f"{statuses.count(200)} served in {elapsed:.2f}s at 5/s")
Check(all(h.get("Retry-After") == "1" for s, h in answers if s == 429), "429 without Retry-After: 1")
print(f"ok: rate limit 5/s: {statuses.count(429)} of 20 requests in {elapsed:.2f}s got 429"
      " with Retry-After: 1")
c.CheckStats("rate limit")

# 5. Schema drift.
c.Reset(rate_limit=0, fail_every=0, unavailable_every=0)
c.Admin("/admin/drift", {"on": True, "drop": "close"})
body = c.Data(f"{HISTORY}?limit=10")
Check(all("close" not in r and "adj_close" in r for r in body["data"]), "drift did not drop close")
c.Admin("/admin/drift", {"on": True, "type": {"volume": "string"}})
body = c.Data(f"{HISTORY}?limit=5")
Check(all(r["volume"] == str(e["volume"]) and "close" in r for r, e in zip(body["data"], EXPECTED_HISTORY)),
      "type drift did not serve volume as a string")
c.Admin("/admin/drift", {"on": False})
body = c.Data(f"{HISTORY}?limit=5")
Check(body["data"] == EXPECTED_HISTORY[:5], "drift off did not restore the records")
for bad in ({"on": True, "drop": "nope"}, {"on": True, "type": {"volume": "float"}}, {"drop": "close"}):
    Check(c.Get("/admin/drift", method="POST", body=bad)[0] == 400, f"drift {bad} accepted")
print("ok: drift drops close, serves volume as a string, and turns off")
c.CheckStats("drift", drifted=15)

# 6. Auth and admin.
for token in ("", "wrong"):
    Check(c.Get(f"{HISTORY}?limit=1", token=token)[0] == 401, f"token {token!r}: no 401")
    Check(c.Get(f"{FX}?per_page=1", token=token)[0] == 401, f"token {token!r}: no 401 on FX")
Check(c.Get("/admin/health", token="")[0] == 200, "health")
for bad in ({"fail_everyy": 1}, {"fail_every": -1}, {"rate_limit": "5"}):
    Check(c.Get("/admin/config", method="POST", body=bad)[0] == 400, f"config {bad} accepted")
Check(c.Get("/nowhere")[0] == 404, "unknown path")
print("ok: 401 without the right bearer token, admin answers, bad config rejected")
c.CheckStats("auth", drifted=15)  # no reset since the drift checks
print("ok: all checks passed")
