#!/usr/bin/env python3
"""A client of pipelines/fleet/api/weather_api.py that checks it against the CSV files it serves.

  weather_api_check.py <base url> <token> <data dir>

Run by weather_api_test.sh on a freshly started server (faults off, that token). Every expected
value comes from weather.csv and airports.csv read here and distances computed here (another
formula than the server's), never from the server's code. Exits 1 on the first wrong answer.
"""
import csv
import json
import math
import os
import sys
import time
import urllib.parse

from check_lib import Call, Check

BASE, TOKEN, DATA = sys.argv[1], sys.argv[2], sys.argv[3]
RADIUS_KM = 6371.0088   # the sphere the README states


with open(os.path.join(DATA, "weather.csv"), newline="") as f:
    ROWS = list(csv.DictReader(f))
with open(os.path.join(DATA, "airports.csv"), newline="") as f:
    AIRPORTS = {r["iata"]: (float(r["latitude"]), float(r["longitude"])) for r in csv.DictReader(f)}
Check(len(ROWS) > 2000, "weather.csv is not the expected data")
# The README's stations, in their tie order: code, weather.csv location, airport row.
STATIONS = [("SEA", "Seattle", AIRPORTS["SEA"]), ("NYC", "New York", AIRPORTS["LGA"])]
CODE = {location: code for code, location, _ in STATIONS}


def Expected(row):
    return {"station": CODE[row["location"]], "location": row["location"], "date": row["date"],
            "precipitation": float(row["precipitation"]), "temp_max": float(row["temp_max"]),
            "temp_min": float(row["temp_min"]), "wind": float(row["wind"]), "weather": row["weather"]}


def Chord(lat1, lon1, lat2, lon2):
    """Great-circle distance through the chord of unit vectors (not the haversine)."""
    def Vector(lat, lon):
        p, l = math.radians(lat), math.radians(lon)
        return (math.cos(p) * math.cos(l), math.cos(p) * math.sin(l), math.sin(p))
    a, b = Vector(lat1, lon1), Vector(lat2, lon2)
    chord = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    return 2 * RADIUS_KM * math.asin(chord / 2)


class Client:
    """Tallies every data request it makes, as the server's /admin/stats should."""

    def __init__(self):
        self.Forget()

    def Forget(self):
        self.requests, self.by_status, self.by_station = 0, {}, {}

    def Get(self, path, token=TOKEN, method="GET", body=None):
        """(status, parsed body, seconds) of one request; a data request is tallied."""
        began = time.monotonic()
        status, _, data = Call(BASE + path, token, method, body)
        seconds = time.monotonic() - began
        value = json.loads(data)
        if path.startswith("/v1/weather/"):
            self.requests += 1
            self.by_status[str(status)] = self.by_status.get(str(status), 0) + 1
            if status == 200:
                self.by_station[value["station"]] = self.by_station.get(value["station"], 0) + 1
        return status, value, seconds

    def CheckStats(self, when):
        status, stats, _ = self.Get("/admin/stats")
        Check(status == 200, f"/admin/stats: {status}")
        mine = {"requests": self.requests, "by_status": self.by_status, "by_station": self.by_station}
        theirs = {k: stats.get(k) for k in mine}
        Check(theirs == mine, f"{when}: /admin/stats {theirs}, the client counted {mine}")
        return stats


client = Client()
status, health, _ = client.Get("/admin/health")
Check(status == 200 and health == {"status": "ok"}, f"/admin/health: {status} {health}")

# 1. By station and date: every 29th row, the first and the last, equal to the CSV.
sample = ROWS[::29] + [ROWS[0], ROWS[-1]]
for row in sample:
    code = CODE[row["location"]]
    status, body, _ = client.Get(f"/v1/weather/{code}/{row['date']}")
    Check(status == 200 and body == Expected(row), f"{code} {row['date']}: {status} {body}, CSV {Expected(row)}")
print(f"ok: {len(sample)} days by station equal the CSV")

# 2. Errors.
dates = {r["date"] for r in ROWS}
before = min(dates)
for path, want in ((f"/v1/weather/LAX/{before}", 404), ("/v1/weather/sea/2012-01-01", 404),
                   ("/v1/weather/SEA/2011-12-31", 404), ("/v1/weather/NYC/2016-01-01", 404),
                   ("/v1/weather/SEA/2012-13", 400), ("/v1/weather/nearest?lat=47&date=2012-01-01", 400),
                   ("/v1/weather/nearest?lat=x&lon=1&date=2012-01-01", 400),
                   ("/v1/weather/nearest?lat=91&lon=1&date=2012-01-01", 400),
                   ("/v1/weather/nearest?lat=47&lon=-122&date=2016-01-01", 404),
                   ("/v1/nothing", 404)):
    status, body, _ = client.Get(path)
    Check(status == want, f"{path}: {status}, expected {want} ({body})")
print("ok: unknown station, date without data, bad parameters")

# 3. Nearest station, chosen here from the airports' positions, on positions across the US.
by_key = {(CODE[r["location"]], r["date"]): r for r in ROWS}
points = [(47.6062, -122.3321), (40.7128, -74.0060), (39.7392, -104.9903), (41.8781, -87.6298),
          (25.7617, -80.1918), (34.0522, -118.2437), (45.5152, -122.6784), (44.9778, -93.2650),
          (32.7767, -96.7970), (61.2181, -149.9003)]
days = ["2012-01-01", "2013-07-04", "2014-03-01", "2015-12-31"]
seen = set()
for i, (lat, lon) in enumerate(points):
    date = days[i % len(days)]
    distances = [(Chord(lat, lon, *position), code) for code, _, position in STATIONS]
    want_km, want_code = min(distances, key=lambda d: d[0])   # min keeps the first of equals
    seen.add(want_code)
    query = urllib.parse.urlencode({"lat": lat, "lon": lon, "date": date})
    status, body, _ = client.Get(f"/v1/weather/nearest?{query}")
    Check(status == 200, f"nearest {lat},{lon}: {status} {body}")
    distance = body.pop("distance_km", None)
    Check(body == Expected(by_key[(want_code, date)]), f"nearest {lat},{lon} {date}: {body}, expected {want_code}")
    Check(isinstance(distance, float) and abs(distance - want_km) < 0.01,
          f"nearest {lat},{lon}: distance_km {distance}, computed {want_km:.3f}")
Check(seen == {"SEA", "NYC"}, "the positions did not reach both stations")
status, body, _ = client.Get("/v1/weather/nearest?lat=40.7&lon=-74&date=2014-03-01T00:15:00Z")
Check(status == 200 and body["date"] == "2014-03-01" and body["station"] == "NYC", f"timestamp as date: {body}")
print(f"ok: nearest station and distance_km on {len(points) + 1} positions")

# 4. Auth.
status, _, _ = client.Get("/v1/weather/SEA/2012-01-01", token="")
Check(status == 401, f"no token: {status}")
status, _, _ = client.Get("/v1/weather/SEA/2012-01-01", token="wrong")
Check(status == 401, f"wrong token: {status}")
client.CheckStats("after the data requests")
print("ok: auth; /admin/stats equal the client's tally")

# 5. Faults switched at run time.
status, _, _ = client.Get("/admin/config", method="POST", body={"fail_every": -1})
Check(status == 400, f"negative fail_every: {status}")
status, _, _ = client.Get("/admin/config", method="POST", body={"fail_evry": 2})
Check(status == 400, f"unknown config key: {status}")
status, config, _ = client.Get("/admin/config", method="POST", body={"fail_every": 3})
Check(status == 200 and config.get("fail_every") == 3, f"config: {status} {config}")
status, stats, _ = client.Get("/admin/reset", method="POST")
client.Forget()
Check(status == 200 and stats["requests"] == 0, f"reset: {stats}")
statuses = [client.Get(f"/v1/weather/SEA/{ROWS[i]['date']}")[0] for i in range(9)]
Check(statuses == [200, 200, 500] * 3, f"fail_every 3: statuses {statuses}")
client.CheckStats("fail_every 3")

client.Get("/admin/config", method="POST", body={"fail_every": 0, "slow_every": 2, "slow_ms": 600})
client.Get("/admin/reset", method="POST")
client.Forget()
timings = [client.Get(f"/v1/weather/NYC/{ROWS[-1 - i]['date']}") for i in range(4)]
Check(all(t[0] == 200 for t in timings), f"slow answers: {[t[0] for t in timings]}")
slow = [t[2] >= 0.55 for t in timings]
Check(slow == [False, True, False, True], f"slow_every 2, 600 ms: seconds {[round(t[2], 3) for t in timings]}")
stats = client.CheckStats("slow_every 2")
Check(stats.get("slow") == 2, f"slow answers counted {stats.get('slow')}, expected 2")
print("ok: fail_every and slow_every switched at run time; stats")
