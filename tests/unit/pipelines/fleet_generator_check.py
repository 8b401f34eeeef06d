#!/usr/bin/env python3
"""Checks one run of pipelines/fleet/generate.py against its own files, recomputed here.

  fleet_generator_check.py <dir> <units> <hours> <start> <lateness min> <airports.csv>

<dir> holds events.jsonl, units.sql, stats.sql, truth.json and stderr of the run. Everything
expected is recomputed from those files and the rules of pipelines/fleet/README.md (speed ranges,
15-minute cadence, how a line is classified, percentile_cont), never taken from the generator's
code. Exits 1 on the first problem.
"""
import csv
import datetime
import json
import math
import os
import re
import statistics
import sys

from check_lib import Check, Fail

DIR, UNITS, HOURS, START, LATENESS_MIN, AIRPORTS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    sys.argv[4], int(sys.argv[5]), sys.argv[6]
SPEED = {"air": (700.0, 900.0), "road": (60.0, 100.0), "sea": (25.0, 40.0)}   # README, Tracks
NUMERIC = ("lat", "lon", "speed_kmh", "distance_km", "heading")
RADIUS_KM = 6371.0088


def Time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def Read(name):
    with open(os.path.join(DIR, name), encoding="utf-8") as f:
        return f.read()


lines = Read("events.jsonl").split("\n")
Check(lines[-1] == "", "events.jsonl does not end with a newline")
lines = lines[:-1]
truth = json.loads(Read("truth.json"))
units_sql, stats_sql = Read("units.sql"), Read("stats.sql")

# SYNTHETIC labels.
Check(units_sql.startswith("-- SYNTHETIC") and stats_sql.startswith("-- SYNTHETIC"), "an SQL file is not labelled")
Check(truth.get("data") == "SYNTHETIC", "truth.json is not labelled")
Check("SYNTHETIC" in Read("stderr"), "no SYNTHETIC banner on stderr")

# The described units, from units.sql.
described = dict(re.findall(r"\(\s*'(U\d{3})',\s*'[^']*',\s*'(air|road|sea)',", units_sql))
Check(len(described) == UNITS, f"units.sql describes {len(described)} units, expected {UNITS}")
Check(truth["units"] == described, "truth.json's units differ from units.sql")
Check(sorted(described) == [f"U{i:03d}" for i in range(1, UNITS + 1)], "units are not U001..")
Check(all(described[f"U{i + 1:03d}"] == ("air", "road", "sea")[i % 3] for i in range(UNITS)), "types not in turn")

# Classify every line as README "The truth file" says.
lateness = datetime.timedelta(minutes=LATENESS_MIN)
counts = {"bad_json": 0, "wrong_type": 0, "duplicates": 0, "late_beyond_lateness": 0, "valid_in_lateness": 0}
parsed, valid, seen, watermark = [], [], set(), None
for n, line in enumerate(lines, 1):
    try:
        event = json.loads(line)
    except ValueError:
        counts["bad_json"] += 1
        continue
    parsed.append(event)
    if not all(type(event.get(f)) in (int, float) for f in NUMERIC):
        counts["wrong_type"] += 1
        Check(sum(isinstance(event.get(f), str) for f in NUMERIC) == 1, f"line {n}: not one field as a string")
        continue
    if event["event_id"] in seen:
        counts["duplicates"] += 1
        continue
    seen.add(event["event_id"])
    ts = Time(event["ts"])
    if watermark is not None and ts < watermark - lateness:
        counts["late_beyond_lateness"] += 1
        continue
    watermark = max(watermark or ts, ts)
    counts["valid_in_lateness"] += 1
    valid.append(event)
counts["events_written"] = len(lines)
unknown = [e for e in valid if e["unit_id"] not in described]
counts["unknown_unit"] = len(unknown)
latest, out_of_order = {}, 0
for e in valid:
    if e["ts"] < latest.get(e["unit_id"], ""):
        out_of_order += 1
    latest[e["unit_id"]] = max(e["ts"], latest.get(e["unit_id"], ""))
counts["out_of_order"] = out_of_order
Check(truth["accounting"] == counts, f"accounting: truth {truth['accounting']}, recomputed {counts}")
for key in ("bad_json", "wrong_type", "duplicates", "late_beyond_lateness", "unknown_unit", "out_of_order"):
    Check(counts[key] > 0, f"no {key} at all: the run tests nothing")
Check(sorted({e["unit_id"] for e in unknown}) == truth["unknown_units"], "unknown_units")
print(f"ok: accounting recomputed from {len(lines)} lines: {counts}")

# Cadence: per unit, one event every 15 min from start + 15 min to start + hours; the only
# missing ones are the bad JSON lines; a duplicate is the same line byte for byte.
start = Time(START)
grid = {(start + datetime.timedelta(minutes=15 * k)).strftime("%Y-%m-%dT%H:%M:%SZ") for k in range(1, HOURS * 4 + 1)}
all_units = sorted(set(described) | {e["unit_id"] for e in parsed})
Check(len(all_units) == UNITS + 1, f"{len(all_units)} units in the events, expected {UNITS} + the unknown one")
by_unit = {}
for e in parsed:
    Check(e["ts"] in grid, f"{e['event_id']}: ts {e['ts']} is not on the 15-minute grid")
    Check(e["event_id"] == f"{e['unit_id']}-{e['ts'].replace('-', '').replace(':', '')}", f"event_id {e['event_id']}")
    by_unit.setdefault(e["unit_id"], set()).add(e["ts"])
missing = sum(len(grid - by_unit.get(u, set())) for u in all_units)
Check(missing == counts["bad_json"], f"{missing} (unit, 15-min slot) without an event, {counts['bad_json']} bad lines")
copies = {}
for line in lines:
    copies[line] = copies.get(line, 0) + 1
Check(sum(c - 1 for c in copies.values()) == counts["duplicates"], "duplicates are not exact copies of a line")
print(f"ok: one event per unit every 15 min ({len(all_units)} units x {len(grid)} slots, {missing} lost to bad JSON)")

# Speeds per type, distance = speed x 0.25 h, and at least the great-circle distance moved.
def Km(a, b):
    p1, p2 = math.radians(a["lat"]), math.radians(b["lat"])
    c = (math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(math.radians(b["lon"] - a["lon"])))
    return RADIUS_KM * math.acos(max(-1.0, min(1.0, c)))   # spherical law of cosines


with open(AIRPORTS, newline="") as f:
    airports = [(float(r["latitude"]), float(r["longitude"])) for r in csv.DictReader(f)]
track = {}
for e in valid:
    kind = described.get(e["unit_id"], "road")   # the unknown unit is a road unit (README)
    low, high = SPEED[kind]
    Check(low <= e["speed_kmh"] <= high, f"{e['event_id']} ({kind}): speed {e['speed_kmh']} outside {low}..{high}")
    Check(abs(e["distance_km"] - e["speed_kmh"] * 0.25) < 0.0006, f"{e['event_id']}: distance {e['distance_km']}")
    Check(0 <= e["heading"] < 360 and -90 <= e["lat"] <= 90 and -180 <= e["lon"] <= 180, f"{e['event_id']}: ranges")
    track.setdefault(e["unit_id"], {})[e["ts"]] = e
steps = 0
for unit, events in track.items():
    for ts, e in events.items():
        before = (Time(ts) - datetime.timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if before in events:
            steps += 1
            Check(Km(events[before], e) <= e["distance_km"] + 0.01,
                  f"{e['event_id']}: moved {Km(events[before], e):.3f} km, distance_km {e['distance_km']}")
for unit, events in track.items():
    first = events[min(events)]
    if min(events) == min(grid):   # the first position is within one step of a real airport
        Check(min(Km({"lat": a, "lon": o}, first) for a, o in airports) <= first["distance_km"] + 0.01,
              f"{unit}: the first position is not one step from an airport")
print(f"ok: speeds within their type's range, distance_km = speed x 0.25 h >= the move ({steps} steps)")

# Aggregates per unit and hour, p90 by statistics.quantiles (inclusive = percentile_cont).
def P90(values):
    return values[0] if len(values) == 1 else statistics.quantiles(values, n=10, method="inclusive")[8]


kinds = dict(described)
keys = {"by_unit_hour": lambda e: (e["unit_id"], e["ts"][:13] + ":00:00Z"),
        "by_unit_day": lambda e: (e["unit_id"], e["ts"][:10]),
        "by_type_hour": lambda e: (kinds.get(e["unit_id"]), e["ts"][:13] + ":00:00Z"),
        "by_type_day": lambda e: (kinds.get(e["unit_id"]), e["ts"][:10])}
for name, key in keys.items():
    groups = {}
    for e in valid:
        if name.startswith("by_unit") or e["unit_id"] in kinds:   # no type for the unknown unit
            groups.setdefault(key(e), []).append(e)
    columns = ("unit_id" if name.startswith("by_unit") else "type", "hour" if name.endswith("hour") else "day")
    theirs = {(r[columns[0]], r[columns[1]]): r for r in truth["aggregates"][name]}
    Check(set(theirs) == set(groups), f"{name}: {len(theirs)} groups in truth.json, {len(groups)} recomputed")
    for group_key, group in groups.items():
        row = theirs[group_key]
        Check(row["count"] == len(group), f"{name} {group_key}: count {row['count']}, recomputed {len(group)}")
        for field in ("speed_kmh", "distance_km"):
            values = [e[field] for e in group]
            mean, p90 = statistics.fmean(values), P90(values)
            Check(abs(row[field]["mean"] - mean) < 1e-9 * max(1.0, abs(mean)),
                  f"{name} {group_key} {field}: mean {row[field]['mean']}, recomputed {mean}")
            Check(abs(row[field]["p90"] - p90) < 1e-9 * max(1.0, abs(p90)),
                  f"{name} {group_key} {field}: p90 {row[field]['p90']}, recomputed {p90}")
    print(f"ok: {name}: count, mean and p90 of speed and distance in {len(groups)} groups equal the recomputed ones")
Check(sum(r["count"] for r in truth["aggregates"]["by_unit_day"]) == counts["valid_in_lateness"], "by_unit_day total")


# Daily statistics: a row per unit and day, each day's rows written once on the next day.
rows = re.findall(r"\(\s*'(U\d{3})',\s*'(\d{4}-\d{2}-\d{2})',[^)]*'([0-9T:-]+Z)'\)", stats_sql)
days = sorted({d for _, d, _ in rows})
first_day = (start.date() - datetime.timedelta(days=7)).isoformat()
last_day = ((start + datetime.timedelta(hours=HOURS)).date() - datetime.timedelta(days=1)).isoformat()
Check(days and days[0] == first_day and days[-1] == last_day, f"stats days {days[:1]}..{days[-1:]}")
Check(len(rows) == len(days) * UNITS and len(set((u, d) for u, d, _ in rows)) == len(rows), "stats rows")
for day in days:
    stamps = {t for _, d, t in rows if d == day}
    Check(len(stamps) == 1, f"stats of {day}: {len(stamps)} updated_at values")
    stamp = Time(stamps.pop())
    Check(stamp.date() == datetime.date.fromisoformat(day) + datetime.timedelta(days=1), f"stats of {day}: {stamp}")
Check(len({t for _, _, t in rows}) == len(days) and len({t[11:] for _, _, t in rows}) > 1,
      "the daily batch time does not vary")
print(f"ok: fleet_unit_stats: {len(rows)} rows, {len(days)} days, one batch time a day")
