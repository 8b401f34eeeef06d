#!/usr/bin/env bash
# The local price API (pipelines/prices/api/price_api.py) serves the real files of
# tests/data/prices with its faults: price_api_check.py walks both endpoints on a server started
# with the default faults and compares every record and the /admin/stats counters with the CSV
# files and what it saw. Also: the first stdout line, the port file, and a clean SIGTERM exit.
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

# The token comes from the environment (the --token option is the other way).
PRICE_API_TOKEN=t0ken-$$ python3 "$src/pipelines/prices/api/price_api.py" --port 0 \
  --port-file "$tmp/port" >"$tmp/out" 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do
  [ -s "$tmp/port" ] && [ -s "$tmp/out" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "FAIL: the server exited:"; cat "$tmp/log"; exit 1; }
  sleep 0.1
done
port=$(cat "$tmp/port")
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
