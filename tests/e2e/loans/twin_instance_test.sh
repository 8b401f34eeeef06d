#!/usr/bin/env bash
# Two live processes with one instance id (issue #20: exiting stays for what is truly fatal).
# A second sluice-cleaner is started by hand with the pipeline's file and the same
# SLUICE_INSTANCE_ID. The broker fences the older one, which had no trouble before: it must
# exit 3 (fenced) with one message naming the cause, and its keeper must not restart it (a
# restart would only fence the other in turn). The newer one goes on: a file fed afterwards
# loads with exact accounting.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"

e2e_init twin
python3 "$E2E_DATA/loan_data.py" synthetic --seed 21 --rows 1000 --out "$E2E_TMP/data.csv" >/dev/null
e2e_pipeline
e2e_up
old=$(cat "$E2E_PDIR/pids/cleaner.pid")
"$SLUICE_BIN_DIR/sluice-cleaner" --config "$E2E_PIPELINE" --http-port 0 --log-format json \
  >"$E2E_TMP/twin.log" 2>&1 </dev/null &
twin=$!
e2e_on_teardown "kill $twin"
trap 'kill $twin 2>/dev/null || true; e2e_teardown' EXIT
e2e_log "started a twin cleaner (pid $twin) beside the pipeline's (pid $old)"

e2e_wait_log cleaner '"supervisor":"exited","exit":3,"restart":false' 1 180
e2e_check '! kill -0 "$old" 2>/dev/null' "the older cleaner (pid $old) exited"
e2e_check '(( $(e2e_log_count cleaner "two running processes share one instance id") >= 1 ))' \
  "its log names the cause (two processes share one instance id)"
sleep 3  # longer than the first restart backoff
e2e_check '[[ -z $(cat "$E2E_PDIR/pids/cleaner.keeper" 2>/dev/null | xargs -r ps -o pid= -p) ]]' \
  "its keeper did not restart it (exit 3 is final)"
e2e_check 'kill -0 "$twin" 2>/dev/null' "the twin (pid $twin) is still running"

e2e_feed "$E2E_TMP/data.csv" data.csv
e2e_wait 1000 300
rows=$(e2e_rows)
dlq=$(e2e_dlq_json --records | wc -l)
e2e_check '(( rows + dlq == 1000 ))' "1000 rows in = $rows loaded + $dlq in the DLQ (through the twin)"
kill "$twin" 2>/dev/null || true
wait "$twin" 2>/dev/null || true
