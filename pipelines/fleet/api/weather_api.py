#!/usr/bin/env python3
"""A local weather API serving real daily NOAA weather, for the fleet pipeline's enricher.

  weather_api.py --port 0 [--port-file F] [--data-dir DIR] [--fail-every K]
                 [--slow-every K --slow-ms MS] [--token T] [--host H] [--quiet]

Serves tests/data/fleet/weather.csv (Seattle and New York, 2012-2015) by station and date, and
for the station nearest to a position; every K-th data request failing and every K-th one slow,
changeable at run time through /admin. Python 3 standard library only. Endpoints, options and
faults: README.md beside this file.
"""
import csv
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
    AdminState, ApiError, ArgParser, ErrorResponse, ParseArgs,
    Response, Route, Serve)

kDefaultDataDir = os.path.normpath(os.path.join(HERE, "..", "..", "..", "tests", "data", "fleet"))
kWeatherFile = "weather.csv"
kAirportsFile = "airports.csv"
# The stations, in the fixed order that breaks ties of /nearest: (code, weather.csv location,
# airports.csv row whose position the station takes). New York is LaGuardia: nearer to the
# city's centre than JFK (the file does not say which station measured).
kStations = (("SEA", "Seattle", "SEA"), ("NYC", "New York", "LGA"))
kEarthRadiusKm = 6371.0088    # mean radius (IUGG)
kFields = ("precipitation", "temp_max", "temp_min", "wind")
kDate = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)?$")
kStationPath = re.compile(r"^/v1/weather/([^/]+)/([^/]+)$")
kNearestPath = "/v1/weather/nearest"
kDataPrefix = "/v1/weather/"


# ---------------------------------------------------------------------------------------- data

class Station:
    def __init__(self, code, location, airport, lat, lon):
        self.code, self.location, self.airport, self.lat, self.lon = code, location, airport, lat, lon

    def Json(self):
        return {"station": self.code, "location": self.location, "airport": self.airport,
                "lat": self.lat, "lon": self.lon}


class Dataset:
    """The stations and their days, read once at start; read-only afterwards (shared by threads)."""

    def __init__(self, data_dir):
        self.stations = LoadStations(os.path.join(data_dir, kAirportsFile))
        self.days = LoadWeather(os.path.join(data_dir, kWeatherFile), self.stations)   # (code, date) -> body


def LoadStations(path):
    """kStations with the position of their airport row in airports.csv, in kStations order."""
    wanted = {airport for _, _, airport in kStations}
    positions = {}
    with open(path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), 2):
            if row.get("iata") in wanted:
                try:
                    positions[row["iata"]] = (float(row["latitude"]), float(row["longitude"]))
                except (TypeError, ValueError) as e:
                    sys.exit(f"{path}:{line}: not a position ({e})")
    missing = sorted(wanted - set(positions))
    if missing:
        sys.exit(f"{path}: no row for airport {', '.join(missing)}")
    return [Station(code, location, airport, *positions[airport]) for code, location, airport in kStations]


def LoadWeather(path, stations):
    """{(station code, date): response body} of every row of weather.csv."""
    codes = {s.location: s.code for s in stations}
    days = {}
    with open(path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), 2):
            try:
                code = codes[row["location"]]
                body = {"station": code, "location": row["location"], "date": row["date"]}
                body.update({k: float(row[k]) for k in kFields})
                body["weather"] = row["weather"]
            except KeyError as e:
                sys.exit(f"{path}:{line}: unknown location or missing column ({e})")
            except (TypeError, ValueError) as e:
                sys.exit(f"{path}:{line}: not a number ({e})")
            if (code, row["date"]) in days:
                sys.exit(f"{path}:{line}: a second row for {row['location']} {row['date']}")
            days[(code, row["date"])] = body
    return days


def DistanceKm(lat1, lon1, lat2, lon2):
    """Great-circle distance on a sphere of kEarthRadiusKm (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * kEarthRadiusKm * math.asin(min(1.0, math.sqrt(a)))


def Nearest(stations, lat, lon):
    """(station, distance km) of the nearest station; a tie goes to the first in kStations order."""
    best = None
    for station in stations:
        d = DistanceKm(lat, lon, station.lat, station.lon)
        if best is None or d < best[1]:
            best = (station, d)
    return best


def DateParam(text, name="date"):
    """The YYYY-MM-DD of a date or of a UTC timestamp (YYYY-MM-DDThh:mm:ss[.f]Z); 400 otherwise."""
    m = kDate.match(text or "")
    if not m:
        raise ApiError(400, f"{name} must be YYYY-MM-DD (or YYYY-MM-DDThh:mm:ssZ), got {text!r}")
    return m.group(1)


def CoordinateParam(query, name, limit):
    text = query.get(name)
    if text is None or text == "":
        raise ApiError(400, f"missing query parameter {name}")
    try:
        value = float(text)
    except ValueError:
        raise ApiError(400, f"{name} must be a number, got {text!r}")
    if not math.isfinite(value) or abs(value) > limit:
        raise ApiError(400, f"{name} must be in -{limit}..{limit}, got {text!r}")
    return value


# -------------------------------------------------------------------------------------- faults

class Settings:
    """The run-time settings: every fault and the token. Changed under WeatherApi's lock."""

    kConfigKeys = ("fail_every", "slow_every", "slow_ms")

    def __init__(self, fail_every=0, slow_every=0, slow_ms=0, token=""):
        self.fail_every = int(fail_every)
        self.slow_every = int(slow_every)
        self.slow_ms = int(slow_ms)
        self.token = token

    def Config(self):
        return {"fail_every": self.fail_every, "slow_every": self.slow_every, "slow_ms": self.slow_ms,
                "auth": bool(self.token)}



class Stats:
    """Counters of /admin/stats, over data requests only."""

    def __init__(self):
        self.requests = 0
        self.by_status = {}
        self.by_station = {}   # station code -> 200 answers
        self.slow = 0

    def Json(self):
        return {"requests": self.requests,
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "by_station": dict(sorted(self.by_station.items())),
                "slow": self.slow}


# ------------------------------------------------------------------------------------------ api

class WeatherApi(AdminState):
    """The API without HTTP: Handle() maps a request to a Response. Thread-safe (one lock); a slow
    answer sleeps outside it."""

    def __init__(self, dataset, settings, sleep=time.sleep):
        self.dataset_ = dataset
        self.settings_ = settings
        self.sleep_ = sleep
        self.lock_ = threading.Lock()
        self.stats_ = Stats()
        self.count_ = 0   # data requests since start or reset

    def Handle(self, method, path, query, headers, body, base_url=None):
        """query: {name: last value}; headers: a case-insensitive mapping; body: bytes; base_url
        (http://host:port, given by local_api.Serve) is unused: no answer holds a link."""
        if path.startswith(kDataPrefix):
            response, station = self.Data(method, path, query, headers)
            with self.lock_:
                self.stats_.requests += 1
                self.stats_.by_status[response.status] = self.stats_.by_status.get(response.status, 0) + 1
                if station:
                    self.stats_.by_station[station] = self.stats_.by_station.get(station, 0) + 1
            return response
        try:
            return self.Other(method, path, body)
        except ApiError as e:
            return ErrorResponse(e)

    def Data(self, method, path, query, headers):
        """(response, station code of a 200 answer or None)."""
        try:
            with self.lock_:
                self.count_ += 1
                s = self.settings_
                if s.fail_every and self.count_ % s.fail_every == 0:
                    raise ApiError(500, f"internal server error (injected: every {s.fail_every}-th request)")
                slow_ms = s.slow_ms if s.slow_every and self.count_ % s.slow_every == 0 else 0
                if slow_ms:
                    self.stats_.slow += 1
                token = s.token
            if slow_ms:
                self.sleep_(slow_ms / 1000.0)
            if token and headers.get("Authorization") != f"Bearer {token}":
                raise ApiError(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
            if method != "GET":
                raise ApiError(405, f"{method} not allowed here", {"Allow": "GET"})
            body = self.Weather(path, query)
            return Response(200, body), body["station"]
        except ApiError as e:
            return ErrorResponse(e), None

    def Weather(self, path, query):
        if path == kNearestPath:
            lat = CoordinateParam(query, "lat", 90)
            lon = CoordinateParam(query, "lon", 180)
            date = DateParam(query.get("date"))
            station, distance = Nearest(self.dataset_.stations, lat, lon)
            body = self.Day(station.code, date)
            return dict(body, distance_km=round(distance, 3))
        m = kStationPath.match(path)
        if not m:
            raise ApiError(404, f"no such endpoint {path}")
        code = urllib.parse.unquote(m.group(1))
        if code not in {s.code for s in self.dataset_.stations}:
            raise ApiError(404, f"unknown station {code!r} (known: "
                                f"{', '.join(s.code for s in self.dataset_.stations)})")
        return self.Day(code, DateParam(urllib.parse.unquote(m.group(2))))

    def Day(self, code, date):
        body = self.dataset_.days.get((code, date))
        if body is None:
            raise ApiError(404, f"no weather for station {code} on {date}")
        return body

    def Other(self, method, path, body):
        """/v1/stations and /admin: never faulted, authenticated or counted."""
        routes = {("GET", "/v1/stations"): lambda: {"data": [s.Json() for s in self.dataset_.stations]},
                  **self.AdminRoutes(body)}
        return Route(routes, method, path)

    def Reset(self):
        """Zeroes the counters and the K-th request count; keeps the settings."""
        with self.lock_:
            self.stats_ = Stats()
            self.count_ = 0
            return self.stats_.Json()


# ----------------------------------------------------------------------------------------- main

def ParseServerArgs(argv):
    parser = ArgParser(__doc__)
    parser.add_argument("--data-dir", default=kDefaultDataDir, help="dir with %s and %s (default: %s)"
                        % (kWeatherFile, kAirportsFile, os.path.relpath(kDefaultDataDir)))
    parser.add_argument("--fail-every", type=int, default=0,
                        help="every K-th data request is a 500 (0: off; default 0)")
    parser.add_argument("--slow-every", type=int, default=0,
                        help="every K-th data request is answered after --slow-ms (0: off; default 0)")
    parser.add_argument("--slow-ms", type=int, default=0, help="delay of a slow answer in ms (default 0)")
    return ParseArgs(parser, argv, "WEATHER_API_TOKEN", ("fail_every", "slow_every", "slow_ms"))


def Main(args):
    settings = Settings(args.fail_every, args.slow_every, args.slow_ms, args.token)
    Serve(args, lambda: WeatherApi(Dataset(args.data_dir), settings), "SluiceWeatherApi/1")


if __name__ == "__main__":
    Main(ParseServerArgs(sys.argv[1:]))
