# Shared by the tests of the local APIs (price_api_test.sh, weather_api_test.sh): start a server
# on a free port and wait for it, check its first stdout line and its SIGTERM exit, and run the
# check against mutated copies of the server or its data. Sourced first; it defines here (the
# test's dir), src, tmp (removed on exit, with a running server killed) and api_token (the token
# the check sends). Before calling the functions below, the test sets:
#   api_script   the server, relative to the source tree (pipelines/<p>/api/<name>_api.py)
#   api_data     its data dir, relative to the source tree (tests/data/<p>)
#   api_check    the check: <check> <base url> <token> <data dir>, exit 0 when all is right
#   api_args     (array) more options of every start, e.g. (--token "$api_token")
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
src=${SLUICE_SOURCE_DIR:-$(cd "$here/../../.." && pwd)}
tmp=$(mktemp -d)
pid=""
api_token="t0ken-$$"
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

api_start() {  # api_start <server.py> <data dir>: sets pid and port
  rm -f "$tmp/port" "$tmp/out"
  python3 "$1" --port 0 --data-dir "$2" --port-file "$tmp/port" "${api_args[@]}" >"$tmp/out" 2>"$tmp/log" &
  pid=$!
  for _ in $(seq 100); do
    [ -s "$tmp/port" ] && [ -s "$tmp/out" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "FAIL: the server exited:"; cat "$tmp/log"; exit 1; }
    sleep 0.1
  done
  port=$(cat "$tmp/port")
}
api_stop() {
  kill "$pid"; wait "$pid" || true; pid=""
}

api_start_checked() {  # starts the real server; its first stdout line must name the port file's port
  api_start "$src/$api_script" "$src/$api_data"
  line=$(head -1 "$tmp/out")
  if [ "$line" != "listening on http://127.0.0.1:$port" ]; then
    echo "FAIL: first stdout line '$line', port file '$port'"; exit 1
  fi
  echo "ok: $line"
}

api_run_check() {  # runs the check on the running server; on failure shows the server log
  if ! python3 "$api_check" "http://127.0.0.1:$port" "$api_token" "$src/$api_data"; then
    echo "--- server log (last 20 lines)"; tail -20 "$tmp/log"; exit 1
  fi
}

api_stop_checked() {  # SIGTERM must end the server with exit status 0
  kill -TERM "$pid"
  status=0
  wait "$pid" || status=$?
  pid=""
  [ "$status" = 0 ] || { echo "FAIL: exit status $status after SIGTERM"; exit 1; }
  echo "ok: SIGTERM: exit 0"
}

api_mutant() {  # api_mutant <dir> <sed expression>: <dir>/$api_script, the server edited by sed
  # The copy keeps the source tree's layout, so the server finds tools/local_api where it looks.
  rm -rf "$1" && mkdir -p "$1/$(dirname "$api_script")" "$1/tools"
  cp -r "$src/tools/local_api" "$1/tools/"
  sed "$2" "$src/$api_script" >"$1/$api_script"
}

api_mutate() {  # api_mutate <description> <sed expression on a copy of the server> [<command in the data copy>]
  api_mutant "$tmp/m" "$2"
  cp -r "$src/$api_data" "$tmp/m/data"
  if cmp -s "$tmp/m/$api_script" "$src/$api_script" && [ -z "${3:-}" ]; then
    echo "FAIL: mutation '$1' changed nothing"; exit 1
  fi
  (cd "$tmp/m/data" && eval "${3:-true}")
  api_start "$tmp/m/$api_script" "$tmp/m/data"
  if python3 "$api_check" "http://127.0.0.1:$port" "$api_token" "$src/$api_data" >"$tmp/m.log" 2>&1; then
    echo "FAIL: mutation not caught: $1"; exit 1
  fi
  api_stop
  echo "caught: $1 ($(grep -m1 FAIL "$tmp/m.log" | cut -c1-110))"
}
