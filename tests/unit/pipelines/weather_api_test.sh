#!/usr/bin/env bash
# The local weather API (pipelines/fleet/api/weather_api.py) serves the real files of
# tests/data/fleet: weather_api_check.py compares days by station and by nearest station with
# weather.csv and distances it computes itself, then the faults (500s, slow answers, auth) and
# the /admin/stats counters. Also: the first stdout line, the port file, a clean SIGTERM exit.
# Then the check must fail on each mutated copy of the server or its data (mutate below).
# No build, no Kafka, no database; a few seconds.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${SLUICE_SOURCE_DIR:-$(cd "$here/../../.." && pwd)}
tmp=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

start() {  # start <weather_api.py> <data dir>: sets pid and port
  rm -f "$tmp/port" "$tmp/out"
  python3 "$1" --port 0 --data-dir "$2" --port-file "$tmp/port" --token "t0ken-$$" >"$tmp/out" 2>"$tmp/log" &
  pid=$!
  for _ in $(seq 100); do
    [ -s "$tmp/port" ] && [ -s "$tmp/out" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "FAIL: the server exited:"; cat "$tmp/log"; exit 1; }
    sleep 0.1
  done
  port=$(cat "$tmp/port")
}
stop() {
  kill "$pid"; wait "$pid" || true; pid=""
}

start "$src/pipelines/fleet/api/weather_api.py" "$src/tests/data/fleet"
line=$(head -1 "$tmp/out")
if [ "$line" != "listening on http://127.0.0.1:$port" ]; then
  echo "FAIL: first stdout line '$line', port file '$port'"; exit 1
fi
echo "ok: $line"

if ! python3 "$here/weather_api_check.py" "http://127.0.0.1:$port" "t0ken-$$" "$src/tests/data/fleet"; then
  echo "--- server log (last 20 lines)"; tail -20 "$tmp/log"; exit 1
fi

# Ties of /nearest go to the first station in the fixed order: two stations at one place.
tie() {  # tie <weather_api.py>: exit 0 when the first of two equidistant stations wins
  python3 - "$1" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("weather_api", sys.argv[1])
api = importlib.util.module_from_spec(spec)
spec.loader.exec_module(api)
a, b = api.Station("AAA", "A", "X", 45.0, -100.0), api.Station("BBB", "B", "X", 45.0, -100.0)
first = [api.Nearest(pair, 40.0, -90.0)[0].code for pair in ([a, b], [b, a])]
sys.exit(0 if first == ["AAA", "BBB"] else 1)
PY
}
tie "$src/pipelines/fleet/api/weather_api.py" || { echo "FAIL: a tie of /nearest does not go to the first station"; exit 1; }
echo "ok: a tie of /nearest goes to the first station"

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" = 0 ] || { echo "FAIL: exit status $status after SIGTERM"; exit 1; }
echo "ok: SIGTERM: exit 0"

echo "== mutations of the server or its data (each must be caught)"
mutate() {  # mutate <description> <sed expression on a copy of weather_api.py> [<command in the data copy>]
  rm -rf "$tmp/m" && mkdir -p "$tmp/m" && cp -r "$src/tests/data/fleet" "$tmp/m/data"
  sed "$2" "$src/pipelines/fleet/api/weather_api.py" >"$tmp/m/weather_api.py"
  if cmp -s "$tmp/m/weather_api.py" "$src/pipelines/fleet/api/weather_api.py" && [ -z "${3:-}" ]; then
    echo "FAIL: mutation '$1' changed nothing"; exit 1
  fi
  (cd "$tmp/m/data" && eval "${3:-true}")
  start "$tmp/m/weather_api.py" "$tmp/m/data"
  if python3 "$here/weather_api_check.py" "http://127.0.0.1:$port" "t0ken-$$" "$src/tests/data/fleet" \
      >"$tmp/m.log" 2>&1; then
    echo "FAIL: mutation not caught: $1"; exit 1
  fi
  stop
  echo "caught: $1 ($(grep -m1 FAIL "$tmp/m.log" | cut -c1-110))"
}
mutate "nearest picks the farthest station" 's/if best is None or d < best\[1\]:/if best is None or d > best[1]:/'
mutate "New York placed at JFK" 's/("NYC", "New York", "LGA")/("NYC", "New York", "JFK")/'
mutate "temp_min served as temp_max" 's/body.update({k: float(row\[k\]) for k in kFields})/&; body["temp_max"] = body["temp_min"]/'
mutate "a day missing from the served file" 's/^kWeatherFile = .*/&/' 'sed -i 2d weather.csv'
mutate "the request count never advances" 's/self.count_ += 1/pass/'
mutate "slow answers ignored" 's/self.sleep_(slow_ms \/ 1000.0)/pass/'
mutate "no auth" 's/if token and headers.get/if False and headers.get/'
sed 's/if best is None or d < best\[1\]:/if best is None or d <= best[1]:/' \
  "$src/pipelines/fleet/api/weather_api.py" >"$tmp/tie.py"
if tie "$tmp/tie.py"; then echo "FAIL: mutation not caught: a tie goes to the last station"; exit 1; fi
echo "caught: a tie goes to the last station"
echo "ok"
