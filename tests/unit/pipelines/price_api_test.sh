#!/usr/bin/env bash
# The local price API (pipelines/prices/api/price_api.py) serves the real files of
# tests/data/prices with its faults: price_api_check.py walks both endpoints on a server started
# with the default faults and compares every record and the /admin/stats counters with the CSV
# files and what it saw. Also: the first stdout line, the port file, and a clean SIGTERM exit.
# Then the check must fail on each mutated copy of the server or its data (mutate below).
# No build, no Kafka, no database; about 10 s.
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

start() {  # start <price_api.py> <data dir>: sets pid and port
  rm -f "$tmp/port" "$tmp/out"
  # The token comes from the environment (the --token option is the other way).
  PRICE_API_TOKEN=t0ken-$$ python3 "$1" --port 0 --data-dir "$2" --port-file "$tmp/port" \
    >"$tmp/out" 2>"$tmp/log" &
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

start "$src/pipelines/prices/api/price_api.py" "$src/tests/data/prices"
line=$(head -1 "$tmp/out")
if [ "$line" != "listening on http://127.0.0.1:$port" ]; then
  echo "FAIL: first stdout line '$line', port file '$port'"; exit 1
fi
echo "ok: $line"

if ! python3 "$here/price_api_check.py" "http://127.0.0.1:$port" "t0ken-$$" "$src/tests/data/prices"; then
  echo "--- server log (last 20 lines)"; tail -20 "$tmp/log"; exit 1
fi

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" = 0 ] || { echo "FAIL: exit status $status after SIGTERM"; exit 1; }
echo "ok: SIGTERM: exit 0"

echo "== mutations of the server or its data (each must be caught)"
mutate() {  # mutate <description> <sed expression on a copy of price_api.py> [<command in the data copy>]
  rm -rf "$tmp/m" && mkdir -p "$tmp/m" && cp -r "$src/tests/data/prices" "$tmp/m/data"
  sed "$2" "$src/pipelines/prices/api/price_api.py" >"$tmp/m/price_api.py"
  if cmp -s "$tmp/m/price_api.py" "$src/pipelines/prices/api/price_api.py" && [ -z "${3:-}" ]; then
    echo "FAIL: mutation '$1' changed nothing"; exit 1
  fi
  (cd "$tmp/m/data" && eval "${3:-true}")
  start "$tmp/m/price_api.py" "$tmp/m/data"
  if python3 "$here/price_api_check.py" "http://127.0.0.1:$port" "t0ken-$$" "$src/tests/data/prices" \
      >"$tmp/m.log" 2>&1; then
    echo "FAIL: mutation not caught: $1"; exit 1
  fi
  stop
  echo "caught: $1 ($(grep -m1 FAIL "$tmp/m.log" | cut -c1-110))"
}
mutate "the next cursor skips a row" 's/EncodeCursor(after, offset + limit)/EncodeCursor(after, offset + limit + 1)/'
mutate "an FX page loses its last row" 's/rows\[(page - 1) \* per_page:page \* per_page\]/rows[(page - 1) * per_page:page * per_page - 1]/'
mutate "a row missing from the served file" 's/^kHistoryFile = .*/&/' 'sed -i 2000d sp500_daily.csv'
mutate "no rate limit" 's/if not self.bucket_.Take():/if False:/'
mutate "drift ignored" 's/out = {k: v for k, v in record.items() if k not in drop}/out = dict(record)/'
mutate "the malformed page counted as served" \
  's/self.stats_.malformed_responses += 1/&; self.stats_.served["fx"] += len(rows)/'
echo "ok"
