# Helpers for the fleet e2e tests (sourced after ../lib/e2e.sh): private copies of the three
# fleet pipelines (fleet_units, fleet_stats, fleet) renamed after the test (topics, tables,
# source tables, the JSON topic, the enricher's history tables and the views), the SYNTHETIC
# data of pipelines/fleet/generate.py, and the weather API.
#
#   fleet_init [generate.py options]  generates the data into $E2E_TMP/gen (events.jsonl,
#                                     units.sql, stats.sql, truth.json), renamed for the test;
#                                     creates the JSON topic (1 partition); writes the copies;
#                                     starts the weather API (SLUICE_WEATHER_API_URL)
#   fleet_up                          loads the source tables, brings the three pipelines up
#   fleet_send [from] [to]            sends lines from..to (1-based, inclusive) of events.jsonl
#   fleet_truth <python expression on t>   a figure of the truth file
#   fleet_wait_events [timeout s]     waits until events + DLQ = the lines sent, settled
#
# Names: $FLEET_EVENTS (the events table), $FLEET_UNITS / $FLEET_STATS (source tables),
# $FLEET_UNITS_HISTORY / $FLEET_STATS_HISTORY, $FLEET_TOPIC (the JSON topic), views
# ${E2E_ID}_agg_unit_hour etc.

FLEET_GEN="$SLUICE_ROOT/pipelines/fleet/generate.py"

fleet_init() {
  FLEET_UNITS="${E2E_ID}_units"
  FLEET_STATS="${E2E_ID}_stats"
  FLEET_UNITS_HISTORY="${E2E_ID}_units_history"
  FLEET_STATS_HISTORY="${E2E_ID}_stats_history"
  FLEET_EVENTS=$E2E_ID
  FLEET_TOPIC="$E2E_ID.positions"
  E2E_TABLE=$FLEET_EVENTS
  mkdir -p "$E2E_TMP/gen"
  python3 "$FLEET_GEN" --out "$E2E_TMP/gen/events.jsonl" --units-sql "$E2E_TMP/gen/units.sql" \
    --stats-sql "$E2E_TMP/gen/stats.sql" --truth "$E2E_TMP/gen/truth.json" "$@" >"$E2E_TMP/gen/summary.txt" 2>/dev/null ||
    e2e_fail "generate.py failed"
  e2e_log "$(cat "$E2E_TMP/gen/summary.txt")"
  sed -i -E "s/\bfleet_unit_stats\b/$FLEET_STATS/g; s/\bfleet_units\b/$FLEET_UNITS/g" "$E2E_TMP/gen/units.sql" "$E2E_TMP/gen/stats.sql"
  e2e_kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$SLUICE_KAFKA_BROKERS" \
    --create --topic "$FLEET_TOPIC" --partitions 1 --replication-factor 1 >/dev/null 2>&1 ||
    e2e_fail "could not create $FLEET_TOPIC"
  e2e_on_teardown "e2e_kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server $SLUICE_KAFKA_BROKERS --delete --topic '$FLEET_TOPIC'"
  e2e_on_teardown "psql -X -q -c 'DROP TABLE IF EXISTS \"$FLEET_UNITS\", \"$FLEET_STATS\", \"$FLEET_UNITS_HISTORY\", \"$FLEET_STATS_HISTORY\" CASCADE'"
  e2e_on_teardown "psql -X -q -c 'DROP TABLE IF EXISTS \"$FLEET_EVENTS\" CASCADE'"
  python3 - "$SLUICE_ROOT/pipelines" "$E2E_TMP" "$E2E_ID" <<'PY' || e2e_fail "could not copy the fleet pipelines"
import os, re, sys, yaml
src, tmp, n = sys.argv[1:4]
names = {"fleet_units": n + "_u", "fleet_stats": n + "_s", "fleet": n}
tables = {"fleet_units_history": n + "_units_history", "fleet_unit_stats_history": n + "_stats_history",
          "fleet_units": n + "_units", "fleet_unit_stats": n + "_stats", "fleet_events": n}
for folder, name in names.items():
    base = os.path.join(src, folder)
    doc = yaml.safe_load(open(os.path.join(base, "pipeline.yaml")))
    doc["pipeline"] = name
    t = doc["topics"]
    for k in ("raw", "clean", "dlq"):
        t[k] = f"{name}.{k}"
    t["enriched"] = f"{name}.enriched" if "enricher" in doc else f"{name}.clean"
    doc["schemas"] = {k: os.path.join(base, v) for k, v in doc["schemas"].items()}
    for s in doc["producer"]["sources"]:
        if s["type"] == "postgres":
            s["table"] = tables[s["table"]]
            s["poll_interval"] = "1s"  # the stats are polled hourly in production
        if s["type"] == "kafka_json":
            s["topic"] = n + ".positions"
    for step in (doc.get("enricher") or {}).get("steps", []):
        if "table" in step:
            step["table"] = tables[step["table"]]
    doc["sink"]["table"] = tables[doc["sink"]["table"]]
    views = doc["sink"].pop("views", [])
    out_views = []
    for v in views:
        sql = open(os.path.join(base, v)).read()
        sql = re.sub(r"\bfleet_events_unit_ts\b", n + "_unit_ts", sql)
        sql = re.sub(r"\bfleet_events\b", '"' + n + '"', sql)
        sql = re.sub(r"\bfleet_(agg_\w+|join_status)\b", n + r"_\1", sql)
        path = os.path.join(tmp, f"{name}.views.sql")
        open(path, "w").write(sql)
        out_views.append(path)
    if out_views:
        doc["sink"]["views"] = out_views
    yaml.safe_dump(doc, open(os.path.join(tmp, f"{name}.yaml"), "w"), sort_keys=False)
PY
  E2E_PIPELINE="$E2E_TMP/$E2E_ID.yaml"
  FLEET_UNITS_PIPELINE="$E2E_TMP/${E2E_ID}_u.yaml"
  FLEET_STATS_PIPELINE="$E2E_TMP/${E2E_ID}_s.yaml"
  e2e_api_start "$SLUICE_ROOT/pipelines/fleet/api/weather_api.py" SLUICE_WEATHER_API_URL --quiet
}

fleet_up() {
  psql -X -q -v ON_ERROR_STOP=1 -f "$E2E_TMP/gen/units.sql" >/dev/null && psql -X -q -v ON_ERROR_STOP=1 -f "$E2E_TMP/gen/stats.sql" >/dev/null ||
    e2e_fail "could not load the source tables"
  e2e_up_more "$FLEET_UNITS_PIPELINE"
  e2e_up_more "$FLEET_STATS_PIPELINE"
  # The enricher's lookups need the history tables: wait until both are loaded.
  local want_u want_s i
  want_u=$(e2e_psql "SELECT count(*) FROM \"$FLEET_UNITS\"")
  want_s=$(e2e_psql "SELECT count(*) FROM \"$FLEET_STATS\"")
  for (( i = 0; i < 240; i++ )); do
    [[ $(e2e_psql "SELECT count(*) FROM \"$FLEET_UNITS_HISTORY\"" 2>/dev/null) == "$want_u" &&
       $(e2e_psql "SELECT count(*) FROM \"$FLEET_STATS_HISTORY\"" 2>/dev/null) == "$want_s" ]] && break
    sleep 0.5
  done
  (( i < 240 )) || e2e_fail "the history tables did not load ($want_u units, $want_s stats rows)"
  e2e_log "history loaded: $want_u unit versions, $want_s statistics rows"
  E2E_UP=1
  "$E2E_PIPE" up "$E2E_PIPELINE" || e2e_fail "the fleet pipeline did not come up"
}

# Sends lines from..to of events.jsonl, keyed by unit_id as generate.py --kafka does.
FLEET_SENT=0
fleet_send() {
  local from=${1:-1} to=${2:-$(wc -l <"$E2E_TMP/gen/events.jsonl")}
  sed -n "${from},${to}p" "$E2E_TMP/gen/events.jsonl" | python3 -c '
import re, sys
for line in sys.stdin:
    line = line.rstrip("\n")
    m = re.search(r"\"unit_id\":\"([^\"]*)", line)
    print((m.group(1) if m else "") + "\t" + line)
' | kcat -P -b "$SLUICE_KAFKA_BROKERS" -t "$FLEET_TOPIC" -K $'\t' -z none || e2e_fail "kcat could not send events"
  FLEET_SENT=$(( FLEET_SENT + to - from + 1 ))
  e2e_log "sent events $from..$to ($FLEET_SENT in all)"
}

fleet_truth() {
  python3 -c "import json, sys; t = json.load(open(sys.argv[1])); print($1)" "$E2E_TMP/gen/truth.json"
}

fleet_wait_events() { e2e_wait "$FLEET_SENT" "${1:-300}"; }

# fleet_check_aggregates: every row of the four aggregate views equals the truth file's
# (count exactly, mean and p90 to 1e-9 relative), and the views have no other row.
fleet_check_aggregates() {
  local views=""
  local v
  for v in unit_hour unit_day type_hour type_day; do
    psql -X -q -tA -F $'\t' -c "SELECT * FROM \"${E2E_ID}_agg_$v\"" >"$E2E_TMP/agg_$v.tsv" || e2e_fail "could not read ${E2E_ID}_agg_$v"
  done
  python3 - "$E2E_TMP" <<'PY' || e2e_fail "the aggregates differ from the truth file (above)"
import json, math, os, sys
tmp = sys.argv[1]
truth = json.load(open(os.path.join(tmp, "gen", "truth.json")))["aggregates"]
bad = 0
def close(a, b):
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
for view, group in (("unit_hour", "by_unit_hour"), ("unit_day", "by_unit_day"), ("type_hour", "by_type_hour"), ("type_day", "by_type_day")):
    want = {}
    for g in truth[group]:
        k0 = g.get("unit_id", g.get("type"))
        k1 = g.get("hour", g.get("day"))
        want[(k0, k1[:19].replace("T", " ") if "hour" in g else k1[:10])] = g
    got = {}
    for line in open(os.path.join(tmp, f"agg_{view}.tsv")):
        f = line.rstrip("\n").split("\t")
        got[(f[0], f[1][:19])] = f
    for k in sorted(set(want) | set(got)):
        if k not in got or k not in want:
            print(f"{view} {k}: {'missing from the view' if k not in got else 'not in the truth file'}"); bad += 1; continue
        w, f = want[k], got[k]
        checks = [("events", int(f[2]) == w["count"])]
        checks += [("speed_mean", close(f[3], w["speed_kmh"]["mean"])), ("speed_p90", close(f[4], w["speed_kmh"]["p90"])),
                   ("distance_mean", close(f[5], w["distance_km"]["mean"])), ("distance_p90", close(f[6], w["distance_km"]["p90"]))]
        for name, ok in checks:
            if not ok:
                print(f"{view} {k}: {name} differs: view {f[2:]} truth {w}"); bad += 1
    print(f"{view}: {len(got)} rows checked against the truth file")
sys.exit(1 if bad else 0)
PY
}
