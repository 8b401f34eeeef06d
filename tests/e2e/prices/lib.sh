# Helpers for the prices e2e tests (sourced after ../lib/e2e.sh): the local price API
# (pipelines/prices/api/price_api.py) and private copies of pipelines/prices and pipelines/fx.
#
#   prices_api_start [price_api.py options]   starts the API on a free port; exports
#                                             SLUICE_PRICE_API_URL and SLUICE_PRICE_API_TOKEN
#   prices_api <method> <path> [json body]    one admin or data call; prints the body
#   prices_api_stat <python expression on s>  a figure of /admin/stats, e.g. "s['malformed_pages']"
#   prices_copy <fx|prices> <name> <out> [k=v...]  the pipeline file, renamed after <name>
#                                             (pipeline, topics, table), without sink views; each
#                                             k=v sets an option of its http source (rate_limit=2/s)
#                                             (e2e_copy_pipeline of ../lib/e2e.sh)
#   prices_sweeps <pipeline dir>              "sweep done" lines in its producer log

PRICES_API="$SLUICE_ROOT/pipelines/prices/api/price_api.py"

prices_api_start() {
  export SLUICE_PRICE_API_TOKEN="e2e-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  e2e_api_start "$PRICES_API" SLUICE_PRICE_API_URL --token "$SLUICE_PRICE_API_TOKEN" "$@"
}

prices_api() {
  if [[ $# -ge 3 ]]; then
    curl -sf -X "$1" -H 'Content-Type: application/json' --data "$3" "$SLUICE_PRICE_API_URL$2"
  else
    curl -sf -X "$1" "$SLUICE_PRICE_API_URL$2"
  fi
}

prices_api_stat() {
  prices_api GET /admin/stats | python3 -c "import json, sys; s = json.load(sys.stdin); print($1)"
}

prices_copy() {
  local kv extra=()
  for kv in "${@:4}"; do extra+=("producer.sources.0.$kv"); done
  e2e_copy_pipeline "$1" "$2" "$3" "sink.table=$2" "sink.views=[]" ${extra[@]+"${extra[@]}"}
}

prices_sweeps() { grep -c '"msg":"sweep done"' "$1/logs/producer.log" 2>/dev/null || true; }

# prices_wait_sweep <pipeline dir> [timeout s]: waits for the producer's first completed sweep.
prices_wait_sweep() {
  local i limit=$(( ${2:-180} * 2 ))
  for (( i = 0; i < limit; i++ )); do
    (( $(prices_sweeps "$1") >= 1 )) && return 0
    sleep 0.5
  done
  e2e_fail "no completed sweep in $1/logs/producer.log after ${2:-180}s"
}

# The rows of the S&P 500 file the API serves (csv-counted: the file has no final newline).
prices_days() {
  python3 -c 'import csv, sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1]))))' \
    "$SLUICE_ROOT/tests/data/prices/sp500_daily.csv"
}
