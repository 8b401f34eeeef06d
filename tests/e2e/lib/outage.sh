# Outage tests (issue #20): a dependency goes away mid-run and comes back; no daemon may exit.
# Sourced by tests/e2e/loans/*_outage_test.sh after e2e.sh. Usage:
#   outage_run <label> <rows> <take-down command> <bring-back command> [<down seconds>]
# Feeds <rows> SYNTHETIC loans (loan_data.py synthetic), takes the dependency down once a
# tenth of them is in the table, keeps it down <down seconds> (default 120), brings it back,
# then checks: rows in = rows loaded + DLQ, each loan_id once, every daemon has the pid it had
# at the start and answers /readyz 200. Prints the time from the dependency's return to the
# first new row in the table. While the dependency is away, each daemon's /readyz is polled
# every second: every daemon named in OUTAGE_NOT_READY must have answered not-ready (503) at
# least once (readiness tells the truth), and every daemon must answer 200 at the end.
# The daemons' pids, "name=pid ..."; the registry too unless OUTAGE_SKIP names it (the
# dependency a test takes down itself).
outage_pids() {
  local d
  for d in registry producer cleaner enricher pg-sink; do
    [[ $d == "${OUTAGE_SKIP:-}" ]] && continue
    [[ -f $E2E_PDIR/pids/$d.pid ]] && printf '%s=%s ' "$d" "$(cat "$E2E_PDIR/pids/$d.pid")"
  done
  return 0
}

outage_run() {
  local label=$1 rows=$2 down=$3 back=$4 seconds=${5:-120}
  python3 "$E2E_DATA/loan_data.py" synthetic --seed 2020 --rows "$rows" --out "$E2E_TMP/data.csv" >/dev/null
  e2e_pipeline
  e2e_up
  local before after deadline n at_return first_row
  before=$(outage_pids)
  e2e_log "pids at start: $before"
  e2e_feed "$E2E_TMP/data.csv" data.csv
  deadline=$((SECONDS + 300))
  until n=$(e2e_rows 2>/dev/null) && (( n >= rows / 10 )); do
    (( SECONDS < deadline )) || e2e_fail "not a tenth of the rows loaded after 300 s (have ${n:-0})"
    sleep 0.2
  done
  e2e_log "$n rows loaded: taking $label down for ${seconds}s ($down)"
  eval "$down" || e2e_fail "could not take $label down"
  declare -A not_ready=()
  local until_t=$((SECONDS + seconds)) d code
  while (( SECONDS < until_t )); do
    for d in producer cleaner enricher pg-sink; do
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$(cat "$E2E_PDIR/ports/$d")/readyz" || true)
      [[ $code != 200 ]] && not_ready[$d]=1
    done
    sleep 1
  done

  # The table as the dependency returns (PostgreSQL itself may be the one away: then the count
  # cannot have moved since it went down).
  at_return=$(psql -X -q -tA -c "SELECT count(*) FROM \"$E2E_TABLE\"" 2>/dev/null || echo "$n")
  eval "$back" || e2e_fail "could not bring $label back"
  # Checked once the dependency is back, so a failure never leaves it down for other tests.
  e2e_log "not ready at some point during the outage: ${!not_ready[*]}"
  for d in ${OUTAGE_NOT_READY:-}; do
    e2e_check '[[ -n ${not_ready[$d]:-} ]]' "$d said not ready while $label was away"
  done
  local t0=$SECONDS
  e2e_log "$label back; $at_return rows in the table"
  first_row=""
  deadline=$((SECONDS + 600))
  while (( SECONDS < deadline )); do
    n=$(e2e_rows 2>/dev/null || echo 0)
    if (( n > at_return )); then first_row=$((SECONDS - t0)); break; fi
    (( n >= rows )) && break
    sleep 0.2
  done
  e2e_log "first new row ${first_row:-?} s after $label came back"
  e2e_wait "$rows" 900
  local loaded dlq keys
  loaded=$(e2e_rows)
  dlq=$(e2e_dlq_json --records | wc -l)
  keys=$(e2e_psql "SELECT count(DISTINCT loan_id) FROM \"$E2E_TABLE\"")
  e2e_check '(( loaded + dlq == rows ))' "$rows rows in = $loaded loaded + $dlq in the DLQ"
  e2e_check '(( keys == loaded ))' "each loan_id once ($keys distinct of $loaded)"
  after=$(outage_pids)
  e2e_check '[[ $after == "$before" ]]' "no daemon was restarted: pids at the end '$after'"
  for d in producer cleaner enricher pg-sink; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$(cat "$E2E_PDIR/ports/$d")/readyz" || true)
    e2e_check '[[ $code == 200 ]]' "$d /readyz answers 200 (got $code)"
  done
}
