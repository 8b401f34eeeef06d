#!/usr/bin/env python3
"""A client of pipelines/retail/api/customer_api.py that checks it against the file it serves.

  customer_api_check.py <base url> <token> <data dir>

Run by customer_api_test.sh on a freshly started server (faults off, that token). Every expected
value comes from superstore.csv read here (the customer's first order line found by sorting,
not by the server's running minimum), never from the server's code. Exits 1 on the first
wrong answer.
"""
import csv
import json
import math
import os
import sys

from check_lib import Call, Check

BASE, TOKEN, DATA = sys.argv[1], sys.argv[2], sys.argv[3]

with open(os.path.join(DATA, "superstore.csv"), newline="") as f:
    LINES = list(csv.DictReader(f))
Check(len(LINES) == 9994, f"superstore.csv has {len(LINES)} lines, expected 9994")
ordered = sorted(LINES, key=lambda l: (l["Customer ID"], l["Order Date"], int(l["Row ID"])))
EXPECTED = {}
for l in ordered:
    if l["Customer ID"] not in EXPECTED:
        EXPECTED[l["Customer ID"]] = {
            "customer_id": l["Customer ID"], "customer_name": l["Customer Name"], "segment": l["Segment"],
            "city": l["City"], "state": l["State"], "region": l["Region"], "date_joined": l["Order Date"]}
IDS = sorted(EXPECTED)
Check(len(IDS) == 793, f"{len(IDS)} customers in the file, expected 793")


class Client:
    """Tallies every data request it makes, as the server's /admin/stats should."""

    def __init__(self):
        self.Forget()

    def Forget(self):
        self.requests, self.by_status, self.served = 0, {}, 0

    def Get(self, path, token=TOKEN, method="GET", body=None):
        status, _, data = Call(BASE + path, token, method, body)
        value = json.loads(data)
        if path.startswith("/v1/customers"):
            self.requests += 1
            self.by_status[str(status)] = self.by_status.get(str(status), 0) + 1
            if status == 200:
                self.served += len(value["data"]) if "data" in value else 1
        return status, value

    def CheckStats(self, when):
        status, stats = self.Get("/admin/stats")
        Check(status == 200, f"/admin/stats: {status}")
        mine = {"requests": self.requests, "by_status": self.by_status, "records_served": self.served}
        theirs = {k: stats.get(k) for k in mine}
        Check(theirs == mine, f"{when}: /admin/stats {theirs}, the client counted {mine}")
        return stats


client = Client()
status, health = client.Get("/admin/health")
Check(status == 200 and health == {"status": "ok"}, f"/admin/health: {status} {health}")

# 1. Every page, at two page sizes: all customers once, in customer_id order, equal to the file.
for per_page in (100, 37):
    seen = []
    pages = math.ceil(len(IDS) / per_page)
    for page in range(1, pages + 2):
        status, body = client.Get(f"/v1/customers?page={page}&per_page={per_page}")
        Check(status == 200, f"page {page}: {status} {body}")
        Check(body["total"] == len(IDS) and body["total_pages"] == pages and body["page"] == page
              and body["per_page"] == per_page, f"page {page}/{per_page}: {({k: v for k, v in body.items() if k != 'data'})}")
        if page > pages:
            Check(body["data"] == [], f"page {page} after the last: {len(body['data'])} records")
        seen += body["data"]
    Check([c["customer_id"] for c in seen] == IDS, f"per_page {per_page}: customers not each once in id order")
    for c in seen:
        Check(c == EXPECTED[c["customer_id"]], f"{c['customer_id']}: {c}, the file says {EXPECTED[c['customer_id']]}")
print(f"ok: {len(IDS)} customers on every page, equal to their first order line in the file")
status, body = client.Get("/v1/customers")
Check(status == 200 and body["per_page"] == 100 and len(body["data"]) == 100, "default page size 100")

# 2. One customer, errors, auth.
status, body = client.Get("/v1/customers/CG-12520")
Check(status == 200 and body == EXPECTED["CG-12520"], f"one customer: {status} {body}")
for path, want in (("/v1/customers/XX-00000", 404), ("/v1/customers?page=0", 400),
                   ("/v1/customers?per_page=501", 400), ("/v1/customers?page=x", 400)):
    status, body = client.Get(path)
    Check(status == want, f"{path}: {status}, expected {want} ({body})")
status, _ = client.Get("/v1/customers", token="")
Check(status == 401, f"no token: {status}")
status, _ = client.Get("/v1/customers", token="wrong")
Check(status == 401, f"wrong token: {status}")
client.CheckStats("after the data requests")
print("ok: one customer, errors, auth; /admin/stats equal the client's tally")

# 3. Faults switched at run time.
status, _ = client.Get("/admin/config", method="POST", body={"fail_every": -1})
Check(status == 400, f"negative fail_every: {status}")
status, config = client.Get("/admin/config", method="POST", body={"fail_every": 3})
Check(status == 200 and config.get("fail_every") == 3, f"config: {status} {config}")
status, stats = client.Get("/admin/reset", method="POST")
client.Forget()
Check(status == 200 and stats["requests"] == 0, f"reset: {stats}")
statuses = [client.Get(f"/v1/customers?page={i + 1}")[0] for i in range(6)]
Check(statuses == [200, 200, 500] * 2, f"fail_every 3: statuses {statuses}")
client.CheckStats("fail_every 3")
print("ok: fail_every switched at run time; stats")
