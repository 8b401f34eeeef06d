#!/usr/bin/env bash
# The local supervisor restarts what dies (issue #20). In a private loans pipeline:
#   the cleaner is killed with SIGKILL from outside the supervisor (as the kernel's OOM killer
#   or an operator would): its keeper starts it again, with a new pid, within the backoff, and
#   `pipeline status` counts one restart;
#   the enricher is killed twice in a row: two more restarts, it ends ready;
#   the file fed afterwards is loaded with exact accounting;
#   `pipeline down` leaves no daemon and no keeper behind (a stopped daemon is not restarted).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"

e2e_init superv
python3 "$E2E_DATA/loan_data.py" synthetic --seed 20 --rows 2000 --out "$E2E_TMP/data.csv" >/dev/null
e2e_pipeline
e2e_up

# pid_of <daemon>: the daemon's pid from the supervisor's pid file.
pid_of() { cat "$E2E_PDIR/pids/$1.pid" 2>/dev/null || true; }
# wait_restarted <daemon> <old pid>: bounded wait for a new live pid answering /readyz.
wait_restarted() {
  local d=$1 old=$2 deadline=$((SECONDS + 90)) pid port
  while (( SECONDS < deadline )); do
    # A restarted daemon binds a new free port and writes it there once it listens.
    port=$(cat "$E2E_PDIR/ports/$d" 2>/dev/null || true)
    pid=$(pid_of "$d")
    if [[ -n $pid && $pid != "$old" && -n $port ]] && kill -0 "$pid" 2>/dev/null &&
       curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/readyz"; then
      echo "$pid"
      return 0
    fi
    sleep 0.5
  done
  e2e_fail "$d was not restarted within 90 s (pid file: $(pid_of "$d"))"
}
restarts_of() {
  "$E2E_PIPE" status "$E2E_ID" 2>/dev/null | awk -v d="$1" '$1 == d { print $5 }'
}

old=$(pid_of cleaner)
kill -KILL "$old"
new=$(wait_restarted cleaner "$old")
e2e_log "cleaner: pid $old killed with SIGKILL, restarted as pid $new"
e2e_check '[[ $(restarts_of cleaner) == 1 ]]' "status counts 1 restart of the cleaner (says $(restarts_of cleaner))"
e2e_check '(( $(e2e_log_count cleaner "\"supervisor\":\"restart\",\"exit\":137") == 1 ))' \
  "the cleaner's log records the restart with exit 137 (SIGKILL)"

for i in 1 2; do
  old=$(pid_of enricher)
  kill -KILL "$old"
  new=$(wait_restarted enricher "$old")
  e2e_log "enricher: pid $old killed with SIGKILL ($i of 2), restarted as pid $new"
done
e2e_check '[[ $(restarts_of enricher) == 2 ]]' "status counts 2 restarts of the enricher (says $(restarts_of enricher))"
e2e_check '"$E2E_PIPE" status "$E2E_ID" >/dev/null' "every daemon is ready after the restarts"

e2e_feed "$E2E_TMP/data.csv" data.csv
e2e_wait 2000 300
rows=$(e2e_rows)
dlq=$(e2e_dlq_json --records | wc -l)
e2e_check '(( rows + dlq == 2000 ))' "2000 rows in = $rows loaded + $dlq in the DLQ"
keys=$(e2e_psql "SELECT count(DISTINCT loan_id) FROM \"$E2E_TABLE\"")
e2e_check '(( keys == rows ))' "each loan_id once ($keys distinct of $rows)"

# A daemon stopped by the supervisor stays stopped, and so do the keepers.
keepers=$(cat "$E2E_PDIR"/pids/*.keeper 2>/dev/null | tr '\n' ' ')
"$E2E_PIPE" down "$E2E_ID" || e2e_fail "pipeline down failed"
E2E_UP=0
sleep 3  # longer than the first backoff: a keeper that restarted anything would show now
left=$(for p in $keepers; do kill -0 "$p" 2>/dev/null && echo "$p"; done; pgrep -f -- "--config $E2E_PIPELINE" || true)
e2e_check '[[ -z $left ]]' "no daemon or keeper left after down (left: '${left//$'\n'/ }')"
