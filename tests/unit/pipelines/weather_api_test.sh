#!/usr/bin/env bash
# The local weather API (pipelines/fleet/api/weather_api.py) serves the real files of
# tests/data/fleet: weather_api_check.py compares days by station and by nearest station with
# weather.csv and distances it computes itself, then the faults (500s, slow answers, auth) and
# the /admin/stats counters. Also: the first stdout line, the port file, a clean SIGTERM exit.
# Then the check must fail on each mutated copy of the server or its data (api_mutate below).
# No build, no Kafka, no database; a few seconds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/api_test_lib.sh"
api_script=pipelines/fleet/api/weather_api.py
api_data=tests/data/fleet
api_check=$here/weather_api_check.py
api_args=(--token "$api_token")

api_start_checked
api_run_check

# Ties of /nearest go to the first station in the fixed order: two stations at one place.
tie() {  # tie <weather_api.py>: exit 0 when the first of two equidistant stations wins, 3 when not
  python3 - "$1" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("weather_api", sys.argv[1])
api = importlib.util.module_from_spec(spec)
spec.loader.exec_module(api)
a, b = api.Station("AAA", "A", "X", 45.0, -100.0), api.Station("BBB", "B", "X", 45.0, -100.0)
first = [api.Nearest(pair, 40.0, -90.0)[0].code for pair in ([a, b], [b, a])]
sys.exit(0 if first == ["AAA", "BBB"] else 3)
PY
}
tie "$src/pipelines/fleet/api/weather_api.py" || { echo "FAIL: a tie of /nearest does not go to the first station"; exit 1; }
echo "ok: a tie of /nearest goes to the first station"

api_stop_checked

echo "== mutations of the server or its data (each must be caught)"
api_mutate "nearest picks the farthest station" 's/if best is None or d < best\[1\]:/if best is None or d > best[1]:/'
api_mutate "New York placed at JFK" 's/("NYC", "New York", "LGA")/("NYC", "New York", "JFK")/'
api_mutate "temp_min served as temp_max" 's/body.update({k: float(row\[k\]) for k in kFields})/&; body["temp_max"] = body["temp_min"]/'
api_mutate "a day missing from the served file" 's/^kWeatherFile = .*/&/' 'sed -i 2d weather.csv'
api_mutate "the request count never advances" 's/self.count_ += 1/pass/'
api_mutate "slow answers ignored" 's/self.sleep_(slow_ms \/ 1000.0)/pass/'
api_mutate "no auth" 's/if token and headers.get/if False and headers.get/'
api_mutant "$tmp/tie" 's/if best is None or d < best\[1\]:/if best is None or d <= best[1]:/'
status=0
tie "$tmp/tie/$api_script" || status=$?   # 3, not an import error of the copy
[ "$status" = 3 ] || { echo "FAIL: mutation not caught: a tie goes to the last station (exit $status)"; exit 1; }
echo "caught: a tie goes to the last station"
echo "ok"
